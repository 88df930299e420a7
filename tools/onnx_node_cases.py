#!/usr/bin/env python3
"""Refresh tests/data/onnx-node: the ONNX operator cases (onnx 1.22.0 package,
onnx/backend/test/data/node) that flopwatt runs, for a list of op-name prefixes.

Usage (in a venv with `pip install onnx==1.22.0`; cargo on PATH):
    python tools/onnx_node_cases.py PREFIX [PREFIX ...]
    e.g. python tools/onnx_node_cases.py gather concat slice split pad constant_pad \
             edge_pad reflect_pad wrap_pad maxpool averagepool globalaveragepool \
             convtranspose batchnorm resize attention cast_

It links the matching cases (not the `_expanded` ones, which test other ops) into a
temporary folder, runs `tests/onnx_node.rs` over it (FLOPWATT_ONNX_NODE_DIR), and copies the
cases that pass into tests/data/onnx-node/. Cases that fail are listed with their reason.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import onnx


def main():
    prefixes = sys.argv[1:]
    if not prefixes:
        sys.exit(__doc__)
    node = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dest = os.path.join(repo, "tests", "data", "onnx-node")
    pat = re.compile(r"^test_(%s)" % "|".join(map(re.escape, prefixes)))
    sel = tempfile.mkdtemp(prefix="onnx-node-")
    for d in sorted(os.listdir(node)):
        if pat.match(d) and not d.endswith("_expanded"):
            os.symlink(os.path.join(node, d), os.path.join(sel, d))
    env = dict(os.environ, FLOPWATT_ONNX_NODE_DIR=sel)
    out = subprocess.run(
        ["cargo", "test", "--test", "onnx_node", "--", "--nocapture"],
        cwd=repo, env=env, capture_output=True, text=True,
    ).stdout
    failed = {}
    for line in out.splitlines():
        if line.startswith("FAIL "):
            name, _, why = line[5:].partition(": ")
            failed[name] = why
    copied = 0
    for d in sorted(os.listdir(sel)):
        if d in failed:
            print(f"skip {d}: {failed[d][:160]}")
            continue
        target = os.path.join(dest, d)
        if not os.path.exists(target):
            shutil.copytree(os.path.join(sel, d), target)
            copied += 1
    print(f"{len(os.listdir(sel)) - len(failed)} pass, {len(failed)} fail; {copied} new cases copied")


if __name__ == "__main__":
    main()
