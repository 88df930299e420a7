//! Graph executor: every fuser against its unfused path and the f64 graph reference.

mod common;

use flopwatt::graph::{Graph, ValueId};
use flopwatt::ops::elementwise::{BinaryOp, UnaryOp};
use flopwatt::ops::Activation;
use flopwatt::Compile;
use flopwatt::{CompileOptions, Device, Error, Tensor};
use flopwatt_reference::{
    self as reference, check_close, check_nmse, random, NMSE_F32, TRANSCENDENTAL_F32,
};

use common::{inputs_for, FUSED, UNFUSED};

/// Runs `g` with `opts`; returns the outputs as f32 vectors and the dispatch count.
async fn run(
    dev: &Device,
    g: &Graph,
    opts: CompileOptions,
    data: &[Vec<f32>],
) -> (Vec<Vec<f32>>, usize) {
    let exe = g.compile_with(dev, opts).expect("compile");
    let ts: Vec<Tensor> = g
        .inputs()
        .iter()
        .zip(data)
        .map(|(v, d)| Tensor::from_f32(dev, d, g.shape(*v)).unwrap())
        .collect();
    let refs: Vec<&Tensor> = ts.iter().collect();
    let outs = exe.run_async(&refs).await.expect("run");
    let mut host = Vec::new();
    for t in &outs {
        host.push(t.to_f32_vec_async().await.unwrap());
    }
    (host, exe.dispatch_count())
}

fn reference_of(g: &Graph, data: &[Vec<f32>]) -> Vec<Vec<f64>> {
    let d64: Vec<Vec<f64>> = data.iter().map(|v| reference::to_f64(v)).collect();
    reference::graph::eval(g, &d64)
}

enum Check {
    Close(reference::Tolerance),
    Nmse(f64),
}

/// Fused and unfused both match the reference; returns (fused, unfused) dispatch counts.
async fn check_both(
    dev: &Device,
    g: &Graph,
    seed: u64,
    what: &str,
    check: Check,
) -> (usize, usize) {
    check_both_with(dev, g, seed, what, check, FUSED).await
}

/// [`check_both`] with `fused` as the fused compile's options.
async fn check_both_with(
    dev: &Device,
    g: &Graph,
    seed: u64,
    what: &str,
    check: Check,
    fused_opts: CompileOptions,
) -> (usize, usize) {
    let data = inputs_for(g, seed);
    let want = reference_of(g, &data);
    let (fused, nf) = run(dev, g, fused_opts, &data).await;
    let (unfused, nu) = run(dev, g, UNFUSED, &data).await;
    for (k, w) in want.iter().enumerate() {
        for (mode, got) in [("fused", &fused[k]), ("unfused", &unfused[k])] {
            let name = format!("{what} ({mode}, output {k})");
            match check {
                Check::Close(t) => check_close(&name, got, w, t).unwrap(),
                Check::Nmse(m) => check_nmse(&name, got, w, m).unwrap(),
            }
        }
    }
    (nf, nu)
}

#[test]
fn build_errors_name_op_and_shapes() {
    let mut g = Graph::new();
    let a = g.input("a", &[3, 4]).unwrap();
    let b = g.input("b", &[5, 6]).unwrap();
    let e = g.matmul(a, b).unwrap_err();
    assert_eq!(e.to_string(), "matmul: inner dims differ, [3, 4] x [5, 6]");
    let c = g.input("c", &[2, 4]).unwrap();
    let e = g.add(a, c).unwrap_err().to_string();
    assert!(e.contains("[3, 4]") && e.contains("[2, 4]"), "{e}");
    assert!(matches!(
        g.softmax(a, 2),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(g.reshape(a, &[5]).is_err());
    assert!(g.broadcast_to(a, &[3, 5]).is_err());
    let gamma = g.input("gamma", &[3]).unwrap();
    let e = g
        .layer_norm(a, 1, Some(gamma), None, 1e-5)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("layer_norm") && e.contains("[3]"), "{e}");
    assert!(g.transpose(a, 0, 2).is_err());
    assert!(g.constant("w", vec![0.0; 3], &[2, 2]).is_err());
    let x = g.input("x", &[1, 3, 5, 5]).unwrap();
    let w = g.input("w", &[4, 2, 3, 3]).unwrap();
    let e = g
        .conv2d(x, w, None, Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("conv2d"), "{e}");
}

gpu_test! {
async fn run_rejects_wrong_inputs(dev) {
    let mut g = Graph::new();
    let x = g.input("x", &[4]).unwrap();
    let y = g.relu(x).unwrap();
    g.output(y).unwrap();
    let exe = g.compile(&dev).unwrap();
    let bad = Tensor::from_f32(&dev, &[1.0; 5], &[5]).unwrap();
    let e = exe.run(&[&bad]).unwrap_err().to_string();
    assert!(e.contains("[4]") && e.contains("[5]"), "{e}");
    assert!(exe.run(&[]).is_err());
}
}

/// A random elementwise DAG over broadcast-compatible inputs; values are reused so some
/// intermediates have several consumers (they must not be fused away).
fn random_elementwise_graph(seed: u64) -> Graph {
    let mut rng = fastrand::Rng::with_seed(seed);
    let dims = [1usize, 3, 7, 127, 257];
    let (a, b, c) = (
        dims[rng.usize(..dims.len())],
        dims[rng.usize(..dims.len())],
        dims[rng.usize(1..dims.len())],
    );
    let mut g = Graph::new();
    let shapes: Vec<Vec<usize>> = vec![
        vec![a, b, c],
        vec![b, c],
        vec![1, c],
        vec![a, 1, 1],
        vec![c],
    ];
    let mut vals: Vec<ValueId> = Vec::new();
    let n_in = 2 + rng.usize(..3);
    for i in 0..n_in {
        let s = &shapes[if i == 0 { 0 } else { rng.usize(..shapes.len()) }];
        vals.push(g.input(&format!("x{i}"), s).unwrap());
    }
    let unary = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Act(Activation::Relu),
        UnaryOp::Act(Activation::Tanh),
        UnaryOp::Act(Activation::Sigmoid),
        UnaryOp::Act(Activation::Gelu),
        UnaryOp::Act(Activation::Silu),
    ];
    let binary = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Max,
        BinaryOp::Min,
    ];
    let n_ops = 3 + rng.usize(..10);
    for _ in 0..n_ops {
        // Prefer recent values (chains), sometimes older ones (trees and shared values).
        let pick = |rng: &mut fastrand::Rng, vals: &Vec<ValueId>| {
            if rng.bool() {
                *vals.last().unwrap()
            } else {
                vals[rng.usize(..vals.len())]
            }
        };
        let v = match rng.usize(..4) {
            0 => {
                let x = pick(&mut rng, &vals);
                g.unary(x, unary[rng.usize(..unary.len())]).unwrap()
            }
            1 => {
                let x = pick(&mut rng, &vals);
                g.scale(x, 0.5 + rng.f32()).unwrap()
            }
            _ => {
                let x = pick(&mut rng, &vals);
                let y = pick(&mut rng, &vals);
                g.binary(x, y, binary[rng.usize(..binary.len())]).unwrap()
            }
        };
        vals.push(v);
    }
    g.output(*vals.last().unwrap()).unwrap();
    if rng.bool() {
        // A second output in the middle: it must survive fusion and planning.
        let mid = vals[n_in + rng.usize(..n_ops)];
        g.output(mid).unwrap();
    }
    g
}

gpu_test! {
async fn random_elementwise_graphs_fused_equal_unfused_and_reference(dev) {
    let mut fewer = 0;
    // Each graph compiles its own fused kernels: the browser takes a third of them.
    let seeds = if common::BROWSER { 8 } else { 24 };
    for seed in 0..seeds {
        let g = random_elementwise_graph(seed);
        let (nf, nu) = check_both(
            &dev,
            &g,
            seed,
            &format!("random elementwise graph {seed}"),
            Check::Close(TRANSCENDENTAL_F32),
        ).await;
        assert!(
            nf <= nu,
            "seed {seed}: fused {nf} > unfused {nu} dispatches"
        );
        fewer += (nf < nu) as usize;
    }
    assert!(
        fewer * 2 >= seeds as usize,
        "fusion reduced dispatches in only {fewer} of {seeds} graphs"
    );
}
}

gpu_test! {
async fn elementwise_chain_is_one_kernel(dev) {
    let mut g = Graph::new();
    let x = g.input("x", &[257, 127]).unwrap();
    let b = g.input("b", &[127]).unwrap();
    let y = g.scale(x, 2.0).unwrap();
    let y = g.add(y, b).unwrap();
    let y = g.relu(y).unwrap();
    let y = g.mul(y, x).unwrap();
    g.output(y).unwrap();
    let (nf, nu) = check_both(&dev, &g, 7, "chain", Check::Close(TRANSCENDENTAL_F32)).await;
    assert_eq!((nf, nu), (1, 4));
}
}

/// relu(x W * s + bias) + residual, with each stage present or not.
fn mlp_graph(m: usize, k: usize, n: usize, stages: u8, act: Activation) -> Graph {
    let mut g = Graph::new();
    let x = g.input("x", &[m, k]).unwrap();
    let w = g.constant("w", random(k * n, 99), &[k, n]).unwrap();
    let mut y = g.matmul(x, w).unwrap();
    if stages & 1 != 0 {
        y = g.scale(y, 0.75).unwrap();
    }
    if stages & 2 != 0 {
        let b = g.constant("b", random(n, 98), &[n]).unwrap();
        y = g.add(y, b).unwrap();
    }
    if stages & 4 != 0 {
        y = g.activation(y, act).unwrap();
    }
    if stages & 8 != 0 {
        let r = g.input("r", &[1, n]).unwrap();
        y = g.add(r, y).unwrap();
    }
    g.output(y).unwrap();
    g
}

gpu_test! {
async fn matmul_epilogues_fused_equal_unfused_and_reference(dev) {
    let acts = [
        Activation::Relu,
        Activation::Gelu,
        Activation::Silu,
        Activation::Tanh,
        Activation::LeakyRelu(0.1),
    ];
    let shapes = [
        (1, 1, 1),
        (1, 257, 127),
        (33, 65, 17),
        (127, 64, 129),
        (64, 128, 256),
    ];
    let mut rng = fastrand::Rng::with_seed(5);
    for (i, &(m, k, n)) in shapes.iter().enumerate() {
        for _ in 0..3 {
            let stages = rng.u8(1..16);
            let act = acts[rng.usize(..acts.len())];
            let g = mlp_graph(m, k, n, stages, act);
            let (nf, nu) = check_both(
                &dev,
                &g,
                i as u64,
                &format!("matmul {m}x{k}x{n} stages {stages:04b} {act:?}"),
                Check::Nmse(NMSE_F32),
            ).await;
            assert_eq!(nf, 1, "epilogue {stages:04b} not fused into the matmul");
            assert_eq!(nu, 1 + stages.count_ones() as usize);
        }
    }
}
}

gpu_test! {
async fn layout_ops_fold_into_consumers(dev) {
    let mut g = Graph::new();
    let a = g.input("a", &[65, 33]).unwrap();
    let b = g.input("b", &[17, 65]).unwrap();
    let at = g.transpose(a, 0, 1).unwrap(); // [33, 65]
    let bt = g.transpose(b, -1, -2).unwrap(); // [65, 17]
    let c = g.matmul(at, bt).unwrap(); // [33, 17]
    let v = g.input("v", &[17]).unwrap();
    let vb = g.broadcast_to(v, &[33, 17]).unwrap();
    let s = g.add(c, vb).unwrap(); // matmul residual
    let st = g.transpose(s, 0, 1).unwrap(); // strided [17, 33]
    let r = g.reshape(st, &[17 * 33]).unwrap(); // needs a copy of the strided view
    let y = g.unary(r, UnaryOp::Act(Activation::Tanh)).unwrap();
    g.output(y).unwrap();
    let (nf, nu) = check_both(&dev, &g, 3, "layout", Check::Nmse(NMSE_F32)).await;
    // fused: matmul+residual, reshape copy, tanh; unfused: 4 layout copies + 3 op kernels.
    assert!(nf <= 3 && nu >= 7, "fused {nf}, unfused {nu}");
}
}

gpu_test! {
async fn conv_activation_epilogue(dev) {
    let mut g = Graph::new();
    let x = g.input("x", &[2, 3, 13, 11]).unwrap();
    let w = g
        .constant("w", random(5 * 3 * 9, 4), &[5, 3, 3, 3])
        .unwrap();
    let b = g.constant("b", random(5, 5), &[5]).unwrap();
    let attrs = flopwatt::graph::Conv2dAttrs {
        padding: [1, 1, 1, 1],
        stride: [2, 1],
        ..Default::default()
    };
    let y = g.conv2d(x, w, Some(b), attrs).unwrap();
    let y = g.relu(y).unwrap();
    g.output(y).unwrap();
    let (nf, nu) = check_both(&dev, &g, 11, "conv+relu", Check::Nmse(NMSE_F32)).await;
    // Constant weights are repacked (to vec4 taps) once at compile time, so conv2d is one
    // dispatch per run; fused, the relu rides in its epilogue instead of a kernel of its own.
    assert_eq!((nf, nu), (1, 2));
    // Weights fed at run time are repacked in every run: two dispatches.
    let mut g = Graph::new();
    let x = g.input("x", &[1, 4, 9, 7]).unwrap();
    let w = g.input("w", &[6, 2, 3, 1]).unwrap();
    let attrs = flopwatt::graph::Conv2dAttrs {
        padding: [1, 0, 1, 0],
        groups: 2,
        ..Default::default()
    };
    let y = g.conv2d(x, w, None, attrs).unwrap();
    let y = g.gelu(y).unwrap();
    g.output(y).unwrap();
    let (nf, nu) = check_both(
        &dev,
        &g,
        12,
        "conv, run-time weights",
        Check::Nmse(NMSE_F32),
    ).await;
    assert_eq!((nf, nu), (2, 3));
}
}

gpu_test! {
async fn memory_planning_shares_buffers_and_keeps_outputs(dev) {
    let mut g = Graph::new();
    let x = g.input("x", &[64, 64]).unwrap();
    let w = g.constant("w", random(64 * 64, 1), &[64, 64]).unwrap();
    let mut y = x;
    let mut mids = Vec::new();
    for _ in 0..6 {
        y = g.matmul(y, w).unwrap();
        y = g.unary(y, UnaryOp::Act(Activation::Tanh)).unwrap();
        mids.push(y);
    }
    g.output(y).unwrap();
    g.output(mids[2]).unwrap();
    for fusion in [true, false] {
        let planned = g
            .compile_with(
                &dev,
                CompileOptions {
                    fusion,
                    memory_planning: true,
                    ..CompileOptions::DEFAULT
                },
            )
            .unwrap();
        let unplanned = g
            .compile_with(
                &dev,
                CompileOptions {
                    fusion,
                    memory_planning: false,
                    ..CompileOptions::DEFAULT
                },
            )
            .unwrap();
        let p = planned.plan();
        assert!(
            p.peak_planned * 2 <= p.peak_unplanned,
            "fusion {fusion}: planned {} vs unplanned {}",
            p.peak_planned,
            p.peak_unplanned
        );
        assert_eq!(unplanned.plan().peak(), p.peak_unplanned);
        let data = inputs_for(&g, 2);
        let want = reference_of(&g, &data);
        let xt = Tensor::from_f32(&dev, &data[0], &[64, 64]).unwrap();
        for exe in [&planned, &unplanned] {
            let outs = exe.run(&[&xt]).unwrap();
            for (o, w) in outs.iter().zip(&want) {
                check_nmse("planned chain", &o.to_f32_vec_async().await.unwrap(), w, NMSE_F32).unwrap();
            }
        }
    }
}
}

gpu_test! {
async fn explain_and_profile_name_fused_ops(dev) {
    let g = mlp_graph(33, 64, 17, 0b0110, Activation::Relu);
    let exe = g.compile(&dev).unwrap();
    let text = exe.explain();
    assert!(text.contains("1 dispatches per run"), "{text}");
    assert!(text.contains("matmul+epilogue(bias,relu)"), "{text}");
    assert!(text.contains("peak"), "{text}");
    let x = Tensor::from_f32(&dev, &random(33 * 64, 1), &[33, 64]).unwrap();
    let (outs, prof) = exe.run_profiled_async(&[&x]).await.unwrap();
    assert_eq!(outs.len(), 1);
    assert_eq!(prof.dispatches.len(), 1);
    let covers = &prof.dispatches[0].covers;
    assert_eq!(covers.len(), 3, "{covers:?}");
    assert!(covers[0].starts_with("matmul"), "{covers:?}");
}
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn many_runs_do_not_grow_device_memory() {
    // Its own device: tests run in parallel and the shared device's pool sees their buffers.
    let _shared = device_or_skip!();
    let dev = Device::new().unwrap();
    let mut g = Graph::new();
    let x = g.input("x", &[127]).unwrap();
    let b = g.constant("b", random(127, 3), &[127]).unwrap();
    let y = g.add(x, b).unwrap();
    let y = g.exp(y).unwrap();
    let z = g.scale(y, 3.0).unwrap();
    g.output(z).unwrap();
    g.output(y).unwrap();
    let exe = g.compile_with(&dev, UNFUSED).unwrap();
    let xt = Tensor::from_f32(&dev, &random(127, 4), &[127]).unwrap();
    let mut first = None;
    for i in 0..10_000 {
        let outs = exe.run(&[&xt]).unwrap();
        if i == 9 {
            let v = outs[0].to_f32_vec().unwrap();
            assert!(v.iter().all(|x| x.is_finite()));
        }
        drop(outs);
        if i == 10 {
            first = Some(dev.allocated_bytes());
        }
    }
    assert_eq!(
        Some(dev.allocated_bytes()),
        first,
        "device memory grew over 10,000 runs"
    );
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn two_threads_two_executables_one_device() {
    let dev = device_or_skip!();
    let g1 = mlp_graph(31, 47, 29, 0b1110, Activation::Gelu);
    let g2 = random_elementwise_graph(3);
    let d1 = inputs_for(&g1, 1);
    let d2 = inputs_for(&g2, 2);
    let (want1, _) = common::block_on(run(&dev, &g1, FUSED, &d1));
    let (want2, _) = common::block_on(run(&dev, &g2, FUSED, &d2));
    let e1 = g1.compile(&dev).unwrap();
    let e2 = g2.compile(&dev).unwrap();
    std::thread::scope(|s| {
        for (exe, g, d, want) in [(&e1, &g1, &d1, &want1), (&e2, &g2, &d2, &want2)] {
            let dev = dev.clone();
            s.spawn(move || {
                let ts: Vec<Tensor> = g
                    .inputs()
                    .iter()
                    .zip(d)
                    .map(|(v, x)| Tensor::from_f32(&dev, x, g.shape(*v)).unwrap())
                    .collect();
                let refs: Vec<&Tensor> = ts.iter().collect();
                for _ in 0..20 {
                    let outs = exe.run(&refs).unwrap();
                    for (o, w) in outs.iter().zip(want) {
                        assert_eq!(&o.to_f32_vec().unwrap(), w);
                    }
                }
            });
        }
    });
}

gpu_test! {
async fn transformer_block_fused_equals_unfused_and_reference(dev) {
    let (g, data) = flopwatt::graph::models::transformer_block(32, 4, 17, 4).unwrap();
    let want = reference_of(&g, &data);
    let (unfused, nu) = run(&dev, &g, UNFUSED, &data).await;
    check_nmse("block unfused", &unfused[0], &want[0], NMSE_F32).unwrap();
    // q/k/v as one stacked matmul (GPUs) or three (CPU adapters); no layout copies either way.
    for (stacked, dispatches) in [(true, 7), (false, 9)] {
        let opts = CompileOptions { stacked_matmuls: Some(stacked), ..FUSED };
        let (fused, nf) = run(&dev, &g, opts, &data).await;
        check_nmse("block fused", &fused[0], &want[0], NMSE_F32).unwrap();
        assert_eq!(nf, dispatches, "stacked {stacked}");
        assert!(nf * 2 <= nu, "fused {nf} dispatches, unfused {nu}");
    }
    assert!(g.compile(&dev).unwrap().explain().contains("attention"));
    let exe = g.compile(&dev).unwrap();
    let p = exe.plan();
    assert!(p.peak_planned < p.peak_unplanned, "{p:?}");
}
}

gpu_test! {
async fn reductions_and_norms_in_graphs(dev) {
    let mut g = Graph::new();
    let x = g.input("x", &[3, 127, 5]).unwrap();
    let gm = g.input("g", &[5]).unwrap();
    let xt = g.transpose(x, 1, 2).unwrap(); // [3, 5, 127] strided
    let s = g.scale(xt, 1.5).unwrap();
    let sm = g.log_softmax(s, -1).unwrap();
    let r = g
        .reduce(sm, flopwatt::graph::ReduceKind::Max, Some(&[1]), true)
        .unwrap();
    let n = g.rms_norm(x, 1, Some(gm), 1e-6).unwrap();
    let m = g
        .reduce(n, flopwatt::graph::ReduceKind::Mean, Some(&[0, -1]), false)
        .unwrap();
    let l = g.layer_norm(x, 2, None, None, 1e-5).unwrap();
    g.output(r).unwrap();
    g.output(m).unwrap();
    g.output(l).unwrap();
    check_both(&dev, &g, 21, "reduce/norm", Check::Nmse(NMSE_F32)).await;
}
}

gpu_test! {
async fn attention_op_and_pattern(dev) {
    for causal in [false, true] {
        let mut g = Graph::new();
        let q = g.input("q", &[1, 2, 37, 24]).unwrap();
        let k = g.input("k", &[1, 2, 29, 24]).unwrap();
        let v = g.input("v", &[1, 2, 29, 24]).unwrap();
        let y = g.attention(q, k, v, causal, None).unwrap();
        g.output(y).unwrap();
        let (nf, nu) = check_both(&dev, &g, 31, "attention op", Check::Nmse(NMSE_F32)).await;
        assert_eq!((nf, nu), (1, 1));
    }
}
}

/// Matmuls that share A and B's shape with random epilogues, their outputs read through views
/// (transposes, reshapes) and elementwise consumers.
fn shared_a_graph(seed: u64, batch: Option<usize>, m: usize, k: usize) -> (Graph, usize) {
    let mut rng = seed;
    let mut next = |n: u64| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let mut g = Graph::new();
    let shape: Vec<usize> = batch.into_iter().chain([m, k]).collect();
    let x = g.input("x", &shape).unwrap();
    let parts = 2 + next(3) as usize;
    let with_bias = next(2) == 0;
    let act = [Activation::None, Activation::Relu, Activation::Gelu][next(3) as usize];
    let n = [1usize, 4, 12, 17, 64][next(5) as usize];
    let mut outs = Vec::new();
    // The last product has another width: it must stay a matmul of its own.
    for p in 0..=parts {
        let n = if p == parts { n + 1 } else { n };
        let w = g
            .constant(
                &format!("w{p}"),
                random(k * n, seed * 10 + p as u64),
                &[k, n],
            )
            .unwrap();
        let mut y = g.matmul(x, w).unwrap();
        if with_bias {
            let b = g
                .constant(&format!("b{p}"), random(n, seed * 20 + p as u64), &[n])
                .unwrap();
            y = g.add(y, b).unwrap();
        }
        if act != Activation::None {
            y = g.activation(y, act).unwrap();
        }
        // Consumers: a transpose view into an elementwise op, a reshape view, or the raw value.
        let r = g.shape(y).len();
        y = match next(3) {
            0 => {
                let t = g.transpose(y, -1, -2).unwrap();
                g.scale(t, 1.5).unwrap()
            }
            1 => {
                let s = g.shape(y).to_vec();
                let flat: usize = s[..r - 1].iter().product();
                g.reshape(y, &[flat, s[r - 1]]).unwrap()
            }
            _ => y,
        };
        outs.push(y);
    }
    for o in outs {
        g.output(o).unwrap();
    }
    // Biases stack as a residual, which an activation would come before: no merge then.
    let merges = !(with_bias && act != Activation::None);
    (g, if merges { parts } else { 0 })
}

gpu_test! {
async fn shared_a_matmuls_merge_into_one_and_equal_unfused_and_reference(dev) {
    // On by default only on GPUs; forced here so every adapter tests it.
    let stacked = CompileOptions { stacked_matmuls: Some(true), ..FUSED };
    for seed in 0..8u64 {
        let batch = (seed % 3 == 1).then_some(3);
        let (m, k) = [(1, 5), (33, 17), (127, 64), (8, 1)][seed as usize % 4];
        let (g, parts) = shared_a_graph(seed + 1, batch, m, k);
        let what = "shared-A matmuls";
        let (nf, nu) = check_both_with(&dev, &g, seed, what, Check::Nmse(NMSE_F32), stacked).await;
        let text = g.compile_with(&dev, stacked).unwrap().explain();
        assert_eq!(
            text.contains(&format!("matmul x{parts} stacked")),
            parts > 0,
            "{text}"
        );
        assert!(nf <= nu, "fused {nf}, unfused {nu}");
    }
}
}

gpu_test! {
async fn attention_op_then_head_merge_is_one_kernel(dev) {
    for (causal, d) in [(false, 24), (true, 7)] {
        let mut g = Graph::new();
        let q = g.input("q", &[2, 3, 37, d]).unwrap();
        let k = g.input("k", &[2, 3, 29, d]).unwrap();
        let v = g.input("v", &[2, 3, 29, d]).unwrap();
        let y = g.attention(q, k, v, causal, None).unwrap();
        let y = g.transpose(y, 1, 2).unwrap();
        let y = g.reshape(y, &[2, 37, 3 * d]).unwrap();
        g.output(y).unwrap();
        let (nf, nu) = check_both(&dev, &g, 41, "attention + merge", Check::Nmse(NMSE_F32)).await;
        assert_eq!((nf, nu), (1, 3));
    }
}
}

/// The planner's promise holds on the device: a fresh device's pool creates no more
/// intermediate bytes than `peak_planned`, and the transformer block plans to <= 60% of the
/// same graph without planning (the memory-planning goal).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn planned_peak_bounds_the_pool_and_meets_the_goal() {
    // Its own device: the pool's growth is measured.
    let _shared = device_or_skip!();
    let (g, data) = flopwatt::graph::models::transformer_block(512, 8, 256, 4).unwrap();
    let dev = Device::new().unwrap();
    let x = Tensor::from_f32(&dev, &data[0], &[256, 512]).unwrap();
    let base = dev.allocated_bytes();
    let exe = g.compile(&dev).unwrap();
    let p = exe.plan().clone();
    assert!(
        p.peak_planned * 10 <= p.peak_unplanned * 6,
        "planned {} vs unplanned {}\n{}",
        p.peak_planned,
        p.peak_unplanned,
        exe.explain()
    );
    drop(exe.run(&[&x]).unwrap());
    let after_one = dev.allocated_bytes();
    for _ in 0..3 {
        drop(exe.run(&[&x]).unwrap());
    }
    assert_eq!(dev.allocated_bytes(), after_one, "runs allocated more");
    // Beyond the constants (each in its pool class) and the compile-time dummy input.
    let constants: u64 = g
        .nodes()
        .iter()
        .filter(|n| matches!(n.op, flopwatt::graph::Op::Constant { .. }))
        .map(|n| flopwatt::tensor::numel(&n.shape) as u64 * 4)
        .sum();
    assert!(exe.constant_bytes() <= constants);
    let step_consts = exe.constant_bytes();
    let dummy = 256 * 512 * 4;
    // Kernels bind small placeholders for unused optional operands.
    let placeholders = 4096;
    // A run returns its output in a buffer of the caller's, copied out of the executable's
    // own (planned) buffers, which the executable keeps for its next run.
    let returned = 256 * 512 * 4;
    let used = after_one - base;
    assert!(
        used <= step_consts + p.peak_planned + dummy + placeholders + returned,
        "pool grew {used} bytes: constants {step_consts}, planned {}, dummy {dummy}",
        p.peak_planned
    );
    let want = reference_of(&g, &data);
    let got = exe.run(&[&x]).unwrap()[0].to_f32_vec().unwrap();
    check_nmse("planned block", &got, &want[0], NMSE_F32).unwrap();
}

gpu_test! {
/// softmax(x * s + mask) with masks of every broadcast form (constant or run-time input),
/// log and plain, at awkward row lengths: one dispatch fused, and the same answer as the
/// unfused elementwise + softmax and the f64 reference.
async fn softmax_prologue_fuses_scale_and_mask(dev) {
    let cases: [(&[usize], &[usize], bool, bool); 7] = [
        (&[2, 3, 37, 37], &[37, 37], false, false),
        (&[2, 3, 37, 37], &[1, 1, 37, 37], true, true),
        (&[2, 3, 5, 127], &[2, 1, 1, 127], false, true),
        (&[4, 257], &[257], true, false),
        (&[3, 1], &[3, 1], false, true),
        (&[6, 64], &[6, 1], true, true),
        (&[2, 2, 2, 2, 12], &[2, 1, 2, 1, 12], false, true),
    ];
    for (i, (shape, mshape, log, mask_is_input)) in cases.into_iter().enumerate() {
        let mut g = Graph::new();
        let x = g.input("x", shape).unwrap();
        let m = if mask_is_input {
            g.input("mask", mshape).unwrap()
        } else {
            let n = flopwatt::tensor::numel(mshape);
            // Some masked keys, never a whole row: -inf for softmax (exact zeros), a large
            // negative value for log-softmax (-inf outputs NMSE cannot compare; a huge one would
            // dominate the norm and hide errors elsewhere).
            let masked = if log { -30.0 } else { f32::NEG_INFINITY };
            let data: Vec<f32> = random(n, 70 + i as u64)
                .into_iter()
                .enumerate()
                .map(|(j, v)| if j % 5 == 3 { masked } else { v })
                .collect();
            g.constant("mask", data, mshape).unwrap()
        };
        let s = g.scale(x, 0.37).unwrap();
        let s = g.add(s, m).unwrap();
        let y = if log {
            g.log_softmax(s, -1).unwrap()
        } else {
            g.softmax(s, -1).unwrap()
        };
        g.output(y).unwrap();
        let what = format!("softmax prologue {shape:?} mask {mshape:?} log {log}");
        let (nf, nu) = check_both(&dev, &g, 50 + i as u64, &what, Check::Nmse(NMSE_F32)).await;
        assert_eq!((nf, nu), (1, 3), "{what}");
        let text = g.compile(&dev).unwrap().explain();
        assert!(text.contains("+prologue(scale=0.37,mask)"), "{text}");
    }
    // Scale only, on a non-last axis; and the mask added first (x + mask, then no scale).
    let mut g = Graph::new();
    let x = g.input("x", &[5, 129, 3]).unwrap();
    let s = g.scale(x, -1.5).unwrap();
    let y = g.softmax(s, 1).unwrap();
    let m = g.input("m", &[3]).unwrap();
    let xm = g.add(m, x).unwrap();
    let z = g.log_softmax(xm, -1).unwrap();
    g.output(y).unwrap();
    g.output(z).unwrap();
    let (nf, nu) = check_both(&dev, &g, 60, "softmax prologues", Check::Nmse(NMSE_F32)).await;
    assert_eq!((nf, nu), (2, 4));
}
}

/// The softmax kernel's prologue on its own, every kernel family (direct, direct4, tree),
/// against the f64 softmax of `x * s + mask` computed on the host.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn softmax_prologue_kernels_direct_and_tree() {
    use flopwatt::ops::norm::encode_softmax_prologue;
    use flopwatt::ops::reduce::Strategy;
    let dev = device_or_skip!();
    // (shape, mask shape): rows of 4k (direct4) and odd rows (direct), broadcast masks.
    let cases: [(&[usize], &[usize]); 4] = [
        (&[3, 300, 64], &[300, 64]),
        (&[300, 37], &[1, 37]),
        (&[2, 2, 70, 13], &[2, 1, 70, 1]),
        (&[1, 1], &[1]),
    ];
    for (i, (shape, mshape)) in cases.into_iter().enumerate() {
        let n = flopwatt::tensor::numel(shape);
        let xd = random(n, 80 + i as u64);
        let md = random(flopwatt::tensor::numel(mshape), 90 + i as u64);
        let x = Tensor::from_f32(&dev, &xd, shape).unwrap();
        let m = Tensor::from_f32(&dev, &md, mshape).unwrap();
        let mb = m.broadcast_to(shape).unwrap();
        // Host prologue in f32, as both kernels compute it.
        let st = flopwatt::tensor::broadcast_strides(
            mshape,
            &flopwatt::tensor::contiguous_strides(mshape),
            shape,
        )
        .unwrap();
        let cs = flopwatt::tensor::contiguous_strides(shape);
        let pre: Vec<f32> = (0..n)
            .map(|e| {
                let mi: usize = cs
                    .iter()
                    .zip(shape)
                    .zip(&st)
                    .map(|((c, d), s)| (e / c) % d * s)
                    .sum();
                xd[e] * 0.5 + md[mi]
            })
            .collect();
        for log in [false, true] {
            let want = reference::norm::softmax(&pre, shape, shape.len() - 1, log);
            for strategy in [Strategy::Direct, Strategy::Tree] {
                let mut rec = flopwatt::Recorder::new(&dev);
                let y = encode_softmax_prologue(&mut rec, &x, 0.5, Some(&mb), -1, log, strategy)
                    .unwrap();
                rec.submit(false).unwrap();
                check_nmse(
                    &format!("prologue kernel {shape:?} {mshape:?} log {log} {strategy:?}"),
                    &y.to_f32_vec().unwrap(),
                    &want,
                    NMSE_F32,
                )
                .unwrap();
            }
        }
    }
    // A mask on a non-last axis is a typed error, not a wrong answer.
    let x = Tensor::from_f32(&dev, &random(12, 1), &[3, 4]).unwrap();
    let m = Tensor::from_f32(&dev, &random(3, 2), &[3, 1]).unwrap();
    let mut rec = flopwatt::Recorder::new(&dev);
    let e = encode_softmax_prologue(&mut rec, &x, 1.0, Some(&m), 0, false, Strategy::Auto);
    assert!(matches!(e, Err(Error::InvalidArgument { .. })), "{e:?}");
}

/// Random layered graphs over [rows, width] activations: matmuls with constant weights and
/// random epilogues, head split/merge views, scaled and masked softmax, layer norms,
/// elementwise ops, shared values and extra outputs. Fused with planning (and with stacked
/// matmuls forced on and off) must equal unfused without planning and the f64 reference, and
/// a run must allocate no more than the plan beyond constants, inputs and the dry run.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn random_layered_graphs_fused_planned_equal_unfused_and_reference() {
    let dev = device_or_skip!();
    for seed in 0..10u64 {
        let mut rng = fastrand::Rng::with_seed(seed + 500);
        let rows = [1usize, 7, 33, 127][rng.usize(..4)];
        let heads = [1usize, 2, 4][rng.usize(..3)];
        let dh = [3usize, 8, 16][rng.usize(..3)];
        let w = heads * dh;
        let mut g = Graph::new();
        let x = g.input("x", &[rows, w]).unwrap();
        let mut vals = vec![x];
        let mut cst = 0u64;
        let mut constant = |g: &mut Graph, shape: &[usize]| {
            cst += 1;
            let n = flopwatt::tensor::numel(shape);
            let scale = 1.0 / (shape[0] as f32).sqrt();
            let data = random(n, seed * 1000 + cst)
                .into_iter()
                .map(|v| v * scale)
                .collect();
            g.constant(&format!("c{cst}"), data, shape).unwrap()
        };
        for _ in 0..4 + rng.usize(..6) {
            let a = if rng.bool() {
                *vals.last().unwrap()
            } else {
                vals[rng.usize(..vals.len())]
            };
            let v = match rng.usize(..6) {
                0 | 1 => {
                    // One to three projections of `a`, sometimes sharing it.
                    let k = 1 + rng.usize(..3);
                    let mut last = a;
                    for _ in 0..k {
                        let wm = constant(&mut g, &[w, w]);
                        let mut y = g.matmul(a, wm).unwrap();
                        if rng.bool() {
                            let b = constant(&mut g, &[w]);
                            y = g.add(y, b).unwrap();
                        }
                        if rng.usize(..3) == 0 {
                            y = g.gelu(y).unwrap();
                        }
                        vals.push(y);
                        last = y;
                    }
                    last
                }
                2 => {
                    // Self-attention-like block over heads, with a head merge.
                    let q = g.reshape(a, &[1, rows, heads, dh]).unwrap();
                    let q = g.transpose(q, 1, 2).unwrap();
                    let kt = g.transpose(q, 2, 3).unwrap();
                    let s = g.matmul(q, kt).unwrap();
                    let s = g.scale(s, 1.0 / (dh as f32).sqrt()).unwrap();
                    let s = if rng.bool() {
                        let m = constant(&mut g, &[rows, rows]);
                        g.add(s, m).unwrap()
                    } else {
                        s
                    };
                    let p = g.softmax(s, -1).unwrap();
                    let o = g.matmul(p, q).unwrap();
                    let o = g.transpose(o, 1, 2).unwrap();
                    g.reshape(o, &[rows, w]).unwrap()
                }
                3 => {
                    let gm = constant(&mut g, &[w]);
                    g.layer_norm(a, 1, Some(gm), None, 1e-5).unwrap()
                }
                4 => {
                    let s = g.scale(a, 0.7).unwrap();
                    g.log_softmax(s, -1).unwrap()
                }
                _ => {
                    let b = vals[rng.usize(..vals.len())];
                    let y = g.add(a, b).unwrap();
                    g.unary(y, UnaryOp::Act(Activation::Tanh)).unwrap()
                }
            };
            vals.push(v);
        }
        g.output(*vals.last().unwrap()).unwrap();
        if rng.bool() {
            g.output(vals[1 + rng.usize(..vals.len() - 1)]).unwrap();
        }
        for stacked in [false, true] {
            common::block_on(check_both_with(
                &dev,
                &g,
                seed,
                &format!("layered graph {seed} (stacked {stacked})"),
                Check::Nmse(NMSE_F32),
                CompileOptions {
                    stacked_matmuls: Some(stacked),
                    ..FUSED
                },
            ));
        }
        // The pool of a fresh device grows by no more than the plan promises.
        let fresh = Device::new().unwrap();
        let data = inputs_for(&g, seed);
        let xt = Tensor::from_f32(&fresh, &data[0], &[rows, w]).unwrap();
        let base = fresh.allocated_bytes();
        let exe = g.compile(&fresh).unwrap();
        drop(exe.run(&[&xt]).unwrap());
        let after = fresh.allocated_bytes();
        let dummy = flopwatt::pool::size_class((rows * w * 4) as u64);
        // Small placeholders bound for absent optional operands, and kernels' own temporaries
        // (e.g. contiguous copies), are outside the plan: allow 4 KiB plus one copy per step.
        let slack = 4096 + exe.plan().step_bytes.iter().max().copied().unwrap_or(0);
        // The run's output, copied into a buffer of the caller's (the executable keeps its
        // planned buffers for the next run).
        let returned = dummy * g.outputs().len() as u64;
        assert!(
            after - base
                <= exe.constant_bytes() + exe.plan().peak_planned + dummy + slack + returned,
            "seed {seed}: pool grew {} bytes, plan {}\n{}",
            after - base,
            exe.plan().peak_planned,
            exe.explain()
        );
    }
}

/// A graph whose outputs are a fused matmul, a transposed view of an intermediate and a
/// graph input passed through: every kind of output a replayed run copies out.
fn replay_graph() -> Graph {
    let mut g = Graph::new();
    let x = g.input("x", &[13, 7]).unwrap();
    let r = g.input("r", &[1, 5]).unwrap();
    let w = g.constant("w", random(7 * 5, 97), &[7, 5]).unwrap();
    let y = g.matmul(x, w).unwrap();
    let y = g.add(r, y).unwrap();
    let h = g.activation(y, Activation::Relu).unwrap();
    let t = g.transpose(h, 0, 1).unwrap();
    let e = g.unary(t, UnaryOp::Exp).unwrap();
    g.output(h).unwrap();
    g.output(t).unwrap();
    g.output(e).unwrap();
    g.output(r).unwrap();
    g
}

gpu_test! {
async fn replayed_runs_match_reference_and_never_overwrite_earlier_outputs(dev) {
    let g = replay_graph();
    for opts in [FUSED, UNFUSED] {
        let exe = g.compile_with(&dev, opts).unwrap();
        assert!(exe.replays(), "compiled outside a recording, runs replay it");
        let mut kept = Vec::new();
        for seed in 1..=3u64 {
            let data = inputs_for(&g, seed);
            let want = reference_of(&g, &data);
            let ts: Vec<Tensor> = g
                .inputs()
                .iter()
                .zip(&data)
                .map(|(v, d)| Tensor::from_f32(&dev, d, g.shape(*v)).unwrap())
                .collect();
            let refs: Vec<&Tensor> = ts.iter().collect();
            let outs = exe.run_async(&refs).await.unwrap();
            let mut host = Vec::new();
            for (i, (o, w)) in outs.iter().zip(&want).enumerate() {
                let v = o.to_f32_vec_async().await.unwrap();
                let what = format!("run {seed} output {i} (fusion {})", opts.fusion);
                check_close(&what, &v, w, TRANSCENDENTAL_F32).unwrap();
                host.push(v);
            }
            kept.push((outs, host));
        }
        for (run, (outs, host)) in kept.iter().enumerate() {
            for (o, h) in outs.iter().zip(host) {
                let now = o.to_f32_vec_async().await.unwrap();
                assert_eq!(&now, h, "run {} output changed by later runs", run + 1);
            }
        }
        // A strided input cannot be copied whole: that run is recorded afresh, still right.
        let data = inputs_for(&g, 4);
        let want = reference_of(&g, &data);
        let xt: Vec<f32> = (0..7 * 13).map(|i| data[0][(i % 13) * 7 + i / 13]).collect();
        let x = Tensor::from_f32(&dev, &xt, &[7, 13]).unwrap().transpose(0, 1).unwrap();
        let r = Tensor::from_f32(&dev, &data[1], &[1, 5]).unwrap();
        let outs = exe.run_async(&[&x, &r]).await.unwrap();
        let v = outs[0].to_f32_vec_async().await.unwrap();
        check_close("strided input", &v, &want[0], TRANSCENDENTAL_F32).unwrap();
    }
}
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn one_executable_replayed_from_two_threads() {
    let dev = device_or_skip!();
    let g = replay_graph();
    let exe = g.compile(&dev).unwrap();
    let data: Vec<Vec<Vec<f32>>> = (0..2).map(|t| inputs_for(&g, 10 + t)).collect();
    let want: Vec<Vec<Vec<f32>>> = data
        .iter()
        .map(|d| common::block_on(run(&dev, &g, FUSED, d)).0)
        .collect();
    std::thread::scope(|s| {
        for (d, w) in data.iter().zip(&want) {
            let (dev, exe, g) = (dev.clone(), &exe, &g);
            s.spawn(move || {
                let ts: Vec<Tensor> = g
                    .inputs()
                    .iter()
                    .zip(d)
                    .map(|(v, x)| Tensor::from_f32(&dev, x, g.shape(*v)).unwrap())
                    .collect();
                let refs: Vec<&Tensor> = ts.iter().collect();
                let mut earlier = Vec::new();
                for _ in 0..15 {
                    let outs = exe.run(&refs).unwrap();
                    for (o, w) in outs.iter().zip(w) {
                        assert_eq!(&o.to_f32_vec().unwrap(), w);
                    }
                    earlier.push(outs);
                }
                for outs in &earlier {
                    assert_eq!(&outs[0].to_f32_vec().unwrap(), &w[0]);
                }
            });
        }
    });
}

gpu_test! {
async fn replayed_profile_names_every_dispatch(dev) {
    let g = replay_graph();
    let exe = g.compile(&dev).unwrap();
    let data = inputs_for(&g, 5);
    let want = reference_of(&g, &data);
    let ts: Vec<Tensor> = g
        .inputs()
        .iter()
        .zip(&data)
        .map(|(v, d)| Tensor::from_f32(&dev, d, g.shape(*v)).unwrap())
        .collect();
    let refs: Vec<&Tensor> = ts.iter().collect();
    for _ in 0..2 {
        let (outs, profile) = exe.run_profiled_async(&refs).await.unwrap();
        assert_eq!(profile.dispatches.len(), exe.dispatch_count());
        assert!(profile.dispatches.iter().all(|d| !d.covers.is_empty()));
        let v = outs[2].to_f32_vec_async().await.unwrap();
        check_close("profiled exp", &v, &want[2], TRANSCENDENTAL_F32).unwrap();
    }
}
}

/// Compiled inside another open recording on the same thread, an executable cannot own the
/// buffers freed there: it records every run afresh, and its answers stay right.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn compiled_inside_a_recording_records_every_run() {
    let dev = device_or_skip!();
    let g = replay_graph();
    let outer = flopwatt::Recorder::new(&dev);
    let exe = g.compile(&dev).unwrap();
    drop(outer);
    assert!(!exe.replays());
    let data = inputs_for(&g, 6);
    let want = reference_of(&g, &data);
    let ts: Vec<Tensor> = g
        .inputs()
        .iter()
        .zip(&data)
        .map(|(v, d)| Tensor::from_f32(&dev, d, g.shape(*v)).unwrap())
        .collect();
    let refs: Vec<&Tensor> = ts.iter().collect();
    for _ in 0..2 {
        let outs = exe.run(&refs).unwrap();
        for (i, (o, w)) in outs.iter().zip(&want).enumerate() {
            let v = o.to_f32_vec().unwrap();
            check_close(&format!("output {i}"), &v, w, TRANSCENDENTAL_F32).unwrap();
        }
    }
}
