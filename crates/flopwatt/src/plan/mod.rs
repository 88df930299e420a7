//! Buffer planning by liveness.
//!
//! Every step that launches a kernel defines a fresh buffer; views alias their input's
//! buffer. A buffer is live from its defining step to the last step that reads it or any of
//! its views (graph outputs live to the end). With planning on, the executable drops a value
//! right after its last reader is recorded, so the device pool hands the buffer to the next
//! step that needs one of the same size class within the same command buffer (wgpu orders
//! the dispatches of a pass, so reuse in recording order is safe).
//!
//! The planner assigns every allocating step to a planned buffer offline (it knows the whole
//! run): values whose lives do not overlap share a buffer, sized by its largest user. At run
//! time each step asks the pool for its buffer's size class (the pool's recording scope
//! upgrades the request), so a small value may sit in a larger buffer that a larger value
//! takes over later. For each size class, the buffers the pool creates never exceed the
//! planned ones, so `peak_planned` bounds the intermediate memory of a run.

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
    /// The class each step's output asks the pool for: the size of the planned buffer it
    /// shares (>= `step_bytes`; a value may get a larger buffer that a larger value reuses
    /// later), 0 for views.
    pub step_class: Vec<u64>,
    /// The planned buffer of each allocating step (for EXPLAIN).
    pub step_buffer: Vec<Option<usize>>,
    /// Sizes of the planned buffers; their sum is `peak_planned`.
    pub buffers: Vec<u64>,
    /// Predicted peak bytes of intermediate and output buffers with liveness planning.
    pub peak_planned: u64,
    /// The same without planning (every buffer alive to the end of the run).
    pub peak_unplanned: u64,
    /// Whether planning is on.
    pub enabled: bool,
    /// For each step, the input (an index into `Step::inputs`) whose buffer it writes its
    /// output into (in-place elementwise; see [`plan`]), else `None`.
    pub in_place: Vec<Option<usize>>,
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

/// Bytes of the buffer an allocating step writes (all its outputs live in it).
pub fn step_buffer_bytes(graph: &Graph, step: &Step) -> u64 {
    let node = graph.node(step.output);
    let mut elems = numel(&node.shape);
    if let Kernel::MatMulStack { parts, .. } = &step.kernel {
        elems *= parts;
    }
    (elems * node.dtype.size()) as u64
}

/// What [`plan`] may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanOptions {
    /// Share buffers between values whose lives do not overlap (else every value keeps its own
    /// buffer to the end of the run).
    pub sharing: bool,
    /// Let elementwise steps write into a dead input's buffer (only with `sharing`).
    pub in_place: bool,
}

/// Whether a step's output is a whole fresh buffer (contiguous, offset 0, nothing else in
/// it): the kernels known to write a new dense tensor. Views, stacked products (slices of one
/// buffer), heads-last attention (a transposed view) and the ONNX-import block are not.
fn writes_dense(step: &Step) -> bool {
    matches!(
        step.kernel,
        Kernel::Elementwise(_)
            | Kernel::MatMul { .. }
            | Kernel::Reduce { .. }
            | Kernel::ReduceFused(_)
            | Kernel::Softmax { .. }
            | Kernel::SoftmaxPrologue { .. }
            | Kernel::LayerNorm { .. }
            | Kernel::RmsNorm { .. }
            | Kernel::Conv2d { .. }
            | Kernel::MaskedAttention { .. }
            | Kernel::Copy(_)
            | Kernel::Attention {
                heads_last: false,
                ..
            }
    )
}

/// Plans buffers for `steps` of `graph`.
///
/// With planning on, an elementwise step writes in place into the buffer of an input when
/// that input is an intermediate (never a graph input, constant or output: users reuse
/// those) written densely by an earlier kernel (not a view), has the output's shape and dtype
/// (so the kernel reads element `i` of it exactly where it writes element `i`), is read by the
/// expression, and neither it nor anything else in its buffer is read after this step or by
/// another input of this step. The step then allocates nothing and the buffer's life extends
/// to the output's last reader.
pub fn plan(graph: &Graph, steps: &[Step], options: PlanOptions) -> Plan {
    let enabled = options.sharing;
    let n = graph.nodes().len();
    let ns = steps.len();
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
    // Root buffer of each value: itself, or the root of the input it is a view of (or that
    // an in-place step wrote into).
    let mut root: Vec<usize> = (0..n).collect();
    let mut defined_at = vec![usize::MAX; n];
    let mut dense = vec![false; n];
    let mut in_place = vec![None; ns];
    for (si, s) in steps.iter().enumerate() {
        defined_at[s.output.0] = si;
        if !allocates(s) {
            root[s.output.0] = root[s.inputs[0].0];
        } else if enabled && options.in_place {
            in_place[si] = in_place_input(graph, s, si, &root, &defined_at, &dense, &last);
            if let Some(k) = in_place[si] {
                root[s.output.0] = root[s.inputs[k].0];
            }
        }
        dense[s.output.0] = writes_dense(s) && s.extra_outputs.is_empty();
        // Extra outputs are views of the step's one buffer.
        for v in &s.extra_outputs {
            defined_at[v.0] = si;
            root[v.0] = root[s.output.0];
        }
    }
    let is_planned = |v: usize| {
        defined_at[v] != usize::MAX
            && !matches!(
                graph.nodes()[v].op,
                Op::Input { .. } | Op::Constant { .. } | Op::Scalar(_) | Op::ConstantI32 { .. }
            )
    };
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
    let natural: Vec<u64> = steps
        .iter()
        .map(|s| {
            if allocates(s) {
                size_class(step_buffer_bytes(graph, s))
            } else {
                0
            }
        })
        .collect();
    let step_bytes: Vec<u64> = natural
        .iter()
        .zip(&in_place)
        .map(|(&b, ip)| if ip.is_some() { 0 } else { b })
        .collect();
    // Each allocating step's buffer is busy from its step to the last read of any view of
    // it (to the end of the run for outputs).
    let values: Vec<Interval> = (0..ns)
        .filter(|&si| step_bytes[si] > 0)
        .map(|si| Interval {
            step: si,
            first: si,
            last: root_last[steps[si].output.0].max(si),
            bytes: step_bytes[si],
        })
        .collect();
    let assignment = assign(&values);
    let mut step_buffer = vec![None; ns];
    let mut step_class = vec![0u64; ns];
    for (v, &b) in values.iter().zip(&assignment.of_value) {
        step_buffer[v.step] = Some(b);
        step_class[v.step] = assignment.buffers[b];
    }
    // An in-place step shows the buffer it writes into (its input's root's).
    for (si, s) in steps.iter().enumerate() {
        if in_place[si].is_some() {
            step_buffer[si] = step_buffer[defined_at[root[s.output.0]]];
        }
    }
    Plan {
        free_after,
        peak_planned: assignment.buffers.iter().sum(),
        // Without planning every step has its own buffer, in-place ones included.
        peak_unplanned: natural.iter().sum(),
        step_bytes,
        step_class,
        step_buffer,
        buffers: assignment.buffers,
        enabled,
        in_place,
    }
}

/// The input an elementwise step may write in place (see [`plan`]), if any.
fn in_place_input(
    graph: &Graph,
    s: &Step,
    si: usize,
    root: &[usize],
    defined_at: &[usize],
    dense: &[bool],
    last: &[Option<usize>],
) -> Option<usize> {
    let Kernel::Elementwise(expr) = &s.kernel else {
        return None;
    };
    let out = graph.node(s.output);
    let used = expr.inputs_used();
    (0..s.inputs.len()).find(|&k| {
        let v = s.inputs[k];
        let node = graph.node(v);
        let r = root[v.0];
        used.contains(&k)
            && dense[v.0]
            && node.shape == out.shape
            && node.dtype == out.dtype
            // Nothing in the buffer is read later (outputs are read at the end of the run).
            && (0..root.len())
                .filter(|&u| defined_at[u] < si && root[u] == r)
                .all(|u| last[u].is_none_or(|l| l <= si))
            // No other input of this step reads the buffer (a view of it would be read at other
            // positions while being overwritten).
            && s
                .inputs
                .iter()
                .enumerate()
                .all(|(j, w)| j == k || root[w.0] != r)
    })
}

/// One buffer's life: written by `step` (at `first`), read last at `last` (inclusive).
#[derive(Clone, Copy, Debug)]
struct Interval {
    step: usize,
    first: usize,
    last: usize,
    bytes: u64,
}

struct Assignment {
    /// Size (a pool class) of each planned buffer.
    buffers: Vec<u64>,
    /// Buffer of each interval.
    of_value: Vec<usize>,
}

/// Assigns intervals to as little memory as the heuristics find: greedy by size (largest
/// first into the smallest buffer whose earlier users do not overlap it, as TFLite's arena
/// planner does), and greedy in step order with a bound on waste and optional growth of a
/// smaller free buffer. The smallest total wins. Two intervals overlap when they share a
/// step (inclusive), so a kernel never writes the buffer it reads.
fn assign(values: &[Interval]) -> Assignment {
    let overlap = |a: &Interval, b: &Interval| a.first <= b.last && b.first <= a.last;
    let mut best: Option<Assignment> = None;
    let mut consider = |a: Assignment| {
        let total: u64 = a.buffers.iter().sum();
        if best
            .as_ref()
            .is_none_or(|b| total < b.buffers.iter().sum::<u64>())
        {
            best = Some(a);
        }
    };
    // Greedy by size.
    {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(values[i].bytes), values[i].first));
        let mut users: Vec<Vec<usize>> = Vec::new();
        let mut buffers = Vec::new();
        let mut of_value = vec![0; values.len()];
        for i in order {
            let fit = (0..buffers.len())
                .filter(|&b| users[b].iter().all(|&u| !overlap(&values[u], &values[i])))
                .min_by_key(|&b| buffers[b]);
            let b = fit.unwrap_or_else(|| {
                buffers.push(values[i].bytes);
                users.push(Vec::new());
                buffers.len() - 1
            });
            users[b].push(i);
            of_value[i] = b;
        }
        consider(Assignment { buffers, of_value });
    }
    // Greedy in step order.
    for waste in [1u64, 2, 4, u64::MAX] {
        for grow in [false, true] {
            let mut buffers: Vec<u64> = Vec::new();
            let mut busy_until: Vec<usize> = Vec::new();
            let mut of_value = vec![0; values.len()];
            for (i, v) in values.iter().enumerate() {
                let free: Vec<usize> = (0..buffers.len())
                    .filter(|&b| busy_until[b] < v.first)
                    .collect();
                let fit = free
                    .iter()
                    .copied()
                    .filter(|&b| buffers[b] >= v.bytes && buffers[b] / waste.max(1) <= v.bytes)
                    .min_by_key(|&b| buffers[b]);
                let grown = || {
                    free.iter()
                        .copied()
                        .filter(|&b| buffers[b] < v.bytes)
                        .max_by_key(|&b| buffers[b])
                };
                let b = match (fit, grow) {
                    (Some(b), _) => b,
                    (None, true) if grown().is_some() => {
                        let b = grown().expect("checked");
                        buffers[b] = v.bytes;
                        b
                    }
                    _ => {
                        buffers.push(v.bytes);
                        busy_until.push(0);
                        buffers.len() - 1
                    }
                };
                busy_until[b] = v.last;
                of_value[i] = b;
            }
            consider(Assignment { buffers, of_value });
        }
    }
    best.unwrap_or(Assignment {
        buffers: Vec::new(),
        of_value: Vec::new(),
    })
}
