#!/usr/bin/env python3
"""PyTorch baseline on the same card as `flopwatt bench`: f32 matmul (TF32 off), scaled
dot-product attention at the bench's shapes, and a device copy. Prints one JSON object
{"device": ..., "results": {id: {"gflops": x} | {"gbps": x}}} with the bench's workload ids,
so tools/gpu-check.sh can divide one by the other. Medians of CUDA-event timings."""
import json
import sys


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def timed(torch, fn, reps=20):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) * 1e-3)
    return median(times)


def main():
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print(json.dumps({"error": "no torch"}))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch has no CUDA device"}))
        return 0
    # The bench's matmul is plain f32: no TF32 tensor cores on either side.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    out = {}
    for n in (256, 512, 1024, 2048):
        a = torch.randn(n, n, device=dev)
        b = torch.randn(n, n, device=dev)
        s = timed(torch, lambda: a @ b)
        out[f"matmul-{n}"] = {"gflops": 2 * n**3 / s / 1e9}
    # Attention over [1, 8, seq, 64]; FLOPs 4 b h s s d as docs/workloads.md counts them.
    for seq, causal in ((512, False), (1024, True)):
        q, k, v = (torch.randn(1, 8, seq, 64, device=dev) for _ in range(3))
        s = timed(torch, lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
        name = f"attention-s{seq}" + ("-causal" if causal else "")
        out[name] = {"gflops": 4 * 8 * seq * seq * 64 / s / 1e9}
    # Copy bandwidth (read + write) over 512 MiB, as `flopwatt peak` on GPUs.
    x = torch.empty(128 << 20, device=dev).uniform_()
    y = torch.empty_like(x)
    s = timed(torch, lambda: y.copy_(x))
    out["copy"] = {"gbps": 2 * x.numel() * 4 / s / 1e9}
    print(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                      "results": out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
