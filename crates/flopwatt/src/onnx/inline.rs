//! Inlining an `If` whose condition is known at load time: the chosen branch's nodes become
//! nodes of the enclosing graph in the `If`'s place.
//!
//! Names defined inside the branch (its constants and node outputs) are scoped with the
//! `If` node's name (`<if>/<name>`, numbered where two `If`s share a name) so they cannot
//! collide with the enclosing graph's;
//! names the branch reads from enclosing graphs stay as they are. Each branch output becomes
//! the `If`'s output through an `Identity` node.

use std::collections::{BTreeMap, HashMap};

use super::{Attr, Node, Subgraph, TensorValue};
use crate::error::Result;

/// The chosen branch of `n` (an `If` whose condition is `cond`) as nodes and constants to put
/// in its place.
pub(crate) fn inline_if(
    n: &Node,
    cond: &TensorValue,
    opset: i64,
    taken: &dyn Fn(&str) -> bool,
) -> Result<(Vec<Node>, BTreeMap<String, TensorValue>)> {
    let values = cond.to_f64_vec();
    let [c] = values.as_slice() else {
        return Err(n.error(
            opset,
            format!(
                "the condition must hold one value, it has shape {:?}",
                cond.shape
            ),
        ));
    };
    let which = if *c != 0.0 {
        "then_branch"
    } else {
        "else_branch"
    };
    let branch = n
        .attr_graph(which)
        .ok_or_else(|| n.error(opset, format!("attribute `{which}` (a graph) is missing")))?;
    if branch.outputs.len() != n.outputs.len() {
        return Err(n.error(
            opset,
            format!(
                "{which} returns {} values but the node has {} outputs",
                branch.outputs.len(),
                n.outputs.len()
            ),
        ));
    }
    // Node names need not be unique: a scope already in use gets a number.
    let mut prefix = format!("{}/", n.name);
    let mut k = 2;
    while taken(&prefix) {
        prefix = format!("{}#{k}/", n.name);
        k += 1;
    }
    let mut scoped: HashMap<String, String> = HashMap::new();
    let inner = branch
        .initializers
        .keys()
        .chain(branch.nodes.iter().flat_map(|m| m.outputs.iter()));
    for name in inner.filter(|s| !s.is_empty()) {
        scoped.insert(name.clone(), format!("{prefix}{name}"));
    }
    let consts = branch
        .initializers
        .iter()
        .map(|(k, v)| (scoped[k].clone(), v.clone()))
        .collect();
    let mut nodes: Vec<Node> = branch
        .nodes
        .iter()
        .map(|m| {
            let mut m = rename(m, &scoped);
            m.name = format!("{prefix}{}", m.name);
            m.outputs = m
                .outputs
                .iter()
                .map(|o| scoped.get(o).cloned().unwrap_or_default())
                .collect();
            m
        })
        .collect();
    for (k, (out, bo)) in n.outputs.iter().zip(&branch.outputs).enumerate() {
        if out.is_empty() {
            continue;
        }
        nodes.push(Node {
            name: format!("{prefix}output#{k}"),
            op_type: "Identity".into(),
            domain: String::new(),
            inputs: vec![scoped.get(bo).unwrap_or(bo).clone()],
            outputs: vec![out.clone()],
            attributes: BTreeMap::new(),
        });
    }
    Ok((nodes, consts))
}

/// `m` with every input (and every input and output read by its nested subgraphs) that names
/// a scoped value renamed.
fn rename(m: &Node, scoped: &HashMap<String, String>) -> Node {
    let mut m = m.clone();
    let re = |s: &String| scoped.get(s).cloned().unwrap_or_else(|| s.clone());
    m.inputs = m.inputs.iter().map(re).collect();
    for a in m.attributes.values_mut() {
        if let Attr::Graph(g) = a {
            // ONNX names are unique across scopes, so a nested graph cannot shadow them.
            **g = Subgraph {
                nodes: g.nodes.iter().map(|k| rename(k, scoped)).collect(),
                initializers: std::mem::take(&mut g.initializers),
                outputs: g.outputs.iter().map(re).collect(),
            };
        }
    }
    m
}
