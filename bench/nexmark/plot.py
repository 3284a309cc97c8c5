#!/usr/bin/env python3
"""Draws sluice-nexmark results as an SVG bar chart (standard library only).

    python3 bench/nexmark/plot.py engine.json [kafka.json] -o nexmark.svg

Per query, on a log scale of events/s: Sluice per worker thread and the plain-C++
reference (one thread) from each JSON file sluice-nexmark --json wrote; a tick for the
issue's per-thread target; a diamond for Flink's published per-core figure (nexmark/nexmark
GUIDE_V1: 3 x 8-core workers, Flink 1.13; other hardware, so compare the shape only).
"""
import argparse
import json
import math

# events/s per core, Flink 1.13 (nexmark/nexmark GUIDE_V1.md, "Throughput/Cores").
FLINK = {"q0": 155.02e3, "q1": 157.94e3, "q2": 175.21e3, "q3": 152.12e3, "q4": 34.33e3,
         "q5": 22.14e3, "q7": 12.33e3, "q8": 146.14e3, "q11": 39.7e3, "q12": 75.67e3,
         "q14": 161.23e3, "q17": 116.8e3, "q18": 53.7e3, "q19": 44.04e3, "q20": 18.98e3,
         "q21": 98.49e3, "q22": 129.96e3}
# Issue 7's per-worker-thread targets, engine mode.
TARGETS = {"q0": 5e6, "q1": 5e6, "q2": 5e6, "q17": 1e6, "q20": 1e6, "q5": 500e3, "q7": 500e3,
           "q11": 200e3}
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]


def load(paths):
    runs = []
    for path in paths:
        with open(path) as f:
            rows = json.load(f)
        mode = rows[0]["mode"] if rows else path
        runs.append((mode, {r["query"]: r for r in rows}))
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+")
    parser.add_argument("-o", "--output", default="nexmark.svg")
    args = parser.parse_args()
    runs = load(args.json)
    queries = []
    for _, rows in runs:
        for q in rows:
            if q not in queries:
                queries.append(q)
    queries.sort(key=lambda q: int(q[1:]))

    series = []  # (label, color, {query: value})
    for i, (mode, rows) in enumerate(runs):
        series.append((f"Sluice, {mode} mode (per worker thread)", COLORS[(2 * i) % 4],
                       {q: r["sluice_events_per_s_per_thread"] for q, r in rows.items()}))
        series.append((f"reference, {mode} mode run", COLORS[(2 * i + 1) % 4],
                       {q: r["reference_events_per_s"] for q, r in rows.items()}))

    lo, hi = 1e3, 1e8
    width, left, right, top = 900, 60, 20, 50
    group = 14 * len(series) + 16
    height = top + group * len(queries) + 90
    plot_w = width - left - right

    def x(v):
        v = min(max(v, lo), hi)
        return left + plot_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14">Nexmark on Sluice: events/s '
           f'(log scale)</text>']
    for e in range(3, 9):
        xv = x(10 ** e)
        label = {3: "1k", 4: "10k", 5: "100k", 6: "1M", 7: "10M", 8: "100M"}[e]
        out.append(f'<line x1="{xv:.1f}" y1="{top - 8}" x2="{xv:.1f}" '
                   f'y2="{top + group * len(queries)}" stroke="#ddd"/>')
        out.append(f'<text x="{xv:.1f}" y="{top - 12}" text-anchor="middle">{label}</text>')
    for qi, q in enumerate(queries):
        y0 = top + qi * group
        out.append(f'<text x="{left - 8}" y="{y0 + group / 2:.1f}" text-anchor="end">{q}</text>')
        for si, (_, color, values) in enumerate(series):
            if q not in values:
                continue
            y = y0 + 6 + si * 14
            out.append(f'<rect x="{left}" y="{y}" width="{x(values[q]) - left:.1f}" height="11" '
                       f'fill="{color}"/>')
        if q in TARGETS:
            xt = x(TARGETS[q])
            out.append(f'<line x1="{xt:.1f}" y1="{y0 + 2}" x2="{xt:.1f}" y2="{y0 + group - 6}" '
                       f'stroke="black" stroke-width="2"/>')
        if q in FLINK:
            xf, yf = x(FLINK[q]), y0 + group / 2
            out.append(f'<path d="M {xf:.1f} {yf - 5:.1f} l 5 5 l -5 5 l -5 -5 z" fill="#9467bd"/>')
    ly = top + group * len(queries) + 20
    legend = [(label, color) for label, color, _ in series]
    for i, (label, color) in enumerate(legend):
        lx, lyy = left + (i % 2) * 420, ly + (i // 2) * 16
        out.append(f'<rect x="{lx}" y="{lyy - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 14}" y="{lyy}">{label}</text>')
    lyy = ly + ((len(legend) + 1) // 2) * 16
    out.append(f'<line x1="{left + 5}" y1="{lyy - 10}" x2="{left + 5}" y2="{lyy + 1}" '
               f'stroke="black" stroke-width="2"/>')
    out.append(f'<text x="{left + 14}" y="{lyy}">target per worker thread (issue 7)</text>')
    out.append(f'<path d="M {left + 425} {lyy - 9} l 5 5 l -5 5 l -5 -5 z" fill="#9467bd"/>')
    out.append(f'<text x="{left + 434}" y="{lyy}">Flink 1.13 per core (nexmark GUIDE_V1; other '
               f'hardware)</text>')
    out.append("</svg>")
    with open(args.output, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
