//! ONNX import: models built in code from the prost messages, encoded, loaded back; every
//! error path; load-time folding; `.npy` I/O. No GPU needed.
// Native only: blocking readbacks, threads, files (the browser runs the gpu_test! binaries).
#![cfg(not(target_arch = "wasm32"))]

use flopwatt::onnx::npy::{self, Array};
use flopwatt::onnx::proto::*;
use flopwatt::onnx::{self, Attr, Data, Dim, ElemType, Model, TensorValue};
use flopwatt::Error;
use prost::Message;

// ---------- builders ----------

#[path = "common/onnx_build.rs"]
mod onnx_build;
use onnx_build::*;

fn model(opset: i64, graph: GraphProto) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        producer_name: Some("flopwatt-test".into()),
        graph: Some(graph),
    }
}

fn graph(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
) -> GraphProto {
    GraphProto {
        node: nodes,
        name: Some("g".into()),
        initializer: inits,
        input: inputs,
        output: outputs,
        value_info: vec![],
    }
}

/// A small MLP-like model: y = relu(Gemm(x, W, b)), x [batch, 3].
fn gemm_model() -> ModelProto {
    let w: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
    model(
        17,
        graph(
            vec![
                node(
                    "Gemm",
                    "fc",
                    &["x", "W", "b"],
                    &["h"],
                    vec![a_float("alpha", 0.5), a_int("transB", 1)],
                ),
                node("Relu", "", &["h"], &["y"], vec![]),
            ],
            vec![
                t_f32_raw("W", &[4, 3], &w),
                t_f32("b", &[4], &[0.1, -0.2, 0.3, 1e-7]),
            ],
            vec![
                vi("x", 1, &[Err("batch"), Ok(3)]),
                vi("W", 1, &[Ok(4), Ok(3)]),
            ],
            vec![vi("y", 1, &[Err("batch"), Ok(4)])],
        ),
    )
}

fn load(m: &ModelProto) -> flopwatt::Result<Model> {
    onnx::load_bytes(&m.encode_to_vec())
}

fn expect_model_err(r: flopwatt::Result<Model>, needle: &str) {
    match r {
        Err(Error::Model { message, .. }) => {
            assert!(
                message.contains(needle),
                "message `{message}` lacks `{needle}`"
            )
        }
        other => panic!("expected Error::Model containing `{needle}`, got {other:?}"),
    }
}

fn expect_onnx_err(
    r: flopwatt::Result<impl std::fmt::Debug>,
    node_name: &str,
    op_name: &str,
    needle: &str,
) {
    match r {
        Err(e @ Error::Onnx { .. }) => {
            let Error::Onnx {
                node,
                op,
                opset,
                message,
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(node, node_name);
            assert_eq!(op, op_name);
            assert!(*opset >= 11);
            assert!(
                message.contains(needle),
                "message `{message}` lacks `{needle}`"
            );
            let line = e.to_string();
            assert!(
                line.contains(node_name) && line.contains(op_name) && line.contains("opset"),
                "{line}"
            );
            assert!(!line.contains('\n'));
        }
        other => panic!("expected Error::Onnx, got {other:?}"),
    }
}

// ---------- round trip ----------

#[test]
fn round_trip_gemm_model() {
    let m = load(&gemm_model()).unwrap();
    assert_eq!(m.opset, 17);
    assert_eq!(m.ir_version, 8);
    // W is listed as an input too (old exporters): it is a weight, not something to feed.
    assert_eq!(m.inputs.len(), 1);
    assert_eq!(m.inputs[0].name, "x");
    assert_eq!(m.inputs[0].dtype, ElemType::Float);
    assert_eq!(
        m.inputs[0].shape,
        Some(vec![Dim::Symbolic("batch".into()), Dim::Fixed(3)])
    );
    assert_eq!(m.inputs[0].static_shape(), None);
    assert_eq!(m.outputs[0].name, "y");
    let w = &m.initializers["W"];
    assert_eq!(w.shape, vec![4, 3]);
    assert_eq!(
        w.data,
        Data::F32((0..12).map(|i| i as f32 * 0.25 - 1.0).collect())
    );
    assert_eq!(
        m.initializers["b"].data,
        Data::F32(vec![0.1, -0.2, 0.3, 1e-7])
    );
    assert_eq!(m.nodes.len(), 2);
    let fc = &m.nodes[0];
    assert_eq!((fc.name.as_str(), fc.op_type.as_str()), ("fc", "Gemm"));
    assert_eq!(fc.inputs, vec!["x", "W", "b"]);
    assert_eq!(fc.attr_float("alpha"), Some(0.5));
    assert_eq!(fc.attr_int("transB"), Some(1));
    assert_eq!(fc.attr_int("transA"), None);
    // Unnamed nodes get OpType#index so errors can name them.
    assert_eq!(m.nodes[1].name, "Relu#1");
    m.check_supported().unwrap();
    assert!(m.unsupported_ops().is_empty());
}

#[test]
fn load_from_file_and_missing_file() {
    let dir = std::env::temp_dir().join(format!("flopwatt-onnx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("m.onnx");
    std::fs::write(&p, gemm_model().encode_to_vec()).unwrap();
    let m = onnx::load(&p).unwrap();
    assert_eq!(m.nodes.len(), 2);
    let e = onnx::load(dir.join("nope.onnx")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_dtype_decodes_from_raw_and_typed_fields() {
    let raw = |name: &str, code: i32, dims: &[i64], bytes: Vec<u8>| TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(code),
        raw_data: Some(bytes.into()),
        ..Default::default()
    };
    let f16: Vec<u8> = [1.5f32, -2.0, 65504.0]
        .iter()
        .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
        .collect();
    let bf16: Vec<u8> = [1.5f32, -3.0]
        .iter()
        .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
        .collect();
    let inits = vec![
        raw("h", 10, &[3], f16),
        raw("bh", 16, &[2], bf16),
        raw(
            "d",
            11,
            &[2],
            [0.1f64, -7.25]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
        raw("i8", 3, &[3], vec![0xff, 0x7f, 0x80]),
        raw("u8", 2, &[2], vec![0xff, 0x01]),
        raw("bo", 9, &[3], vec![1, 0, 1]),
        raw(
            "i32",
            6,
            &[2],
            [-5i32, 1 << 30]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
        raw("u32", 12, &[1], u32::MAX.to_le_bytes().to_vec()),
        raw(
            "i64",
            7,
            &[2, 1],
            [i64::MIN, 3].iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        raw("empty", 1, &[0, 5], vec![]),
        t_i64("i64t", &[], &[-42]),
        TensorProto {
            name: Some("dt".into()),
            dims: vec![2],
            data_type: Some(11),
            double_data: vec![1e300, -0.5],
            ..Default::default()
        },
        TensorProto {
            name: Some("ht".into()),
            dims: vec![1],
            data_type: Some(10),
            int32_data: vec![half::f16::from_f32(0.25).to_bits() as i32],
            ..Default::default()
        },
        TensorProto {
            name: Some("bt".into()),
            dims: vec![2],
            data_type: Some(9),
            int32_data: vec![0, 1],
            ..Default::default()
        },
        TensorProto {
            name: Some("u64t".into()),
            dims: vec![1],
            data_type: Some(13),
            uint64_data: vec![1 << 40],
            ..Default::default()
        },
    ];
    let names: Vec<String> = inits.iter().map(|t| t.name.clone().unwrap()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    // One Concat-free consumer per initializer keeps them alive through folding's pruning.
    let outs: Vec<ValueInfoProto> = refs.iter().map(|n| vi(&format!("o_{n}"), 1, &[])).collect();
    let nodes: Vec<NodeProto> = refs
        .iter()
        .map(|n| {
            node(
                "Relu",
                &format!("r_{n}"),
                &[n],
                &[&format!("o_{n}")],
                vec![],
            )
        })
        .collect();
    let m = load(&model(13, graph(nodes, inits, vec![], outs))).unwrap();
    let get = |n: &str| m.initializers[n].clone();
    assert_eq!(get("h").data, Data::F32(vec![1.5, -2.0, 65504.0]));
    assert_eq!(get("h").dtype, ElemType::Float16);
    assert_eq!(get("bh").data, Data::F32(vec![1.5, -3.0]));
    assert_eq!(get("d").data, Data::F64(vec![0.1, -7.25]));
    assert_eq!(get("i8").data, Data::I32(vec![-1, 127, -128]));
    assert_eq!(get("u8").data, Data::I32(vec![255, 1]));
    assert_eq!(get("bo").data, Data::Bool(vec![true, false, true]));
    assert_eq!(get("i32").data, Data::I32(vec![-5, 1 << 30]));
    assert_eq!(get("u32").data, Data::I64(vec![u32::MAX as i64]));
    assert_eq!(get("i64").data, Data::I64(vec![i64::MIN, 3]));
    assert_eq!(get("i64").shape, vec![2, 1]);
    assert_eq!(get("empty").shape, vec![0, 5]);
    assert!(get("empty").data.is_empty());
    assert_eq!(get("i64t").shape, Vec::<usize>::new());
    assert_eq!(get("dt").data, Data::F64(vec![1e300, -0.5]));
    assert_eq!(get("ht").data, Data::F32(vec![0.25]));
    assert_eq!(get("bt").data, Data::Bool(vec![false, true]));
    assert_eq!(get("u64t").data, Data::I64(vec![1 << 40]));
}

// ---------- error paths ----------

#[test]
fn every_truncation_is_an_error_or_a_valid_model_never_a_panic() {
    let bytes = gemm_model().encode_to_vec();
    let mut errors = 0;
    for cut in 0..bytes.len() {
        if onnx::load_bytes(&bytes[..cut]).is_err() {
            errors += 1;
        }
    }
    // Cutting between top-level fields can leave a valid message; nearly all cuts fail.
    assert!(errors > bytes.len() * 9 / 10, "{errors} of {}", bytes.len());
    expect_model_err(
        onnx::load_bytes(&bytes[..bytes.len() / 2]),
        "not a valid ONNX protobuf",
    );
    expect_model_err(onnx::load_bytes(&[]), "no opset import");
}

#[test]
fn garbage_and_bit_flips_never_panic() {
    let mut rng = fastrand::Rng::with_seed(8);
    for len in [1usize, 2, 7, 127, 257, 4096] {
        for _ in 0..50 {
            let g: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            assert!(onnx::load_bytes(&g).is_err() || len < 8);
        }
    }
    let good = gemm_model().encode_to_vec();
    for _ in 0..2000 {
        let mut b = good.clone();
        for _ in 0..rng.usize(1..4) {
            let i = rng.usize(..b.len());
            b[i] ^= 1 << rng.u8(0..8);
        }
        let _ = onnx::load_bytes(&b).map(|m| m.check_supported());
    }
    expect_model_err(onnx::load_bytes(b"\x08\x96\x01garbage here"), "");
}

#[test]
fn old_opset_missing_graph_missing_opset() {
    let mut m = gemm_model();
    m.opset_import[0].version = Some(9);
    expect_model_err(load(&m), "opset 9 is older than 11");
    let mut m = gemm_model();
    m.opset_import[0].domain = Some("com.microsoft".into());
    expect_model_err(load(&m), "no opset import for the default ONNX domain");
    let mut m = gemm_model();
    m.graph = None;
    expect_model_err(load(&m), "no graph");
    let mut m = gemm_model();
    m.opset_import[0].version = None;
    expect_model_err(load(&m), "has no version");
}

#[test]
fn bad_tensors_are_model_errors() {
    let with_init = |t: TensorProto| {
        let mut m = gemm_model();
        m.graph.as_mut().unwrap().initializer[1] = t;
        load(&m)
    };
    let mut t = t_f32("b", &[4], &[]);
    t.data_location = Some(1);
    t.external_data = vec![StringStringEntryProto {
        key: Some("location".into()),
        value: Some("weights.bin".into()),
    }];
    expect_model_err(with_init(t), "external file (`weights.bin`)");
    expect_model_err(
        with_init(t_f32_raw("b", &[5], &[1.0; 4])),
        "16 bytes of raw data but its shape [5] needs 20",
    );
    expect_model_err(
        with_init(t_f32("b", &[4], &[1.0; 3])),
        "has 3 elements but its shape [4] needs 4",
    );
    expect_model_err(
        with_init(t_f32("b", &[-4], &[1.0; 4])),
        "negative dimension",
    );
    expect_model_err(
        with_init(t_f32("b", &[1 << 40, 1 << 40, 1 << 40], &[1.0])),
        "overflows",
    );
    let s = TensorProto {
        name: Some("b".into()),
        dims: vec![1],
        data_type: Some(8),
        string_data: vec![b"hi".to_vec()],
        ..Default::default()
    };
    expect_model_err(with_init(s), "element type STRING");
    let mut nameless = t_f32("b", &[4], &[1.0; 4]);
    nameless.name = None;
    expect_model_err(with_init(nameless), "no name");
    let mut m = gemm_model();
    m.graph.as_mut().unwrap().input[0] = vi("x", 14, &[Ok(1)]);
    expect_model_err(load(&m), "COMPLEX64");
}

#[test]
fn dangling_input_duplicate_output_missing_output() {
    let mut m = gemm_model();
    m.graph.as_mut().unwrap().node.swap(0, 1);
    expect_onnx_err(load(&m), "Relu#0", "Relu", "input `h`");
    let mut m = gemm_model();
    m.graph.as_mut().unwrap().node[1].output = vec!["h".into()];
    expect_onnx_err(load(&m), "Relu#1", "Relu", "already defined");
    let mut m = gemm_model();
    m.graph.as_mut().unwrap().output[0] = vi("zz", 1, &[]);
    expect_model_err(load(&m), "graph output `zz`");
    let mut m = gemm_model();
    m.graph.as_mut().unwrap().node[0].op_type = None;
    expect_onnx_err(load(&m), "fc", "", "no op_type");
}

#[test]
fn unsupported_op_domain_and_opset_name_node_op_and_opset() {
    let mut m = gemm_model();
    m.graph.as_mut().unwrap().node[1].op_type = Some("NonMaxSuppression".into());
    m.graph.as_mut().unwrap().node[1].name = Some("nms".into());
    let loaded = load(&m).unwrap();
    expect_onnx_err(
        loaded.check_supported(),
        "nms",
        "NonMaxSuppression",
        "unsupported op",
    );
    assert_eq!(loaded.unsupported_ops(), vec!["NonMaxSuppression"]);
    let line = loaded.check_supported().unwrap_err().to_string();
    assert_eq!(
        line,
        "ONNX node `nms` (NonMaxSuppression, opset 17): unsupported op"
    );

    let mut m = gemm_model();
    m.graph.as_mut().unwrap().node[1].domain = Some("com.microsoft".into());
    expect_onnx_err(
        load(&m).unwrap().check_supported(),
        "Relu#1",
        "com.microsoft:Relu",
        "domain `com.microsoft`",
    );

    let mut m = gemm_model();
    m.graph.as_mut().unwrap().node[1].op_type = Some("Attention".into());
    expect_onnx_err(
        load(&m).unwrap().check_supported(),
        "Attention#1",
        "Attention",
        "from opset 23",
    );
    m.opset_import[0].version = Some(23);
    load(&m).unwrap().check_supported().unwrap();

    let mut m = gemm_model();
    m.graph.as_mut().unwrap().node[1].op_type = Some("If".into());
    m.graph.as_mut().unwrap().node[1].attribute = vec![AttributeProto {
        name: Some("then_branch".into()),
        r#type: Some(5),
        g: Some(GraphProto::default()),
        ..Default::default()
    }];
    // Graph attributes are decoded (for `If` inlining); an `If` whose branches do not run
    // fails when it is lowered, naming the node (tests/onnx_import.rs covers `If` whole).
    let l = load(&m).unwrap();
    assert!(
        matches!(l.nodes[1].attributes["then_branch"], Attr::Graph(_)),
        "{:?}",
        l.nodes[1].attributes["then_branch"]
    );
}

// ---------- folding ----------

/// x [2, 3, 4] static; y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])).
fn reshape_chain(x_dims: &[Result<i64, &str>], opset: i64) -> ModelProto {
    let unsq = if opset >= 13 {
        node("Unsqueeze", "unsq", &["d0", "ax0"], &["d0u"], vec![])
    } else {
        node(
            "Unsqueeze",
            "unsq",
            &["d0"],
            &["d0u"],
            vec![a_ints("axes", &[0])],
        )
    };
    model(
        opset,
        graph(
            vec![
                node("Shape", "shape", &["x"], &["s"], vec![]),
                node(
                    "Constant",
                    "c0",
                    &[],
                    &["zero"],
                    vec![a_tensor("value", t_i64("", &[], &[0]))],
                ),
                node(
                    "Gather",
                    "gather",
                    &["s", "zero"],
                    &["d0"],
                    vec![a_int("axis", 0)],
                ),
                node(
                    "Constant",
                    "cax",
                    &[],
                    &["ax0"],
                    vec![a_ints("value_ints", &[0])],
                ),
                unsq,
                node(
                    "Constant",
                    "cm1",
                    &[],
                    &["m1"],
                    vec![a_ints("value_ints", &[-1])],
                ),
                node(
                    "Concat",
                    "cat",
                    &["d0u", "m1"],
                    &["target"],
                    vec![a_int("axis", 0)],
                ),
                node("Reshape", "reshape", &["x", "target"], &["y"], vec![]),
            ],
            vec![],
            vec![vi("x", 1, x_dims)],
            vec![vi("y", 1, &[Ok(2), Ok(12)])],
        ),
    )
}

#[test]
fn shape_chain_folds_to_a_reshape_target() {
    for opset in [11, 13, 17] {
        let m = load(&reshape_chain(&[Ok(2), Ok(3), Ok(4)], opset)).unwrap();
        assert_eq!(m.nodes.len(), 1, "opset {opset}: {:?}", m.nodes);
        assert_eq!(m.nodes[0].op_type, "Reshape");
        let t = &m.initializers["target"];
        assert_eq!(t.data, Data::I64(vec![2, -1]));
        assert_eq!(t.shape, vec![2]);
        // Intermediate constants are pruned once nothing reads them.
        assert_eq!(m.initializers.len(), 1);
    }
    // A symbolic dim keeps Shape (and what depends on it) in the graph; the constants fold.
    let m = load(&reshape_chain(&[Err("batch"), Ok(3), Ok(4)], 13)).unwrap();
    let ops: Vec<&str> = m.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape"]);
    assert_eq!(m.initializers["m1"].data, Data::I64(vec![-1]));
}

/// Runs a one-node model whose inputs are all constants and returns the folded output.
fn fold_one(
    op: &str,
    inits: Vec<TensorProto>,
    attrs: Vec<AttributeProto>,
) -> flopwatt::Result<TensorValue> {
    let names: Vec<String> = inits
        .iter()
        .map(|t| t.name.clone().unwrap_or_default())
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let m = load(&model(
        17,
        graph(
            vec![node(op, "n", &refs, &["out"], attrs)],
            inits,
            vec![],
            vec![vi("out", 1, &[])],
        ),
    ))?;
    assert!(m.nodes.is_empty(), "{op} did not fold");
    Ok(m.initializers["out"].clone())
}

#[test]
fn folding_ops_match_hand_computed_values() {
    // ConstantOfShape with a value, and its float default.
    let v = fold_one(
        "ConstantOfShape",
        vec![t_i64("s", &[2], &[2, 3])],
        vec![a_tensor("value", t_i64("", &[1], &[7]))],
    )
    .unwrap();
    assert_eq!(
        (v.shape.clone(), v.data),
        (vec![2, 3], Data::I64(vec![7; 6]))
    );
    let v = fold_one("ConstantOfShape", vec![t_i64("s", &[1], &[3])], vec![]).unwrap();
    assert_eq!(v.data, Data::F32(vec![0.0; 3]));

    // Range, integer and float (count = ceil((limit - start) / delta)).
    let v = fold_one(
        "Range",
        vec![
            t_i64("a", &[], &[0]),
            t_i64("b", &[], &[10]),
            t_i64("c", &[], &[3]),
        ],
        vec![],
    )
    .unwrap();
    assert_eq!(v.data, Data::I64(vec![0, 3, 6, 9]));
    let v = fold_one(
        "Range",
        vec![
            t_i64("a", &[], &[5]),
            t_i64("b", &[], &[-2]),
            t_i64("c", &[], &[-3]),
        ],
        vec![],
    )
    .unwrap();
    assert_eq!(v.data, Data::I64(vec![5, 2, -1]));
    let v = fold_one(
        "Range",
        vec![
            t_f32("a", &[], &[1.0]),
            t_f32("b", &[], &[2.0]),
            t_f32("c", &[], &[0.25]),
        ],
        vec![],
    )
    .unwrap();
    assert_eq!(v.data, Data::F32(vec![1.0, 1.25, 1.5, 1.75]));
    let v = fold_one(
        "Range",
        vec![
            t_i64("a", &[], &[3]),
            t_i64("b", &[], &[3]),
            t_i64("c", &[], &[1]),
        ],
        vec![],
    )
    .unwrap();
    assert_eq!(v.shape, vec![0]);

    // Cast float -> int64 truncates toward zero; int -> float exact.
    let v = fold_one(
        "Cast",
        vec![t_f32("a", &[3], &[-1.7, 2.9, 0.0])],
        vec![a_int("to", 7)],
    )
    .unwrap();
    assert_eq!(
        (v.dtype, v.data),
        (ElemType::Int64, Data::I64(vec![-1, 2, 0]))
    );
    let v = fold_one(
        "Cast",
        vec![t_i64("a", &[2], &[3, -4])],
        vec![a_int("to", 1)],
    )
    .unwrap();
    assert_eq!(v.data, Data::F32(vec![3.0, -4.0]));

    // Broadcast arithmetic and comparisons, Where.
    let v = fold_one(
        "Mul",
        vec![
            t_i64("a", &[2, 1], &[2, 3]),
            t_i64("b", &[3], &[1, 10, 100]),
        ],
        vec![],
    )
    .unwrap();
    assert_eq!(
        (v.shape.clone(), v.data),
        (vec![2, 3], Data::I64(vec![2, 20, 200, 3, 30, 300]))
    );
    let v = fold_one(
        "Div",
        vec![t_i64("a", &[2], &[7, -7]), t_i64("b", &[], &[2])],
        vec![],
    )
    .unwrap();
    assert_eq!(v.data, Data::I64(vec![3, -3]));
    let v = fold_one(
        "Equal",
        vec![t_i64("a", &[3], &[1, -1, 5]), t_i64("b", &[], &[-1])],
        vec![],
    )
    .unwrap();
    assert_eq!(
        (v.dtype, v.data),
        (ElemType::Bool, Data::Bool(vec![false, true, false]))
    );
    let v = fold_one(
        "Where",
        vec![
            TensorProto {
                name: Some("c".into()),
                dims: vec![3],
                data_type: Some(9),
                int32_data: vec![1, 0, 1],
                ..Default::default()
            },
            t_i64("x", &[3], &[10, 20, 30]),
            t_i64("y", &[], &[-1]),
        ],
        vec![],
    )
    .unwrap();
    assert_eq!(v.data, Data::I64(vec![10, -1, 30]));

    // Slice with negative start, INT64_MIN end and a negative step; Gather with a negative index.
    let data: Vec<f32> = (0..24).map(|i| i as f32).collect();
    let v = fold_one(
        "Slice",
        vec![
            t_f32("d", &[2, 3, 4], &data),
            t_i64("s", &[1], &[-1]),
            t_i64("e", &[1], &[i64::MIN]),
            t_i64("a", &[1], &[2]),
            t_i64("st", &[1], &[-2]),
        ],
        vec![],
    )
    .unwrap();
    assert_eq!(v.shape, vec![2, 3, 2]);
    assert_eq!(
        v.data,
        Data::F32(vec![3., 1., 7., 5., 11., 9., 15., 13., 19., 17., 23., 21.])
    );
    let v = fold_one(
        "Slice",
        vec![
            t_f32("d", &[2, 3, 4], &data),
            t_i64("s", &[2], &[1, 1]),
            t_i64("e", &[2], &[i64::MAX, 3]),
            t_i64("a", &[2], &[0, -2]),
        ],
        vec![],
    )
    .unwrap();
    assert_eq!(
        (v.shape.clone(), v.data),
        (
            vec![1, 2, 4],
            Data::F32((16..24).map(|i| i as f32).collect())
        )
    );
    let v = fold_one(
        "Gather",
        vec![t_f32("d", &[2, 3, 4], &data), t_i64("i", &[2], &[-1, 0])],
        vec![a_int("axis", 1)],
    )
    .unwrap();
    assert_eq!(v.shape, vec![2, 2, 4]);
    assert_eq!(
        v.to_f64_vec(),
        [8., 9., 10., 11., 0., 1., 2., 3., 20., 21., 22., 23., 12., 13., 14., 15.]
    );
    // Expand and Squeeze.
    let v = fold_one(
        "Expand",
        vec![
            t_i64("x", &[3, 1], &[1, 2, 3]),
            t_i64("s", &[3], &[2, 1, 2]),
        ],
        vec![],
    )
    .unwrap();
    assert_eq!(
        (v.shape.clone(), v.data),
        (
            vec![2, 3, 2],
            Data::I64(vec![1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3])
        )
    );
    let v = fold_one(
        "Squeeze",
        vec![t_i64("x", &[1, 3, 1], &[1, 2, 3]), t_i64("a", &[1], &[-1])],
        vec![],
    )
    .unwrap();
    assert_eq!(v.shape, vec![1, 3]);
    // Reshape with 0 (copy) and -1 (infer).
    let v = fold_one(
        "Reshape",
        vec![t_f32("x", &[2, 3, 4], &data), t_i64("s", &[2], &[0, -1])],
        vec![],
    )
    .unwrap();
    assert_eq!(v.shape, vec![2, 12]);
}

#[test]
fn invalid_constants_are_node_errors_and_growth_is_capped() {
    let e = fold_one(
        "Gather",
        vec![t_i64("d", &[3], &[1, 2, 3]), t_i64("i", &[1], &[3])],
        vec![],
    );
    expect_onnx_err(e, "n", "Gather", "index 3 out of range");
    let e = fold_one(
        "Div",
        vec![t_i64("a", &[1], &[1]), t_i64("b", &[1], &[0])],
        vec![],
    );
    expect_onnx_err(e, "n", "Div", "division by zero");
    let e = fold_one(
        "Reshape",
        vec![t_i64("a", &[6], &[0; 6]), t_i64("b", &[1], &[4])],
        vec![],
    );
    expect_onnx_err(e, "n", "Reshape", "cannot reshape");
    let e = fold_one(
        "Range",
        vec![
            t_i64("a", &[], &[0]),
            t_i64("b", &[], &[1]),
            t_i64("c", &[], &[0]),
        ],
        vec![],
    );
    expect_onnx_err(e, "n", "Range", "delta is 0");
    // 2^40 elements from a 1-element shape: left in the graph, not allocated.
    let m = load(&model(
        17,
        graph(
            vec![node("ConstantOfShape", "big", &["s"], &["out"], vec![])],
            vec![t_i64("s", &[2], &[1 << 20, 1 << 20])],
            vec![],
            vec![vi("out", 1, &[])],
        ),
    ))
    .unwrap();
    assert_eq!(m.nodes.len(), 1);
    assert!(m.initializers.contains_key("s"));
}

// ---------- npy ----------

#[test]
fn npy_round_trip_every_dtype_and_rank() {
    let mut rng = fastrand::Rng::with_seed(5);
    let cases = vec![
        Array {
            shape: vec![],
            data: Data::F32(vec![3.5]),
        },
        Array {
            shape: vec![127],
            data: Data::F32((0..127).map(|_| rng.f32() - 0.5).collect()),
        },
        Array {
            shape: vec![2, 0, 3],
            data: Data::F32(vec![]),
        },
        Array {
            shape: vec![3, 257],
            data: Data::F64((0..771).map(|_| rng.f64()).collect()),
        },
        Array {
            shape: vec![1, 1, 5],
            data: Data::I64(vec![i64::MIN, -1, 0, 1, i64::MAX]),
        },
        Array {
            shape: vec![2, 2],
            data: Data::I32(vec![i32::MIN, -7, 0, i32::MAX]),
        },
        Array {
            shape: vec![3],
            data: Data::Bool(vec![true, false, true]),
        },
    ];
    for a in cases {
        let b = npy::to_bytes(&a).unwrap();
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!(
            (10 + hlen) % 64,
            0,
            "data start is 64-byte aligned like numpy's"
        );
        assert_eq!(npy::from_bytes(&b, "t").unwrap(), a);
    }
    let dir = std::env::temp_dir().join(format!("flopwatt-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = Array {
        shape: vec![2, 3],
        data: Data::I64(vec![1, 2, 3, 4, 5, 6]),
    };
    npy::write(dir.join("a.npy"), &a).unwrap();
    assert_eq!(npy::read(dir.join("a.npy")).unwrap(), a);
    assert!(matches!(
        npy::read(dir.join("none.npy")),
        Err(Error::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn npy_reads_numpy_written_bytes() {
    // Exactly what np.save writes for np.arange(6, dtype='<i4').reshape(2, 3) (format 1.0).
    let mut h = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }".to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    for i in 0..6i32 {
        b.extend_from_slice(&i.to_le_bytes());
    }
    let a = npy::from_bytes(&b, "t").unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.data, Data::I32(vec![0, 1, 2, 3, 4, 5]));
    assert_eq!(npy::to_bytes(&a).unwrap(), b);
}

#[test]
fn npy_bad_files_are_typed_errors() {
    let good = npy::to_bytes(&Array {
        shape: vec![4],
        data: Data::F32(vec![1.0; 4]),
    })
    .unwrap();
    let err = |b: &[u8], needle: &str| match npy::from_bytes(b, "x.npy") {
        Err(Error::Npy { path, message }) => {
            assert_eq!(path, "x.npy");
            assert!(message.contains(needle), "`{message}` lacks `{needle}`")
        }
        other => panic!("expected Npy error with `{needle}`, got {other:?}"),
    };
    err(b"", "bad magic");
    err(b"PK\x03\x04 zip file here", "bad magic");
    err(&good[..good.len() - 1], "needs 16 bytes");
    err(&good[..20], "truncated header");
    let swap = |from: &str, to: &str| {
        let s = String::from_utf8_lossy(&good[10..]).replacen(from, to, 1);
        let mut b = good[..10].to_vec();
        b.extend_from_slice(&s.as_bytes()[..good.len() - 10]);
        b
    };
    err(&swap("<f4", ">f4"), "'>f4' is not supported");
    err(&swap("<f4", "<c8"), "'<c8' is not supported");
    err(&swap("False", "True "), "Fortran-order");
    err(&swap("(4,)", "(5,)"), "needs 20 bytes");
    err(&swap("(4,)", "(x,)"), "no valid 'shape'");
    let mut v9 = good.clone();
    v9[6] = 9;
    err(&v9, "version 9");
    let mut bools = npy::to_bytes(&Array {
        shape: vec![2],
        data: Data::Bool(vec![true, false]),
    })
    .unwrap();
    *bools.last_mut().unwrap() = 2;
    err(&bools, "not 0 or 1");
    // Random bytes after a valid magic never panic.
    let mut rng = fastrand::Rng::with_seed(3);
    for _ in 0..500 {
        let mut b = good.clone();
        let i = rng.usize(6..b.len());
        b[i] = rng.u8(..);
        let _ = npy::from_bytes(&b, "f");
    }
}

/// Writes the fuzz seeds when asked (`FLOPWATT_WRITE_FUZZ_CORPUS=1`); otherwise only checks
/// that the seeds load.
#[test]
fn write_fuzz_corpus() {
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("gemm_relu.onnx", gemm_model().encode_to_vec()),
        (
            "reshape_chain.onnx",
            reshape_chain(&[Ok(2), Ok(3), Ok(4)], 13).encode_to_vec(),
        ),
        (
            "small.npy",
            npy::to_bytes(&Array {
                shape: vec![2, 2],
                data: Data::F32(vec![1.0, -2.0, 0.5, 3.0]),
            })
            .unwrap(),
        ),
    ];
    for (name, bytes) in &seeds {
        if name.ends_with(".onnx") {
            onnx::load_bytes(bytes).unwrap();
        }
    }
    if std::env::var("FLOPWATT_WRITE_FUZZ_CORPUS").is_ok() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/onnx_load");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

// ---------- run-time input checks ----------

#[test]
fn inputs_are_checked_by_name_dtype_shape_and_symbol() {
    let mut g = reshape_chain(&[Err("batch"), Ok(3), Ok(4)], 13);
    g.graph
        .as_mut()
        .unwrap()
        .input
        .push(vi("ids", 7, &[Err("batch"), Err("seq")]));
    let mut m = load(&g).unwrap();
    let x = Array {
        shape: vec![2, 3, 4],
        data: Data::F32(vec![0.5; 24]),
    };
    let ids = Array {
        shape: vec![2, 7],
        data: Data::I64(vec![1; 14]),
    };
    let syms = m
        .check_inputs(&[("x".into(), &x), ("ids".into(), &ids)])
        .unwrap();
    assert_eq!(syms.get("batch"), Some(&2));
    assert_eq!(syms.get("seq"), Some(&7));
    let msg = |r: flopwatt::Result<_>| match r {
        Err(e @ Error::InvalidArgument { .. }) => e.to_string(),
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    assert!(msg(m.check_inputs(&[("x".into(), &x)])).contains("input `ids` is missing"));
    assert!(
        msg(m.check_inputs(&[("x".into(), &x), ("ids".into(), &ids), ("z".into(), &x)]))
            .contains("no input `z`")
    );
    assert!(msg(m.check_inputs(&[("x".into(), &x), ("x".into(), &x)])).contains("twice"));
    assert!(
        msg(m.check_inputs(&[("x".into(), &ids), ("ids".into(), &ids)]))
            .contains("`x` is int64 but the model takes FLOAT")
    );
    let x_bad = Array {
        shape: vec![2, 4, 3],
        data: Data::F32(vec![0.5; 24]),
    };
    assert!(
        msg(m.check_inputs(&[("x".into(), &x_bad), ("ids".into(), &ids)]))
            .contains("shape [2, 4, 3] but the model takes [batch, 3, 4]")
    );
    let ids_bad = Array {
        shape: vec![3, 7],
        data: Data::I64(vec![1; 21]),
    };
    assert!(
        msg(m.check_inputs(&[("x".into(), &x), ("ids".into(), &ids_bad)]))
            .contains("batch = 3 but another input has batch = 2")
    );

    // Binding the shapes lets the Shape chain fold.
    let shapes = [
        ("x".to_string(), vec![2, 3, 4]),
        ("ids".to_string(), vec![2, 7]),
    ]
    .into_iter()
    .collect();
    assert_eq!(m.nodes.len(), 5);
    m.specialize(&shapes).unwrap();
    assert_eq!(m.nodes.len(), 1);
    assert_eq!(m.initializers["target"].data, Data::I64(vec![2, -1]));
}

#[test]
fn shapes_flow_through_kept_ops_so_later_shape_nodes_fold() {
    // y = Reshape(t, Shape(t)[0:1] ++ [-1]) with t = Transpose(MatMul(x, W) + b): x [batch, 5].
    let w: Vec<f32> = (0..15).map(|i| i as f32).collect();
    let g = model(
        17,
        graph(
            vec![
                node("MatMul", "mm", &["x", "W"], &["h"], vec![]),
                node("Add", "add", &["h", "b"], &["h2"], vec![]),
                node("Unsqueeze", "u", &["h2", "ax"], &["h3"], vec![]),
                node(
                    "Transpose",
                    "tr",
                    &["h3"],
                    &["t"],
                    vec![a_ints("perm", &[2, 0, 1])],
                ),
                node("Shape", "sh", &["t"], &["s"], vec![a_int("end", 1)]),
                node(
                    "Concat",
                    "cat",
                    &["s", "m1"],
                    &["target"],
                    vec![a_int("axis", 0)],
                ),
                node("Reshape", "rs", &["t", "target"], &["y"], vec![]),
            ],
            vec![
                t_f32("W", &[5, 3], &w),
                t_f32("b", &[3], &[1.0, 2.0, 3.0]),
                t_i64("ax", &[1], &[0]),
                t_i64("m1", &[1], &[-1]),
            ],
            vec![vi("x", 1, &[Err("batch"), Ok(5)])],
            vec![vi("y", 1, &[])],
        ),
    );
    let mut m = load(&g).unwrap();
    assert_eq!(m.nodes.len(), 7);
    let shapes = [("x".to_string(), vec![4, 5])].into_iter().collect();
    m.specialize(&shapes).unwrap();
    let ops: Vec<&str> = m.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["MatMul", "Add", "Unsqueeze", "Transpose", "Reshape"]);
    // h [4, 3] -> h3 [1, 4, 3] -> t [3, 1, 4]: Shape(t)[0:1] = [3].
    assert_eq!(m.initializers["target"].data, Data::I64(vec![3, -1]));
}
