//! The table of the ONNX ops flopwatt knows, one row per op of the default domain: the opset
//! that introduced it, how it reaches the graph, how it is evaluated at load time, how its
//! output shape follows from its inputs', and whether it keeps an integer input's type.
//! [`Model::check_supported`](super::Model::check_supported), the folding pass
//! ([`super::fold`]) and the lowering ([`super::to_graph`]) all read [`OPS`].

use super::fold::{FoldArgs, Known};
use super::ops::elementwise as ew;
use super::ops::{
    attention, constant, conv, gather, matmul, norm, pool, recurrent, reduce, resize, shape,
};
use super::to_graph::LowerCtx;
use super::{Node, TensorValue, MIN_OPSET};
use crate::error::Result;
use crate::graph::ValueId;

/// Builds a node's outputs on the graph, in output order; trailing optional outputs it does
/// not compute may be left off.
pub(crate) type LowerFn = fn(&mut LowerCtx<'_>, &Node) -> Result<Vec<ValueId>>;

/// Evaluates a node on the CPU: `Ok(None)` where the result would be too big to fold, an
/// error where the constants are invalid for the op.
pub(crate) type FoldFn = fn(&FoldArgs<'_>) -> Result<Option<TensorValue>>;

/// A node's output shape from what is known of its inputs; `None` where it does not follow.
pub(crate) type InferFn = fn(&Known<'_>, &Node) -> Option<Vec<usize>>;

/// How an op reaches the graph.
#[derive(Clone, Copy)]
pub(crate) enum Lower {
    /// Lowered by this function.
    Graph(LowerFn),
    /// Supported where load-time folding removes it; a node left over cannot be lowered.
    Folded,
    /// Rejected by `check_supported`: the row is there for folding or shape propagation.
    Unsupported,
}

/// Whether and how an op is evaluated at load time.
#[derive(Clone, Copy)]
pub(crate) enum Fold {
    /// Never folded.
    Never,
    /// Folded once every input is a constant.
    Values(FoldFn),
    /// Folded from the node and the input shapes known at load; the inputs need no values.
    Shapes(FoldFn),
}

/// One row of [`OPS`].
pub(crate) struct OpEntry {
    /// Operator type, e.g. `Conv`.
    pub name: &'static str,
    /// The first opset that defines the op (at least [`MIN_OPSET`]).
    pub since_opset: i64,
    /// How the op reaches the graph.
    pub lower: Lower,
    /// How the op is evaluated at load time.
    pub fold: Fold,
    /// The output shape, propagated at load so that a later `Shape` of it folds.
    pub infer: Option<InferFn>,
    /// The input whose integer type the output keeps: the graph computes integers in f32,
    /// and the lowering casts such outputs back to i32.
    pub int_input: Option<usize>,
}

impl OpEntry {
    const fn new(name: &'static str, lower: Lower) -> Self {
        OpEntry {
            name,
            since_opset: MIN_OPSET,
            lower,
            fold: Fold::Never,
            infer: None,
            int_input: None,
        }
    }

    const fn since(mut self, opset: i64) -> Self {
        self.since_opset = opset;
        self
    }

    const fn fold(mut self, f: FoldFn) -> Self {
        self.fold = Fold::Values(f);
        self
    }

    const fn fold_shapes(mut self, f: FoldFn) -> Self {
        self.fold = Fold::Shapes(f);
        self
    }

    const fn infer(mut self, f: InferFn) -> Self {
        self.infer = Some(f);
        self
    }

    const fn int(mut self, input: usize) -> Self {
        self.int_input = Some(input);
        self
    }

    /// Whether `check_supported` accepts the op.
    pub(crate) fn supported(&self) -> bool {
        !matches!(self.lower, Lower::Unsupported)
    }
}

/// An op lowered onto the graph by `f`.
const fn lowered(name: &'static str, f: LowerFn) -> OpEntry {
    OpEntry::new(name, Lower::Graph(f))
}

/// An op supported only as far as load-time folding removes it.
const fn folded(name: &'static str) -> OpEntry {
    OpEntry::new(name, Lower::Folded)
}

/// An op that is not supported but folds or passes its shape on at load.
const fn load_only(name: &'static str) -> OpEntry {
    OpEntry::new(name, Lower::Unsupported)
}

/// Every op flopwatt knows, by family.
#[rustfmt::skip] // one row per line, so the table reads down its rows
pub(crate) static OPS: &[OpEntry] = &[
    // Elementwise, one input.
    lowered("Identity", ew::identity).fold(ew::fold_identity).infer(ew::same_shape),
    lowered("Cast", ew::cast).fold(ew::fold_cast).infer(ew::same_shape),
    lowered("Relu", ew::relu).infer(ew::same_shape).int(0),
    lowered("LeakyRelu", ew::leaky_relu).infer(ew::same_shape),
    lowered("Gelu", ew::gelu).since(20).infer(ew::same_shape),
    lowered("Erf", ew::erf).infer(ew::same_shape),
    lowered("Softplus", ew::softplus).infer(ew::same_shape),
    lowered("Sigmoid", ew::sigmoid).infer(ew::same_shape),
    lowered("HardSigmoid", ew::hard_sigmoid).infer(ew::same_shape),
    lowered("HardSwish", ew::hard_swish).since(14).infer(ew::same_shape),
    lowered("Tanh", ew::tanh).infer(ew::same_shape),
    lowered("Clip", ew::clip).infer(ew::same_shape).int(0),
    lowered("Exp", ew::exp).infer(ew::same_shape),
    lowered("Log", ew::log).infer(ew::same_shape),
    lowered("Sqrt", ew::sqrt).infer(ew::same_shape),
    lowered("Neg", ew::neg).fold(ew::fold_neg).infer(ew::same_shape).int(0),
    lowered("Abs", ew::abs).infer(ew::same_shape).int(0),
    lowered("Reciprocal", ew::reciprocal).infer(ew::same_shape),
    load_only("Dropout").infer(ew::same_shape),
    // Elementwise, broadcasting.
    lowered("Add", ew::add).fold(ew::fold_add).infer(ew::broadcast_shape).int(0),
    lowered("Sub", ew::sub).fold(ew::fold_sub).infer(ew::broadcast_shape).int(0),
    lowered("Mul", ew::mul).fold(ew::fold_mul).infer(ew::broadcast_shape).int(0),
    lowered("Div", ew::div).fold(ew::fold_div).infer(ew::broadcast_shape).int(0),
    lowered("Pow", ew::pow).infer(ew::broadcast_shape).int(0),
    lowered("Max", ew::max).infer(ew::broadcast_shape).int(0),
    lowered("Min", ew::min).infer(ew::broadcast_shape).int(0),
    lowered("Equal", ew::equal).fold(ew::fold_equal).infer(ew::broadcast_shape),
    lowered("Less", ew::less).fold(ew::fold_less).infer(ew::broadcast_shape),
    lowered("Greater", ew::greater).fold(ew::fold_greater).infer(ew::broadcast_shape),
    lowered("Where", ew::where_).fold(ew::fold_where).infer(ew::broadcast_shape).int(1),
    // Matrix products.
    lowered("MatMul", matmul::matmul).infer(matmul::matmul_shape),
    lowered("Gemm", matmul::gemm).infer(matmul::gemm_shape),
    // Convolution.
    lowered("Conv", conv::conv),
    lowered("ConvTranspose", conv::conv_transpose),
    lowered("BatchNormalization", conv::batch_norm).infer(ew::same_shape),
    // Pooling.
    lowered("MaxPool", pool::max_pool),
    lowered("AveragePool", pool::average_pool),
    lowered("GlobalAveragePool", pool::global_average_pool),
    // Reductions.
    lowered("ReduceSum", reduce::sum).int(0),
    lowered("ReduceMean", reduce::mean).int(0),
    lowered("ReduceMax", reduce::max).int(0),
    lowered("ReduceMin", reduce::min).int(0),
    // Normalisation.
    lowered("Softmax", norm::softmax).infer(ew::same_shape),
    lowered("LogSoftmax", norm::log_softmax).infer(ew::same_shape),
    lowered("LayerNormalization", norm::layer_norm).since(17).infer(ew::same_shape),
    lowered("RMSNormalization", norm::rms_norm).since(23).infer(ew::same_shape),
    // Attention and resampling.
    lowered("Attention", attention::attention).since(23),
    lowered("Resize", resize::resize),
    // Shapes and views.
    lowered("Reshape", shape::reshape).fold(shape::fold_reshape).infer(shape::reshape_shape),
    lowered("Flatten", shape::flatten),
    lowered("Squeeze", shape::squeeze).fold(shape::fold_squeeze).infer(shape::squeeze_shape),
    lowered("Unsqueeze", shape::unsqueeze).fold(shape::fold_unsqueeze).infer(shape::unsqueeze_shape),
    lowered("Expand", shape::expand).fold(shape::fold_expand),
    lowered("Transpose", shape::transpose).infer(shape::transpose_shape),
    folded("Shape").fold_shapes(shape::fold_shape),
    load_only("Size").fold_shapes(shape::fold_size),
    // Indexing: gather, slice, concatenate, split, pad.
    lowered("Gather", gather::gather).fold(gather::fold_gather).infer(gather::gather_shape),
    lowered("Concat", gather::concat).fold(gather::fold_concat).infer(gather::concat_shape),
    lowered("Slice", gather::slice).fold(gather::fold_slice),
    lowered("Split", gather::split),
    lowered("Pad", gather::pad),
    // Constants.
    folded("Constant").fold_shapes(constant::fold_constant),
    folded("ConstantOfShape").fold(constant::fold_constant_of_shape),
    folded("Range").fold(constant::fold_range),
    lowered("LSTM", recurrent::lstm),
    lowered("GRU", recurrent::gru),
    // Inlined by the folding pass where its condition is known (`super::inline`).
    folded("If"),
];

/// The row of a node's op; `None` for ops of other domains and ops flopwatt does not know.
pub(crate) fn lookup(n: &Node) -> Option<&'static OpEntry> {
    if !n.default_domain() {
        return None;
    }
    OPS.iter().find(|e| e.name == n.op_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_registry_rows_are_consistent() {
        for (i, e) in OPS.iter().enumerate() {
            assert!(
                OPS[..i].iter().all(|o| o.name != e.name),
                "{} twice",
                e.name
            );
            assert!(e.since_opset >= MIN_OPSET, "{}", e.name);
            // An op supported only through folding must fold (If is inlined by the pass).
            if matches!(e.lower, Lower::Folded) && e.name != "If" {
                assert!(!matches!(e.fold, Fold::Never), "{}", e.name);
            }
            // A row that is neither supported nor lowered must do something at load.
            if !e.supported() {
                assert!(
                    e.infer.is_some() || !matches!(e.fold, Fold::Never),
                    "{}",
                    e.name
                );
            }
        }
    }
}
