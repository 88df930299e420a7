//! ONNX -> graph lowering, run on the adapter and checked against hand-written f64 loops.
// Native only: blocking readbacks, threads, files (the browser runs the gpu_test! binaries).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::onnx::npy::Array;
use flopwatt::onnx::proto::*;
use flopwatt::onnx::{self, to_graph::to_graph, Data};
use flopwatt::reference::{check_close, random, TRANSCENDENTAL_F32};
use flopwatt::{Error, Tensor};
use prost::Message;

#[path = "common/onnx_build.rs"]
mod onnx_build;
use onnx_build::{a_float, a_int, a_ints, t_f32_raw, t_i64};

/// An f32 value info.
fn vi(name: &str, dims: &[Result<i64, &str>]) -> ValueInfoProto {
    onnx_build::vi(name, 1, dims)
}

/// A node named after its op and first output.
fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    onnx_build::node(op, &format!("{op}_{}", outputs[0]), inputs, outputs, attrs)
}

fn model(w: &[f32], b: &[f32]) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: None,
            version: Some(17),
        }],
        producer_name: None,
        graph: Some(GraphProto {
            node: vec![
                node(
                    "Gemm",
                    &["x", "W", "b"],
                    &["h"],
                    vec![a_int("transB", 1), a_float("alpha", 0.5)],
                ),
                node("Relu", &["h"], &["r"], vec![]),
                node("Shape", &["x"], &["s"], vec![a_int("end", 1)]),
                node(
                    "Concat",
                    &["s", "tail"],
                    &["target"],
                    vec![a_int("axis", 0)],
                ),
                node("Reshape", &["r", "target"], &["r3"], vec![]),
                node(
                    "Transpose",
                    &["r3"],
                    &["t"],
                    vec![a_ints("perm", &[0, 2, 1])],
                ),
                node("Softmax", &["t"], &["y"], vec![a_int("axis", -1)]),
            ],
            name: Some("g".into()),
            initializer: vec![
                t_f32_raw("W", &[8, 6], w),
                t_f32_raw("b", &[8], b),
                t_i64("tail", &[2], &[2, 4]),
            ],
            input: vec![vi("x", &[Err("batch"), Ok(6)])],
            output: vec![vi("y", &[Err("batch"), Ok(4), Ok(2)])],
            value_info: vec![],
        }),
    }
}

#[test]
fn gemm_relu_reshape_transpose_softmax_matches_f64() {
    let dev = device_or_skip!();
    let w = random(48, 1);
    let b = random(8, 2);
    let bytes = model(&w, &b).encode_to_vec();
    for batch in [1usize, 7] {
        let mut m = onnx::load_bytes(&bytes).unwrap();
        let xv = random(batch * 6, 3 + batch as u64);
        let xa = Array {
            shape: vec![batch, 6],
            data: Data::F32(xv.clone()),
        };
        m.check_inputs(&[("x".into(), &xa)]).unwrap();
        m.specialize(&[("x".to_string(), vec![batch, 6])].into_iter().collect())
            .unwrap();
        assert!(
            m.nodes.iter().all(|n| n.op_type != "Shape"),
            "shape chain folded"
        );
        let low = to_graph(&m).unwrap();
        assert_eq!(low.inputs, ["x"]);
        assert_eq!(low.outputs, ["y"]);
        assert_eq!(low.graph.shape(low.graph.outputs()[0]), &[batch, 4, 2]);
        for fusion in [true, false] {
            let exe = low
                .graph
                .compile_with(
                    &dev,
                    flopwatt::executable::CompileOptions {
                        fusion,
                        memory_planning: true,
                    },
                )
                .unwrap();
            let x = Tensor::from_f32(&dev, &xv, &[batch, 6]).unwrap();
            let got = exe.run(&[&x]).unwrap()[0].to_f32_vec().unwrap();
            // f64: r[n, j] = relu(0.5 * sum_k x[n,k] W[j,k] + b[j]); r3[n, i, c] = r[n, 4i + c];
            // y[n, c, i] = softmax over i of r3[n, i, c].
            let mut want = vec![0f64; batch * 8];
            for n in 0..batch {
                let mut r = [0f64; 8];
                for (j, rj) in r.iter_mut().enumerate() {
                    let s: f64 = (0..6)
                        .map(|k| xv[n * 6 + k] as f64 * w[j * 6 + k] as f64)
                        .sum();
                    *rj = (0.5 * s + b[j] as f64).max(0.0);
                }
                for c in 0..4 {
                    let v = [r[c], r[4 + c]];
                    let mx = v[0].max(v[1]);
                    let z: f64 = v.iter().map(|a| (a - mx).exp()).sum();
                    for i in 0..2 {
                        want[n * 8 + c * 2 + i] = (v[i] - mx).exp() / z;
                    }
                }
            }
            check_close(
                &format!("onnx model batch {batch} fusion {fusion}"),
                &got,
                &want,
                TRANSCENDENTAL_F32,
            )
            .unwrap();
        }
    }
}

#[test]
fn lowering_needs_fixed_float_inputs_and_names_unlowered_ops() {
    let w = random(48, 1);
    let b = random(8, 2);
    let m = onnx::load_bytes(&model(&w, &b).encode_to_vec()).unwrap();
    match to_graph(&m) {
        Err(Error::Model { message, .. }) => {
            assert!(message.contains("no fixed shape"), "{message}")
        }
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("symbolic input lowered"),
    }
    let lower_as = |op: &str| {
        let mut g = model(&w, &b);
        g.graph.as_mut().unwrap().node[1].op_type = Some(op.into());
        let mut m = onnx::load_bytes(&g.encode_to_vec()).unwrap();
        m.specialize(&[("x".to_string(), vec![2, 6])].into_iter().collect())
            .unwrap();
        to_graph(&m).err().expect("lowering fails")
    };
    // MaxPool lowers, but not on a rank-2 value: the error names node, op and opset.
    let e = lower_as("MaxPool");
    assert!(matches!(e, Error::Onnx { .. }), "{e:?}");
    assert!(
        e.to_string().contains("`Relu_r` (MaxPool, opset 17)")
            && e.to_string().contains("only 1-D and 2-D pooling"),
        "{e}"
    );
    // Range on run-time values is folded when constant, never lowered.
    let e = lower_as("Range");
    assert!(
        e.to_string().contains("`Relu_r` (Range, opset 17)")
            && e.to_string().contains("not lowered"),
        "{e}"
    );
}

#[test]
fn cli_run_writes_outputs_and_reports_bad_inputs_in_one_line() {
    let _dev = device_or_skip!();
    let dir = std::env::temp_dir().join(format!("flopwatt-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let w = random(48, 1);
    let b = random(8, 2);
    let mut mp = model(&w, &b);
    mp.graph.as_mut().unwrap().output[0].name = Some("y".into());
    std::fs::write(dir.join("m.onnx"), mp.encode_to_vec()).unwrap();
    let xv = random(3 * 6, 9);
    flopwatt::onnx::npy::write(
        dir.join("x.npy"),
        &Array {
            shape: vec![3, 6],
            data: Data::F32(xv),
        },
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_flopwatt");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .arg("run")
            .arg(dir.join("m.onnx"))
            .args(args)
            .arg("--output-dir")
            .arg(dir.join("out"))
            .output()
            .unwrap()
    };
    let x_arg = format!("x={}", dir.join("x.npy").display());
    let ok = run(&["--input", &x_arg, "--profile"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let y = flopwatt::onnx::npy::read(dir.join("out/y.npy")).unwrap();
    assert_eq!(y.shape, vec![3, 4, 2]);
    let Data::F32(v) = y.data else {
        panic!("f32 output")
    };
    for pair in v.chunks(2) {
        assert!(
            (pair[0] + pair[1] - 1.0).abs() < 1e-5,
            "softmax rows sum to 1: {pair:?}"
        );
    }
    let bad = |args: &[&str], needle: &str| {
        let o = run(args);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        let line = err
            .lines()
            .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
            .collect::<Vec<_>>();
        assert_eq!(line.len(), 1, "{err}");
        assert!(line[0].contains(needle), "{err}");
    };
    bad(&[], "input `x` is missing");
    bad(&["--input", &x_arg, "--input", &x_arg], "given twice");
    bad(&["--input", "z=nope.npy"], "nope.npy");
    std::fs::write(dir.join("bad.npy"), b"not npy").unwrap();
    bad(
        &["--input", &format!("x={}", dir.join("bad.npy").display())],
        "bad magic",
    );
    flopwatt::onnx::npy::write(
        dir.join("x5.npy"),
        &Array {
            shape: vec![3, 5],
            data: Data::F32(vec![0.0; 15]),
        },
    )
    .unwrap();
    bad(
        &["--input", &format!("x={}", dir.join("x5.npy").display())],
        "shape [3, 5] but the model takes [batch, 6]",
    );
    std::fs::write(dir.join("trunc.onnx"), &mp.encode_to_vec()[..40]).unwrap();
    let o = std::process::Command::new(bin)
        .args(["run"])
        .arg(dir.join("trunc.onnx"))
        .args(["--output-dir", "/tmp"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a valid ONNX protobuf"));
    std::fs::remove_dir_all(&dir).ok();
}
