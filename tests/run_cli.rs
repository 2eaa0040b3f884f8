//! `ferroute run`'s own argument checks, which come before it needs root or
//! touches an interface: packet memory and ring sizes.

use std::process::Output;

fn run(args: &[&str]) -> Output {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo/router.toml");
    std::process::Command::new(env!("CARGO_BIN_EXE_ferroute"))
        .args(["run", "--config", config])
        .args(args)
        .output()
        .expect("run ferroute")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn rings_must_be_a_power_of_two_within_bounds() {
    for bad in ["1000", "16", "131072", "many"] {
        let o = run(&[&format!("--ring-size={bad}")]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "--ring-size {bad}: {}",
            stderr(&o)
        );
        assert!(
            stderr(&o).contains(&format!("invalid value '{bad}' for '--ring-size <N>'")),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn packet_memory_must_hold_two_rings() {
    let o = run(&["--frames", "1024", "--ring-size", "1024"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--frames 1024 must be at least twice --ring-size 1024"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--frames", "32"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--frames <N>"), "{}", stderr(&o));
}
