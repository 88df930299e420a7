//! Soak: a compiled graph run many times, and an ONNX model loaded, compiled, run and dropped
//! many times, must keep memory flat: the device pool's bytes do not grow after warm-up and
//! host RSS (`/proc/self/status`) stays within a small margin. The quick versions run in CI;
//! the long ones (10,000 runs, 1,000 loads) are `#[ignore]`d: `tools/soak.sh` runs them and
//! docs/soak.md has their numbers.
#![cfg(all(not(target_arch = "wasm32"), target_os = "linux"))]

mod common;

use flopwatt::onnx::npy::Array;
use flopwatt::onnx::{self, to_graph::to_graph, Data};
use flopwatt::{Compile, DType, Device, Graph, Tensor};

#[path = "common/onnx_build.rs"]
mod onnx_build;

/// Resident set size of this process in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Device pool bytes and RSS (KiB) before and after `n` calls of `f` (after `warm` calls).
fn measure(n: usize, warm: usize, mut f: impl FnMut()) -> ((u64, u64), (u64, u64), f64) {
    let dev = common::device().unwrap();
    for _ in 0..warm {
        f();
    }
    let before = (dev.allocated_bytes(), rss_kib());
    let t = std::time::Instant::now();
    for _ in 0..n {
        f();
    }
    let secs = t.elapsed().as_secs_f64();
    (before, (dev.allocated_bytes(), rss_kib()), secs)
}

/// A small graph with a gather (checked indices), a matmul and a fused elementwise tail.
fn graph_runs(dev: &Device, runs: usize) -> ((u64, u64), (u64, u64), f64) {
    let mut g = Graph::new();
    let table = g.input("table", &[64, 32]).unwrap();
    let ids = g.input_typed("ids", &[16], DType::I32).unwrap();
    let w = g.input("w", &[32, 32]).unwrap();
    let e = g.gather(table, ids, 0).unwrap();
    let h = g.matmul(e, w).unwrap();
    let y = g
        .unary(h, flopwatt::ops::elementwise::UnaryOp::Exp)
        .unwrap();
    g.output(y).unwrap();
    let exe = g.compile(dev).unwrap();
    let table = Tensor::from_f32(dev, &vec![0.01; 64 * 32], &[64, 32]).unwrap();
    let ids: Vec<i32> = (0..16).map(|i| i * 3 - 8).collect();
    let ids = Tensor::from_i32(dev, &ids, &[16]).unwrap();
    let w = Tensor::from_f32(dev, &vec![0.02; 32 * 32], &[32, 32]).unwrap();
    measure(runs, 20, || {
        let y = exe.run(&[&table, &ids, &w]).unwrap();
        assert_eq!(y[0].to_f32_vec().unwrap().len(), 16 * 32);
    })
}

/// An ONNX model (Gemm, Relu, shape arithmetic, Softmax) loaded from bytes, lowered,
/// compiled, run once and dropped, `loads` times.
fn model_loads(dev: &Device, loads: usize) -> ((u64, u64), (u64, u64), f64) {
    let mp = onnx_build::gemm_model(&[0.1; 48], &[0.0; 8]);
    let bytes = prost::Message::encode_to_vec(&mp);
    let x = Array {
        shape: vec![2, 6],
        data: Data::F32(vec![0.5; 12]),
    };
    measure(loads, 5, || {
        let mut m = onnx::load_bytes(&bytes).unwrap();
        m.specialize(&[("x".to_string(), vec![2, 6])].into())
            .unwrap();
        let low = to_graph(&m).unwrap();
        let exe = low.graph.compile(dev).unwrap();
        let t = low.upload(dev, "x", &x).unwrap();
        let y = exe.run(&[&t]).unwrap();
        assert_eq!(low.download(0, &y[0]).unwrap().shape, [2, 4, 2]);
    })
}

/// Pool bytes flat, RSS within `rss_margin_kib`; prints the numbers.
fn assert_flat(what: &str, (before, after, secs): ((u64, u64), (u64, u64), f64), margin: u64) {
    eprintln!(
        "{what}: {secs:.2} s; device pool {} -> {} bytes; RSS {} -> {} KiB",
        before.0, after.0, before.1, after.1
    );
    assert_eq!(before.0, after.0, "{what}: the device pool grew");
    assert!(
        after.1 <= before.1 + margin,
        "{what}: RSS grew from {} to {} KiB",
        before.1,
        after.1
    );
}

#[test]
fn a_graph_run_300_times_and_a_model_loaded_50_times_keep_memory_flat() {
    let dev = device_or_skip!();
    assert_flat("graph x300", graph_runs(&dev, 300), 8 * 1024);
    assert_flat("model x50", model_loads(&dev, 50), 8 * 1024);
}

#[test]
#[ignore = "long soak (minutes on lavapipe): tools/soak.sh"]
fn a_graph_run_10000_times_and_a_model_loaded_1000_times_keep_memory_flat() {
    let dev = device_or_skip!();
    assert_flat("graph x10000", graph_runs(&dev, 10_000), 16 * 1024);
    assert_flat("model x1000", model_loads(&dev, 1_000), 16 * 1024);
}
