#!/usr/bin/env python3
"""Markdown tables from `flopwatt bench --json` files (schema flopwatt-bench/1).

    flopwatt bench --suite standard --json run.json
    python3 tools/gen_performance.py run.json [more.json ...] [--out docs/performance-table.md]

One section per file: the device, the date, the timing tier, the power source and the
measured ceilings, then one row per result: workload, variant, median ms, GFLOP/s, GB/s,
%peak, W, GFLOP/J, dispatches, timing. Energy figures that are not measured (a fixed
`--watts` or a TDP estimate) are marked `~`; figures the file does not have are `-`.

The JSON carries no date of its own; the date is the file's `date` field where one exists,
else `--date`, else the file's modification time (UTC), and the heading says which.
Python 3 standard library only.
"""

import argparse
import datetime
import json
import math
import os
import sys

SCHEMA = "flopwatt-bench/1"


def sig(x, digits=3):
    """A number with `digits` significant digits (whole numbers at and above 10^(digits-1))."""
    if x is None:
        return "-"
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    if abs(x) >= 10 ** (digits - 1):
        return f"{x:.0f}"
    r = float(f"{x:.{digits}g}")
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(r))))
    return f"{r:.{decimals}f}"


def fixed(x, decimals):
    return "-" if x is None else f"{float(x):.{decimals}f}"


def file_date(path, doc, override):
    if isinstance(doc.get("date"), str) and doc["date"]:
        return doc["date"], "recorded in the file"
    if override:
        return override, "given with --date"
    t = datetime.datetime.fromtimestamp(os.path.getmtime(path), tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M UTC"), "file modification time"


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{path}: schema `{got}`, expected `{SCHEMA}`")
    if not isinstance(doc.get("results"), list):
        raise ValueError(f"{path}: no `results` list")
    return doc


def device_line(dev):
    if not isinstance(dev, dict):
        return "unknown device"
    name = dev.get("name") or "unknown device"
    parts = [p for p in (dev.get("backend"), dev.get("driver"), dev.get("driver_info")) if p]
    cls = dev.get("class")
    if isinstance(cls, str) and cls:
        parts.append(f"{cls.lower()} class")
    return f"{name} [{', '.join(parts)}]" if parts else name


def power_line(power):
    if not isinstance(power, dict):
        return "Power: unknown"
    src = power.get("source", "none")
    measured = "measured" if power.get("measured") else "not measured"
    desc = power.get("description") or ""
    idle = power.get("idle_watts")
    s = f"Power: {src}, {measured}"
    if idle is not None:
        s += f", idle {float(idle):.1f} W"
    if desc:
        s += f" ({desc})"
    return s


def peak_line(peak):
    if not isinstance(peak, dict):
        return "Ceilings: not measured (`--no-peak`)"
    parts = [f"f32 {fixed(peak.get('f32_gflops'), 1)} GFLOP/s"]
    if peak.get("fma_vec4_f16_gflops") is not None:
        parts.append(f"vec4 f16 {fixed(peak.get('fma_vec4_f16_gflops'), 1)} GFLOP/s")
    parts.append(f"copy {fixed(peak.get('copy_gbps'), 1)} GB/s")
    return "Ceilings (`flopwatt peak`): " + ", ".join(parts)


HEADER = (
    "| workload | variant | median ms | GFLOP/s | GB/s | %peak | W | GFLOP/J | dispatches | timing |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
)


def row(r, timing):
    est = "~" if r.get("energy_measured") is False else ""
    watts = r.get("avg_watts")
    gpj = r.get("gflops_per_watt")
    cells = [
        f"`{r.get('id', '?')}`",
        r.get("variant") or "",
        sig(r.get("median_ms")),
        fixed(r.get("gflops"), 1),
        fixed(r.get("gbps"), 1),
        fixed(r.get("pct_peak"), 1),
        "-" if watts is None else est + fixed(watts, 1),
        "-" if gpj is None else est + fixed(gpj, 3),
        str(r.get("dispatches", "-")),
        timing,
    ]
    return "| " + " | ".join(cells) + " |\n"


def section(path, doc, date_override):
    date, how = file_date(path, doc, date_override)
    timing = doc.get("timing") or "-"
    out = [f"### {device_line(doc.get('device'))}, {date}\n\n"]
    out.append(
        f"From `{os.path.basename(path)}` (date: {how}). Timing: `{timing}`. "
        f"{peak_line(doc.get('peak'))}. {power_line(doc.get('power'))}.\n\n"
    )
    out.append(HEADER)
    for r in doc["results"]:
        out.append(row(r, timing))
    if any(r.get("energy_measured") is False for r in doc["results"]):
        out.append("\n`~`: energy estimated (fixed watts or a TDP figure), not measured.\n")
    return "".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="flopwatt bench --json outputs")
    ap.add_argument("--out", help="write the Markdown here instead of stdout")
    ap.add_argument("--date", help="date to show where a file records none (default: its mtime)")
    args = ap.parse_args(argv)
    parts = [
        "<!-- generated by tools/gen_performance.py from flopwatt bench --json files; "
        "do not edit by hand -->\n"
    ]
    for path in args.files:
        try:
            doc = load(path)
        except (OSError, ValueError) as e:
            print(f"gen_performance: {e}", file=sys.stderr)
            return 1
        parts.append("\n" + section(path, doc, args.date))
    text = "".join(parts)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
