//! f64 meaning of a whole [`Graph`]: evaluates every node op by op with plain loops.
//!
//! The oracle for fused and unfused executables alike; it knows nothing of fusion or devices.

use crate::elementwise::{binary_f64, unary_f64};
use flopwatt_ir::graph::{Graph, Op, ReduceKind};
use flopwatt_ir::shape::{contiguous_strides, numel};

/// Index into a row-major tensor of `shape` for the output multi-index `idx` of a broadcast
/// (numpy rules: trailing alignment, size-1 dims repeat).
fn bcast(shape: &[usize], idx: &[usize]) -> usize {
    let st = contiguous_strides(shape);
    let off = idx.len() - shape.len();
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if d == 1 { 0 } else { idx[off + i] * st[i] })
        .sum()
}

fn pool_ref(p: &flopwatt_ir::op::Pool2dParams) -> crate::train::PoolRef {
    use flopwatt_ir::op::PoolKind;
    crate::train::PoolRef {
        max: p.kind == PoolKind::Max,
        count_pad: p.kind == PoolKind::AvgCountPad,
        k: p.kernel,
        stride: p.stride,
        pad: p.padding,
        dil: p.dilation,
    }
}

fn dims4(s: &[usize]) -> [usize; 4] {
    [s[0], s[1], s[2], s[3]]
}

fn unravel(mut e: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        idx[i] = e % shape[i].max(1);
        e /= shape[i].max(1);
    }
    idx
}

/// Evaluates `graph` on `inputs` (row-major, declaration order); returns every output.
///
/// Panics on malformed inputs: it is a test oracle; the builder already checked shapes.
pub fn eval(graph: &Graph, inputs: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let vals = eval_all(graph, inputs);
    graph.outputs().iter().map(|o| vals[o.0].clone()).collect()
}

/// Evaluates every node; returns the values by node id.
pub fn eval_all(graph: &Graph, inputs: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut vals: Vec<Vec<f64>> = Vec::with_capacity(graph.nodes().len());
    let mut next_input = 0;
    for node in graph.nodes() {
        let out = if let Op::Input { .. } = node.op {
            next_input += 1;
            inputs[next_input - 1].clone()
        } else {
            let ins: Vec<Operand> = node
                .inputs
                .iter()
                .map(|&v| (vals[v.0].as_slice(), graph.shape(v)))
                .collect();
            eval_op(&node.op, &node.shape, &ins)
        };
        vals.push(out);
    }
    vals
}

/// One operand of a node: its values (row-major) and shape.
type Operand<'a> = (&'a [f64], &'a [usize]);

/// The value of a node computing `op` with output `shape` from its operands, by input
/// position. Graph inputs are read by [`eval_all`].
fn eval_op(op: &Op, shape: &[usize], ins: &[Operand]) -> Vec<f64> {
    match op {
        Op::Input { .. } => unreachable!("eval_all reads graph inputs itself"),
        Op::Constant { data } => data.iter().map(|&x| x as f64).collect(),
        Op::ConstantI32 { data } => data.iter().map(|&x| x as f64).collect(),
        Op::Scalar(s) => vec![*s as f64],
        Op::Unary(_) | Op::Binary(_) | Op::Where | Op::BroadcastTo => elementwise(op, shape, ins),
        Op::MatMul => {
            let ((a, sa), (b, sb)) = (ins[0], ins[1]);
            crate::matmul::matmul(a, sa, b, sb).0
        }
        Op::Transpose(..)
        | Op::Reshape
        | Op::Cast(_)
        | Op::Gather { .. }
        | Op::Concat { .. }
        | Op::Slice { .. }
        | Op::Pad { .. } => layout(op, shape, ins),
        Op::Reduce { kind, axes, .. } => reduce(*kind, axes, ins[0]),
        Op::Softmax { axis, log } => softmax(ins[0], *axis, *log),
        Op::LayerNorm { norm_dims, eps } => norm(ins, *norm_dims, *eps, false),
        Op::RmsNorm { norm_dims, eps } => norm(ins, *norm_dims, *eps, true),
        Op::Attention { causal, scale } => attention(ins, *causal, *scale, shape),
        Op::Conv2d(_)
        | Op::ConvTranspose2d(_)
        | Op::Pool2d(_)
        | Op::GlobalAvgPool
        | Op::Resize2d { .. }
        | Op::Conv2dBackwardInput(_)
        | Op::Conv2dBackwardWeight(_)
        | Op::Pool2dBackward(_) => conv_family(op, shape, ins),
    }
}

/// Unary, binary, where and broadcast: per output element, operands broadcast (numpy rules).
fn elementwise(op: &Op, shape: &[usize], ins: &[Operand]) -> Vec<f64> {
    let ew = |k: usize, e: &[usize]| -> f64 {
        let (d, s) = ins[k];
        d[bcast(s, e)]
    };
    (0..numel(shape))
        .map(|e| {
            let i = unravel(e, shape);
            match op {
                Op::Unary(op) => unary_f64(*op, ew(0, &i)),
                Op::Binary(op) => binary_f64(*op, ew(0, &i), ew(1, &i)),
                Op::Where => {
                    if ew(0, &i) != 0.0 {
                        ew(1, &i)
                    } else {
                        ew(2, &i)
                    }
                }
                Op::BroadcastTo => ew(0, &i),
                _ => unreachable!("not an elementwise op: {op:?}"),
            }
        })
        .collect()
}

/// Ops that move, select or convert values: transpose, reshape, cast, gather, concat, slice,
/// pad.
fn layout(op: &Op, shape: &[usize], ins: &[Operand]) -> Vec<f64> {
    let (x, xs) = ins[0];
    match op {
        Op::Transpose(a, b) => {
            let st = contiguous_strides(xs);
            (0..numel(shape))
                .map(|e| {
                    let mut i = unravel(e, shape);
                    i.swap(*a, *b);
                    i.iter().zip(&st).map(|(i, s)| i * s).sum::<usize>()
                })
                .map(|o| x[o])
                .collect()
        }
        Op::Reshape => x.to_vec(),
        Op::Cast(d) => match d {
            flopwatt_ir::DType::I32 => x
                .iter()
                .map(|&v| {
                    if v.is_nan() {
                        0.0
                    } else {
                        v.trunc().clamp(i32::MIN as f64, i32::MAX as f64)
                    }
                })
                .collect(),
            _ => x.iter().map(|&v| v as f32 as f64).collect(),
        },
        Op::Gather { axis } => {
            let (i, is) = ins[1];
            let idx: Vec<i64> = i.iter().map(|&v| v as i64).collect();
            crate::gather::gather(x, xs, &idx, is, *axis)
        }
        Op::Concat { axis } => crate::gather::concat(ins, *axis),
        Op::Slice { starts, steps } => crate::gather::slice(x, xs, starts, steps, shape),
        Op::Pad { begin, end, mode } => {
            use crate::gather::Mode;
            use flopwatt_ir::op::PadMode;
            let m = match mode {
                PadMode::Constant(v) => Mode::Constant(*v as f64),
                PadMode::Reflect => Mode::Reflect,
                PadMode::Edge => Mode::Edge,
                PadMode::Wrap => Mode::Wrap,
            };
            crate::gather::pad(x, xs, begin, end, m)
        }
        _ => unreachable!("not a layout op: {op:?}"),
    }
}

/// Sum, mean, max or min over `axes` (the reduced dims dropped).
fn reduce(kind: ReduceKind, axes: &[usize], (x, xs): Operand) -> Vec<f64> {
    let kept: Vec<usize> = (0..xs.len()).filter(|i| !axes.contains(i)).collect();
    let kshape: Vec<usize> = kept.iter().map(|&i| xs[i]).collect();
    let mut acc = vec![Vec::new(); numel(&kshape)];
    for (e, &v) in x.iter().enumerate() {
        let i = unravel(e, xs);
        let ki: Vec<usize> = kept.iter().map(|&k| i[k]).collect();
        let o = ki
            .iter()
            .zip(contiguous_strides(&kshape))
            .map(|(a, b)| a * b)
            .sum::<usize>();
        acc[o].push(v);
    }
    acc.iter()
        .map(|v| match kind {
            ReduceKind::Sum => v.iter().sum(),
            ReduceKind::Mean => v.iter().sum::<f64>() / v.len() as f64,
            ReduceKind::Max => v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            ReduceKind::Min => v.iter().cloned().fold(f64::INFINITY, f64::min),
        })
        .collect()
}

/// Softmax (or log-softmax) over `axis`.
fn softmax((x, xs): Operand, axis: usize, log: bool) -> Vec<f64> {
    let n = x.len();
    let inner: usize = xs[axis + 1..].iter().product();
    let len = xs[axis];
    let outer = n / (len * inner).max(1);
    let mut out = vec![0.0; n];
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let m = (0..len).map(|j| x[at(j)]).fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = (0..len).map(|j| (x[at(j)] - m).exp()).sum();
            for j in 0..len {
                out[at(j)] = if log {
                    x[at(j)] - m - s.ln()
                } else {
                    (x[at(j)] - m).exp() / s
                };
            }
        }
    }
    out
}

/// Layer norm (or RMS norm with `rms`) over the last `norm_dims` dims; operands `x` and the
/// optional `gamma`, `beta`.
fn norm(ins: &[Operand], norm_dims: usize, eps: f32, rms: bool) -> Vec<f64> {
    let (x, xs) = ins[0];
    let n = x.len();
    let row: usize = xs[xs.len() - norm_dims..].iter().product();
    let gamma = ins.get(1).map(|g| g.0);
    let beta = ins.get(2).map(|b| b.0);
    let mut out = vec![0.0; n];
    for r in 0..n / row.max(1) {
        let v = &x[r * row..(r + 1) * row];
        let mean = if rms {
            0.0
        } else {
            v.iter().sum::<f64>() / row as f64
        };
        let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / row as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for j in 0..row {
            let mut y = (v[j] - mean) * inv;
            if let Some(g) = gamma {
                y *= g[j];
            }
            if let Some(b) = beta {
                y += b[j];
            }
            out[r * row + j] = y;
        }
    }
    out
}

/// Scaled dot-product attention over [B, H, S, D] `q`, `k`, `v` (grouped-query: `k` and `v`
/// may have fewer heads); causal is top-left aligned.
fn attention(ins: &[Operand], causal: bool, scale: Option<f32>, shape: &[usize]) -> Vec<f64> {
    let ((q, qs), (k, ks), (v, _)) = (ins[0], ins[1], ins[2]);
    let (b, h, sq, d) = (qs[0], qs[1], qs[2], qs[3]);
    let (hk, sk) = (ks[1], ks[2]);
    let s = scale.map(|s| s as f64).unwrap_or(1.0 / (d as f64).sqrt());
    let mut out = vec![0.0; numel(shape)];
    for bi in 0..b {
        for hi in 0..h {
            let kh = hi / (h / hk);
            for i in 0..sq {
                let qo = ((bi * h + hi) * sq + i) * d;
                let ko = |j: usize| ((bi * hk + kh) * sk + j) * d;
                // Causal is top-left aligned: query i sees keys 0..=i.
                let lim = if causal { (i + 1).min(sk) } else { sk };
                let sc: Vec<f64> = (0..lim)
                    .map(|j| (0..d).map(|t| q[qo + t] * k[ko(j) + t]).sum::<f64>() * s)
                    .collect();
                let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = sc.iter().map(|x| (x - m).exp()).sum();
                for t in 0..d {
                    out[qo + t] = sc
                        .iter()
                        .enumerate()
                        .map(|(j, x)| (x - m).exp() / z * v[ko(j) + t])
                        .sum();
                }
            }
        }
    }
    out
}

/// NCHW image ops: convolutions (forward, transposed, the training backward passes), pooling
/// and resize. f64 throughout where finite-difference gradient checks perturb inputs by
/// ~1e-5; the fused-activation transposed conv and resize go through the f32 references.
fn conv_family(op: &Op, shape: &[usize], ins: &[Operand]) -> Vec<f64> {
    let (x, xs) = ins[0];
    let bias = ins.get(2).map(|b| b.0);
    match op {
        Op::Conv2d(p) => {
            let (w, ws) = ins[1];
            crate::train::conv2d(x, dims4(xs), w, dims4(ws), bias, p)
        }
        // The output extent (ceil mode included) is the node's shape.
        Op::Pool2d(p) => crate::train::pool2d(x, dims4(xs), [shape[2], shape[3]], &pool_ref(p)),
        Op::GlobalAvgPool => {
            let hw = xs[2] * xs[3];
            x.chunks(hw.max(1))
                .map(|p| p.iter().sum::<f64>() / hw as f64)
                .collect()
        }
        Op::ConvTranspose2d(p) if p.activation == flopwatt_ir::op::Activation::None => {
            // A transposed conv is the input gradient of the conv with the same weight.
            let (w, ws) = ins[1];
            let a = flopwatt_ir::graph::Conv2dAttrs {
                stride: p.stride,
                padding: p.padding,
                dilation: p.dilation,
                groups: p.groups,
            };
            let mut y = crate::train::conv2d_backward_input(x, w, dims4(shape), dims4(ws), &a);
            if let Some(b) = bias {
                let plane = shape[2] * shape[3];
                for (i, v) in y.iter_mut().enumerate() {
                    *v += b[(i / plane) % shape[1]];
                }
            }
            y
        }
        Op::ConvTranspose2d(p) => {
            let (w, ws) = ins[1];
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let wf: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            let bf: Option<Vec<f32>> = bias.map(|b| b.iter().map(|&v| v as f32).collect());
            crate::conv::conv_transpose2d(
                &xf,
                [xs[0], xs[1], xs[2], xs[3]],
                &wf,
                [ws[0], ws[1], ws[2], ws[3]],
                bf.as_deref(),
                p.stride,
                p.padding,
                p.output_padding,
                p.dilation,
                p.groups,
                p.activation,
            )
            .0
        }
        Op::Resize2d { size, mode } => {
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            crate::conv::resize2d(
                &xf,
                [xs[0], xs[1], xs[2], xs[3]],
                size[0],
                size[1],
                *mode == flopwatt_ir::op::ResizeMode::Linear,
            )
        }
        // Training ops (autodiff).
        Op::Conv2dBackwardInput(p) => {
            let ((dy, _), (w, ws)) = (ins[0], ins[1]);
            crate::train::conv2d_backward_input(dy, w, dims4(shape), dims4(ws), p)
        }
        Op::Conv2dBackwardWeight(p) => {
            let (dy, _) = ins[1];
            crate::train::conv2d_backward_weight(x, dy, dims4(xs), dims4(shape), p)
        }
        Op::Pool2dBackward(p) => {
            let (dy, ys) = ins[1];
            crate::train::pool2d_backward(x, dy, dims4(xs), [ys[2], ys[3]], &pool_ref(p))
        }
        _ => unreachable!("not an image op: {op:?}"),
    }
}
