//! Buffer planning by liveness.
//!
//! Every step that launches a kernel defines a fresh buffer; views alias their input's
//! buffer. A buffer is live from its defining step to the last step that reads it or any of
//! its views (graph outputs live to the end). With planning on, the executable drops a value
//! right after its last reader is recorded, so the device pool hands the buffer to the next
//! step that needs one of the same size class within the same command buffer (wgpu orders
//! the dispatches of a pass, so reuse in recording order is safe). The planner simulates
//! that pool to predict the peak intermediate bytes with and without planning.

use crate::fuse::{Kernel, Step};
use crate::graph::{Graph, Op, ValueId};
use crate::pool::size_class;
use crate::tensor::numel;

/// The buffer plan of an executable.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Values to drop after each step (empty everywhere when planning is off).
    pub free_after: Vec<Vec<ValueId>>,
    /// Bytes of each step's new buffer (size class), 0 for views.
    pub step_bytes: Vec<u64>,
    /// Predicted peak bytes of intermediate and output buffers with liveness planning.
    pub peak_planned: u64,
    /// The same without planning (every buffer alive to the end of the run).
    pub peak_unplanned: u64,
    /// Whether planning is on.
    pub enabled: bool,
}

impl Plan {
    /// Predicted peak for the mode in use.
    pub fn peak(&self) -> u64 {
        if self.enabled {
            self.peak_planned
        } else {
            self.peak_unplanned
        }
    }
}

/// Whether a step allocates a buffer (as opposed to aliasing its input).
pub fn allocates(step: &Step) -> bool {
    // A reshape view may still copy at run time when its input is strided; the planner
    // counts it as a view (the common case: kernel outputs are contiguous).
    !matches!(step.kernel, Kernel::View(_))
}

/// Plans buffers for `steps` of `graph`.
pub fn plan(graph: &Graph, steps: &[Step], enabled: bool) -> Plan {
    let n = graph.nodes().len();
    let ns = steps.len();
    // Root buffer of each value: itself, or the root of the input it is a view of.
    let mut root: Vec<usize> = (0..n).collect();
    let mut defined_at = vec![usize::MAX; n];
    for (si, s) in steps.iter().enumerate() {
        defined_at[s.output.0] = si;
        if !allocates(s) {
            root[s.output.0] = root[s.inputs[0].0];
        }
    }
    let is_planned = |v: usize| {
        defined_at[v] != usize::MAX
            && !matches!(
                graph.nodes()[v].op,
                Op::Input { .. } | Op::Constant { .. } | Op::Scalar(_) | Op::ConstantI32 { .. }
            )
    };
    // Last reading step of each value (ns = "end of run" for outputs).
    let mut last = vec![None::<usize>; n];
    for (si, s) in steps.iter().enumerate() {
        for v in &s.inputs {
            last[v.0] = Some(si);
        }
    }
    for o in graph.outputs() {
        last[o.0] = Some(ns);
    }
    let mut free_after = vec![Vec::new(); ns];
    let mut root_last = vec![0usize; n];
    for v in 0..n {
        if !is_planned(v) {
            continue;
        }
        // A value nobody reads dies where it is defined.
        let l = last[v].unwrap_or(defined_at[v]);
        root_last[root[v]] = root_last[root[v]].max(l);
        if enabled && l < ns {
            free_after[l].push(ValueId(v));
        }
    }
    let step_bytes: Vec<u64> = steps
        .iter()
        .map(|s| {
            if allocates(s) {
                let node = graph.node(s.output);
                size_class((numel(&node.shape) * node.dtype.size()) as u64)
            } else {
                0
            }
        })
        .collect();
    // Simulate the pool: take by size class from idle buffers, else allocate.
    let mut idle: std::collections::HashMap<u64, usize> = Default::default();
    let mut allocated = 0u64;
    let mut dying: Vec<Vec<u64>> = vec![Vec::new(); ns];
    for (si, s) in steps.iter().enumerate() {
        if step_bytes[si] > 0 {
            let r = s.output.0;
            if root_last[r] < ns {
                dying[root_last[r].max(si)].push(step_bytes[si]);
            }
        }
    }
    for si in 0..ns {
        let b = step_bytes[si];
        if b > 0 {
            match idle.get_mut(&b) {
                Some(c) if *c > 0 => *c -= 1,
                _ => allocated += b,
            }
        }
        for &d in &dying[si] {
            *idle.entry(d).or_default() += 1;
        }
    }
    Plan {
        free_after,
        peak_planned: allocated,
        peak_unplanned: step_bytes.iter().sum(),
        step_bytes,
        enabled,
    }
}
