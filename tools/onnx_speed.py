#!/usr/bin/env python3
"""flopwatt beside onnxruntime on the real models: wall milliseconds per inference.

For MiniLM-L3 and each case of the real-model suite (the `ref/<case>/` folders that
`.ci/lib.sh`'s `fetch_real_models` writes), runs `flopwatt run MODEL --input ... --repeat N
--json` (wall time per inference: upload, run, download; and GPU time) and an onnxruntime
CPU session with 2 intra-op threads on the same inputs (N timed runs after one warm-up),
one after the other on the same machine. Writes the table, dated and with the machine, into
docs/onnx.md between its `onnx-speed` markers (or prints it with --print).

Usage (in the venv that holds onnxruntime and numpy, e.g. ~/.cache/flopwatt/models/ort-venv):
    python tools/onnx_speed.py --bin target/release/flopwatt [--repeat 5] [--print]
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort

BEGIN = "<!-- onnx-speed:begin (tools/onnx_speed.py writes this table) -->"
END = "<!-- onnx-speed:end -->"


def cases(models, minilm, repo):
    """(label, model path, [(input name, npy path)]) for MiniLM and each ref/<case>/."""
    out = []
    if os.path.isfile(minilm):
        data = os.path.join(repo, "crates", "flopwatt", "tests", "data", "minilm")
        out.append(("minilm-2x16", minilm,
                     [(n, os.path.join(data, n + ".npy")) for n in ("input_ids", "attention_mask")]))
    ref = os.path.join(models, "ref")
    for case in sorted(os.listdir(ref)) if os.path.isdir(ref) else []:
        with open(os.path.join(ref, case, "model.txt")) as f:
            model = f.read().strip().split("|")[0]
        ins = os.path.join(ref, case, "inputs")
        feeds = [(f[:-4], os.path.join(ins, f)) for f in sorted(os.listdir(ins))]
        out.append((case, os.path.join(models, model), feeds))
    return out


def flopwatt(binary, model, feeds, repeat):
    """(wall ms median, GPU ms median, adapter name) from `flopwatt run --repeat`."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.json")
        cmd = [binary, "run", model, "--repeat", str(repeat), "--warmup", "1", "--json", path]
        for name, npy in feeds:
            cmd += ["--input", f"{name}={npy}"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(path) as f:
            rep = json.load(f)
    r = rep["results"][0]
    return r["wall_ms"], r["median_ms"], rep["device"].get("name", "?")


def onnxruntime(model, feeds, repeat):
    """Wall ms median of `repeat` runs after one warm-up, CPU, 2 intra-op threads."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    feed = {name: np.load(npy) for name, npy in feeds}
    sess.run(None, feed)
    ms = []
    for _ in range(repeat):
        t = time.perf_counter()
        sess.run(None, feed)
        ms.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ms)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cache = os.environ.get("FLOPWATT_CACHE", os.path.expanduser("~/.cache/flopwatt"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(repo, "target", "release", "flopwatt"))
    ap.add_argument("--models", default=os.environ.get("FLOPWATT_MODELS",
                                                       os.path.join(cache, "models")))
    ap.add_argument("--minilm", default=os.environ.get(
        "FLOPWATT_MINILM", os.path.join(cache, "minilm", "paraphrase-MiniLM-L3-v2.onnx")))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--print", action="store_true", help="print the table, write nothing")
    a = ap.parse_args()
    load = os.getloadavg()[0]
    rows, adapter = [], "?"
    for label, model, feeds in cases(a.models, a.minilm, repo):
        wall, gpu, adapter = flopwatt(a.bin, model, feeds, a.repeat)
        cpu = onnxruntime(model, feeds, a.repeat)
        shapes = ", ".join(f"{n} {'x'.join(map(str, np.load(p).shape))}" for n, p in feeds)
        rows.append(f"| {label} | {shapes} | {wall:.1f} | {gpu:.1f} | {cpu:.1f} | {wall / cpu:.1f} |")
        print(rows[-1], flush=True)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table = "\n".join([
        BEGIN,
        f"Measured {now} on {cpu_name()} ({os.cpu_count()} cores, load average {load:.1f} at "
        f"the start), flopwatt on {adapter}, onnxruntime {ort.__version__} CPU with 2 threads; "
        f"medians of {a.repeat} inferences after one warm-up.",
        "",
        "| case | inputs | flopwatt wall ms | flopwatt GPU ms | onnxruntime ms | flopwatt / onnxruntime |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *rows,
        END,
    ])
    if a.print:
        print(table)
        return
    doc = os.path.join(repo, "docs", "onnx.md")
    with open(doc) as f:
        text = f.read()
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + table + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n## Speed beside onnxruntime\n\n" + table + "\n"
    with open(doc, "w") as f:
        f.write(text)
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
