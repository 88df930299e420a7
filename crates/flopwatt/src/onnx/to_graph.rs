//! Lowering a loaded, specialised [`Model`] onto the graph builder ([`crate::graph::Graph`]).
//!
//! The graph computes in f32 with static shapes (call [`Model::specialize`] with the run's
//! shapes first). Integer and bool inputs (token ids, attention masks) become i32 graph
//! inputs: [`Lowered::upload`] converts int64 feeds and fails on a value outside i32; integer
//! initializers that reach the GPU (gather indices) become i32 constants the same way.
//! BatchNormalization after a Conv that feeds nothing else is folded into the conv's weights
//! and bias at load time ([`super::lower_more::fold_batch_norm`]); elsewhere it is a per-channel scale and shift.
//! Ops of the supported list whose attributes the graph cannot express are an
//! [`Error::Onnx`] naming the node.

use std::collections::HashMap;

use super::fold::{infer_shape, reshape_target};
use super::lower_more::fold_batch_norm;
use super::npy::Array;
use super::{Data, ElemType};
use super::{Model, Node};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::{Conv2dAttrs, Graph, ReduceKind, ValueId};
use crate::ops::elementwise::{BinaryOp, UnaryOp};
use crate::ops::Activation;
use crate::tensor::{DType, Tensor};

/// A graph built from a model, with the model's input and output names in graph order.
pub struct Lowered {
    /// The graph (outputs marked in the model's output order).
    pub graph: Graph,
    /// Model input names in the order `run` takes them.
    pub inputs: Vec<String>,
    /// Model output names in the order `run` returns them.
    pub outputs: Vec<String>,
    /// The ONNX element type of each output (i32 graph values go back as int64 or bool).
    pub output_types: Vec<ElemType>,
}

impl Lowered {
    /// Uploads the feed for input `name` in the graph's dtype: float32 as is; int64, int32
    /// and bool as i32 (an int64 value outside i32 is an error naming the input).
    pub fn upload(&self, device: &Device, name: &str, a: &Array) -> Result<Tensor> {
        let op = "onnx input";
        // By position: a node's label may have been renamed to an output it also is.
        let v = self
            .inputs
            .iter()
            .position(|i| i == name)
            .and_then(|k| self.graph.inputs().get(k).copied())
            .ok_or_else(|| Error::invalid(op, format!("the graph has no input `{name}`")))?;
        match (self.graph.dtype(v), &a.data) {
            (DType::F32, Data::F32(x)) => Tensor::from_f32(device, x, &a.shape),
            (DType::I32, Data::I32(x)) => Tensor::from_i32(device, x, &a.shape),
            (DType::I32, Data::Bool(x)) => {
                let x: Vec<i32> = x.iter().map(|&b| b as i32).collect();
                Tensor::from_i32(device, &x, &a.shape)
            }
            (DType::I32, Data::I64(x)) => {
                let x = narrow_i64(x).map_err(|bad| {
                    Error::invalid(
                        op,
                        format!("input `{name}` holds {bad}, which does not fit in i32"),
                    )
                })?;
                Tensor::from_i32(device, &x, &a.shape)
            }
            (dt, _) => Err(Error::invalid(
                op,
                format!("input `{name}` cannot feed a {dt} graph input"),
            )),
        }
    }

    /// Downloads output `k` as the model declares it: float32, or int64/int32/bool (from i32
    /// values, or from the f32 0/1 of a comparison); other types come back as float32.
    pub fn download(&self, k: usize, t: &Tensor) -> Result<Array> {
        let shape = t.shape().to_vec();
        let data = match (t.dtype(), self.output_types.get(k)) {
            (DType::I32, Some(ElemType::Bool)) => {
                Data::Bool(t.to_i32_vec()?.iter().map(|&v| v != 0).collect())
            }
            (DType::I32, Some(ElemType::Int32)) => Data::I32(t.to_i32_vec()?),
            (DType::I32, _) => Data::I64(t.to_i32_vec()?.iter().map(|&v| v as i64).collect()),
            // Comparisons compute 0/1 in f32; give them the declared integer or bool type.
            (_, Some(ElemType::Bool)) => {
                Data::Bool(t.to_f32_vec()?.iter().map(|&v| v != 0.0).collect())
            }
            (_, Some(ElemType::Int64)) => {
                Data::I64(t.to_f32_vec()?.iter().map(|&v| v as i64).collect())
            }
            (_, Some(ElemType::Int32)) => {
                Data::I32(t.to_f32_vec()?.iter().map(|&v| v as i32).collect())
            }
            _ => Data::F32(t.to_f32_vec()?),
        };
        Ok(Array { shape, data })
    }
}

/// i64 values as i32, or the first value that does not fit.
fn narrow_i64(v: &[i64]) -> std::result::Result<Vec<i32>, i64> {
    v.iter().map(|&x| i32::try_from(x).map_err(|_| x)).collect()
}

/// Whether an ONNX element type is carried as i32 on the graph.
fn is_int(t: ElemType) -> bool {
    !t.is_float()
}

/// Elementwise ops whose output has their (data) input's integer type.
const INT_PRESERVING: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Max",
    "Min",
    "Clip",
    "Neg",
    "Abs",
    "Pow",
    "Where",
    "Relu",
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
];

/// Builds the graph for `model`; see the module doc for what is required.
pub fn to_graph(model: &Model) -> Result<Lowered> {
    model.check_supported()?;
    let folded = fold_batch_norm(model);
    let model = folded.as_ref().unwrap_or(model);
    let mut g = Graph::new();
    let mut vals: HashMap<String, ValueId> = HashMap::new();
    let mut inputs = Vec::new();
    // Optional extra outputs (e.g. MaxPool's Indices) that the lowering does not compute.
    let mut not_computed: HashMap<String, (&Node, usize)> = HashMap::new();
    for i in &model.inputs {
        let shape = i.static_shape().ok_or_else(|| Error::Model {
            path: "<model>".into(),
            message: format!(
                "input `{}` has no fixed shape; bind the run's shapes with Model::specialize first",
                i.name
            ),
        })?;
        let dtype = match i.dtype {
            ElemType::Float => DType::F32,
            t if is_int(t) => DType::I32,
            _ => {
                return Err(Error::Model {
                    path: "<model>".into(),
                    message: format!(
                        "input `{}` is {}; the graph takes float32 and integer inputs",
                        i.name,
                        super::dtype_name(i.dtype.code())
                    ),
                })
            }
        };
        vals.insert(i.name.clone(), g.input_typed(&i.name, &shape, dtype)?);
        inputs.push(i.name.clone());
    }
    for n in &model.nodes {
        if let Some(name) = n.inputs.iter().find(|i| not_computed.contains_key(*i)) {
            let (src, k) = not_computed[name];
            return Err(src.error(
                model.opset,
                format!("optional output {k} (`{name}`) is not computed by flopwatt"),
            ));
        }
        let mut outs = lower(model, n, &mut g, &mut vals).map_err(|e| match e {
            e @ Error::Onnx { .. } => e,
            other => n.error(model.opset, other),
        })?;
        // Integer arithmetic runs in f32 (exact below 2^24); cast back so the value stays
        // an integer for ops that read it (gather indices) and for int64 outputs.
        let data_input = usize::from(n.op_type == "Where");
        let int_in = n
            .input(data_input)
            .and_then(|name| vals.get(name))
            .is_some_and(|v| g.dtype(*v) == DType::I32);
        if int_in && INT_PRESERVING.contains(&n.op_type.as_str()) {
            for o in &mut outs {
                *o = g.cast(*o, DType::I32)?;
            }
        }
        let produced = outs.len();
        for (name, v) in n.outputs.iter().zip(outs) {
            if !name.is_empty() {
                vals.insert(name.clone(), g.name(v, name));
            }
        }
        for (k, name) in n.outputs.iter().enumerate().skip(produced) {
            if !name.is_empty() {
                not_computed.insert(name.clone(), (n, k));
            }
        }
    }
    let mut outputs = Vec::new();
    let mut output_types = Vec::new();
    for o in &model.outputs {
        output_types.push(o.dtype);
        if let Some((src, k)) = not_computed.get(&o.name) {
            return Err(src.error(
                model.opset,
                format!(
                    "optional output {k} (`{}`) is not computed by flopwatt",
                    o.name
                ),
            ));
        }
        let v = value(model, &mut g, &mut vals, &o.name)?;
        g.output(v)?;
        outputs.push(o.name.clone());
    }
    Ok(Lowered {
        graph: g,
        inputs,
        outputs,
        output_types,
    })
}

/// The graph value of a name: an earlier node output or input, else a float initializer.
fn value(
    model: &Model,
    g: &mut Graph,
    vals: &mut HashMap<String, ValueId>,
    name: &str,
) -> Result<ValueId> {
    if let Some(&v) = vals.get(name) {
        return Ok(v);
    }
    let t = model.initializers.get(name).ok_or_else(|| Error::Model {
        path: "<model>".into(),
        message: format!("value `{name}` is not defined"),
    })?;
    let v = if is_int(t.dtype) {
        let data = narrow_i64(&t.to_i64_vec()).map_err(|bad| Error::Model {
            path: "<model>".into(),
            message: format!("constant `{name}` holds {bad}, which does not fit in i32"),
        })?;
        g.constant_i32(name, data, &t.shape)?
    } else if t.shape.is_empty() && t.numel() == 1 {
        g.scalar(t.to_f32_vec()[0])
    } else {
        g.constant(name, t.to_f32_vec(), &t.shape)?
    };
    vals.insert(name.to_string(), v);
    Ok(v)
}

fn lower(
    model: &Model,
    n: &Node,
    g: &mut Graph,
    vals: &mut HashMap<String, ValueId>,
) -> Result<Vec<ValueId>> {
    let opset = model.opset;
    let err = |m: String| n.error(opset, m);
    // 1-D convolutions run on the 2-D kernel (see `lower_more`).
    let rank0 = n
        .input(0)
        .and_then(|name| vals.get(name))
        .map(|v| g.shape(*v).len());
    let mut input = |i: usize, g: &mut Graph| -> Result<ValueId> {
        let name = n
            .input(i)
            .ok_or_else(|| err(format!("input {i} is missing")))?;
        value(model, g, vals, name)
    };
    let const_ints = |i: usize| -> Option<Vec<i64>> {
        n.input(i)
            .and_then(|name| model.initializers.get(name))
            .map(|t| t.to_i64_vec())
    };
    let const_f = |i: usize| -> Option<f32> {
        n.input(i)
            .and_then(|name| model.initializers.get(name))
            .and_then(|t| t.to_f32_vec().first().copied())
    };
    let unary = |op: UnaryOp,
                 input: &mut dyn FnMut(usize, &mut Graph) -> Result<ValueId>,
                 g: &mut Graph|
     -> Result<ValueId> {
        let x = input(0, g)?;
        g.unary(x, op)
    };
    let binary = |op: BinaryOp,
                  input: &mut dyn FnMut(usize, &mut Graph) -> Result<ValueId>,
                  g: &mut Graph|
     -> Result<ValueId> {
        let a = input(0, g)?;
        let b = input(1, g)?;
        g.binary(a, b, op)
    };
    let v = match n.op_type.as_str() {
        "Identity" | "Dropout" => input(0, g)?,
        "Cast" => match n.attr_int("to") {
            Some(1) => {
                let x = input(0, g)?;
                g.cast(x, DType::F32)?
            }
            Some(6 | 7) => {
                let x = input(0, g)?;
                g.cast(x, DType::I32)?
            }
            Some(9) => {
                let x = input(0, g)?;
                let x = g.cast(x, DType::F32)?;
                let z = g.scalar(0.0);
                let ne = g.binary(x, z, BinaryOp::Ne)?;
                g.cast(ne, DType::I32)?
            }
            t => {
                return Err(err(format!(
                    "cast to {} is not supported on the graph",
                    super::dtype_name(t.unwrap_or(0) as i32)
                )))
            }
        },
        "Relu" => unary(UnaryOp::Act(Activation::Relu), &mut input, g)?,
        "Sigmoid" => unary(UnaryOp::Act(Activation::Sigmoid), &mut input, g)?,
        "Tanh" => unary(UnaryOp::Act(Activation::Tanh), &mut input, g)?,
        "Gelu" => {
            let a = if n.attr_str("approximate") == Some("tanh") {
                Activation::GeluTanh
            } else {
                Activation::Gelu
            };
            unary(UnaryOp::Act(a), &mut input, g)?
        }
        "LeakyRelu" => unary(
            UnaryOp::Act(Activation::LeakyRelu(n.attr_float("alpha").unwrap_or(0.01))),
            &mut input,
            g,
        )?,
        "Exp" => unary(UnaryOp::Exp, &mut input, g)?,
        "Log" => unary(UnaryOp::Log, &mut input, g)?,
        "Sqrt" => unary(UnaryOp::Sqrt, &mut input, g)?,
        "Neg" => unary(UnaryOp::Neg, &mut input, g)?,
        "Abs" => unary(UnaryOp::Abs, &mut input, g)?,
        "Reciprocal" => unary(UnaryOp::Reciprocal, &mut input, g)?,
        "Erf" => unary(UnaryOp::Erf, &mut input, g)?,
        "HardSigmoid" => unary(
            UnaryOp::HardSigmoid {
                alpha: n.attr_float("alpha").unwrap_or(0.2),
                beta: n.attr_float("beta").unwrap_or(0.5),
            },
            &mut input,
            g,
        )?,
        "HardSwish" => {
            let x = input(0, g)?;
            let h = g.unary(
                x,
                UnaryOp::HardSigmoid {
                    alpha: 1.0 / 6.0,
                    beta: 0.5,
                },
            )?;
            g.mul(x, h)?
        }
        "Clip" => {
            let (min, max) = (
                const_f(1).unwrap_or(f32::NEG_INFINITY),
                const_f(2).unwrap_or(f32::INFINITY),
            );
            if (n.input(1).is_some() && const_f(1).is_none())
                || (n.input(2).is_some() && const_f(2).is_none())
            {
                // Run-time bounds: min(max(x, lo), hi), which also gives hi when lo > hi.
                let mut y = input(0, g)?;
                if n.input(1).is_some() {
                    let lo = input(1, g)?;
                    y = g.binary(y, lo, BinaryOp::Max)?;
                }
                if n.input(2).is_some() {
                    let hi = input(2, g)?;
                    y = g.binary(y, hi, BinaryOp::Min)?;
                }
                y
            } else {
                unary(UnaryOp::Clip { min, max }, &mut input, g)?
            }
        }
        "Add" => binary(BinaryOp::Add, &mut input, g)?,
        "Sub" => binary(BinaryOp::Sub, &mut input, g)?,
        "Mul" => binary(BinaryOp::Mul, &mut input, g)?,
        "Div" => binary(BinaryOp::Div, &mut input, g)?,
        "Pow" => binary(BinaryOp::Pow, &mut input, g)?,
        "Equal" => binary(BinaryOp::Eq, &mut input, g)?,
        "Less" => binary(BinaryOp::Lt, &mut input, g)?,
        "Greater" => binary(BinaryOp::Gt, &mut input, g)?,
        "Max" | "Min" => {
            let op = if n.op_type == "Max" {
                BinaryOp::Max
            } else {
                BinaryOp::Min
            };
            let mut acc = input(0, g)?;
            for i in 1..n.inputs.len() {
                let b = input(i, g)?;
                acc = g.binary(acc, b, op)?;
            }
            acc
        }
        "Where" => {
            let c = input(0, g)?;
            let a = input(1, g)?;
            let b = input(2, g)?;
            g.where_(c, a, b)?
        }
        "MatMul" => {
            let a = input(0, g)?;
            let b = input(1, g)?;
            g.matmul(a, b)?
        }
        "Gemm" => {
            let mut a = input(0, g)?;
            let mut b = input(1, g)?;
            if n.attr_int("transA").unwrap_or(0) != 0 {
                a = g.transpose(a, 0, 1)?;
            }
            if n.attr_int("transB").unwrap_or(0) != 0 {
                b = g.transpose(b, 0, 1)?;
            }
            let mut y = g.matmul(a, b)?;
            let alpha = n.attr_float("alpha").unwrap_or(1.0);
            if alpha != 1.0 {
                y = g.scale(y, alpha)?;
            }
            if n.input(2).is_some() {
                let mut c = input(2, g)?;
                let beta = n.attr_float("beta").unwrap_or(1.0);
                if beta != 1.0 {
                    c = g.scale(c, beta)?;
                }
                y = g.add(y, c)?;
            }
            y
        }
        "Softmax" | "LogSoftmax" => {
            let x = input(0, g)?;
            let axis = n
                .attr_int("axis")
                .unwrap_or(if opset >= 13 { -1 } else { 1 }) as isize;
            if opset < 13 && axis != g.shape(x).len() as isize - 1 && axis != -1 {
                return Err(err(
                    "opset < 13 Softmax over a non-last axis flattens; not supported".into(),
                ));
            }
            if n.op_type == "Softmax" {
                g.softmax(x, axis)?
            } else {
                g.log_softmax(x, axis)?
            }
        }
        "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" => {
            let kind = match n.op_type.as_str() {
                "ReduceSum" => ReduceKind::Sum,
                "ReduceMean" => ReduceKind::Mean,
                "ReduceMax" => ReduceKind::Max,
                _ => ReduceKind::Min,
            };
            let x = input(0, g)?;
            // Integer (and bool) data reduces in f32; the caller casts the result back.
            let x = g.cast(x, DType::F32)?;
            let axes = match n.attr_ints("axes") {
                Some(a) => Some(a.to_vec()),
                None if n.input(1).is_some() => {
                    Some(const_ints(1).ok_or_else(|| err("axes must be a constant".into()))?)
                }
                None => None,
            };
            let keep = n.attr_int("keepdims").unwrap_or(1) != 0;
            let empty = axes.as_ref().is_some_and(|a| a.is_empty());
            if empty && n.attr_int("noop_with_empty_axes").unwrap_or(0) != 0 {
                x
            } else {
                let ax: Option<Vec<isize>> = axes
                    .filter(|a| !a.is_empty())
                    .map(|a| a.iter().map(|&v| v as isize).collect());
                g.reduce(x, kind, ax.as_deref(), keep)?
            }
        }
        "LayerNormalization" | "RMSNormalization" => {
            let x = input(0, g)?;
            let r = g.shape(x).len() as i64;
            let axis = n.attr_int("axis").unwrap_or(-1);
            let a = if axis < 0 { axis + r } else { axis };
            if !(0..r).contains(&a) {
                return Err(err(format!("axis {axis} out of range for rank {r}")));
            }
            let eps = n.attr_float("epsilon").unwrap_or(1e-5);
            let gamma = if n.input(1).is_some() {
                Some(input(1, g)?)
            } else {
                None
            };
            if n.op_type == "LayerNormalization" {
                let beta = if n.input(2).is_some() {
                    Some(input(2, g)?)
                } else {
                    None
                };
                let y = g.layer_norm(x, (r - a) as usize, gamma, beta, eps)?;
                let wants = |k: usize| n.outputs.get(k).is_some_and(|o| !o.is_empty());
                if wants(1) || wants(2) {
                    // Optional outputs Mean and InvStdDev (over the normalised axes, kept as 1).
                    let axes: Vec<isize> = (a as isize..r as isize).collect();
                    let mean = g.reduce(x, ReduceKind::Mean, Some(&axes), true)?;
                    let d = g.sub(x, mean)?;
                    let d2 = g.mul(d, d)?;
                    let var = g.reduce(d2, ReduceKind::Mean, Some(&axes), true)?;
                    let ve = g.add_scalar(var, eps)?;
                    let inv = g.unary(ve, UnaryOp::Rsqrt)?;
                    return Ok(vec![y, mean, inv]);
                }
                y
            } else {
                g.rms_norm(x, (r - a) as usize, gamma, eps)?
            }
        }
        "Conv" if rank0 == Some(3) => return super::lower_more::lower(model, n, g, &mut input),
        "Conv" => {
            let x = input(0, g)?;
            let w = input(1, g)?;
            let bias = if n.input(2).is_some() {
                Some(input(2, g)?)
            } else {
                None
            };
            if g.shape(x).len() != 4 {
                return Err(err(format!(
                    "only 2-D convolution (NCHW) is supported, input is {:?}",
                    g.shape(x)
                )));
            }
            if n.attr_str("auto_pad").is_some_and(|p| p != "NOTSET") {
                return Err(err(
                    "auto_pad other than NOTSET is not supported; export with explicit pads".into(),
                ));
            }
            let two = |name: &str| -> Result<[usize; 2]> {
                match n.attr_ints(name) {
                    None => Ok([1, 1]),
                    Some([a, b]) if *a > 0 && *b > 0 => Ok([*a as usize, *b as usize]),
                    Some(v) => Err(err(format!("{name} {v:?} must be two positive ints"))),
                }
            };
            let padding = match n.attr_ints("pads") {
                None => [0; 4],
                Some(p) if p.len() == 4 && p.iter().all(|&v| v >= 0) => {
                    [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
                }
                Some(p) => return Err(err(format!("pads {p:?} must be four non-negative ints"))),
            };
            let groups = n.attr_int("group").unwrap_or(1);
            if groups < 1 {
                return Err(err(format!("group {groups} must be positive")));
            }
            g.conv2d(
                x,
                w,
                bias,
                Conv2dAttrs {
                    stride: two("strides")?,
                    padding,
                    dilation: two("dilations")?,
                    groups: groups as usize,
                },
            )?
        }
        "Transpose" => {
            let mut x = input(0, g)?;
            let r = g.shape(x).len();
            let perm: Vec<usize> = match n.attr_ints("perm") {
                Some(p) => p
                    .iter()
                    .map(|&a| {
                        if a < 0 {
                            (a + r as i64) as usize
                        } else {
                            a as usize
                        }
                    })
                    .collect(),
                None => (0..r).rev().collect(),
            };
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            if sorted != (0..r).collect::<Vec<_>>() {
                return Err(err(format!(
                    "perm {perm:?} is not a permutation of rank {r}"
                )));
            }
            // Any permutation is a product of swaps; each swap is a view in the graph.
            let mut cur: Vec<usize> = (0..r).collect();
            for (i, &p) in perm.iter().enumerate() {
                let j = cur.iter().position(|&c| c == p).expect("perm checked");
                if j != i {
                    x = g.transpose(x, i as isize, j as isize)?;
                    cur.swap(i, j);
                }
            }
            x
        }
        "Reshape" | "Squeeze" | "Unsqueeze" | "Flatten" | "Expand" => {
            let x = input(0, g)?;
            let xs = g.shape(x).to_vec();
            if n.op_type == "Expand" {
                let target =
                    const_ints(1).ok_or_else(|| err("Expand shape must be a constant".into()))?;
                let t: Vec<usize> = target.iter().map(|&d| d.max(0) as usize).collect();
                let out = crate::tensor::broadcast_shapes(&xs, &t)
                    .ok_or_else(|| err(format!("cannot expand {xs:?} to {t:?}")))?;
                g.broadcast_to(x, &out)?
            } else {
                let shape = if n.op_type == "Flatten" {
                    let r = xs.len() as i64;
                    let a = n.attr_int("axis").unwrap_or(1);
                    let a = if a < 0 { a + r } else { a };
                    if !(0..=r).contains(&a) {
                        return Err(err(format!("axis {a} out of range for rank {r}")));
                    }
                    let a = a as usize;
                    vec![xs[..a].iter().product(), xs[a..].iter().product()]
                } else if n.op_type == "Reshape" {
                    let target = const_ints(1).ok_or_else(|| {
                        err(
                            "Reshape target must be a constant (folding could not compute it)"
                                .into(),
                        )
                    })?;
                    reshape_target(&xs, &target, n.attr_int("allowzero").unwrap_or(0) != 0)
                        .map_err(err)?
                } else {
                    let shapes: HashMap<String, Vec<usize>> =
                        [(n.inputs[0].clone(), xs.clone())].into_iter().collect();
                    infer_shape(n, &model.initializers, &shapes)
                        .ok_or_else(|| err(format!("bad axes for input shape {xs:?}")))?
                };
                g.reshape(x, &shape)?
            }
        }
        "Gather" | "Concat" | "Slice" | "Split" | "Pad" | "MaxPool" | "AveragePool"
        | "GlobalAveragePool" | "ConvTranspose" | "BatchNormalization" | "Resize" | "Attention" => {
            return super::lower_more::lower(model, n, g, &mut input)
        }
        other => return Err(err(format!("{other} is not lowered onto the graph yet"))),
    };
    Ok(vec![v])
}
