//! Compiles the XDP programs (bpf/*.bpf.c) with clang and generates their
//! libbpf-rs skeletons into OUT_DIR (included by src/io/xdp/).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use libbpf_cargo::SkeletonBuilder;

/// (source, skeleton name): the router's program, and the benchmark's
/// generator, sink and redirect bound.
const PROGRAMS: &[(&str, &str)] = &[
    ("../../bpf/ferroute.bpf.c", "ferroute"),
    ("../../bpf/gen.bpf.c", "gen"),
    ("../../bpf/sink.bpf.c", "sink"),
    ("../../bpf/redirect.bpf.c", "redirect"),
];

fn main() {
    for (source, _) in PROGRAMS {
        println!("cargo:rerun-if-changed={source}");
    }
    println!("cargo:rerun-if-env-changed=CLANG");

    let clang = env::var_os("CLANG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("clang"));
    if Command::new(&clang).arg("--version").output().is_err() {
        panic!(
            "`{}` was not found: the XDP program (bpf/) is compiled with clang. \
             Run scripts/setup (installs clang, libelf-dev, zlib1g-dev, pkg-config), \
             or point the CLANG variable at a clang binary.",
            clang.display()
        );
    }

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut clang_args = Vec::new();
    // Debian and Ubuntu keep <asm/types.h> in the multiarch directory, which
    // clang does not search when targeting bpf.
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = Path::new("/usr/include").join(format!("{arch}-linux-gnu"));
    if multiarch.is_dir() {
        clang_args.push(format!("-I{}", multiarch.display()));
    }
    clang_args.push("-Wall".to_string());

    for (source, name) in PROGRAMS {
        let result = SkeletonBuilder::new()
            .source(source)
            .obj(out_dir.join(format!("{name}.bpf.o")))
            .clang(&clang)
            .clang_args(&clang_args)
            .build_and_generate(out_dir.join(format!("{name}.skel.rs")));
        if let Err(e) = result {
            panic!("building the XDP program {source} failed: {e:#}");
        }
    }
}
