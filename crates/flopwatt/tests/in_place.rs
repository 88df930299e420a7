//! In-place elementwise in the memory planner: where it is taken, where it must not
//! be (graph inputs, constants, outputs, values read later, views), that answers do not change,
//! and what it does to the planned peak of the model graphs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::graph::{Graph, ReduceKind};
use flopwatt::ops::elementwise::UnaryOp;
use flopwatt::tensor::numel;
use flopwatt::Compile;
use flopwatt::{CompileOptions, Device, Tensor};
use flopwatt_reference::{self as reference, check_nmse, random, NMSE_F32};

fn run_checked(dev: &Device, g: &Graph, seed: u64) -> flopwatt::Executable {
    let data: Vec<Vec<f32>> = g
        .inputs()
        .iter()
        .enumerate()
        .map(|(i, v)| random(numel(g.shape(*v)), seed * 10 + i as u64))
        .collect();
    let d64: Vec<Vec<f64>> = data.iter().map(|d| reference::to_f64(d)).collect();
    let want = reference::graph::eval(g, &d64);
    let exe = g.compile(dev).unwrap();
    let ts: Vec<Tensor> = g
        .inputs()
        .iter()
        .zip(&data)
        .map(|(v, d)| Tensor::from_f32(dev, d, g.shape(*v)).unwrap())
        .collect();
    let refs: Vec<&Tensor> = ts.iter().collect();
    // Twice: a run must not disturb the next (inputs untouched, buffers reused).
    for round in 0..2 {
        let outs = exe.run(&refs).unwrap();
        for (k, (o, w)) in outs.iter().zip(&want).enumerate() {
            let what = format!("output {k} round {round}\n{}", exe.explain());
            check_nmse(&what, &o.to_f32_vec().unwrap(), w, NMSE_F32).unwrap();
        }
        for (t, d) in ts.iter().zip(&data) {
            assert_eq!(&t.to_f32_vec().unwrap(), d, "a graph input was overwritten");
        }
    }
    exe
}

fn in_place_steps(exe: &flopwatt::Executable) -> usize {
    exe.plan().in_place.iter().flatten().count()
}

/// layer_norm -> abs -> * 2 (one elementwise step reading the norm's output, used once): in
/// place. The same with the norm's output read again later: not in place.
#[test]
fn intermediate_used_once_is_overwritten_in_place() {
    let dev = device_or_skip!();
    for shape in [vec![1usize], vec![127, 33], vec![257, 3, 5]] {
        let mut g = Graph::new();
        let x = g.input("x", &shape).unwrap();
        let n = g.layer_norm(x, 1, None, None, 1e-5).unwrap();
        let a = g.unary(n, UnaryOp::Abs).unwrap();
        let y = g.scale(a, 2.0).unwrap();
        g.output(y).unwrap();
        let exe = run_checked(&dev, &g, 1);
        assert_eq!(in_place_steps(&exe), 1, "{}", exe.explain());
        assert!(exe.explain().contains("in-place @buf"), "{}", exe.explain());
        assert!(exe.plan().buffers.len() == 1, "{}", exe.explain());

        // The norm's output is read again after the elementwise step: a fresh buffer.
        let mut g = Graph::new();
        let x = g.input("x", &shape).unwrap();
        let n = g.layer_norm(x, 1, None, None, 1e-5).unwrap();
        let a = g.unary(n, UnaryOp::Abs).unwrap();
        let s = g.softmax(a, -1).unwrap();
        let z = g.add(s, n).unwrap();
        g.output(z).unwrap();
        let exe = run_checked(&dev, &g, 2);
        // abs reads n, which `add` reads later: not in place; add may take softmax's output.
        let abs_step = exe
            .steps()
            .iter()
            .position(|s| {
                s.inputs.len() == 1 && matches!(s.kernel, flopwatt::fuse::Kernel::Elementwise(_))
            })
            .unwrap();
        assert_eq!(exe.plan().in_place[abs_step], None, "{}", exe.explain());
    }
}

/// Graph inputs and outputs are never written in place, and neither are views (a transposed
/// intermediate is read at other positions) nor operands of another shape (broadcast).
#[test]
fn inputs_outputs_views_and_broadcasts_stay() {
    let dev = device_or_skip!();
    // An input feeding an elementwise op directly.
    let mut g = Graph::new();
    let x = g.input("x", &[64, 64]).unwrap();
    let y = g.unary(x, UnaryOp::Exp).unwrap();
    g.output(y).unwrap();
    let exe = run_checked(&dev, &g, 3);
    assert_eq!(in_place_steps(&exe), 0);
    // An intermediate that is also an output.
    let mut g = Graph::new();
    let x = g.input("x", &[64, 64]).unwrap();
    let m = g.reduce(x, ReduceKind::Max, Some(&[1]), true).unwrap();
    let m2 = g.unary(m, UnaryOp::Neg).unwrap();
    g.output(m).unwrap();
    g.output(m2).unwrap();
    let exe = run_checked(&dev, &g, 4);
    assert_eq!(in_place_steps(&exe), 0, "{}", exe.explain());
    // A transposed view of an intermediate, and a broadcast (smaller) intermediate.
    let mut g = Graph::new();
    let x = g.input("x", &[33, 33]).unwrap();
    let n = g.layer_norm(x, 1, None, None, 1e-5).unwrap();
    let t = g.transpose(n, 0, 1).unwrap();
    let e = g.unary(t, UnaryOp::Exp).unwrap();
    let m = g.reduce(x, ReduceKind::Sum, Some(&[1]), true).unwrap();
    let mm = g.softmax(m, 0).unwrap();
    let b = g.mul(e, mm).unwrap();
    g.output(b).unwrap();
    let exe = run_checked(&dev, &g, 5);
    assert_eq!(in_place_steps(&exe), 0, "{}", exe.explain());
}

/// A chain of in-place steps over one buffer (norm -> abs -> softmax -> exp), with the
/// buffer's life extended to the last reader.
#[test]
fn chained_in_place_steps_share_one_buffer() {
    let dev = device_or_skip!();
    let mut g = Graph::new();
    let x = g.input("x", &[127, 65]).unwrap();
    let n = g.rms_norm(x, 1, None, 1e-6).unwrap();
    let a = g.unary(n, UnaryOp::Abs).unwrap();
    let s = g.softmax(a, -1).unwrap();
    let e = g.unary(s, UnaryOp::Sqrt).unwrap();
    let y = g.add(e, x).unwrap();
    g.output(y).unwrap();
    let exe = run_checked(&dev, &g, 6);
    assert!(in_place_steps(&exe) >= 2, "{}", exe.explain());
}

/// What in-place does to the planned peak of the model graphs (printed; the transformer
/// block keeps the memory-planning goal of at most 60% of unplanned).
#[test]
fn model_graphs_peak_with_in_place() {
    let dev = device_or_skip!();
    let graphs = [
        (
            "transformer-block",
            flopwatt::graph::models::transformer_block(512, 8, 256, 4),
        ),
        (
            "mlp-epilogue",
            flopwatt::graph::models::mlp_epilogue(2048, 1024, 1024),
        ),
    ];
    for (name, built) in graphs {
        let (g, _) = built.unwrap();
        for (fusion, in_place) in [(true, true), (true, false), (false, true), (false, false)] {
            let exe = g
                .compile_with(
                    &dev,
                    CompileOptions {
                        fusion,
                        memory_planning: true,
                        in_place,
                        ..CompileOptions::DEFAULT
                    },
                )
                .unwrap();
            let p = exe.plan();
            println!(
                "{name} fusion {fusion} in-place {in_place}: {} in-place steps, planned peak {} B in {} buffers, unplanned {} B",
                in_place_steps(&exe),
                p.peak_planned,
                p.buffers.len(),
                p.peak_unplanned
            );
            if name == "transformer-block" {
                assert!(
                    p.peak_planned * 10 <= p.peak_unplanned * 6,
                    "{}",
                    exe.explain()
                );
            }
        }
    }
}

/// Random graphs of norms, softmaxes, reductions and elementwise ops with shared values and
/// extra outputs, compiled with planning on and fusion off (where in-place is taken most) and
/// on: equal to the f64 reference, inputs untouched, over two runs.
#[test]
fn random_graphs_with_in_place_steps_match_reference() {
    let dev = device_or_skip!();
    let mut total = 0;
    for seed in 0..16u64 {
        let mut rng = fastrand::Rng::with_seed(seed + 900);
        let rows = [1usize, 7, 33, 127][rng.usize(..4)];
        let cols = [1usize, 5, 16, 257][rng.usize(..4)];
        let mut g = Graph::new();
        let x = g.input("x", &[rows, cols]).unwrap();
        let mut vals = vec![x];
        for _ in 0..3 + rng.usize(..8) {
            let a = if rng.bool() {
                *vals.last().unwrap()
            } else {
                vals[rng.usize(..vals.len())]
            };
            let v = match rng.usize(..6) {
                0 => g.layer_norm(a, 1, None, None, 1e-5).unwrap(),
                1 => g.softmax(a, -1).unwrap(),
                2 => g
                    .unary(a, UnaryOp::Act(flopwatt::ops::Activation::Tanh))
                    .unwrap(),
                3 => {
                    let b = vals[rng.usize(..vals.len())];
                    g.add(a, b).unwrap()
                }
                4 => {
                    let m = g.reduce(a, ReduceKind::Mean, Some(&[1]), true).unwrap();
                    g.sub(a, m).unwrap()
                }
                _ => g.scale(a, 0.5 + rng.f32()).unwrap(),
            };
            vals.push(v);
        }
        g.output(*vals.last().unwrap()).unwrap();
        if rng.bool() {
            g.output(vals[1 + rng.usize(..vals.len() - 1)]).unwrap();
        }
        for fusion in [false, true] {
            let data = [random(rows * cols, seed)];
            let d64: Vec<Vec<f64>> = data.iter().map(|d| reference::to_f64(d)).collect();
            let want = reference::graph::eval(&g, &d64);
            let exe = g
                .compile_with(
                    &dev,
                    CompileOptions {
                        fusion,
                        memory_planning: true,
                        ..CompileOptions::DEFAULT
                    },
                )
                .unwrap();
            total += in_place_steps(&exe);
            let xt = Tensor::from_f32(&dev, &data[0], &[rows, cols]).unwrap();
            for round in 0..2 {
                let outs = exe.run(&[&xt]).unwrap();
                for (k, (o, w)) in outs.iter().zip(&want).enumerate() {
                    let what = format!(
                        "seed {seed} fusion {fusion} output {k} round {round}\n{}",
                        exe.explain()
                    );
                    check_nmse(&what, &o.to_f32_vec().unwrap(), w, NMSE_F32).unwrap();
                }
                assert_eq!(xt.to_f32_vec().unwrap(), data[0], "input overwritten");
            }
        }
    }
    assert!(total >= 10, "only {total} in-place steps in 32 compiles");
}
