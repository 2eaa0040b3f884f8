#!/usr/bin/env python3
"""The plot of a scripts/bench-forwarding run: DIR/summary.svg.

Usage: scripts/bench-forwarding-plot.py DIR

Reads the sink's summaries of every run in DIR (PATH-SIZE-RUN.sink.json,
the line with "total":true) and draws two panels of grouped bars, one
group per frame size and one bar per path: packets/s at the sink and the
router's CPU time per packet, each bar the median of the runs with a
whisker from the slowest to the fastest run. The first line of
DIR/setting (when there) is the subtitle. Standard library only; writes
nothing but DIR/summary.svg.
"""

import json
import math
import re
import statistics
import sys
from html import escape
from textwrap import wrap
from pathlib import Path

# The order bench-forwarding's summary uses; paths it does not know go last.
PATH_ORDER = ["kernel", "ferroute", "ferroute-alt", "redirect", "testpmd", "l3fwd"]
COLOURS = ["#4c72b0", "#dd8452", "#c44e52", "#55a868", "#8172b3", "#937860", "#64b5cd"]
RESULT = re.compile(r"^(?P<path>.+)-(?P<size>\d+)-(?P<run>\d+)\.sink\.json$")

PANEL_W, PANEL_H = 560, 300
MARGIN_L, MARGIN_T, MARGIN_B = 70, 70, 40


def read_runs(out):
    """{(path, size): [(pps, cpu_ns_per_packet or None), ...]} of DIR."""
    runs = {}
    for f in sorted(out.iterdir()):
        m = RESULT.match(f.name)
        if not m:
            continue
        total = None
        for line in f.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("{") and '"total":true' in line.replace(" ", ""):
                total = json.loads(line)
        if total is None or not isinstance(total.get("pps"), (int, float)):
            continue  # a run that failed: bench-forwarding reports it itself
        ns = total.get("cpu_ns_per_packet")
        key = (m["path"], int(m["size"]))
        runs.setdefault(key, []).append((float(total["pps"]), ns))
    return runs


def ordered_paths(runs):
    seen = {path for path, _ in runs}
    known = [p for p in PATH_ORDER if p in seen]
    return known + sorted(seen - set(known))


def nice_ceiling(x):
    """The smallest of 1, 2, 2.5, 5 or 10 times a power of ten that is >= x."""
    if x <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(x))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= x * (1 - 1e-12))


def panel(x0, title, unit, values, paths, sizes):
    """SVG elements of one panel; values[(path, size)] = list of numbers."""
    stats = {k: (statistics.median(v), min(v), max(v)) for k, v in values.items() if v}
    top = nice_ceiling(max((s[2] for s in stats.values()), default=1.0))
    y_of = lambda v: MARGIN_T + PANEL_H * (1 - v / top)
    parts = [
        f'<text x="{x0 + MARGIN_L + PANEL_W / 2}" y="{MARGIN_T - 22}" '
        f'text-anchor="middle" font-weight="bold">{escape(title)}</text>'
    ]
    for i in range(5):  # grid and axis labels
        v = top * i / 4
        y = y_of(v)
        parts.append(
            f'<line x1="{x0 + MARGIN_L}" x2="{x0 + MARGIN_L + PANEL_W}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{x0 + MARGIN_L - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>'
        )
    parts.append(
        f'<text x="{x0 + 16}" y="{MARGIN_T + PANEL_H / 2}" text-anchor="middle" '
        f'transform="rotate(-90 {x0 + 16} {MARGIN_T + PANEL_H / 2})">{escape(unit)}</text>'
    )
    group_w = PANEL_W / max(len(sizes), 1)
    bar_w = group_w * 0.8 / max(len(paths), 1)
    for g, size in enumerate(sizes):
        gx = x0 + MARGIN_L + g * group_w + group_w * 0.1
        parts.append(
            f'<text x="{gx + group_w * 0.4:.1f}" y="{MARGIN_T + PANEL_H + 20}" '
            f'text-anchor="middle">{size}-byte frames</text>'
        )
        for p, path in enumerate(paths):
            if (path, size) not in stats:
                continue
            med, lo, hi = stats[(path, size)]
            x = gx + p * bar_w
            colour = COLOURS[p % len(COLOURS)]
            parts.append(
                f'<rect class="bar" data-path="{escape(path)}" data-size="{size}" '
                f'data-median="{med:.6g}" x="{x:.1f}" y="{y_of(med):.1f}" '
                f'width="{bar_w * 0.9:.1f}" height="{y_of(0) - y_of(med):.1f}" fill="{colour}">'
                f"<title>{escape(path)}, {size} B: median {med:.4g} {escape(unit)} "
                f"({lo:.4g}–{hi:.4g}, {len(values[(path, size)])} runs)</title></rect>"
            )
            cx = x + bar_w * 0.45
            parts.append(
                f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y_of(hi):.1f}" y2="{y_of(lo):.1f}" '
                f'stroke="#222"/>'
            )
    parts.append(
        f'<line x1="{x0 + MARGIN_L}" x2="{x0 + MARGIN_L + PANEL_W}" y1="{y_of(0):.1f}" '
        f'y2="{y_of(0):.1f}" stroke="#222"/>'
    )
    return parts


def render(out):
    runs = read_runs(out)
    if not runs:
        sys.exit(f"bench-forwarding-plot: no sink results (PATH-SIZE-RUN.sink.json) in {out}")
    paths = ordered_paths(runs)
    sizes = sorted({size for _, size in runs})
    mpps = {k: [pps / 1e6 for pps, _ in v] for k, v in runs.items()}
    cpu = {k: [ns for _, ns in v if isinstance(ns, (int, float))] for k, v in runs.items()}
    setting = out / "setting"
    subtitle = setting.read_text().splitlines()[0] if setting.exists() else ""
    width = 2 * (MARGIN_L + PANEL_W) + 40
    height = MARGIN_T + PANEL_H + MARGIN_B + 30 + 22 * ((len(paths) + 3) // 4)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, line in enumerate(wrap(subtitle, 170)[:2]):
        parts.append(f'<text x="10" y="{16 + 14 * i}" font-size="11" fill="#444">{escape(line)}</text>')
    parts += panel(0, "packets/s at the sink (median; whisker: min–max)", "Mpps", mpps, paths, sizes)
    parts += panel(
        MARGIN_L + PANEL_W + 40, "router CPU per packet (median; whisker: min–max)", "ns",
        cpu, paths, sizes,
    )
    legend_y = MARGIN_T + PANEL_H + MARGIN_B + 10
    for p, path in enumerate(paths):
        lx = MARGIN_L + (p % 4) * 220
        ly = legend_y + 22 * (p // 4)
        parts.append(
            f'<rect x="{lx}" y="{ly}" width="14" height="14" fill="{COLOURS[p % len(COLOURS)]}"/>'
        )
        parts.append(f'<text x="{lx + 20}" y="{ly + 12}">{escape(path)}</text>')
    parts.append("</svg>")
    target = out / "summary.svg"
    target.write_text("\n".join(parts) + "\n")
    return target


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/bench-forwarding-plot.py DIR")
    print(render(Path(sys.argv[1])))
