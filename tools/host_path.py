#!/usr/bin/env python3
"""Host-path measurements of two `flopwatt` binaries (before, after) in one invocation.

Run by tools/host_path.sh (which builds the binaries) with a Python that has `onnx` and
`numpy` (the onnxruntime venv of .ci/lib.sh has both). Writes RESULTS_JSON and prints a
Markdown section: medians of several runs with their spread (min..max), before beside after,
the issue's targets beside them.

    host_path.py BEFORE_BIN AFTER_BIN RESULTS_JSON [--runs N] [--dependent JSON]

--dependent names tools/dependent_debug.sh's output (the README's library program as a
dependent crate's debug build), shown beside the rest.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MINILM = os.environ.get(
    "FLOPWATT_MINILM",
    os.path.expanduser("~/.cache/flopwatt/minilm/paraphrase-MiniLM-L3-v2.onnx"),
)


def mlp_model(path):
    """The seed's MLP as ONNX: Gemm(10 -> 20), Relu, Gemm(20 -> 10); input x [64, 10]."""
    rng = np.random.default_rng(7)
    inits = [
        numpy_helper.from_array(rng.standard_normal((10, 20)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.standard_normal(20).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.standard_normal((20, 10)).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.standard_normal(10).astype(np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def timed(cmd, env):
    """Wall seconds of `cmd` from process start to exit (its files are written by then)."""
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def startup_phases(binary, model, inputs, env, work):
    """The `start-up:` line of `run --profile`: phase -> ms, and the pipelines built."""
    out = tempfile.mkdtemp(dir=work)
    cmd = [binary, "run", model, "--output-dir", out, "--profile"]
    for i in inputs:
        cmd += ["--input", i]
    text = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    line = next(l for l in text.splitlines() if l.startswith("start-up:"))
    phases = {m[0]: float(m[1]) for m in re.findall(r"(\w[\w ]*?) (\d+) ms", line.split(":", 1)[1])}
    built = re.search(r"\((\d+) pipelines, (\d+) ms of building\)", line)
    return {"line": line, "phases": phases,
            "pipelines": int(built[1]) if built else None, "build_ms": float(built[2]) if built else None}


# The workloads whose GPU medians must not change (matmul, its epilogue, the models).
KERNEL_FILTERS = ["matmul-256", "matmul-512", "mlp-epilogue", "transformer-block", "minilm-l3",
                  "center-4096", "train-mlp-step"]


def bench_rows(binary, filters, suite, env, work):
    out = os.path.join(work, "bench.json")
    cmd = [binary, "bench", "--suite", suite, "--min-time", "2", "--no-peak", "--json", out]
    for f in filters:
        cmd += ["--filter", f]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)["results"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("results")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dependent")
    a = ap.parse_args()
    bins = {"before": a.before, "after": a.after}
    work = tempfile.mkdtemp(prefix="flopwatt-host-path-")
    mlp = os.path.join(work, "mlp.onnx")
    mlp_model(mlp)
    np.save(os.path.join(work, "x.npy"), np.random.default_rng(1).standard_normal((64, 10)).astype(np.float32))
    ids = np.random.default_rng(2).integers(100, 20000, size=(2, 16)).astype(np.int64)
    np.save(os.path.join(work, "ids.npy"), ids)
    np.save(os.path.join(work, "mask.npy"), np.ones((2, 16), dtype=np.int64))
    base_env = dict(os.environ)
    res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.node()}",
           "load_1m": os.getloadavg()[0], "runs": a.runs, "cases": {}}

    def run_cmd(binary, model, inputs):
        out = tempfile.mkdtemp(dir=work)
        cmd = [binary, "run", model, "--output-dir", out]
        for i in inputs:
            cmd += ["--input", i]
        return cmd

    cases = {
        "mlp-fresh": (mlp, [f"x={work}/x.npy"], True),
        "mlp-warm": (mlp, [f"x={work}/x.npy"], False),
    }
    minilm_inputs = [f"input_ids={work}/ids.npy", f"attention_mask={work}/mask.npy"]
    if os.path.isfile(MINILM):
        cases["minilm-warm"] = (MINILM, minilm_inputs, False)
        cases["minilm-fresh"] = (MINILM, minilm_inputs, True)
    for name, (model, inputs, fresh) in cases.items():
        times = {k: [] for k in bins}
        warm_dirs = {k: tempfile.mkdtemp(dir=work) for k in bins}
        for k, b in bins.items():  # warm each binary's own Mesa cache once
            env = dict(base_env, MESA_SHADER_CACHE_DIR=warm_dirs[k])
            timed(run_cmd(b, model, inputs), env)
        for _ in range(a.runs):
            for k, b in bins.items():  # alternate, so both see the same load
                cache = tempfile.mkdtemp(dir=work) if fresh else warm_dirs[k]
                env = dict(base_env, MESA_SHADER_CACHE_DIR=cache)
                times[k].append(timed(run_cmd(b, model, inputs), env))
        res["cases"][name] = {k: summary(v) for k, v in times.items()}
        if not fresh:
            # wgpu's persisted pipeline cache off and on (the after binary, warm Mesa cache).
            env = dict(base_env, MESA_SHADER_CACHE_DIR=warm_dirs["after"])
            off = dict(env, FLOPWATT_PIPELINE_CACHE="off")
            pc = {"off": [], "on": []}
            for _ in range(a.runs):
                pc["off"].append(timed(run_cmd(a.after, model, inputs), off))
                pc["on"].append(timed(run_cmd(a.after, model, inputs), env))
            res["cases"][name]["pipeline_cache"] = {k: summary(v) for k, v in pc.items()}
            res["cases"][name]["phases"] = startup_phases(a.after, model, inputs, env, work)
    # Steady state: host time per dispatch of a compiled graph (the after binary's rows; the
    # `recorded` variant records every run as the before binary's `run` did).
    res["dispatch"] = bench_rows(a.after, ["dispatch-overhead"], "quick", base_env, work)
    # Kernel speed unchanged: the same workloads' GPU medians, before and after, alternating
    # (a host shared with other work drifts between two back-to-back runs).
    res["kernels"] = {k: [] for k in bins}
    for _ in range(2):
        for k, b in bins.items():
            res["kernels"][k].append(bench_rows(b, KERNEL_FILTERS, "standard", base_env, work))
    if a.dependent:
        with open(a.dependent) as f:
            res["dependent"] = {k: summary(v) for k, v in json.load(f).items()}
    with open(a.results, "w") as f:
        json.dump(res, f, indent=1)
    print(render(res))


def render(r):
    ms = lambda s: f"{s['median'] * 1e3:.0f} ms ({s['min'] * 1e3:.0f}..{s['max'] * 1e3:.0f})"
    targets = {"mlp-fresh": 1.0, "mlp-warm": 0.3, "minilm-warm": 1.0}
    what = {
        "mlp-fresh": "`flopwatt run` of the MLP ONNX (two Gemm, 64x10), fresh Mesa shader cache",
        "mlp-warm": "the same, Mesa cache warm",
        "minilm-warm": "`flopwatt run` of MiniLM-L3 (batch 2, seq 16), one inference, Mesa cache warm",
        "minilm-fresh": "the same, fresh Mesa shader cache",
    }
    lines = [
        f"Measured {r['date']} on {r['machine']} (load average {r['load_1m']:.1f} at the start), "
        f"lavapipe; medians of {r['runs']} runs (min..max), process start to output files written.",
        "",
        "| what | before | after | target | met |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, c in r["cases"].items():
        t = targets.get(name)
        met = ("yes" if c["after"]["median"] < t else "no") if t else "-"
        target = f"< {t * 1e3:.0f} ms" if t else "none"
        lines.append(f"| {what[name]} | {ms(c['before'])} | {ms(c['after'])} | {target} | {met} |")
    dep = r.get("dependent")
    if dep:
        lines.append(f"| the README's library program as a dependent crate, debug build, Mesa cache warm "
                     f"| | {ms(dep['plain'])} | < 5000 ms | {'yes' if dep['plain']['median'] < 5 else 'no'} |")
        lines.append(f"| the same with `[profile.dev.package.\"*\"] opt-level = 2` "
                     f"| | {ms(dep['override'])} | < 5000 ms | {'yes' if dep['override']['median'] < 5 else 'no'} |")
    lines += ["", "Where a warm start-up goes (`flopwatt run --profile`, after binary, one run each):", ""]
    for name, c in r["cases"].items():
        if "phases" in c:
            label = "MLP" if name.startswith("mlp") else "MiniLM-L3"
            lines.append(f"- {label}: {c['phases']['line'].split(':', 1)[1].strip()}")
    lines += ["", "wgpu's persisted pipeline cache (after binary, Mesa cache warm; `FLOPWATT_PIPELINE_CACHE=off` against on):", "",
              "| what | cache off | cache on |", "| --- | ---: | ---: |"]
    for name, c in r["cases"].items():
        if "pipeline_cache" in c:
            pc = c["pipeline_cache"]
            lines.append(f"| {name} | {ms(pc['off'])} | {ms(pc['on'])} |")
    lines += ["", "Steady state, 256 dispatches per run (`bench --filter dispatch-overhead`, after binary):", "",
              "| row | GPU median ms | wall median ms | host us per dispatch |", "| --- | ---: | ---: | ---: |"]
    for row in r["dispatch"]:
        v = f" {row['variant']}" if row.get("variant") else ""
        lines.append(f"| `{row['id']}`{v} | {row['median_ms']:.3f} | {row['wall_ms']:.3f} | {row['host_us_per_dispatch']:.1f} |")
    lines += ["", "Kernel speed (GPU medians, ms, of two alternating `bench --suite standard` runs each; ratio of their medians):", "",
              "| workload | before | after | after / before |", "| --- | ---: | ---: | ---: |"]
    def medians(runs):
        rows = {}
        for run in runs:
            for x in run:
                rows.setdefault((x["id"], x.get("variant")), []).append(x["median_ms"])
        return rows

    before, after = medians(r["kernels"]["before"]), medians(r["kernels"]["after"])
    for key, a in after.items():
        b = before.get(key)
        if b:
            v = f" {key[1]}" if key[1] else ""
            show = lambda xs: " / ".join(f"{x:.1f}" for x in xs)
            ratio = statistics.median(a) / statistics.median(b)
            lines.append(f"| `{key[0]}`{v} | {show(b)} | {show(a)} | {ratio:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
