//! The plot `scripts/bench-forwarding` writes beside its summary
//! (`scripts/bench-forwarding-plot.py`): made from a results folder of
//! known runs, its bars must be the medians of those runs, in proportion,
//! with nothing drawn for a failed run. Needs python3 (skips otherwise,
//! fails under `CI=true`).

use std::fs;
use std::path::Path;
use std::process::Command;

use ferroute::testkit::daemons::require_daemon;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scripts/bench-forwarding-plot.py"
);

/// One run's sink output as `ferroute sink --json` writes it: a line per
/// second, then the total.
fn write_run(dir: &Path, path: &str, size: u32, run: u32, pps: f64, ns: Option<f64>) {
    let ns = ns.map_or("null".to_string(), |v| v.to_string());
    let text = format!(
        "{{\"total\":false,\"packets\":1,\"pps\":1.0}}\n\
         {{\"total\":true,\"packets\":1000,\"bytes\":60000,\"pps\":{pps},\"cpu_ns_per_packet\":{ns}}}\n"
    );
    fs::write(dir.join(format!("{path}-{size}-{run}.sink.json")), text).unwrap();
}

/// The bars of the plot: (path, size, median, height), both panels in
/// document order (packets/s first, then CPU per packet).
fn bars(svg: &str) -> Vec<(String, u32, f64, f64)> {
    let attr = |tag: &str, name: &str| -> String {
        let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[start..].split('"').next().unwrap().to_string()
    };
    svg.split("<rect class=\"bar\"")
        .skip(1)
        .map(|tag| {
            (
                attr(tag, "data-path"),
                attr(tag, "data-size").parse().unwrap(),
                attr(tag, "data-median").parse().unwrap(),
                attr(tag, "height").parse().unwrap(),
            )
        })
        .collect()
}

fn plot(dir: &Path) -> std::process::Output {
    Command::new("python3")
        .arg(SCRIPT)
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn plot_bars_are_the_medians_of_the_runs() {
    if !require_daemon("plot_bars_are_the_medians_of_the_runs", "python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // kernel at 64 B: runs of 0.8, 0.9 and 0.6 Mpps (median 0.8), CPU 1000,
    // 1200, 1100 ns (median 1100).
    for (run, pps, ns) in [(1, 0.8e6, 1000.0), (2, 0.9e6, 1200.0), (3, 0.6e6, 1100.0)] {
        write_run(dir.path(), "kernel", 64, run, pps, Some(ns));
    }
    // ferroute-alt (a path name with a hyphen) at 64 B: 0.4 and 0.2 Mpps
    // (median 0.3), CPU per packet unknown in one run.
    write_run(dir.path(), "ferroute-alt", 64, 1, 0.4e6, Some(2000.0));
    write_run(dir.path(), "ferroute-alt", 64, 2, 0.2e6, None);
    // ferroute at 1500 B: one run, and one that failed (no total line).
    write_run(dir.path(), "ferroute", 1500, 1, 0.5e6, Some(550.0));
    fs::write(
        dir.path().join("ferroute-1500-2.sink.json"),
        "error: killed\n",
    )
    .unwrap();
    fs::write(dir.path().join("setting"), "2026-12-06, a test setting\n").unwrap();

    let out = plot(dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = fs::read_to_string(dir.path().join("summary.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("a test setting"));

    let bars = bars(&svg);
    let expected: [(&str, u32, f64); 6] = [
        // packets/s, in the summary's path order, sizes ascending
        ("kernel", 64, 0.8),
        ("ferroute-alt", 64, 0.3),
        ("ferroute", 1500, 0.5),
        // CPU per packet: the run without a figure leaves ferroute-alt 2000
        ("kernel", 64, 1100.0),
        ("ferroute-alt", 64, 2000.0),
        ("ferroute", 1500, 550.0),
    ];
    assert_eq!(bars.len(), expected.len(), "{bars:?}");
    for (bar, want) in bars.iter().zip(expected) {
        assert_eq!((bar.0.as_str(), bar.1), (want.0, want.1), "{bars:?}");
        assert!(
            (bar.2 - want.2).abs() < 1e-9 * want.2,
            "{bar:?} against {want:?}"
        );
    }
    // Heights in proportion to the medians within each panel.
    for panel in bars.chunks(3) {
        let scale = panel[0].3 / panel[0].2;
        for bar in panel {
            assert!(
                (bar.3 - bar.2 * scale).abs() < 0.2,
                "{bar:?}: not to scale in {panel:?}"
            );
        }
    }
}

#[test]
fn plot_of_a_folder_without_results_fails() {
    if !require_daemon("plot_of_a_folder_without_results_fails", "python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = plot(dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sink results"));
    assert!(!dir.path().join("summary.svg").exists());
}
