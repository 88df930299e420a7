//! Fuser (e): horizontal fusion of matmuls that share their left operand.
//!
//! Matmul steps (with or without a scale/bias/activation epilogue, no residual) that read
//! the same A and whose B are 2-D constants of one shape become one batched product over
//! the B stacked when the graph is compiled ([P, K, N], A broadcast over P); the q/k/v
//! projections of attention are the common case. Each original value is a slice of the
//! product's leading axis: a dense view. One dispatch replaces several and A is read by one
//! kernel. Stacking (not concatenating along N) keeps each product's B rows as short as
//! before, which keeps each product as fast as it was alone
//! (`docs/decisions.md#horizontal-stack-not-concat`).
//! Biases become a stacked [P, 1, N] residual, which is the same sum only without an
//! activation, so biased products with an activation are left separate. The unfused twin is
//! the separate matmuls (fusion off), which compute the same sums in the same order.

use super::{Kernel, Step};
use crate::graph::{Graph, Op, ValueId};
use crate::ops::Activation;

/// What must agree for matmuls to share one kernel.
#[derive(PartialEq)]
struct Key {
    a: ValueId,
    b_shape: Vec<usize>,
    alpha: u32,
    bias: bool,
    activation: Activation,
}

fn is_constant(graph: &Graph, v: ValueId) -> bool {
    matches!(graph.node(v).op, Op::Constant { .. })
}

/// Merges groups of candidate steps in `slots` (indexed by the node each step defines);
/// the merged step takes the slot of the earliest member, which precedes every consumer of
/// every member.
pub fn fuse(graph: &Graph, slots: &mut [Option<Step>]) {
    let mut groups: Vec<(Key, Vec<usize>)> = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        let Some(s) = slot else { continue };
        let Kernel::MatMul {
            alpha,
            bias,
            activation,
            residual: false,
        } = s.kernel
        else {
            continue;
        };
        let (a, b) = (s.inputs[0], s.inputs[1]);
        // matmul's batch rules allow at most four batch dims; stacking adds one.
        let a_rank = graph.shape(a).len();
        if !is_constant(graph, b) || graph.shape(b).len() != 2 || a_rank > 5 {
            continue;
        }
        if bias && (activation != Activation::None || !is_constant(graph, s.inputs[2])) {
            continue;
        }
        let key = Key {
            a,
            b_shape: graph.shape(b).to_vec(),
            alpha: alpha.to_bits(),
            bias,
            activation,
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    for (key, members) in groups {
        if members.len() < 2 {
            continue;
        }
        let parts: Vec<Step> = members
            .iter()
            .map(|&i| slots[i].take().expect("member slot is filled"))
            .collect();
        let mut inputs = vec![key.a];
        inputs.extend(parts.iter().map(|p| p.inputs[1]));
        if key.bias {
            inputs.extend(parts.iter().map(|p| p.inputs[2]));
        }
        let mut covers: Vec<usize> = parts.iter().flat_map(|p| p.covers.clone()).collect();
        covers.sort_unstable();
        slots[members[0]] = Some(Step {
            kernel: Kernel::MatMulStack {
                alpha: f32::from_bits(key.alpha),
                bias: key.bias,
                activation: key.activation,
                parts: parts.len(),
            },
            inputs,
            output: parts[0].output,
            covers,
            extra_outputs: parts[1..].iter().map(|p| p.output).collect(),
        });
    }
}
