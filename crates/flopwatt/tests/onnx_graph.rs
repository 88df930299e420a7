//! ONNX -> graph lowering, run on the adapter and checked against hand-written f64 loops.
// Native only: blocking readbacks, threads, files (the browser runs the gpu_test! binaries).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::onnx::npy::Array;
use flopwatt::onnx::{self, to_graph::to_graph, Data};
use flopwatt::Compile;
use flopwatt::{Error, Tensor};
use flopwatt_reference::{check_close, random, TRANSCENDENTAL_F32};
use prost::Message;

#[path = "common/onnx_build.rs"]
mod onnx_build;
use onnx_build::gemm_model as model;

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
                        ..flopwatt::executable::CompileOptions::DEFAULT
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
    // Range on run-time values is folded when constant, never lowered: the error says the
    // value depends on data and names the node.
    let e = lower_as("Range");
    assert!(
        e.to_string().contains("`Relu_r` (Range, opset 17)")
            && e.to_string().contains("depends on run-time data"),
        "{e}"
    );
}

#[test]
fn shape_of_an_intermediate_value_folds_once_inputs_are_known() {
    let dev = device_or_skip!();
    let (w, b) = (random(48, 1), random(8, 2));
    // The reshape target reads the batch from the ReLU's output, not from the input: only
    // the graph, once `x`'s shape is bound, knows that shape.
    let mut g = model(&w, &b);
    g.graph.as_mut().unwrap().node[2].input[0] = "r".into();
    // Paddle's converter writes -1 for a dynamic dim.
    let x_dims = &mut g.graph.as_mut().unwrap().input[0];
    *x_dims = onnx_build::vi_f32("x", &[Ok(-1), Ok(6)]);
    let m = onnx::load_bytes(&g.encode_to_vec()).unwrap();
    let base = onnx::load_bytes(&model(&w, &b).encode_to_vec()).unwrap();
    let xv = random(5 * 6, 4);
    let mut outs = Vec::new();
    for mut m in [base, m] {
        m.specialize(&[("x".to_string(), vec![5, 6])].into_iter().collect())
            .unwrap();
        let low = to_graph(&m).unwrap();
        assert_eq!(low.graph.shape(low.graph.outputs()[0]), &[5, 4, 2]);
        let exe = low.graph.compile(&dev).unwrap();
        let x = Tensor::from_f32(&dev, &xv, &[5, 6]).unwrap();
        outs.push(exe.run(&[&x]).unwrap()[0].to_f32_vec().unwrap());
    }
    assert_eq!(outs[0], outs[1]);
}
