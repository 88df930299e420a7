//! Fused reductions: elementwise prologues feeding reductions and row epilogues
//! consuming them, against the unfused path and the f64 reference, on random graphs and at
//! the kernel level (both kernel families, strided views, multi-part and multi-axis runs).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::graph::{Graph, ReduceKind, ValueId};
use flopwatt::ops::elementwise::{BinaryOp, Expr, UnaryOp};
use flopwatt::ops::reduce::{ReduceOp, Strategy};
use flopwatt::ops::reduce_fused::{encode_reduce_fused, FusedReduce};
use flopwatt::ops::Activation;
use flopwatt::tensor::numel;
use flopwatt::Compile;
use flopwatt::{CompileOptions, Device, Error, Recorder, Tensor};
use flopwatt_reference::{self as reference, check_nmse, random, NMSE_F32};

use common::{inputs_for, FUSED, UNFUSED};

/// Runs `g` with `opts`: outputs, dispatch count, EXPLAIN.
fn run(
    dev: &Device,
    g: &Graph,
    opts: CompileOptions,
    data: &[Vec<f32>],
) -> (Vec<Vec<f32>>, usize, String) {
    let exe = g.compile_with(dev, opts).expect("compile");
    let ts: Vec<Tensor> = g
        .inputs()
        .iter()
        .zip(data)
        .map(|(v, d)| Tensor::from_f32(dev, d, g.shape(*v)).unwrap())
        .collect();
    let refs: Vec<&Tensor> = ts.iter().collect();
    let outs = exe.run(&refs).expect("run");
    let host = outs.iter().map(|t| t.to_f32_vec().unwrap()).collect();
    (host, exe.dispatch_count(), exe.explain())
}

/// Fused and unfused both match the f64 reference (and so each other); returns (fused,
/// unfused) dispatch counts and the fused EXPLAIN.
fn check_both(dev: &Device, g: &Graph, seed: u64, what: &str) -> (usize, usize, String) {
    let data = inputs_for(g, seed);
    let d64: Vec<Vec<f64>> = data.iter().map(|v| reference::to_f64(v)).collect();
    let want = reference::graph::eval(g, &d64);
    let (fused, nf, text) = run(dev, g, FUSED, &data);
    let (unfused, nu, _) = run(dev, g, UNFUSED, &data);
    for (k, w) in want.iter().enumerate() {
        for (mode, got) in [("fused", &fused[k]), ("unfused", &unfused[k])] {
            check_nmse(
                &format!("{what} ({mode}, output {k})\n{text}"),
                got,
                w,
                NMSE_F32,
            )
            .unwrap();
        }
        // Fused against unfused directly: both f32, the same expression per element.
        let u64v: Vec<f64> = unfused[k].iter().map(|&v| v as f64).collect();
        check_nmse(
            &format!("{what} fused vs unfused (output {k})"),
            &fused[k],
            &u64v,
            NMSE_F32,
        )
        .unwrap();
    }
    (nf, nu, text)
}

const UNARY: [UnaryOp; 6] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Exp,
    UnaryOp::Act(Activation::Tanh),
    UnaryOp::Act(Activation::Relu),
    UnaryOp::Act(Activation::Sigmoid),
];
const BINARY: [BinaryOp; 5] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Max,
    BinaryOp::Min,
];
const KINDS: [ReduceKind; 4] = [
    ReduceKind::Sum,
    ReduceKind::Mean,
    ReduceKind::Max,
    ReduceKind::Min,
];

/// A random shape of rank 1..=4 over awkward sizes, at most ~200k elements.
fn random_shape(rng: &mut fastrand::Rng) -> Vec<usize> {
    let sizes = [1usize, 2, 3, 7, 16, 127, 257];
    loop {
        let rank = 1 + rng.usize(..4);
        let s: Vec<usize> = (0..rank).map(|_| sizes[rng.usize(..sizes.len())]).collect();
        if numel(&s) <= 200_000 {
            return s;
        }
    }
}

/// A shape that broadcasts to `s`: some leading dims dropped, some dims set to 1.
fn broadcast_of(rng: &mut fastrand::Rng, s: &[usize]) -> Vec<usize> {
    let drop = rng.usize(..s.len());
    s[drop..]
        .iter()
        .map(|&d| if rng.usize(..3) == 0 { 1 } else { d })
        .collect()
}

/// A random elementwise tree over broadcast inputs feeding a random reduction (kind, axes,
/// keepdims), sometimes with an intermediate that is also an output (it must survive), and
/// sometimes with a row epilogue (`y - r`, `(y - r)^2`, `exp(y - r) * w`).
fn random_graph(seed: u64) -> (Graph, bool) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let shape = random_shape(&mut rng);
    let mut g = Graph::new();
    let x = g.input("x", &shape).unwrap();
    let mut vals = vec![x];
    for i in 0..rng.usize(..3) {
        let s = broadcast_of(&mut rng, &shape);
        vals.push(g.input(&format!("b{i}"), &s).unwrap());
    }
    let mut y = x;
    for _ in 0..1 + rng.usize(..4) {
        y = match rng.usize(..3) {
            0 => g.unary(y, UNARY[rng.usize(..UNARY.len())]).unwrap(),
            1 => g.scale(y, 0.5 + rng.f32()).unwrap(),
            _ => {
                let o = vals[rng.usize(..vals.len())];
                let op = BINARY[rng.usize(..BINARY.len())];
                if rng.bool() {
                    g.binary(y, o, op).unwrap()
                } else {
                    g.binary(o, y, op).unwrap()
                }
            }
        };
        vals.push(y);
    }
    // The tree's output must have the full shape (inputs may broadcast to less).
    if g.shape(y) != shape.as_slice() {
        y = g.add(y, x).unwrap();
    }
    let rank = shape.len();
    let kind = KINDS[rng.usize(..4)];
    let keepdims = rng.bool();
    let epilogue = keepdims && rng.bool();
    let axes: Vec<isize> = if epilogue {
        let k = 1 + rng.usize(..rank);
        (rank - k..rank).map(|a| a as isize).collect()
    } else {
        let mut a: Vec<isize> = (0..rank as isize).filter(|_| rng.bool()).collect();
        if a.is_empty() {
            a.push(rng.usize(..rank) as isize - if rng.bool() { rank as isize } else { 0 });
        }
        a
    };
    let r = g.reduce(y, kind, Some(&axes), keepdims).unwrap();
    let out = if epilogue {
        let d = g.sub(y, r).unwrap();
        match rng.usize(..3) {
            0 => d,
            1 => {
                let two = g.scalar(2.0);
                g.binary(d, two, BinaryOp::Pow).unwrap()
            }
            _ => {
                let e = g.exp(d).unwrap();
                let w = g.input("w", &[shape[rank - 1]]).unwrap();
                g.mul(e, w).unwrap()
            }
        }
    } else {
        r
    };
    g.output(out).unwrap();
    if rng.usize(..4) == 0 && vals.len() > 2 {
        // An intermediate of the tree is an output too: it must not be absorbed away.
        g.output(vals[vals.len() - 2]).unwrap();
    }
    (g, epilogue)
}

#[test]
fn random_prologue_and_epilogue_graphs_fused_equal_unfused_and_reference() {
    let dev = device_or_skip!();
    let (mut fewer, mut pro, mut epi) = (0, 0, 0);
    for seed in 0..40u64 {
        let (g, epilogue) = random_graph(seed);
        let what = format!("random reduction graph {seed}");
        let (nf, nu, text) = check_both(&dev, &g, seed, &what);
        assert!(nf <= nu, "{what}: fused {nf} > unfused {nu}\n{text}");
        fewer += (nf < nu) as usize;
        pro += text.contains("+prologue") as usize;
        epi += text.contains("+epilogue") as usize;
        if epilogue {
            // y - r is always fusable: the reduction result is never a separate pass.
            assert!(text.contains("+epilogue"), "{what}\n{text}");
        }
    }
    assert!(
        fewer >= 30,
        "fusion reduced dispatches in only {fewer} of 40 graphs"
    );
    assert!(pro >= 20 && epi >= 5, "prologues {pro}, epilogues {epi}");
}

/// The named fusion patterns (sum of squares, mean absolute difference, max of exp,
/// centring, RMS norm), one dispatch each when fused.
#[test]
fn named_patterns_are_one_kernel() {
    let dev = device_or_skip!();
    for (i, shape) in [
        vec![257usize, 127],
        vec![3, 7, 1],
        vec![1, 4099],
        vec![33, 16, 64],
    ]
    .into_iter()
    .enumerate()
    {
        let rank = shape.len();
        let last = [rank as isize - 1];
        // sum(x * x) over the last axis.
        let mut g = Graph::new();
        let x = g.input("x", &shape).unwrap();
        let sq = g.mul(x, x).unwrap();
        let s = g.reduce(sq, ReduceKind::Sum, Some(&last), false).unwrap();
        g.output(s).unwrap();
        let (nf, nu, text) = check_both(&dev, &g, 10 + i as u64, &format!("sum(x*x) {shape:?}"));
        assert!(nf < nu, "{text}");
        assert!(text.contains("reduce.sum+prologue[1 ops]"), "{text}");
        // mean(|x - y|) over everything, y broadcast.
        let mut g = Graph::new();
        let x = g.input("x", &shape).unwrap();
        let y = g.input("y", &shape[1..]).unwrap();
        let d = g.sub(x, y).unwrap();
        let a = g.unary(d, UnaryOp::Abs).unwrap();
        let m = g.reduce(a, ReduceKind::Mean, None, false).unwrap();
        g.output(m).unwrap();
        let (_, _, text) = check_both(&dev, &g, 20 + i as u64, &format!("mean|x-y| {shape:?}"));
        assert!(text.contains("reduce.mean+prologue[2 ops]"), "{text}");
        // max(exp(x)) over the first axis, keepdims.
        let mut g = Graph::new();
        let x = g.input("x", &shape).unwrap();
        let e = g.exp(x).unwrap();
        let m = g.reduce(e, ReduceKind::Max, Some(&[0]), true).unwrap();
        g.output(m).unwrap();
        let (nf, _, text) = check_both(&dev, &g, 30 + i as u64, &format!("max(exp) {shape:?}"));
        assert!(text.contains("reduce.max+prologue[1 ops]"), "{text}");
        assert_eq!(nf, 1 + (text.matches("reduce.max.").count()), "{text}");
        // x - mean(x) and (x - mean(x))^2 (centring), and a hand-written rms norm.
        let mut g = Graph::new();
        let x = g.input("x", &shape).unwrap();
        let m = g.reduce(x, ReduceKind::Mean, Some(&last), true).unwrap();
        let c = g.sub(x, m).unwrap();
        g.output(c).unwrap();
        let (nf, nu, text) = check_both(&dev, &g, 40 + i as u64, &format!("x-mean {shape:?}"));
        assert!(nf == 1 && nu >= 2, "{nf} vs {nu}: {text}");
        let mut g = Graph::new();
        let x = g.input("x", &shape).unwrap();
        let m = g.reduce(x, ReduceKind::Mean, Some(&last), true).unwrap();
        let c = g.sub(x, m).unwrap();
        let two = g.scalar(2.0);
        let c2 = g.binary(c, two, BinaryOp::Pow).unwrap();
        g.output(c2).unwrap();
        let (nf, nu, text) = check_both(&dev, &g, 50 + i as u64, &format!("(x-mean)^2 {shape:?}"));
        assert!(nf == 1 && nu >= 3, "{nf} vs {nu}: {text}");
        let mut g = Graph::new();
        let x = g.input("x", &shape).unwrap();
        let gm = g.input("g", &[shape[rank - 1]]).unwrap();
        let sq = g.mul(x, x).unwrap();
        let ms = g.reduce(sq, ReduceKind::Mean, Some(&last), true).unwrap();
        let ms = g.add_scalar(ms, 1e-5).unwrap();
        let inv = g.unary(ms, UnaryOp::Rsqrt).unwrap();
        let y = g.mul(x, inv).unwrap();
        let y = g.mul(y, gm).unwrap();
        g.output(y).unwrap();
        let (nf, nu, text) = check_both(&dev, &g, 60 + i as u64, &format!("rms {shape:?}"));
        assert!(nf == 1 && nu >= 6, "{nf} vs {nu}: {text}");
        assert!(
            text.contains("reduce.mean+prologue[1 ops]+epilogue[4 ops]"),
            "{text}"
        );
    }
}

/// What must not fuse: an intermediate with another consumer stays materialised (and is
/// read by the reduction), and a reduction result read twice is not an epilogue.
#[test]
fn shared_values_are_not_fused_away() {
    let dev = device_or_skip!();
    let mut g = Graph::new();
    let x = g.input("x", &[127, 33]).unwrap();
    let e = g.exp(x).unwrap();
    let s = g.reduce(e, ReduceKind::Sum, Some(&[1]), true).unwrap();
    let p = g.div(e, s).unwrap(); // softmax by hand: e is read twice
    let t = g.reduce(x, ReduceKind::Max, Some(&[1]), true).unwrap();
    let u = g.sub(x, t).unwrap();
    let v = g.mul(u, t).unwrap(); // t read twice: no epilogue
    g.output(p).unwrap();
    g.output(v).unwrap();
    let (_, _, text) = check_both(&dev, &g, 3, "shared values");
    assert!(text.contains("reduce.sum+epilogue[1 ops]"), "{text}");
    assert!(!text.contains("reduce.max+"), "{text}");
}

fn f64_reduce(vals: &[f64], op: ReduceOp) -> f64 {
    match op {
        ReduceOp::Sum => vals.iter().sum(),
        ReduceOp::Mean => vals.iter().sum::<f64>() / vals.len() as f64,
        ReduceOp::Max => vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        ReduceOp::Min => vals.iter().cloned().fold(f64::INFINITY, f64::min),
        ReduceOp::Prod => vals.iter().product(),
        _ => unreachable!(),
    }
}

/// The kernel on its own, both families: strided (transposed) and broadcast inputs,
/// non-adjacent reduced axes (odometer carries), long runs split into parts, an i32 leaf.
#[test]
fn kernel_direct_and_tree_on_views_and_long_runs() {
    let dev = device_or_skip!();
    // (shape of x before the transpose, transpose, axes)
    type Case<'a> = (&'a [usize], Option<(usize, usize)>, &'a [usize]);
    let cases: [Case; 11] = [
        (&[37, 2048], None, &[0]),
        (&[5, 3, 4096], None, &[0, 1]),
        (&[2048, 6], Some((0, 1)), &[1]),
        (&[64, 3, 16], None, &[0, 2]),
        (&[8, 1024], None, &[1]),
        (&[7, 13, 5], Some((0, 2)), &[0, 2]),
        (&[3, 5, 7, 11], None, &[0, 2]),
        (&[1 << 20], None, &[0]),
        (&[4, 3, 65537], Some((1, 2)), &[1]),
        (&[257, 1, 3], None, &[0, 1, 2]),
        (&[2, 3, 4, 5], Some((0, 3)), &[1, 2, 3]),
    ];
    for (ci, (base, tr, axes)) in cases.into_iter().enumerate() {
        let n = numel(base);
        let xd = random(n, 700 + ci as u64);
        let mut x = Tensor::from_f32(&dev, &xd, base).unwrap();
        let mut xs: Vec<f64> = reference::to_f64(&xd);
        let mut shape = base.to_vec();
        if let Some((a, b)) = tr {
            x = x.transpose(a, b).unwrap();
            // Host copy of the transposed view, row-major.
            let st = flopwatt::tensor::contiguous_strides(base);
            shape.swap(a, b);
            let mut vst = st.clone();
            vst.swap(a, b);
            let cs = flopwatt::tensor::contiguous_strides(&shape);
            xs = (0..n)
                .map(|e| {
                    let off: usize = (0..shape.len())
                        .map(|d| (e / cs[d]) % shape[d] * vst[d])
                        .sum();
                    xd[off] as f64
                })
                .collect();
        }
        // A broadcast i32 operand over the last dim.
        let last = *shape.last().unwrap();
        let bi: Vec<i32> = (0..last as i32).map(|v| v % 5 - 2).collect();
        let b = Tensor::from_i32(&dev, &bi, &[last]).unwrap();
        let pre = Expr::input(0) * Expr::input(0).unary(UnaryOp::Exp) + Expr::input(1);
        let rank = shape.len();
        let cs = flopwatt::tensor::contiguous_strides(&shape);
        let pre_host: Vec<f64> = (0..n)
            .map(|e| xs[e] * xs[e].exp() + bi[e % last] as f64)
            .collect();
        for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min] {
            // f64 reference: group by kept index.
            let kept: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
            let n_out: usize = kept.iter().map(|&d| shape[d]).product();
            let mut groups = vec![Vec::new(); n_out];
            for (e, &v) in pre_host.iter().enumerate() {
                let mut k = 0;
                for &d in &kept {
                    k = k * shape[d] + (e / cs[d]) % shape[d];
                }
                groups[k].push(v);
            }
            let want: Vec<f64> = groups.iter().map(|g| f64_reduce(g, op)).collect();
            for strategy in [Strategy::Direct, Strategy::Tree] {
                let spec = FusedReduce {
                    op,
                    shape: shape.clone(),
                    axes: axes.to_vec(),
                    keepdims: false,
                    pre: pre.clone(),
                    post: None,
                };
                let mut rec = Recorder::new(&dev);
                let y = encode_reduce_fused(&mut rec, &[&x, &b], &spec, strategy).unwrap();
                rec.submit(false).unwrap();
                check_nmse(
                    &format!("kernel {shape:?} axes {axes:?} {op:?} {strategy:?}"),
                    &y.to_f32_vec().unwrap(),
                    &want,
                    NMSE_F32,
                )
                .unwrap();
            }
        }
    }
}

/// Row mode on its own, both families: `(x - max(x)) * g` over trailing axes of a strided
/// view, with rows from 1 to many and row lengths over several coalesced dims.
#[test]
fn row_kernel_direct_and_tree() {
    let dev = device_or_skip!();
    let cases: [(&[usize], usize); 5] = [
        (&[300, 37], 1),
        (&[1, 5000], 1),
        (&[3, 4, 7, 9], 2),
        (&[257, 1], 1),
        (&[6, 1, 31], 2),
    ];
    for (ci, (shape, k)) in cases.into_iter().enumerate() {
        let n = numel(shape);
        let rank = shape.len();
        let xd = random(n, 900 + ci as u64);
        // x is stored transposed (last two dims swapped) and read through a view.
        let mut st_shape = shape.to_vec();
        if rank >= 2 {
            st_shape.swap(rank - 1, rank - 2);
        }
        let x = if rank >= 2 {
            let mut stored = vec![0f32; n];
            let cs = flopwatt::tensor::contiguous_strides(shape);
            let ss = flopwatt::tensor::contiguous_strides(&st_shape);
            for (e, &v) in xd.iter().enumerate() {
                let mut idx: Vec<usize> = (0..rank).map(|d| (e / cs[d]) % shape[d]).collect();
                idx.swap(rank - 1, rank - 2);
                let o: usize = idx.iter().zip(&ss).map(|(i, s)| i * s).sum();
                stored[o] = v;
            }
            Tensor::from_f32(&dev, &stored, &st_shape)
                .unwrap()
                .transpose(rank - 2, rank - 1)
                .unwrap()
        } else {
            Tensor::from_f32(&dev, &xd, shape).unwrap()
        };
        let last = shape[rank - 1];
        let gd = random(last, 950 + ci as u64);
        let gt = Tensor::from_f32(&dev, &gd, &[last]).unwrap();
        let row: usize = shape[rank - k..].iter().product();
        let axes: Vec<usize> = (rank - k..rank).collect();
        for op in [ReduceOp::Max, ReduceOp::Mean] {
            let want: Vec<f64> = (0..n)
                .map(|e| {
                    let r0 = e / row * row;
                    let vals: Vec<f64> = xd[r0..r0 + row].iter().map(|&v| v as f64).collect();
                    (xd[e] as f64 - f64_reduce(&vals, op)) * gd[e % last] as f64
                })
                .collect();
            for strategy in [Strategy::Direct, Strategy::Tree] {
                let spec = FusedReduce {
                    op,
                    shape: shape.to_vec(),
                    axes: axes.clone(),
                    keepdims: true,
                    pre: Expr::input(0),
                    post: Some((Expr::input(0) - Expr::input(2)) * Expr::input(1)),
                };
                let mut rec = Recorder::new(&dev);
                let y = encode_reduce_fused(&mut rec, &[&x, &gt], &spec, strategy).unwrap();
                rec.submit(false).unwrap();
                assert_eq!(y.shape(), shape);
                check_nmse(
                    &format!("row kernel {shape:?} k {k} {op:?} {strategy:?}"),
                    &y.to_f32_vec().unwrap(),
                    &want,
                    NMSE_F32,
                )
                .unwrap();
            }
        }
    }
}

#[test]
fn bad_specs_are_typed_errors() {
    let dev = device_or_skip!();
    let x = Tensor::from_f32(&dev, &random(12, 1), &[3, 4]).unwrap();
    let spec = |op, axes: Vec<usize>, post: Option<Expr>| FusedReduce {
        op,
        shape: vec![3, 4],
        axes,
        keepdims: true,
        pre: Expr::input(0),
        post,
    };
    let mut rec = Recorder::new(&dev);
    let cases = [
        spec(ReduceOp::ArgMax, vec![1], None),
        spec(ReduceOp::Sum, vec![0], Some(Expr::input(1))),
        spec(ReduceOp::Sum, vec![2], None),
    ];
    for s in cases {
        let e = encode_reduce_fused(&mut rec, &[&x], &s, Strategy::Auto);
        assert!(matches!(e, Err(Error::InvalidArgument { .. })), "{e:?}");
    }
    let y = Tensor::from_f32(&dev, &random(5, 1), &[5]).unwrap();
    let e = encode_reduce_fused(
        &mut rec,
        &[&x, &y],
        &spec(
            ReduceOp::Sum,
            vec![1],
            Some(Expr::input(0) + Expr::input(1)),
        ),
        Strategy::Auto,
    );
    assert!(matches!(e, Err(Error::Shape { .. })), "{e:?}");
    let _ = ValueId(0);
}

/// Column reductions large enough for the kept-dim vec4 kernel, with a broadcast operand, a
/// transposed input (strided: the scalar kernel) and every kind, fused against unfused and
/// the reference.
#[test]
fn column_reductions_in_graphs() {
    let dev = device_or_skip!();
    for (i, (shape, axes)) in [
        (vec![37usize, 2048], vec![0isize]),
        (vec![3, 5, 4096], vec![0, 1]),
        (vec![2, 7, 2064], vec![1]),
        (vec![2048, 3], vec![0]),
    ]
    .into_iter()
    .enumerate()
    {
        for (k, kind) in KINDS.into_iter().enumerate() {
            let mut g = Graph::new();
            let x = g.input("x", &shape).unwrap();
            let b = g.input("b", &shape[shape.len() - 1..]).unwrap();
            let d = g.sub(x, b).unwrap();
            let e = g.unary(d, UnaryOp::Act(Activation::Tanh)).unwrap();
            let r = g.reduce(e, kind, Some(&axes), k % 2 == 0).unwrap();
            // And the same over a transposed view of x (strided columns).
            let xt = g.transpose(x, 0, 1).unwrap();
            let s = g.mul(xt, xt).unwrap();
            let q = g.reduce(s, kind, Some(&[1]), false).unwrap();
            g.output(r).unwrap();
            g.output(q).unwrap();
            let what = format!("columns {shape:?} axes {axes:?} {kind:?}");
            let (nf, nu, text) = check_both(&dev, &g, 80 + i as u64, &what);
            assert!(nf < nu, "{what}\n{text}");
            if i < 3 {
                assert!(text.contains("direct-cols4"), "{what}\n{text}");
            }
        }
    }
}

/// Prod (a kernel op no graph reduction uses yet), both families, on values near 1 so the
/// product stays in range.
#[test]
fn prod_kernel_direct_and_tree() {
    let dev = device_or_skip!();
    let (r, c) = (33usize, 257usize);
    let xd = reference::random_range(r * c, 5, -0.1, 0.1);
    let x = Tensor::from_f32(&dev, &xd, &[r, c]).unwrap();
    let want: Vec<f64> = xd
        .chunks(c)
        .map(|row| row.iter().map(|&v| (v as f64).exp()).product())
        .collect();
    for strategy in [Strategy::Direct, Strategy::Tree] {
        let spec = FusedReduce {
            op: ReduceOp::Prod,
            shape: vec![r, c],
            axes: vec![1],
            keepdims: false,
            pre: Expr::input(0).unary(UnaryOp::Exp),
            post: None,
        };
        let mut rec = Recorder::new(&dev);
        let y = encode_reduce_fused(&mut rec, &[&x], &spec, strategy).unwrap();
        rec.submit(false).unwrap();
        check_nmse(
            &format!("prod(exp(x)) {strategy:?}"),
            &y.to_f32_vec().unwrap(),
            &want,
            NMSE_F32,
        )
        .unwrap();
    }
}

/// Layer norm and softmax written out op by op: each reduction takes its neighbours, so the
/// layer norm is two dispatches (mean + centring; variance prologue + normalising epilogue)
/// and the softmax two (max + exp(x - max); sum + division).
#[test]
fn hand_written_layer_norm_and_softmax() {
    let dev = device_or_skip!();
    for (i, shape) in [vec![257usize, 127], vec![4, 3, 64], vec![300, 1]]
        .into_iter()
        .enumerate()
    {
        let last = [shape.len() as isize - 1];
        let mut g = Graph::new();
        let x = g.input("x", &shape).unwrap();
        let m = g.reduce(x, ReduceKind::Mean, Some(&last), true).unwrap();
        let d = g.sub(x, m).unwrap();
        let d2 = g.mul(d, d).unwrap();
        let v = g.reduce(d2, ReduceKind::Mean, Some(&last), true).unwrap();
        let v = g.add_scalar(v, 1e-5).unwrap();
        let inv = g.unary(v, UnaryOp::Rsqrt).unwrap();
        let y = g.mul(d, inv).unwrap();
        g.output(y).unwrap();
        let (nf, nu, text) = check_both(&dev, &g, 90 + i as u64, &format!("layer norm {shape:?}"));
        assert!(nf == 2 && nu >= 7, "{nf} vs {nu}\n{text}");
        assert!(
            text.contains("reduce.mean+prologue[1 ops]+epilogue[3 ops]"),
            "{text}"
        );

        let mut g = Graph::new();
        let x = g.input("x", &shape).unwrap();
        let m = g.reduce(x, ReduceKind::Max, Some(&last), true).unwrap();
        let d = g.sub(x, m).unwrap();
        let e = g.exp(d).unwrap();
        let s = g.reduce(e, ReduceKind::Sum, Some(&last), true).unwrap();
        let p = g.div(e, s).unwrap();
        g.output(p).unwrap();
        let (nf, nu, text) = check_both(&dev, &g, 95 + i as u64, &format!("softmax {shape:?}"));
        assert!(nf == 2 && nu >= 5, "{nf} vs {nu}\n{text}");
    }
}
