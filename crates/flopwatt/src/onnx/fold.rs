//! Load-time constant folding of shape-only subgraphs.
//!
//! PyTorch exports compute reshape targets at run time: `Shape -> Gather -> Unsqueeze ->
//! Concat -> Reshape`, `ConstantOfShape`, `Range`, `Cast` of constants. Where every input of
//! such a node is known at load time (an initializer, a `Constant`, an earlier folded value,
//! or the static shape of an input for `Shape`), the node is evaluated here on the CPU in
//! f64/i64 and replaced by an initializer, so the GPU graph only sees real tensor work.
//! Nodes whose inputs are not all known stay in the graph. Which ops fold, and how, is the
//! `fold` column of `registry::OPS`; the evaluations live with their op families.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::registry::{self, Fold, OpEntry};
use super::{inline, Model, Node, TensorValue};
use crate::error::{Error, Result};

/// A folded result may exceed its inputs' total size by at most this many elements, so a
/// tiny `ConstantOfShape`/`Range`/`Expand` cannot blow up into a huge initializer at load.
pub const FOLD_GROWTH_LIMIT: usize = 1 << 20;

/// Constant tensors by name.
pub(crate) type Consts = BTreeMap<String, TensorValue>;

/// What is known of values at load time: constants, and the static shapes of others.
pub(crate) struct Known<'a> {
    /// Constant tensors by name.
    pub consts: &'a Consts,
    /// Static shapes of graph inputs, declared intermediates and propagated outputs.
    pub shapes: &'a HashMap<String, Vec<usize>>,
}

impl Known<'_> {
    /// The shape of `n`'s input `i`, where it is given and known.
    pub(crate) fn shape_of(&self, n: &Node, i: usize) -> Option<Vec<usize>> {
        let name = n.input(i)?;
        self.consts
            .get(name)
            .map(|t| t.shape.clone())
            .or_else(|| self.shapes.get(name).cloned())
    }

    /// The value of `n`'s input `i`, where it is a constant.
    pub(crate) fn const_of(&self, n: &Node, i: usize) -> Option<&TensorValue> {
        n.input(i).and_then(|name| self.consts.get(name))
    }
}

/// A node to evaluate, with its constant inputs.
pub(crate) struct FoldArgs<'a> {
    /// The node.
    pub n: &'a Node,
    /// The model's default-domain opset, for error messages.
    pub opset: i64,
    /// What is known at load time.
    pub known: Known<'a>,
    /// Input values in order, `None` where an optional input is left out; empty for the
    /// ops that fold from shapes alone ([`Fold::Shapes`]).
    pub ins: Vec<Option<&'a TensorValue>>,
    /// The most elements the result may have before folding is given up.
    pub limit: usize,
}

impl<'a> FoldArgs<'a> {
    /// The error for this node's problems.
    pub(crate) fn err(&self, m: String) -> Error {
        self.n.error(self.opset, m)
    }

    /// Input `i`, where given.
    pub(crate) fn opt(&self, i: usize) -> Option<&'a TensorValue> {
        self.ins.get(i).copied().flatten()
    }

    /// Input `i`, which the op requires.
    pub(crate) fn need(&self, i: usize) -> Result<&'a TensorValue> {
        self.opt(i)
            .ok_or_else(|| self.err(format!("input {i} is missing")))
    }
}

/// Folds every node whose inputs are all known; returns how many nodes were removed.
/// Initializers that no remaining node or output reads afterwards are dropped.
pub fn fold(model: &mut Model) -> Result<usize> {
    let opset = model.opset;
    let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
    for vi in model.inputs.iter().chain(model.value_info.values()) {
        if let Some(s) = vi.static_shape() {
            shapes.insert(vi.name.clone(), s);
        }
    }
    let mut queue: VecDeque<Node> = std::mem::take(&mut model.nodes).into();
    let mut kept = Vec::with_capacity(queue.len());
    let mut folded = 0;
    while let Some(node) = queue.pop_front() {
        // An `If` on a known condition is replaced by its branch, whose nodes fold in turn.
        let cond = node.input(0).and_then(|c| model.initializers.get(c));
        if let (true, Some(cond)) = (node.op_type == "If" && node.default_domain(), cond) {
            let taken = |prefix: &str| {
                let any = |s: &String| s.starts_with(prefix);
                model.initializers.keys().any(any)
                    || kept
                        .iter()
                        .chain(queue.iter())
                        .any(|m: &Node| m.outputs.iter().any(any))
            };
            let (nodes, consts) = inline::inline_if(&node, cond, opset, &taken)?;
            model.initializers.extend(consts);
            for n in nodes.into_iter().rev() {
                queue.push_front(n);
            }
            folded += 1;
            continue;
        }
        let entry = registry::lookup(&node);
        let result = match entry {
            Some(e) => eval(e, &node, opset, &model.initializers, &shapes)?,
            None => None,
        };
        match result {
            Some(out) => {
                if let Some(name) = node.outputs.first().filter(|n| !n.is_empty()) {
                    model.initializers.insert(name.clone(), out);
                }
                folded += 1;
            }
            None => {
                let known = Known {
                    consts: &model.initializers,
                    shapes: &shapes,
                };
                let inferred = entry.and_then(|e| e.infer).and_then(|f| f(&known, &node));
                if let (Some(out), Some(shape)) = (node.outputs.first(), inferred) {
                    shapes.entry(out.clone()).or_insert(shape);
                }
                kept.push(node)
            }
        }
    }
    model.nodes = kept;
    let mut used: HashSet<String> = HashSet::new();
    reads(&model.nodes, &mut used);
    used.extend(model.outputs.iter().map(|o| o.name.clone()));
    model.initializers.retain(|k, _| used.contains(k));
    Ok(folded)
}

/// Every name `nodes` read, including those their subgraphs (`If` branches) read from
/// enclosing graphs, which must outlive the pruning of unused constants.
fn reads(nodes: &[Node], used: &mut HashSet<String>) {
    for n in nodes {
        used.extend(n.inputs.iter().cloned());
        for a in n.attributes.values() {
            if let super::Attr::Graph(g) = a {
                reads(&g.nodes, used);
                used.extend(g.outputs.iter().cloned());
            }
        }
    }
}

/// Evaluates one node by its row's fold: `Ok(None)` where the op does not fold, an input is
/// unknown or the result would be too big.
fn eval(
    entry: &OpEntry,
    n: &Node,
    opset: i64,
    consts: &Consts,
    shapes: &HashMap<String, Vec<usize>>,
) -> Result<Option<TensorValue>> {
    let (f, needs_values) = match entry.fold {
        Fold::Never => return Ok(None),
        Fold::Values(f) => (f, true),
        Fold::Shapes(f) => (f, false),
    };
    let mut ins: Vec<Option<&TensorValue>> = Vec::with_capacity(n.inputs.len());
    if needs_values {
        for name in &n.inputs {
            if name.is_empty() {
                ins.push(None);
            } else {
                match consts.get(name) {
                    Some(t) => ins.push(Some(t)),
                    None => return Ok(None),
                }
            }
        }
    }
    let input_total: usize = ins.iter().flatten().map(|t| t.numel()).sum();
    f(&FoldArgs {
        n,
        opset,
        known: Known { consts, shapes },
        ins,
        limit: input_total.saturating_add(FOLD_GROWTH_LIMIT),
    })
}
