#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each) on its corpus.
# Usage: fuzz/run.sh [SECONDS]. Needs cargo-fuzz and a nightly toolchain.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
for target in onnx_load npy_read tune_file; do
    echo ">> $target for ${secs}s"
    mkdir -p "corpus/$target"
    cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$secs" -rss_limit_mb=2048
done
