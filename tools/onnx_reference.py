#!/usr/bin/env python3
"""onnxruntime's answer for any ONNX model, and a first-divergence finder against flopwatt.

Usage (in a venv with onnxruntime, onnx and numpy, never in the repo):

    # inputs (random normal with a seed, `:uniform` in [0, 1), `:text` a synthetic page,
    # or given .npy files) and onnxruntime's outputs
    python tools/onnx_reference.py run MODEL.onnx DIR --input x=1x3x96x160:text [--seed 0]
        [--input ids=ids.npy] [--dump NAME ...] [--dump-all]

writes DIR/inputs/<name>.npy and DIR/expected/<name>.npy for every graph output. --dump NAME
adds the value NAME as an extra graph output (onnxruntime then computes it as it would
anyway); --dump-all adds every float node output, in node order (DIR/expected/order.txt).
flopwatt dumps the same values with `flopwatt run ... --dump NAME` (or --dump-all), so

    flopwatt run MODEL.onnx --input x=DIR/inputs/x.npy --output-dir OUT --dump-all
    python tools/onnx_reference.py compare DIR/expected OUT

prints the relative L2 error of every value in node order and names the first node whose
output departs (error above --tol, default 1e-3) although its inputs agree.

File names: characters outside [A-Za-z0-9._-] become `_`, as flopwatt writes them.
"""
import argparse
import os
import re
import sys

import numpy as np


def file_name(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def text_page(shape, rng):
    """A synthetic page of dark glyph-like bars on light paper, normalised as PP-OCR does
    ((x / 255 - 0.5) / 0.5), broadcast over batch and channels: an input whose detector and
    recogniser outputs are not all in sigmoid's or softmax's tail (random noise gives ~1e-7
    probabilities everywhere, where onnxruntime's approximate sigmoid is off by its own size)."""
    h, w = shape[-2], shape[-1]
    img = np.full((h, w), 230.0)
    line = max(h // 8, 4)
    for r in range(line // 2, h - line, 2 * line):
        for c in range(line // 2, w - line, max(line * 3 // 4, 2)):
            if rng.random() < 0.8:
                img[r : r + line, c : c + max(line // 2, 1)] = 30 + 40 * rng.random()
    img += rng.normal(0, 4, img.shape)
    x = ((img / 255 - 0.5) / 0.5).astype(np.float32)
    return np.broadcast_to(x, shape).copy()


def parse_input(spec, rng, declared):
    name, _, val = spec.partition("=")
    if val.endswith(".npy"):
        return name, np.load(val)
    val, _, kind = val.partition(":")
    shape = [int(d) for d in val.split("x")]
    dtype = declared.get(name, np.float32)
    if kind == "text":
        return name, text_page(shape, rng)
    if kind == "uniform":
        return name, rng.random(shape).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        return name, rng.standard_normal(shape).astype(dtype)
    return name, rng.integers(0, 2, size=shape).astype(dtype)


ORT_TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
             "tensor(bool)": np.bool_, "tensor(double)": np.float64}


def cmd_run(a):
    import onnxruntime as ort

    model = a.model
    order = []
    if a.dump or a.dump_all:
        import onnx  # only to add outputs; plain runs need onnxruntime and numpy alone

        model = onnx.load(a.model)
        g = model.graph
        have = {o.name for o in g.output}
        inferred = onnx.shape_inference.infer_shapes(model)
        types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
        names = list(a.dump)
        if a.dump_all:
            names += [o for n in g.node if n.op_type != "Constant" for o in n.output
                      if o and types.get(o) == onnx.TensorProto.FLOAT]
        for n in names:
            if n not in have:
                g.output.append(onnx.helper.make_empty_tensor_value_info(n))
                have.add(n)
            order.append(n)
    if not isinstance(model, str):
        model = model.SerializeToString()
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    declared = {i.name: ORT_TYPES.get(i.type, np.float32) for i in sess.get_inputs()}
    rng = np.random.default_rng(a.seed)
    feeds = dict(parse_input(s, rng, declared) for s in a.input)
    os.makedirs(os.path.join(a.dir, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(a.dir, "expected"), exist_ok=True)
    for n, x in feeds.items():
        np.save(os.path.join(a.dir, "inputs", file_name(n) + ".npy"), x)
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(None, feeds)
    for n, o in zip(names, outs):
        np.save(os.path.join(a.dir, "expected", file_name(n) + ".npy"), o)
        if n not in order:
            print(f"output `{n}`: {o.dtype} {list(o.shape)}")
    if order:
        with open(os.path.join(a.dir, "expected", "order.txt"), "w") as f:
            f.write("\n".join(order) + "\n")
        print(f"{len(order)} intermediates dumped (order.txt)")


def rel_l2(got, want):
    want = want.astype(np.float64)
    got = got.astype(np.float64)
    den = np.linalg.norm(want)
    return np.linalg.norm(got - want) / (den if den > 0 else 1.0)


def cmd_compare(a):
    order_file = os.path.join(a.expected, "order.txt")
    if os.path.exists(order_file):
        names = [file_name(l.strip()) for l in open(order_file) if l.strip()]
    else:
        names = sorted(f[:-4] for f in os.listdir(a.expected) if f.endswith(".npy"))
    first = None
    for n in names:
        pe, pg = os.path.join(a.expected, n + ".npy"), os.path.join(a.got, n + ".npy")
        if not os.path.exists(pg):
            print(f"{n}: not in {a.got}")
            continue
        want, got = np.load(pe), np.load(pg)
        if want.shape != got.shape:
            print(f"{n}: shape {list(got.shape)}, expected {list(want.shape)}")
            first = first or n
            continue
        e = rel_l2(got, want)
        flag = "  <-- departs" if e > a.tol and first is None else ""
        if e > a.tol and first is None:
            first = n
        print(f"{n}: rel L2 {e:.3g}{flag}")
    if first:
        print(f"first value over {a.tol}: {first}")
        sys.exit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="inputs and onnxruntime's outputs")
    r.add_argument("model")
    r.add_argument("dir")
    r.add_argument("--input", action="append", default=[], help="NAME=AxBxC[:uniform|:text] (random) or NAME=FILE.npy")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--dump", action="append", default=[], help="an intermediate value to add as output")
    r.add_argument("--dump-all", action="store_true", help="every float node output")
    c = sub.add_parser("compare", help="relative L2 of flopwatt's outputs against expected ones")
    c.add_argument("expected")
    c.add_argument("got")
    c.add_argument("--tol", type=float, default=1e-3)
    a = p.parse_args()
    cmd_run(a) if a.cmd == "run" else cmd_compare(a)


if __name__ == "__main__":
    main()
