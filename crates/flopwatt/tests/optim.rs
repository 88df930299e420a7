//! Optimiser kernels against the f64 reference over several steps, and the Trainer.
// Native only (sync API); the browser runs the gpu_test! binaries.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::autodiff::{self, Reduction};
use flopwatt::exec::Recorder;
use flopwatt::graph::Graph;
use flopwatt::optim::{encode_update, new_state, Optimizer, Trainer};
use flopwatt::{CompileOptions, Error, Tensor};
use flopwatt_reference::train::OptimRef;
use flopwatt_reference::{check_close, random, to_f64, TRANSCENDENTAL_F32};

#[test]
fn every_optimizer_matches_reference_over_steps() {
    let dev = device_or_skip!();
    let opts = [
        Optimizer::sgd(0.1),
        Optimizer::Sgd {
            lr: 0.05,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.01,
        },
        Optimizer::Sgd {
            lr: 0.05,
            momentum: 0.8,
            nesterov: true,
            weight_decay: 0.0,
        },
        Optimizer::adam(0.01),
        Optimizer::Adam {
            lr: 0.02,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            weight_decay: 0.1,
            decoupled: false,
        },
        Optimizer::adamw(0.01, 0.05),
    ];
    for (k, opt) in opts.iter().enumerate() {
        for n in [1usize, 257, 4099] {
            let seed = 1000 * k as u64 + n as u64;
            let p0 = random(n, seed);
            let param = Tensor::from_f32(&dev, &p0, &[n]).unwrap();
            let state = new_state(opt, &param).unwrap();
            let mut want = to_f64(&p0);
            let mut st = vec![vec![0.0; n]; opt.state_tensors()];
            for t in 1..=5u32 {
                let g = random(n, seed * 7 + t as u64);
                let grad = Tensor::from_f32(&dev, &g, &[n]).unwrap();
                let mut rec = Recorder::new(&dev);
                encode_update(&mut rec, opt, &param, &grad, &state, t).unwrap();
                rec.submit(false).unwrap();
                OptimRef::from(*opt).step(&mut want, &to_f64(&g), &mut st, t);
            }
            let got = param.to_f32_vec().unwrap();
            check_close(&format!("{opt:?} n={n}"), &got, &want, TRANSCENDENTAL_F32).unwrap();
        }
    }
}

#[test]
fn optimizer_errors() {
    let dev = device_or_skip!();
    let p = Tensor::from_f32(&dev, &random(6, 1), &[6]).unwrap();
    let g = Tensor::from_f32(&dev, &random(5, 2), &[5]).unwrap();
    let mut rec = Recorder::new(&dev);
    let e = encode_update(&mut rec, &Optimizer::sgd(0.1), &p, &g, &[], 1).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let g = Tensor::from_f32(&dev, &random(6, 2), &[6]).unwrap();
    let e = encode_update(&mut rec, &Optimizer::adam(0.1), &p, &g, &[], 1).unwrap_err();
    assert!(e.to_string().contains("state"), "{e}");
    let bad = Optimizer::Sgd {
        lr: 0.1,
        momentum: 0.0,
        nesterov: true,
        weight_decay: 0.0,
    };
    let e = encode_update(&mut rec, &bad, &p, &g, &[], 1).unwrap_err();
    assert!(e.to_string().contains("Nesterov"), "{e}");
}

/// Linear least squares: L = mean((x w + b - y)^2); the trainer's SGD steps against the
/// f64 analytic gradient and update.
#[test]
fn trainer_steps_match_reference_and_use_one_submit() {
    let dev = device_or_skip!();
    let (n, d, o) = (13usize, 5usize, 3usize);
    let mut g = Graph::new();
    let x = g.input("x", &[n, d]).unwrap();
    let w = g.input("w", &[d, o]).unwrap();
    let b = g.input("b", &[o]).unwrap();
    let y = g.input("y", &[n, o]).unwrap();
    let p = g.matmul(x, w).unwrap();
    let p = g.add(p, b).unwrap();
    let loss = autodiff::mse(&mut g, p, y, Reduction::Mean).unwrap();
    g.output(loss).unwrap();
    let (w0, b0) = (random(d * o, 1), random(o, 2));
    let opt = Optimizer::Sgd {
        lr: 0.1,
        momentum: 0.5,
        nesterov: false,
        weight_decay: 0.0,
    };
    let mut tr = Trainer::new(
        &dev,
        &g,
        loss,
        &[(w, w0.clone()), (b, b0.clone())],
        opt,
        CompileOptions::default(),
    )
    .unwrap();
    let (xs, ys) = (random(n * d, 3), random(n * o, 4));
    let tx = Tensor::from_f32(&dev, &xs, &[n, d]).unwrap();
    let ty = Tensor::from_f32(&dev, &ys, &[n, o]).unwrap();
    let (mut wr, mut br) = (to_f64(&w0), to_f64(&b0));
    let (mut sw, mut sb) = (vec![vec![0.0; d * o]], vec![vec![0.0; o]]);
    let r = OptimRef::from(opt);
    for t in 1..=4u32 {
        // f64 forward and analytic gradient.
        let mut res = vec![0.0; n * o];
        for i in 0..n {
            for j in 0..o {
                let mut s = br[j];
                for k in 0..d {
                    s += xs[i * d + k] as f64 * wr[k * o + j];
                }
                res[i * o + j] = s - ys[i * o + j] as f64;
            }
        }
        let want_loss = res.iter().map(|v| v * v).sum::<f64>() / (n * o) as f64;
        let scale = 2.0 / (n * o) as f64;
        let mut gw = vec![0.0; d * o];
        let mut gb = vec![0.0; o];
        for i in 0..n {
            for j in 0..o {
                gb[j] += scale * res[i * o + j];
                for k in 0..d {
                    gw[k * o + j] += scale * res[i * o + j] * xs[i * d + k] as f64;
                }
            }
        }
        let got_loss = tr.step_loss(&[&tx, &ty]).unwrap();
        assert!(
            (got_loss as f64 - want_loss).abs() < 1e-5 * (1.0 + want_loss),
            "step {t}: loss {got_loss} vs {want_loss}"
        );
        r.step(&mut wr, &gw, &mut sw, t);
        r.step(&mut br, &gb, &mut sb, t);
    }
    let vals = tr.param_values().unwrap();
    check_close("trained w", &vals[0], &wr, TRANSCENDENTAL_F32).unwrap();
    check_close("trained b", &vals[1], &br, TRANSCENDENTAL_F32).unwrap();
    assert_eq!(tr.submits_per_step(), 1);
    assert_eq!(
        tr.dispatches_per_step(),
        tr.executable().dispatch_count() + 2,
        "{}",
        tr.executable().explain()
    );
    // Errors: a constant cannot be trained; a non-scalar loss is refused.
    let mut g2 = g.clone();
    let c = g2.constant("c", vec![0.0; 3], &[3]).unwrap();
    let e = Trainer::new(
        &dev,
        &g2,
        loss,
        &[(c, vec![0.0; 3])],
        opt,
        CompileOptions::default(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("graph input"), "{e}");
    let e = Trainer::new(&dev, &g, p, &[(w, w0)], opt, CompileOptions::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("scalar"), "{e}");
}
