//! Builders of ONNX protobuf messages shared by the ONNX test binaries (included with
//! `#[path]`, so each binary compiles only what it uses).
#![allow(dead_code)]

use flopwatt::onnx::proto::*;

pub fn vi(name: &str, elem: i32, dims: &[Result<i64, &str>]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| match d {
                            Ok(v) => Dimension {
                                dim_value: Some(*v),
                                dim_param: None,
                            },
                            Err(p) => Dimension {
                                dim_value: None,
                                dim_param: Some(p.to_string()),
                            },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: Some(name.into()),
        op_type: Some(op.into()),
        domain: None,
        attribute: attrs,
    }
}

pub fn a_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(2),
        i: Some(v),
        ..Default::default()
    }
}

pub fn a_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(1),
        f: Some(v),
        ..Default::default()
    }
}

pub fn a_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(7),
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub fn a_tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(4),
        t: Some(t),
        ..Default::default()
    }
}

pub fn t_f32_raw(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(1),
        raw_data: Some(
            v.iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<u8>>()
                .into(),
        ),
        ..Default::default()
    }
}

pub fn t_f32(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(1),
        float_data: v.to_vec(),
        ..Default::default()
    }
}

pub fn t_i64(name: &str, dims: &[i64], v: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(7),
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

/// An f32 value info.
pub fn vi_f32(name: &str, dims: &[Result<i64, &str>]) -> ValueInfoProto {
    vi(name, 1, dims)
}

/// A node named after its op and first output.
pub fn node_named(
    op: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    node(op, &format!("{op}_{}", outputs[0]), inputs, outputs, attrs)
}

/// One opset-17 graph `g` of these nodes, initializers, inputs, outputs and declared shapes,
/// encoded as a model file's bytes.
pub fn model_bytes(
    nodes: Vec<NodeProto>,
    init: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    value_info: Vec<ValueInfoProto>,
) -> Vec<u8> {
    let m = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: None,
            version: Some(17),
        }],
        producer_name: None,
        graph: Some(GraphProto {
            node: nodes,
            name: Some("g".into()),
            initializer: init,
            input: inputs,
            output: outputs,
            value_info,
        }),
    };
    prost::Message::encode_to_vec(&m)
}

pub fn gemm_model(w: &[f32], b: &[f32]) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: None,
            version: Some(17),
        }],
        producer_name: None,
        graph: Some(GraphProto {
            node: vec![
                node_named(
                    "Gemm",
                    &["x", "W", "b"],
                    &["h"],
                    vec![a_int("transB", 1), a_float("alpha", 0.5)],
                ),
                node_named("Relu", &["h"], &["r"], vec![]),
                node_named("Shape", &["x"], &["s"], vec![a_int("end", 1)]),
                node_named(
                    "Concat",
                    &["s", "tail"],
                    &["target"],
                    vec![a_int("axis", 0)],
                ),
                node_named("Reshape", &["r", "target"], &["r3"], vec![]),
                node_named(
                    "Transpose",
                    &["r3"],
                    &["t"],
                    vec![a_ints("perm", &[0, 2, 1])],
                ),
                node_named("Softmax", &["t"], &["y"], vec![a_int("axis", -1)]),
            ],
            name: Some("g".into()),
            initializer: vec![
                t_f32_raw("W", &[8, 6], w),
                t_f32_raw("b", &[8], b),
                t_i64("tail", &[2], &[2, 4]),
            ],
            input: vec![vi_f32("x", &[Err("batch"), Ok(6)])],
            output: vec![vi_f32("y", &[Err("batch"), Ok(4), Ok(2)])],
            value_info: vec![],
        }),
    }
}
