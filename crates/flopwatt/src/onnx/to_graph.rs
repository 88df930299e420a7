//! Lowering a loaded, specialised [`Model`] onto the graph builder ([`crate::graph::Graph`]).
//!
//! The graph computes in f32 with static shapes (call [`Model::specialize`] with the run's
//! shapes first). Integer and bool inputs (token ids, attention masks) become i32 graph
//! inputs: [`Lowered::upload`] converts int64 feeds and fails on a value outside i32; integer
//! initializers that reach the GPU (gather indices) become i32 constants the same way.
//! BatchNormalization after a Conv that feeds nothing else is folded into the conv's weights
//! and bias first ([`super::fold_batch_norm`]); elsewhere it is a per-channel scale and
//! shift. Each node is lowered by its op's function in `registry::OPS`; an op whose
//! attributes the graph cannot express is an [`Error::Onnx`] naming the node.

use std::collections::HashMap;

use super::npy::Array;
use super::ops::conv::fold_batch_norm;
use super::registry::{self, Lower};
use super::{Data, Dim, ElemType, Model, Node, TensorValue, ValueInfo};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::{Graph, Op, ValueId};
use crate::ops::elementwise::{BinaryOp, UnaryOp};
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
            (DType::I32, Data::I32(x)) => {
                self.check_indices(v, name, x)?;
                Tensor::from_i32(device, x, &a.shape)
            }
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
                self.check_indices(v, name, &x)?;
                Tensor::from_i32(device, &x, &a.shape)
            }
            (dt, _) => Err(Error::invalid(
                op,
                format!("input `{name}` cannot feed a {dt} graph input"),
            )),
        }
    }

    /// A fed integer that f32 arithmetic reads (anything but the exact integer ops of
    /// [`int_exact_op`]) must be below 2^24, or the arithmetic starts from a rounded value.
    fn check_exact_input(&self, v: ValueId, name: &str, x: &[i32]) -> Result<()> {
        if !reaches_f32(&self.graph, v) {
            return Ok(());
        }
        match x.iter().find(|&&i| !exact(i as i64)) {
            Some(bad) => Err(Error::invalid(
                "onnx input",
                format!(
                    "input `{name}` holds {bad}, beyond 2^24: flopwatt computes integer \
                     arithmetic in f32, which cannot hold it exactly"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Checks a fed integer input against every gather that takes it as indices: the kernel
    /// cannot report a bad index, so one out of `[-len, len)` is an error here, before the run,
    /// rather than a silently zero row.
    fn check_indices(&self, v: ValueId, name: &str, x: &[i32]) -> Result<()> {
        self.check_exact_input(v, name, x)?;
        for (len, label) in gathers_indexed_by(&self.graph, v) {
            let len = len as i64;
            if let Some(bad) = x.iter().find(|&&i| !(-len..len).contains(&(i as i64))) {
                return Err(Error::invalid(
                    "onnx input",
                    format!(
                        "input `{name}` holds index {bad}, out of range for `{label}` along an \
                         axis of size {len} (valid: {} to {})",
                        -len,
                        len - 1
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Downloads output `k` as the model declares it: float32, or int64/int32/bool (from i32
    /// values, or from the f32 0/1 of a comparison); other types come back as float32.
    ///
    /// Integer `+ - *`, max, min, negation, comparisons and `where` are exact (i32 on the
    /// device, overflow an error); the rest (division, powers, reductions) runs in f32,
    /// exact only up to 2^24: an integer output computed that way with a larger value is an
    /// error naming the output, never a silently different integer (values only moved, such
    /// as gathered token ids, stay exact and are not checked).
    pub fn download(&self, k: usize, t: &Tensor) -> Result<Array> {
        let array = self.download_unchecked(k, t)?;
        let computed = self
            .graph
            .outputs()
            .get(k)
            .is_some_and(|&v| integer_from_f32(&self.graph, v));
        let big = match &array.data {
            Data::I32(x) if computed => x.iter().map(|&v| v as i64).find(|v| !exact(*v)),
            Data::I64(x) if computed || t.dtype() == DType::F32 => {
                x.iter().copied().find(|v| !exact(*v))
            }
            _ => None,
        };
        if let Some(v) = big {
            let name = self.outputs.get(k).map(String::as_str).unwrap_or("?");
            return Err(Error::invalid(
                "onnx output",
                format!(
                    "integer output `{name}` holds {v}, beyond 2^24: flopwatt computes integer \
                     arithmetic in f32, which is exact only up to 2^24, so the true value may \
                     differ"
                ),
            ));
        }
        Ok(array)
    }

    fn download_unchecked(&self, k: usize, t: &Tensor) -> Result<Array> {
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

/// The gathers whose indices are the values of `v`, read directly or through ops that only
/// rearrange them (reshapes, transposes, broadcasts, casts between integers): the length of
/// the gathered axis and the gather's label, for each.
fn gathers_indexed_by(g: &Graph, v: ValueId) -> Vec<(usize, String)> {
    let mut reached = vec![false; g.nodes().len()];
    let mut out = Vec::new();
    let Some(r) = reached.get_mut(v.0) else {
        return out;
    };
    *r = true;
    for (i, n) in g.nodes().iter().enumerate().skip(v.0 + 1) {
        let from = |k: usize| n.inputs.get(k).is_some_and(|x| reached[x.0]);
        match &n.op {
            Op::Gather { axis } if from(1) => {
                let data = g.shape(n.inputs[0]);
                out.push((data.get(*axis).copied().unwrap_or(0), n.label.clone()));
            }
            Op::Reshape | Op::Transpose(..) | Op::BroadcastTo => reached[i] = from(0),
            Op::Cast(DType::I32) => reached[i] = from(0) && g.dtype(n.inputs[0]) == DType::I32,
            _ => {}
        }
    }
    out
}

/// Whether `v` is an elementwise op that the kernels compute exactly on integers (in i32,
/// overflow an error: `docs/decisions.md#integer-arithmetic`): `+ - *`, max, min, negation,
/// `abs`, comparisons and `where`, with every integer operand already an i32 value (so the
/// fused and unfused paths agree). Its operands whose values reach its result are returned.
fn int_exact_op(g: &Graph, v: ValueId) -> Option<Vec<ValueId>> {
    let n = g.node(v);
    let ints = |xs: &[ValueId]| xs.iter().all(|&x| g.dtype(x) == DType::I32);
    match &n.op {
        Op::Unary(UnaryOp::Neg | UnaryOp::Abs) if ints(&n.inputs) => Some(n.inputs.clone()),
        Op::Binary(op) if ints(&n.inputs) && int_binary(*op) => {
            // A comparison's result is 0/1: no operand value reaches it.
            let cmp = !matches!(
                op,
                BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min
            );
            Some(if cmp { Vec::new() } else { n.inputs.clone() })
        }
        Op::Where if n.inputs.len() == 3 && ints(&n.inputs[1..]) => Some(n.inputs[1..].to_vec()),
        _ => None,
    }
}

/// The binary ops the kernels compute exactly on two i32 operands.
fn int_binary(op: BinaryOp) -> bool {
    !matches!(op, BinaryOp::Div | BinaryOp::Pow)
}

/// Whether an integer computed in f32 is certainly exact (f32 holds every integer up to 2^24;
/// beyond, and at the i32 saturation bounds, it may have been rounded or clamped).
fn exact(v: i64) -> bool {
    v.unsigned_abs() < 1 << 24
}

/// Whether integer value `v` was computed in f32: some cast from f32 to i32 reaches it through
/// ops that only move elements.
fn integer_from_f32(g: &Graph, v: ValueId) -> bool {
    let mut stack = vec![v];
    let mut seen = vec![false; g.nodes().len()];
    while let Some(x) = stack.pop() {
        if std::mem::replace(&mut seen[x.0], true) {
            continue;
        }
        let n = g.node(x);
        match &n.op {
            Op::Cast(DType::I32) => {
                let Some(&x) = n.inputs.first() else {
                    continue;
                };
                if g.dtype(x) == DType::I32 {
                    stack.push(x);
                } else if let Some(operands) = int_exact_op(g, x) {
                    stack.extend(operands);
                } else {
                    return true;
                }
            }
            Op::Reshape
            | Op::Transpose(..)
            | Op::BroadcastTo
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::Pad { .. } => stack.extend(&n.inputs),
            // Only the data operand's values reach the output.
            Op::Gather { .. } => stack.extend(n.inputs.first()),
            _ => {}
        }
    }
    false
}

/// Whether some of `v`'s values are cast to f32 (for arithmetic), read directly or through
/// ops that only move elements.
fn reaches_f32(g: &Graph, v: ValueId) -> bool {
    let mut reached = vec![false; g.nodes().len()];
    let Some(r) = reached.get_mut(v.0) else {
        return false;
    };
    *r = true;
    for (i, n) in g.nodes().iter().enumerate().skip(v.0 + 1) {
        let any = n.inputs.iter().any(|x| reached[x.0]);
        match &n.op {
            Op::Cast(DType::I32) => reached[i] = any,
            Op::Cast(_) if any => return true,
            Op::Reshape
            | Op::Transpose(..)
            | Op::BroadcastTo
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::Pad { .. } => reached[i] = any,
            Op::Gather { .. } => reached[i] = n.inputs.first().is_some_and(|x| reached[x.0]),
            // Exact integer ops pass the value on (a comparison consumes it exactly); other
            // elementwise graph ops read i32 operands as f32.
            Op::Unary(_) | Op::Binary(_) | Op::Where if any => {
                match int_exact_op(g, crate::graph::ValueId(i)) {
                    Some(operands) => reached[i] = operands.iter().any(|x| reached[x.0]),
                    None => return true,
                }
            }
            _ => {}
        }
    }
    false
}

/// A value's computed shape against what the model declares for it (`value_info` or a graph
/// output): a declaration that disagrees in rank or in a fixed dim is an error naming the
/// value, since trusting either side could silently give a wrongly shaped answer.
fn check_declared(model: &Model, name: &str, actual: &[usize]) -> Result<()> {
    let declared = model
        .value_info
        .get(name)
        .into_iter()
        .chain(model.outputs.iter().filter(|o| o.name == name));
    for vi in declared {
        // No dims at all is how many hand-built and exported files say "shape not given".
        let Some(dims) = vi.shape.as_ref().filter(|d| !d.is_empty()) else {
            continue;
        };
        let agrees = dims.len() == actual.len()
            && dims.iter().zip(actual).all(|(d, &n)| match d {
                Dim::Fixed(f) => *f == n,
                _ => true,
            });
        if !agrees {
            return Err(Error::Model {
                path: "<model>".into(),
                message: format!(
                    "value `{name}` is declared with shape {} but computes to {actual:?}; \
                     fix or remove its declared shape",
                    super::show_dims(dims)
                ),
            });
        }
    }
    Ok(())
}

/// i64 values as i32, or the first value that does not fit.
fn narrow_i64(v: &[i64]) -> std::result::Result<Vec<i32>, i64> {
    v.iter().map(|&x| i32::try_from(x).map_err(|_| x)).collect()
}

/// Whether an ONNX element type is carried as i32 on the graph.
fn is_int(t: ElemType) -> bool {
    !t.is_float()
}
/// What a lowering function of `registry::OPS` works on: the model, the graph being
/// built, and the graph value of every name produced so far.
pub(crate) struct LowerCtx<'m> {
    /// The model being lowered.
    pub model: &'m Model,
    /// Its default-domain opset, for error messages.
    pub opset: i64,
    /// The graph being built.
    pub g: Graph,
    vals: HashMap<String, ValueId>,
}

impl<'m> LowerCtx<'m> {
    /// The graph value of a name: an earlier node output or input, else an initializer,
    /// which becomes a graph constant on first use.
    fn value(&mut self, name: &str) -> Result<ValueId> {
        if let Some(&v) = self.vals.get(name) {
            return Ok(v);
        }
        let t = self
            .model
            .initializers
            .get(name)
            .ok_or_else(|| Error::Model {
                path: "<model>".into(),
                message: format!("value `{name}` is not defined"),
            })?;
        let g = &mut self.g;
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
        self.vals.insert(name.to_string(), v);
        Ok(v)
    }

    /// The graph value of `n`'s input `i`, which the op requires.
    pub(crate) fn input(&mut self, n: &Node, i: usize) -> Result<ValueId> {
        let name = n
            .input(i)
            .ok_or_else(|| n.error(self.opset, format!("input {i} is missing")))?;
        self.value(name)
    }

    /// The graph value of `n`'s optional input `i`, `None` where it is left out.
    pub(crate) fn opt_input(&mut self, n: &Node, i: usize) -> Result<Option<ValueId>> {
        match n.input(i) {
            Some(_) => self.input(n, i).map(Some),
            None => Ok(None),
        }
    }

    /// `n`'s input `i` where it is an initializer (attribute-like operands: axes, pads).
    pub(crate) fn init(&self, n: &Node, i: usize) -> Option<&'m TensorValue> {
        n.input(i)
            .and_then(|name| self.model.initializers.get(name))
    }

    /// [`LowerCtx::init`] as integers.
    pub(crate) fn const_ints(&self, n: &Node, i: usize) -> Option<Vec<i64>> {
        self.init(n, i).map(TensorValue::to_i64_vec)
    }

    /// Lowers one node through its row of the registry; returns its computed outputs.
    fn lower(&mut self, n: &Node) -> Result<Vec<ValueId>> {
        let entry = registry::lookup(n);
        let lowered = match entry.map(|e| e.lower) {
            Some(Lower::Graph(f)) => f(self, n),
            Some(Lower::Folded) if n.op_type == "If" => Err(n.error(
                self.opset,
                "the condition depends on run-time data; flopwatt runs an If only where its \
                 condition is known at load time (constants, shapes), by inlining the branch",
            )),
            // Constant inputs that still did not fold: the result was too large to build.
            Some(Lower::Folded)
                if n.inputs
                    .iter()
                    .all(|i| i.is_empty() || self.model.initializers.contains_key(i)) =>
            {
                Err(n.error(
                    self.opset,
                    format!(
                        "{} is computed at load time, but its result has more than {} \
                         elements beyond its inputs, the most load-time folding builds",
                        n.op_type,
                        super::fold::FOLD_GROWTH_LIMIT
                    ),
                ))
            }
            Some(Lower::Folded) => Err(n.error(
                self.opset,
                format!(
                    "{} is computed at load time, but its input depends on run-time data \
                     (values, not just shapes), which flopwatt cannot fold",
                    n.op_type
                ),
            )),
            _ => Err(n.error(
                self.opset,
                format!("{} is not lowered onto the graph yet", n.op_type),
            )),
        };
        let mut outs = lowered.map_err(|e| match e {
            e @ Error::Onnx { .. } => e,
            other => n.error(self.opset, other),
        })?;
        // Integer ops give f32 graph values (exact ones computed in i32 and stored exactly, or
        // an error); cast back so the value stays an integer for ops that read it (gather
        // indices), for the next integer op, and for int64 outputs.
        let int_in = entry
            .and_then(|e| e.int_input)
            .and_then(|i| n.input(i))
            .and_then(|name| self.vals.get(name))
            .is_some_and(|v| self.g.dtype(*v) == DType::I32);
        if int_in {
            for o in &mut outs {
                *o = self.g.cast(*o, DType::I32)?;
            }
        }
        Ok(outs)
    }
}

/// Builds the graph for `model`; see the module doc for what is required.
///
/// Shape arithmetic on intermediate values (`Shape` of a conv output feeding a `Reshape`)
/// folds once those values' shapes are known, and the graph knows the shape of every value
/// it has built: so where lowering stops at a load-time-only node, the shapes of the values
/// lowered so far are handed to [`super::fold::fold`] and lowering starts again, until it
/// completes or folding makes no progress (then the value truly depends on data).
pub fn to_graph(model: &Model) -> Result<Lowered> {
    model.check_supported()?;
    let mut owned: Option<Model> = None;
    loop {
        let m = owned.as_ref().unwrap_or(model);
        let (err, shapes) = match lower_once(m)? {
            Ok(l) => return Ok(l),
            Err(stuck) => stuck,
        };
        let mut next = m.clone();
        for (name, shape) in shapes {
            let dtype = next
                .value_info
                .get(&name)
                .map(|v| v.dtype)
                .unwrap_or(ElemType::Float);
            next.value_info.insert(
                name.clone(),
                ValueInfo {
                    name,
                    dtype,
                    shape: Some(shape.into_iter().map(super::Dim::Fixed).collect()),
                },
            );
        }
        let before = next.nodes.len();
        super::fold::fold(&mut next)?;
        if next.nodes.len() == before {
            return Err(err);
        }
        owned = Some(next);
    }
}

/// Where lowering stopped at a node that only folding removes: its error, and the shapes
/// of every value lowered before it.
type Stuck = (Error, Vec<(String, Vec<usize>)>);

/// One lowering attempt: `Ok(Err(stuck))` where it stopped at a load-time-only node.
fn lower_once(model: &Model) -> Result<std::result::Result<Lowered, Stuck>> {
    let folded = fold_batch_norm(model);
    let model = folded.as_ref().unwrap_or(model);
    let mut cx = LowerCtx {
        model,
        opset: model.opset,
        g: Graph::new(),
        vals: HashMap::new(),
    };
    let mut inputs = Vec::new();
    // Optional extra outputs (e.g. MaxPool's Indices) that the lowering does not compute.
    let mut not_computed: HashMap<String, (&Node, usize)> = HashMap::new();
    for i in &model.inputs {
        let v = graph_input(&mut cx.g, i)?;
        cx.vals.insert(i.name.clone(), v);
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
        let outs = match cx.lower(n) {
            Ok(outs) => outs,
            Err(e) if matches!(registry::lookup(n).map(|r| r.lower), Some(Lower::Folded)) => {
                let shapes = cx
                    .vals
                    .iter()
                    .map(|(name, &v)| (name.clone(), cx.g.shape(v).to_vec()))
                    .collect();
                return Ok(Err((e, shapes)));
            }
            Err(e) => return Err(e),
        };
        let produced = outs.len();
        for (name, v) in n.outputs.iter().zip(outs) {
            if !name.is_empty() {
                check_declared(model, name, cx.g.shape(v))?;
                let v = cx.g.name(v, name);
                cx.vals.insert(name.clone(), v);
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
        let v = cx.value(&o.name)?;
        cx.g.output(v)?;
        outputs.push(o.name.clone());
    }
    Ok(Ok(Lowered {
        graph: cx.g,
        inputs,
        outputs,
        output_types,
    }))
}

/// A model input as a graph input: fixed shape, float32 or (as i32) integer.
fn graph_input(g: &mut Graph, i: &ValueInfo) -> Result<ValueId> {
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
    g.input_typed(&i.name, &shape, dtype)
}
