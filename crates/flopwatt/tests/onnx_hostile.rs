//! Hostile ONNX models: shapes whose size overflows, declared shapes that lie, fed gather
//! indices out of range, folding of empty tensors with huge outer dims, and a broadcast output
//! too large to read back. Each must be a typed error (or finish at once), never a wrong
//! answer, a hang or an abort.
// Native only (sync API, threads); the browser runs the gpu_test! binaries.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::Duration;

use flopwatt::onnx::npy::Array;
use flopwatt::onnx::{self, to_graph::to_graph, Data};
use flopwatt::Compile;

#[path = "common/onnx_build.rs"]
mod onnx_build;
use onnx_build::{a_int, model_bytes as model, node_named, t_f32_raw, t_i64, vi, vi_f32};

/// Runs `f` on another thread and fails the test if it takes longer than `secs`.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("did not finish in time")
}

#[test]
fn expand_to_a_shape_whose_size_overflows_is_a_shape_error() {
    let bytes = model(
        vec![node_named("Expand", &["x", "shape"], &["y"], vec![])],
        vec![t_i64("shape", &[2], &[1 << 32, 1 << 32])],
        vec![vi_f32("x", &[Ok(1), Ok(1)])],
        vec![vi_f32("y", &[Err("a"), Err("b")])],
        vec![],
    );
    let m = onnx::load_bytes(&bytes).unwrap();
    let e = to_graph(&m)
        .err()
        .expect("an overflowing shape was accepted");
    assert!(e.to_string().contains("spans more than"), "{e}");
}

#[test]
fn a_declared_shape_that_disagrees_with_the_computed_one_is_an_error() {
    // y is [2, 3]; the file says [3, 2], and a Reshape to Shape(y) would trust it.
    let bytes = model(
        vec![
            node_named("Relu", &["x"], &["y"], vec![]),
            node_named("Shape", &["y"], &["s"], vec![]),
            node_named("Reshape", &["x", "s"], &["z"], vec![]),
        ],
        vec![],
        vec![vi_f32("x", &[Ok(2), Ok(3)])],
        vec![vi_f32("z", &[Err("a"), Err("b")])],
        vec![vi_f32("y", &[Ok(3), Ok(2)])],
    );
    let m = onnx::load_bytes(&bytes).unwrap();
    let e = to_graph(&m).err().expect("a lying value_info was trusted");
    let msg = e.to_string();
    assert!(msg.contains("`y`") && msg.contains("declared"), "{msg}");
    // A declared graph output of the wrong shape too.
    let bytes = model(
        vec![node_named("Relu", &["x"], &["y"], vec![])],
        vec![],
        vec![vi_f32("x", &[Ok(2), Ok(3)])],
        vec![vi_f32("y", &[Ok(3), Ok(2)])],
        vec![],
    );
    let e = to_graph(&onnx::load_bytes(&bytes).unwrap()).err();
    assert!(e.is_some_and(|e| e.to_string().contains("`y`")));
}

#[test]
fn folding_empty_tensors_with_huge_outer_dims_finishes_at_once() {
    let empty = |name: &str| t_f32_raw(name, &[1 << 40, 0], &[]);
    // Gather along the empty axis with no indices, and Concat of two empty tensors.
    let bytes = model(
        vec![
            node_named("Gather", &["e", "none"], &["g"], vec![a_int("axis", 1)]),
            node_named("Concat", &["e", "f"], &["c"], vec![a_int("axis", 1)]),
        ],
        vec![empty("e"), empty("f"), t_i64("none", &[0], &[])],
        vec![],
        vec![
            vi_f32("g", &[Err("a"), Ok(0)]),
            vi_f32("c", &[Err("a"), Ok(0)]),
        ],
        vec![],
    );
    let m = within(20, move || onnx::load_bytes(&bytes)).unwrap();
    assert!(m.nodes.is_empty(), "both nodes fold");
    assert_eq!(m.initializers["g"].shape, [1 << 40, 0]);
    assert_eq!(m.initializers["c"].shape, [1 << 40, 0]);
}

#[test]
fn fed_gather_indices_out_of_range_are_an_error_not_zeros() {
    let dev = device_or_skip!();
    let table: Vec<f32> = (0..10).map(|i| i as f32).collect();
    let bytes = model(
        vec![
            node_named("Reshape", &["ids", "flat"], &["ids2"], vec![]),
            node_named("Gather", &["table", "ids2"], &["y"], vec![a_int("axis", 0)]),
        ],
        vec![
            t_f32_raw("table", &[5, 2], &table),
            t_i64("flat", &[1], &[-1]),
        ],
        vec![vi("ids", 7, &[Ok(3)])],
        vec![vi_f32("y", &[Ok(3), Ok(2)])],
        vec![],
    );
    let low = to_graph(&onnx::load_bytes(&bytes).unwrap()).unwrap();
    let ids = |v: &[i64]| Array {
        shape: vec![3],
        data: Data::I64(v.to_vec()),
    };
    for bad in [[0, 5, 1], [0, -6, 1]] {
        let e = low.upload(&dev, "ids", &ids(&bad)).expect_err("accepted");
        assert!(e.to_string().contains("out of range"), "{e}");
    }
    // ONNX's negative indices count from the end and stay accepted.
    assert!(low.upload(&dev, "ids", &ids(&[0, -5, 4])).is_ok());
}

#[test]
fn gather_indices_computed_out_of_range_fail_the_run_naming_the_node() {
    let dev = device_or_skip!();
    let table: Vec<f32> = (0..8).map(|i| i as f32).collect();
    // The indices are computed at run time (ids + 1), so no check before the run sees them.
    let bytes = model(
        vec![
            node_named("Add", &["ids", "one"], &["ids1"], vec![]),
            node_named("Gather", &["table", "ids1"], &["y"], vec![a_int("axis", 0)]),
        ],
        vec![
            t_f32_raw("table", &[4, 2], &table),
            t_i64("one", &[1], &[1]),
        ],
        vec![vi("ids", 7, &[Ok(2)])],
        vec![vi_f32("y", &[Ok(2), Ok(2)])],
        vec![],
    );
    let low = to_graph(&onnx::load_bytes(&bytes).unwrap()).unwrap();
    let exe = low.graph.compile(&dev).unwrap();
    let run = |v: &[i64]| {
        let ids = Array {
            shape: vec![2],
            data: Data::I64(v.to_vec()),
        };
        let t = low.upload(&dev, "ids", &ids).unwrap();
        exe.run(&[&t])
            .and_then(|y| low.download(0, &y[0]))
            .map(|a| a.data)
    };
    // ids + 1 = [-1, 0]: -1 picks the last row.
    let Data::F32(y) = run(&[-2, -1]).unwrap() else {
        panic!("float output")
    };
    assert_eq!(y, [6.0, 7.0, 0.0, 1.0]);
    // ids + 1 = [5, 0]: 5 is out of range for an axis of 4.
    let msg = run(&[4, -1])
        .expect_err("an index out of range gave a result")
        .to_string();
    assert!(msg.contains("y (gather.gather)"), "{msg}");
    assert!(msg.contains("index 5 is out of range"), "{msg}");
}

/// int64 arithmetic of a model is exact (in i32 on the device) or an error: never the f32
/// rounding (33554432) or the i32 saturation (2147483647) with a normal exit.
#[test]
fn integer_arithmetic_is_exact_or_an_error() {
    let dev = device_or_skip!();
    // y = x * two; z = w * w - w * (w - one)  (= w, which f32 got wrong for w = 4097)
    let bytes = model(
        vec![
            node_named("Mul", &["x", "two"], &["y"], vec![]),
            node_named("Mul", &["w", "w"], &["ww"], vec![]),
            node_named("Sub", &["w", "one"], &["wm"], vec![]),
            node_named("Mul", &["w", "wm"], &["wwm"], vec![]),
            node_named("Sub", &["ww", "wwm"], &["z"], vec![]),
        ],
        vec![t_i64("two", &[1], &[2]), t_i64("one", &[1], &[1])],
        vec![vi("x", 7, &[Ok(3)]), vi("w", 7, &[Ok(3)])],
        vec![vi("y", 7, &[Ok(3)]), vi("z", 7, &[Ok(3)])],
        vec![],
    );
    let low = to_graph(&onnx::load_bytes(&bytes).unwrap()).unwrap();
    for fusion in [true, false] {
        let exe = low
            .graph
            .compile_with(
                &dev,
                flopwatt::CompileOptions {
                    fusion,
                    memory_planning: true,
                    ..flopwatt::CompileOptions::DEFAULT
                },
            )
            .unwrap();
        let run = |x: &[i64], w: &[i64]| -> flopwatt::Result<Vec<Data>> {
            let arr = |v: &[i64]| Array {
                shape: vec![3],
                data: Data::I64(v.to_vec()),
            };
            let x = low.upload(&dev, "x", &arr(x))?;
            let w = low.upload(&dev, "w", &arr(w))?;
            let ys = exe.run(&[&x, &w])?;
            (0..2)
                .map(|k| low.download(k, &ys[k]).map(|a| a.data))
                .collect()
        };
        let got = run(&[16_777_217, 4097, -3], &[4097, 46_340, -3]);
        if fusion {
            let got = got.unwrap();
            assert_eq!(got[0], Data::I64(vec![33_554_434, 8194, -6]));
            assert_eq!(got[1], Data::I64(vec![4097, 46_340, -3]));
        } else {
            // Unfused, an integer op's result is an f32 graph value between two kernels:
            // exact, or an error where f32 cannot hold it (33554434 needs 25 bits).
            let e = got.expect_err("a rounded integer was accepted").to_string();
            assert!(e.contains("not exactly representable"), "{e}");
            let got = run(&[16_777_216, 4097, -3], &[4096, 2, -3]).unwrap();
            assert_eq!(got[0], Data::I64(vec![33_554_432, 8194, -6]));
            assert_eq!(got[1], Data::I64(vec![4096, 2, -3]));
        }
        let e = run(&[(1 << 31) - 1, 0, 0], &[0; 3]).expect_err("an overflow gave a result");
        assert!(
            e.to_string().contains("overflows i32"),
            "fusion {fusion}: {e}"
        );
    }
}

/// Load-time folding computes integers in i64 exactly: an overflow is an error, never a
/// wrapped value.
#[test]
fn folded_integer_arithmetic_is_exact_or_an_error() {
    let fold = |a: i64, b: i64| {
        let bytes = model(
            vec![node_named("Mul", &["a", "b"], &["y"], vec![])],
            vec![t_i64("a", &[1], &[a]), t_i64("b", &[1], &[b])],
            vec![],
            vec![vi("y", 7, &[Ok(1)])],
            vec![],
        );
        onnx::load_bytes(&bytes).map(|m| m.initializers["y"].to_i64_vec())
    };
    assert_eq!(fold(16_777_217, 2).unwrap(), [33_554_434]);
    assert_eq!(fold((1 << 31) - 1, 2).unwrap(), [4_294_967_294]);
    let e = fold(1 << 62, 4).expect_err("a wrapped product was accepted");
    assert!(e.to_string().contains("overflow"), "{e}");
}

/// A broadcast output of a few GB (Expand, then an op that must write it) is refused before
/// any buffer or host memory of that size is taken, at once.
#[cfg(target_os = "linux")]
#[test]
fn a_broadcast_output_of_gigabytes_fails_fast_without_the_memory() {
    let dev = device_or_skip!();
    let rss = || {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let l = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
    };
    // [40000, 40000] f32: 6.4 GB.
    let bytes = model(
        vec![
            node_named("Expand", &["x", "shape"], &["e"], vec![]),
            node_named("Relu", &["e"], &["y"], vec![]),
        ],
        vec![t_i64("shape", &[2], &[40_000, 40_000])],
        vec![vi_f32("x", &[Ok(1), Ok(1)])],
        vec![vi_f32("y", &[Ok(40_000), Ok(40_000)])],
        vec![],
    );
    let before = rss();
    let low = to_graph(&onnx::load_bytes(&bytes).unwrap()).unwrap();
    let x = low
        .upload(
            &dev,
            "x",
            &Array {
                shape: vec![1, 1],
                data: Data::F32(vec![1.0]),
            },
        )
        .unwrap();
    let t = std::time::Instant::now();
    let e = within(20, move || {
        low.graph
            .compile(&dev)
            .and_then(|exe| exe.run(&[&x]).map(|_| ()))
    })
    .expect_err("a 6.4 GB output was computed");
    assert!(matches!(e, flopwatt::Error::TooLarge { .. }), "{e}");
    assert!(t.elapsed().as_secs() < 10, "took {:?}", t.elapsed());
    assert!(
        rss() < before + 256 * 1024,
        "RSS grew from {before} to {} KiB",
        rss()
    );
}

/// A ConstantOfShape of 6.4 GB (folding is its only form) is refused for its size, at once,
/// not for a "run-time dependency" it does not have.
#[test]
fn a_constant_of_shape_too_large_to_fold_says_so() {
    let bytes = model(
        vec![node_named("ConstantOfShape", &["shape"], &["y"], vec![])],
        vec![t_i64("shape", &[2], &[40_000, 40_000])],
        vec![],
        vec![vi_f32("y", &[Ok(40_000), Ok(40_000)])],
        vec![],
    );
    let e = within(20, move || {
        onnx::load_bytes(&bytes).and_then(|m| to_graph(&m).map(|_| ()))
    })
    .expect_err("accepted");
    assert!(
        e.to_string().contains("the most load-time folding builds"),
        "{e}"
    );
}

#[test]
fn a_broadcast_view_beyond_the_device_limits_is_refused_before_host_memory() {
    let dev = device_or_skip!();
    let x = flopwatt::Tensor::from_f32(&dev, &[1.0], &[1, 1]).unwrap();
    // 2^34 elements (64 GiB as f32) over a 4-byte buffer.
    let big = x.broadcast_to(&[1 << 17, 1 << 17]).unwrap();
    let e = big.to_f32_vec().expect_err("a 64 GiB view was read back");
    assert!(matches!(e, flopwatt::Error::TooLarge { .. }), "{e}");
    // Sizes that overflow are refused when the view is made.
    assert!(x.broadcast_to(&[1 << 32, 1 << 32]).is_err());
}
