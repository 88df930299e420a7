//! ONNX import of convolution, indexing, pooling, resize and attention ops: BatchNormalization
//! folded into a Conv (and its scale+shift fallback), int64 token ids through Gather (and the
//! i32 range check), 1-D conv, and odd attributes as node errors.
// Native only (sync API); the browser runs the gpu_test! binaries.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::onnx::npy::Array;
use flopwatt::onnx::proto::*;
use flopwatt::onnx::{self, fold_batch_norm, to_graph::to_graph, Data};
use flopwatt::{Compile, Error, Tensor};
use flopwatt_reference::{
    self as reference, check_close, random, to_f64, EXACT_F32, NMSE_F32, TRANSCENDENTAL_F32,
};
use prost::Message;

#[path = "common/onnx_build.rs"]
mod onnx_build;
use onnx_build::{a_float, a_int, a_ints, node, t_f32_raw, vi};

fn model(
    nodes: Vec<NodeProto>,
    init: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
) -> Vec<u8> {
    onnx_build::model_bytes(nodes, init, inputs, outputs, vec![])
}

/// Conv -> BatchNormalization -> Relu; with `also_output` the conv result is a graph output
/// too, so the BN cannot be folded and lowers as a per-channel scale and shift.
fn conv_bn(also_output: bool) -> (Vec<u8>, Vec<Vec<f32>>) {
    let (w, b) = (random(5 * 3 * 3 * 3, 1), random(5, 2));
    let gamma = random(5, 3);
    let beta = random(5, 4);
    let mean = random(5, 5);
    let var: Vec<f32> = reference::random_range(5, 6, 0.5, 2.0);
    let mut outputs = vec![vi("y", 1, &[Ok(2), Ok(5), Ok(9), Ok(7)])];
    if also_output {
        outputs.push(vi("c", 1, &[Ok(2), Ok(5), Ok(9), Ok(7)]));
    }
    let bytes = model(
        vec![
            node(
                "Conv",
                "conv",
                &["x", "W", "B"],
                &["c"],
                vec![a_ints("pads", &[1, 1, 1, 1])],
            ),
            node(
                "BatchNormalization",
                "bn",
                &["c", "gamma", "beta", "mean", "var"],
                &["n"],
                vec![a_float("epsilon", 1e-3)],
            ),
            node("Relu", "relu", &["n"], &["y"], vec![]),
        ],
        vec![
            t_f32_raw("W", &[5, 3, 3, 3], &w),
            t_f32_raw("B", &[5], &b),
            t_f32_raw("gamma", &[5], &gamma),
            t_f32_raw("beta", &[5], &beta),
            t_f32_raw("mean", &[5], &mean),
            t_f32_raw("var", &[5], &var),
        ],
        vec![vi("x", 1, &[Ok(2), Ok(3), Ok(9), Ok(7)])],
        outputs,
    );
    (bytes, vec![w, b, gamma, beta, mean, var])
}

#[test]
fn batch_norm_folds_into_a_sole_consumer_conv_else_scale_shift() {
    let dev = device_or_skip!();
    let xv = random(2 * 3 * 9 * 7, 7);
    for also_output in [false, true] {
        let (bytes, p) = conv_bn(also_output);
        let m = onnx::load_bytes(&bytes).unwrap();
        let folded = fold_batch_norm(&m);
        assert_eq!(folded.is_some(), !also_output);
        if let Some(f) = &folded {
            assert!(f.nodes.iter().all(|n| n.op_type != "BatchNormalization"));
        }
        let (c, _) = reference::conv::conv2d(
            &xv,
            [2, 3, 9, 7],
            &p[0],
            [5, 3, 3, 3],
            Some(&p[1]),
            [1, 1],
            [1, 1, 1, 1],
            [1, 1],
            1,
            flopwatt::ops::Activation::None,
        );
        let bn = reference::gather::batch_norm(
            &c,
            &[2, 5, 9, 7],
            &to_f64(&p[2]),
            &to_f64(&p[3]),
            &to_f64(&p[4]),
            &to_f64(&p[5]),
            1e-3_f32 as f64,
        );
        let want: Vec<f64> = bn.iter().map(|&v| v.max(0.0)).collect();
        let low = to_graph(&m).unwrap();
        let x = Tensor::from_f32(&dev, &xv, &[2, 3, 9, 7]).unwrap();
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
            let outs = exe.run(&[&x]).unwrap();
            let got = outs[0].to_f32_vec().unwrap();
            let e = reference::nmse(&got, &want);
            assert!(
                e < NMSE_F32,
                "also_output {also_output} fusion {fusion}: nmse {e}"
            );
            if also_output {
                let e = reference::nmse(&outs[1].to_f32_vec().unwrap(), &c);
                assert!(e < NMSE_F32, "conv output nmse {e}");
            }
        }
    }
}

#[test]
fn int64_token_ids_gather_rows_and_out_of_range_ids_are_errors() {
    let dev = device_or_skip!();
    let table = random(11 * 4, 3);
    let bytes = model(
        vec![node("Gather", "emb", &["table", "ids"], &["y"], vec![])],
        vec![t_f32_raw("table", &[11, 4], &table)],
        vec![vi("ids", 7, &[Err("batch"), Ok(5)])],
        vec![vi("y", 1, &[Err("batch"), Ok(5), Ok(4)])],
    );
    let mut m = onnx::load_bytes(&bytes).unwrap();
    let ids: Vec<i64> = vec![0, 10, -1, 3, 7, 2, 2, -11, 9, 1];
    let a = Array {
        shape: vec![2, 5],
        data: Data::I64(ids.clone()),
    };
    m.check_inputs(&[("ids".into(), &a)]).unwrap();
    m.specialize(&[("ids".to_string(), vec![2, 5])].into_iter().collect())
        .unwrap();
    let low = to_graph(&m).unwrap();
    let t = low.upload(&dev, "ids", &a).unwrap();
    let y = low.graph.compile(&dev).unwrap().run(&[&t]).unwrap();
    let want = reference::gather::gather(&to_f64(&table), &[11, 4], &ids, &[2, 5], 0);
    check_close(
        "gather int64 ids",
        &y[0].to_f32_vec().unwrap(),
        &want,
        EXACT_F32,
    )
    .unwrap();
    let out = low.download(0, &y[0]).unwrap();
    assert!(matches!(out.data, Data::F32(_)));
    let bad = Array {
        shape: vec![2, 5],
        data: Data::I64(vec![0, 1, 2, 3, 1 << 40, 0, 0, 0, 0, 0]),
    };
    let e = low.upload(&dev, "ids", &bad).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    assert!(e.to_string().contains("does not fit in i32"), "{e}");
}

/// A 1-D Conv (NCL) runs on the 2-D kernel over NC1L.
#[test]
fn conv_1d_runs_as_2d() {
    let dev = device_or_skip!();
    let (w, b) = (random(4 * 3 * 5, 21), random(4, 22));
    let bytes = model(
        vec![node(
            "Conv",
            "conv1d",
            &["x", "W", "B"],
            &["y"],
            vec![
                a_ints("pads", &[2, 1]),
                a_ints("strides", &[2]),
                a_ints("dilations", &[1]),
            ],
        )],
        vec![t_f32_raw("W", &[4, 3, 5], &w), t_f32_raw("B", &[4], &b)],
        vec![vi("x", 1, &[Ok(2), Ok(3), Ok(127)])],
        vec![vi("y", 1, &[Ok(2), Ok(4), Ok(63)])],
    );
    let m = onnx::load_bytes(&bytes).unwrap();
    let low = to_graph(&m).unwrap();
    let xv = random(2 * 3 * 127, 23);
    let x = Tensor::from_f32(&dev, &xv, &[2, 3, 127]).unwrap();
    let y = low.graph.compile(&dev).unwrap().run(&[&x]).unwrap();
    assert_eq!(y[0].shape(), &[2, 4, 63]);
    let (want, _) = reference::conv::conv2d(
        &xv,
        [2, 3, 1, 127],
        &w,
        [4, 3, 1, 5],
        Some(&b),
        [1, 2],
        [0, 2, 0, 1],
        [1, 1],
        1,
        flopwatt::ops::Activation::None,
    );
    let e = reference::nmse(&y[0].to_f32_vec().unwrap(), &want);
    assert!(e < NMSE_F32, "conv1d nmse {e}");
}

/// Odd attributes and shapes on the index, pooling, conv-transpose, resize and attention ops:
/// each is an `Error::Onnx` naming the node (or lowers), never a panic.
#[test]
fn odd_attributes_are_node_errors_not_panics() {
    use onnx_build::{a_int, t_i64};
    let f =
        |name: &str, dims: &[i64]| vi(name, 1, &dims.iter().map(|&d| Ok(d)).collect::<Vec<_>>());
    let cases: Vec<(NodeProto, Vec<TensorProto>, Vec<ValueInfoProto>)> = vec![
        (
            node("Gather", "g1", &["x", "i"], &["y"], vec![a_int("axis", 5)]),
            vec![t_i64("i", &[2], &[0, 1])],
            vec![f("x", &[3, 4])],
        ),
        (
            node("Gather", "g2", &["x", "i"], &["y"], vec![]),
            vec![t_i64("i", &[2], &[0, 3])],
            vec![f("x", &[3, 4])],
        ),
        (
            node(
                "Slice",
                "s1",
                &["x", "st", "en", "ax", "sp"],
                &["y"],
                vec![],
            ),
            vec![
                t_i64("st", &[1], &[-1]),
                t_i64("en", &[1], &[i64::MIN]),
                t_i64("ax", &[1], &[1]),
                t_i64("sp", &[1], &[-1]),
            ],
            vec![f("x", &[3, 0])],
        ),
        (
            node(
                "Slice",
                "s2",
                &["x", "st", "en", "ax", "sp"],
                &["y"],
                vec![],
            ),
            vec![
                t_i64("st", &[1], &[0]),
                t_i64("en", &[1], &[2]),
                t_i64("ax", &[1], &[0]),
                t_i64("sp", &[1], &[0]),
            ],
            vec![f("x", &[3, 4])],
        ),
        (
            node("Pad", "p1", &["x", "pads"], &["y"], vec![]),
            vec![t_i64("pads", &[3], &[1, 2, 3])],
            vec![f("x", &[3, 4])],
        ),
        (
            node(
                "MaxPool",
                "m1",
                &["x"],
                &["y"],
                vec![a_ints("kernel_shape", &[0, 2])],
            ),
            vec![],
            vec![f("x", &[1, 2, 5, 5])],
        ),
        (
            node(
                "AveragePool",
                "m2",
                &["x"],
                &["y"],
                vec![a_ints("kernel_shape", &[2, 2]), a_ints("strides", &[0, 1])],
            ),
            vec![],
            vec![f("x", &[1, 2, 5, 5])],
        ),
        (
            node(
                "ConvTranspose",
                "c1",
                &["x", "w"],
                &["y"],
                vec![a_ints("strides", &[0, 1])],
            ),
            vec![t_f32_raw("w", &[2, 1, 3, 3], &[0.5; 18])],
            vec![f("x", &[1, 2, 5, 5])],
        ),
        (
            node("ConvTranspose", "c2", &["x", "w"], &["y"], vec![]),
            vec![t_f32_raw("w", &[2, 1, 3, 3], &[0.5; 18])],
            vec![f("x", &[1, 2, 0, 5])],
        ),
        (
            node("Attention", "a1", &["q", "k", "v"], &["y"], vec![]),
            vec![],
            vec![f("q", &[2, 4]), f("k", &[2, 4]), f("v", &[2, 4])],
        ),
        (
            node("Split", "sp", &["x", "parts"], &["y", "z"], vec![]),
            vec![t_i64("parts", &[2], &[1, 5])],
            vec![f("x", &[3, 4])],
        ),
        (
            node("Resize", "r1", &["x", "", "", "sizes"], &["y"], vec![]),
            vec![t_i64("sizes", &[4], &[1, 2, 0, 3])],
            vec![f("x", &[1, 2, 4, 4])],
        ),
    ];
    for (nd, init, inputs) in cases {
        let name = nd.name.clone().unwrap();
        let mut bytes = ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: None,
                version: Some(23),
            }],
            producer_name: None,
            graph: Some(GraphProto {
                node: vec![nd],
                name: Some("g".into()),
                initializer: init,
                input: inputs,
                output: vec![vi("y", 1, &[])],
                value_info: vec![],
            }),
        }
        .encode_to_vec();
        bytes.shrink_to_fit();
        let m = onnx::load_bytes(&bytes).unwrap();
        match to_graph(&m) {
            Err(Error::Onnx { node, .. }) => assert_eq!(node, name),
            Err(e) => panic!("{name}: not a node error: {e}"),
            // A reversed slice of an empty axis is simply empty.
            Ok(_) => assert_eq!(name, "s1", "{name}: lowered"),
        }
    }
}

/// A comparison computes 0/1 in f32 and comes back with the model's declared bool type.
#[test]
fn bool_outputs_download_as_bool() {
    let dev = device_or_skip!();
    let bytes = model(
        vec![node("Greater", "gt", &["x", "t"], &["y"], vec![])],
        vec![t_f32_raw("t", &[], &[0.25])],
        vec![vi("x", 1, &[Ok(7)])],
        vec![vi("y", 9, &[Ok(7)])],
    );
    let m = onnx::load_bytes(&bytes).unwrap();
    let low = to_graph(&m).unwrap();
    let xv = random(7, 31);
    let x = Tensor::from_f32(&dev, &xv, &[7]).unwrap();
    let y = low.graph.compile(&dev).unwrap().run(&[&x]).unwrap();
    let got = low.download(0, &y[0]).unwrap();
    let want: Vec<bool> = xv.iter().map(|&v| v > 0.25).collect();
    assert_eq!(got.data, Data::Bool(want));
}

/// `y = softmax(transpose(reshape(relu(0.5 x Wᵀ + b), [n, 2, 4]), [0, 2, 1]), -1)` in f64:
/// what `onnx_build::gemm_model` computes.
fn gemm_model_reference(x: &[f32], n: usize, w: &[f32], b: &[f32]) -> Vec<f64> {
    let mut r = vec![0.0f64; n * 8];
    for i in 0..n {
        for o in 0..8 {
            let dot: f64 = (0..6)
                .map(|k| x[i * 6 + k] as f64 * w[o * 6 + k] as f64)
                .sum();
            r[i * 8 + o] = (0.5 * dot + b[o] as f64).max(0.0);
        }
    }
    let mut y = vec![0.0f64; n * 8];
    for i in 0..n {
        for c in 0..4 {
            // t[i][c][j] = r3[i][j][c] = r[i][j * 4 + c]; softmax over j.
            let v: Vec<f64> = (0..2).map(|j| r[i * 8 + j * 4 + c]).collect();
            let m = v[0].max(v[1]);
            let s: f64 = v.iter().map(|x| (x - m).exp()).sum();
            for j in 0..2 {
                y[i * 8 + c * 2 + j] = (v[j] - m).exp() / s;
            }
        }
    }
    y
}

/// A session lowers and compiles once per input-shape set: the second run with the same
/// shapes reuses the executable, a new batch compiles once more, a fusion switch recompiles
/// without lowering; every run matches the f64 reference. Bad feeds are typed errors.
#[test]
fn session_compiles_once_per_shape_set_and_matches_the_reference() {
    use flopwatt::onnx::{Session, SessionOptions};
    let dev = device_or_skip!();
    let (w, b) = (random(48, 1), random(8, 2));
    let bytes = onnx_build::gemm_model(&w, &b).encode_to_vec();
    let mut s = Session::from_bytes(&dev, &bytes, SessionOptions::default()).unwrap();
    assert_eq!(s.compilations(), 0);
    let check = |s: &mut Session, n: usize, seed: u64| {
        let xv = random(n * 6, seed);
        let x = Array::from_f32(vec![n, 6], xv.clone()).unwrap();
        let out = s.run(&[("x", &x)]).unwrap();
        assert_eq!(out.len(), 1);
        let y = out.get("y").expect("output y");
        assert_eq!(y.shape, vec![n, 4, 2]);
        let want = gemm_model_reference(&xv, n, &w, &b);
        check_close(
            "session gemm model",
            &y.to_f32_vec(),
            &want,
            TRANSCENDENTAL_F32,
        )
        .unwrap();
    };
    check(&mut s, 3, 9);
    check(&mut s, 3, 10);
    assert_eq!(s.compilations(), 1, "same shapes must not compile again");
    check(&mut s, 5, 11);
    check(&mut s, 3, 12);
    assert_eq!(s.compilations(), 2);
    s.set_compile_options(flopwatt::CompileOptions {
        fusion: false,
        memory_planning: true,
        ..flopwatt::CompileOptions::DEFAULT
    })
    .unwrap();
    check(&mut s, 5, 13);
    assert_eq!(
        s.compilations(),
        2,
        "a fusion switch recompiles without lowering"
    );

    let x = Array::from_f32(vec![2, 6], random(12, 3)).unwrap();
    let e = s.run(&[]).unwrap_err();
    assert!(e.to_string().contains("input `x` is missing"), "{e}");
    let e = s.run(&[("x", &x), ("z", &x)]).unwrap_err();
    assert!(e.to_string().contains("no input `z`"), "{e}");
    let ids = Array::from_i64(vec![2, 6], vec![0; 12]).unwrap();
    let e = s.run(&[("x", &ids)]).unwrap_err();
    assert!(
        e.to_string().contains("is int64 but the model takes FLOAT"),
        "{e}"
    );
    let e = Array::from_f32(vec![2, 6], vec![0.0; 11]).unwrap_err();
    assert!(matches!(e, Error::DataLength { .. }), "{e}");
}

/// A GRAPH attribute `name` holding `nodes` and `init`, returning `output`.
fn a_graph(
    name: &str,
    nodes: Vec<NodeProto>,
    init: Vec<TensorProto>,
    output: &str,
) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(5),
        g: Some(GraphProto {
            node: nodes,
            name: Some(name.into()),
            initializer: init,
            input: vec![],
            output: vec![vi(output, 1, &[])],
            value_info: vec![],
        }),
        ..Default::default()
    }
}

/// `y = If(batch > 2, x * c, x + k)`: the then-branch has its own constant `c` (named like an
/// outer value, so scoping matters), the else-branch reads the outer initializer `k`, which
/// no node of the outer graph reads. The condition folds once the batch is bound, the branch
/// is inlined, and each batch takes its branch; an If on a fed condition is an error naming
/// the node.
#[test]
fn if_on_a_folded_condition_runs_its_branch_and_a_runtime_condition_is_an_error() {
    use flopwatt::onnx::{Session, SessionOptions};
    let dev = device_or_skip!();
    let then_b = a_graph(
        "then_branch",
        vec![node("Mul", "times", &["x", "c"], &["t"], vec![])],
        vec![t_f32_raw("c", &[], &[3.0])],
        "t",
    );
    let else_b = a_graph(
        "else_branch",
        vec![node("Add", "plus", &["x", "k"], &["e"], vec![])],
        vec![],
        "e",
    );
    let bytes = model(
        vec![
            node("Shape", "shape", &["x"], &["s"], vec![]),
            node("Gather", "batch", &["s", "zero"], &["n"], vec![]),
            node("Greater", "big", &["n", "two"], &["cond"], vec![]),
            node("If", "branch", &["cond"], &["y"], vec![then_b, else_b]),
        ],
        vec![
            onnx_build::t_i64("zero", &[], &[0]),
            onnx_build::t_i64("two", &[], &[2]),
            t_f32_raw("k", &[4], &[10.0, 20.0, 30.0, 40.0]),
            t_f32_raw("c", &[], &[-100.0]),
        ],
        vec![vi("x", 1, &[Err("batch"), Ok(4)])],
        vec![vi("y", 1, &[Err("batch"), Ok(4)])],
    );
    let mut s = Session::from_bytes(&dev, &bytes, SessionOptions::default()).unwrap();
    for batch in [3, 2] {
        let xv = random(batch * 4, 5);
        let x = Array::from_f32(vec![batch, 4], xv.clone()).unwrap();
        let y = s.run(&[("x", &x)]).unwrap().get("y").unwrap().to_f32_vec();
        let want: Vec<f64> = xv
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if batch > 2 {
                    v as f64 * 3.0
                } else {
                    v as f64 + [10.0, 20.0, 30.0, 40.0][i % 4]
                }
            })
            .collect();
        check_close(&format!("If at batch {batch}"), &y, &want, EXACT_F32).unwrap();
    }

    // Two Ifs of the same name whose branches both define `c` and `t`: each keeps its own.
    let scaled = |by: f32, input: &str| {
        let then_b = a_graph(
            "then_branch",
            vec![node("Mul", "times", &[input, "c"], &["t"], vec![])],
            vec![t_f32_raw("c", &[], &[by])],
            "t",
        );
        let else_b = a_graph(
            "else_branch",
            vec![node("Neg", "neg", &[input], &["e"], vec![])],
            vec![],
            "e",
        );
        vec![then_b, else_b]
    };
    let bytes = model(
        vec![
            node("If", "same", &["yes"], &["y1"], scaled(3.0, "x")),
            node("If", "same", &["yes"], &["y"], scaled(5.0, "y1")),
        ],
        vec![TensorProto {
            name: Some("yes".into()),
            data_type: Some(9),
            int32_data: vec![1],
            ..Default::default()
        }],
        vec![vi("x", 1, &[Ok(4)])],
        vec![vi("y", 1, &[Ok(4)])],
    );
    let mut s = Session::from_bytes(&dev, &bytes, SessionOptions::default()).unwrap();
    let xv = random(4, 8);
    let x = Array::from_f32(vec![4], xv.clone()).unwrap();
    let y = s.run(&[("x", &x)]).unwrap().get("y").unwrap().to_f32_vec();
    let want: Vec<f64> = xv.iter().map(|&v| v as f64 * 15.0).collect();
    check_close("two Ifs named alike", &y, &want, EXACT_F32).unwrap();

    let then_b = a_graph(
        "then_branch",
        vec![node("Neg", "neg", &["x"], &["t"], vec![])],
        vec![],
        "t",
    );
    let else_b = a_graph(
        "else_branch",
        vec![node("Identity", "id", &["x"], &["e"], vec![])],
        vec![],
        "e",
    );
    let bytes = model(
        vec![node(
            "If",
            "fed_if",
            &["flag"],
            &["y"],
            vec![then_b, else_b],
        )],
        vec![],
        vec![vi("flag", 9, &[]), vi("x", 1, &[Ok(4)])],
        vec![vi("y", 1, &[Ok(4)])],
    );
    let mut s = Session::from_bytes(&dev, &bytes, SessionOptions::default()).unwrap();
    let x = Array::from_f32(vec![4], random(4, 6)).unwrap();
    let flag = Array::from_bool(vec![], vec![true]).unwrap();
    let e = s.run(&[("flag", &flag), ("x", &x)]).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("fed_if") && m.contains("run-time data"), "{m}");
}

/// LSTM and GRU attributes outside what the unrolling supports are errors naming the node
/// and the attribute (the supported ones are checked against onnxruntime in onnx_node).
#[test]
fn recurrent_ops_name_the_unsupported_attribute() {
    let (seq, batch, inp, hid) = (2, 1, 3, 2);
    let cases: Vec<(&str, Vec<AttributeProto>, &str)> = vec![
        ("LSTM", vec![a_float("clip", 1.0)], "clip"),
        ("GRU", vec![a_int("layout", 1)], "layout"),
        ("LSTM", vec![a_int("input_forget", 1)], "input_forget"),
        (
            "GRU",
            vec![AttributeProto {
                name: Some("activations".into()),
                r#type: Some(8),
                strings: vec![b"Relu".to_vec(), b"Tanh".to_vec()],
                ..Default::default()
            }],
            "activations",
        ),
    ];
    for (op, mut attrs, needle) in cases {
        let gates = if op == "LSTM" { 4 } else { 3 };
        attrs.push(a_int("hidden_size", hid));
        let bytes = model(
            vec![node(op, "rnn", &["x", "W", "R"], &["y"], attrs)],
            vec![
                t_f32_raw(
                    "W",
                    &[1, gates * hid, inp],
                    &random((gates * hid * inp) as usize, 1),
                ),
                t_f32_raw(
                    "R",
                    &[1, gates * hid, hid],
                    &random((gates * hid * hid) as usize, 2),
                ),
            ],
            vec![vi("x", 1, &[Ok(seq), Ok(batch), Ok(inp)])],
            vec![vi("y", 1, &[Ok(seq), Ok(1), Ok(batch), Ok(hid)])],
        );
        let m = onnx::load_bytes(&bytes).unwrap();
        let e = to_graph(&m)
            .err()
            .expect("unsupported attribute")
            .to_string();
        assert!(
            e.contains("`rnn`") && e.contains(needle),
            "{op} {needle}: {e}"
        );
    }
}
