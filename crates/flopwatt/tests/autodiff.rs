//! Gradient checks: every op's autodiff gradient, run on the device, against central finite
//! differences of the f64 graph reference, on seeded random inputs at awkward sizes.
//!
//! Each case builds y = f(inputs) and differentiates L = sum(y * R) for a fixed random R (so
//! every output element carries a different weight), with respect to every input. Tolerance:
//! [`GRAD_NMSE`] on the whole gradient of each input.
// Native only (sync API); the browser runs the gpu_test! binaries.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::autodiff::{self, Reduction, Target};
use flopwatt::graph::{Conv2dAttrs, Graph, ReduceKind, ValueId};
use flopwatt::ops::elementwise::{BinaryOp, UnaryOp};
use flopwatt::ops::Activation;
use flopwatt::tensor::numel;
use flopwatt::Compile;
use flopwatt::{CompileOptions, Device, Tensor};
use flopwatt_reference::{self as reference, check_nmse, random_range};

/// NMSE bound for device gradients (f32) against f64 central differences (step 1e-5, error
/// ~1e-10 relative): the f32 rounding of a short chain of kernels, the same rule as
/// `reference::NMSE_F32` for long accumulations.
const GRAD_NMSE: f64 = reference::NMSE_F32;

/// Input ranges per input (default [-1, 1)).
type Ranges = Vec<(f32, f32)>;

fn input_data(g: &Graph, seed: u64, ranges: &Ranges) -> Vec<Vec<f32>> {
    g.inputs()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (lo, hi) = ranges.get(i).copied().unwrap_or((-1.0, 1.0));
            random_range(numel(g.shape(*v)), seed * 31 + i as u64, lo, hi)
        })
        .collect()
}

/// Weighted-sum loss of `y`: L = sum(y * R), R a random constant.
fn weighted_loss(g: &mut Graph, y: ValueId, seed: u64) -> ValueId {
    let s = g.shape(y).to_vec();
    let r = g
        .constant("R", random_range(numel(&s), seed ^ 0xabc, -1.0, 1.0), &s)
        .unwrap();
    let p = g.mul(y, r).unwrap();
    g.reduce(p, ReduceKind::Sum, None, false).unwrap()
}

/// Central differences of the scalar output 0 of `g` (evaluated by the f64 reference).
fn finite_differences(g: &Graph, data: &[Vec<f32>]) -> Vec<Vec<f64>> {
    let base: Vec<Vec<f64>> = data.iter().map(|d| reference::to_f64(d)).collect();
    let h = 1e-5;
    let mut out = Vec::new();
    for i in 0..base.len() {
        let mut gi = vec![0.0; base[i].len()];
        for (j, gj) in gi.iter_mut().enumerate() {
            let mut x = base.clone();
            x[i][j] = base[i][j] + h;
            let lp = reference::graph::eval(g, &x)[0][0];
            x[i][j] = base[i][j] - h;
            let lm = reference::graph::eval(g, &x)[0][0];
            *gj = (lp - lm) / (2.0 * h);
        }
        out.push(gi);
    }
    out
}

fn run_grads(dev: &Device, gg: &Graph, data: &[Vec<f32>], opts: CompileOptions) -> Vec<Vec<f32>> {
    let exe = gg.compile_with(dev, opts).expect("compile");
    let ts: Vec<Tensor> = gg
        .inputs()
        .iter()
        .zip(data)
        .map(|(v, d)| Tensor::from_f32(dev, d, gg.shape(*v)).unwrap())
        .collect();
    let refs: Vec<&Tensor> = ts.iter().collect();
    let outs = exe.run(&refs).expect("run");
    outs.iter().map(|t| t.to_f32_vec().unwrap()).collect()
}

/// Checks d(loss)/d(every input) of the graph `g` whose output 0 is the scalar loss.
fn check_loss_graph(dev: &Device, g: &Graph, loss: ValueId, what: &str, seed: u64, r: &Ranges) {
    let wrt = g.inputs();
    let data = input_data(g, seed, r);
    let want = finite_differences(g, &data);
    let gg = autodiff::grad(g, loss, &wrt).expect("grad");
    let got = run_grads(dev, &gg, &data, CompileOptions::default());
    let l = reference::graph::eval(g, &reference::to_f64_all(&data))[0][0];
    assert!(
        (got[0][0] as f64 - l).abs() <= 1e-4 * (1.0 + l.abs()),
        "{what}: loss {} vs reference {l}",
        got[0][0]
    );
    for (i, w) in want.iter().enumerate() {
        let name = format!("{what}: d/d{}", g.node(wrt[i]).label);
        check_nmse(&name, &got[i + 1], w, GRAD_NMSE).unwrap();
    }
}

/// Builds y = f(g) over inputs, differentiates sum(y * R) and checks every input gradient.
fn check(
    what: &str,
    seed: u64,
    ranges: Ranges,
    f: impl Fn(&mut Graph) -> flopwatt::Result<ValueId>,
) {
    let dev = match common::device() {
        Some(d) => d,
        None => return,
    };
    let mut g = Graph::new();
    let y = f(&mut g).expect("build");
    let loss = weighted_loss(&mut g, y, seed);
    g.output(loss).unwrap();
    check_loss_graph(&dev, &g, loss, what, seed, &ranges);
}

#[test]
fn unary_ops() {
    for (k, op) in UnaryOp::samples().into_iter().enumerate() {
        let positive = matches!(
            op,
            UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Rsqrt | UnaryOp::Reciprocal
        );
        let r = if positive { (0.5, 2.0) } else { (-2.0, 2.0) };
        check(&format!("unary {op:?}"), 10 + k as u64, vec![r], |g| {
            let x = g.input("x", &[127])?;
            g.unary(x, op)
        });
    }
}

#[test]
fn binary_ops_with_broadcasting() {
    for (k, op) in BinaryOp::ALL.into_iter().enumerate() {
        let r = if op == BinaryOp::Pow {
            vec![(0.5, 2.0), (-1.5, 1.5)]
        } else if op == BinaryOp::Div {
            vec![(-1.0, 1.0), (0.5, 2.0)]
        } else {
            vec![]
        };
        // b broadcasts over the leading axis and a size-1 middle axis.
        check(&format!("binary {op:?}"), 40 + k as u64, r, |g| {
            let a = g.input("a", &[3, 5, 7])?;
            let b = g.input("b", &[5, 1])?;
            let y = g.binary(a, b, op)?;
            // Comparisons have zero gradient; keep the loss depending on the inputs.
            if op.is_comparison() {
                let t = g.mul(y, a)?;
                g.add(t, b)
            } else {
                Ok(y)
            }
        });
    }
}

#[test]
fn where_select() {
    check("where", 60, vec![], |g| {
        let c = g.input("c", &[4, 1])?;
        let a = g.input("a", &[4, 9])?;
        let b = g.input("b", &[9])?;
        let z = g.scalar(0.0);
        let m = g.binary(c, z, BinaryOp::Gt)?;
        g.where_(m, a, b)
    });
}

#[test]
fn matmul_plain_batched_and_broadcast() {
    check("matmul 2-D", 70, vec![], |g| {
        let a = g.input("a", &[3, 7])?;
        let b = g.input("b", &[7, 5])?;
        g.matmul(a, b)
    });
    check("matmul batched broadcast", 71, vec![], |g| {
        let a = g.input("a", &[2, 3, 1, 5, 7])?;
        let b = g.input("b", &[3, 4, 7, 6])?;
        g.matmul(a, b)
    });
    check("matmul transposed operand", 72, vec![], |g| {
        let a = g.input("a", &[7, 3])?;
        let b = g.input("b", &[7, 5])?;
        let at = g.transpose(a, 0, 1)?;
        g.matmul(at, b)
    });
}

#[test]
fn reductions() {
    for (k, kind) in [
        ReduceKind::Sum,
        ReduceKind::Mean,
        ReduceKind::Max,
        ReduceKind::Min,
    ]
    .into_iter()
    .enumerate()
    {
        check(
            &format!("reduce {kind:?} axis 1"),
            80 + k as u64,
            vec![],
            |g| {
                let x = g.input("x", &[5, 13, 3])?;
                g.reduce(x, kind, Some(&[1]), false)
            },
        );
        check(
            &format!("reduce {kind:?} all"),
            90 + k as u64,
            vec![],
            |g| {
                let x = g.input("x", &[4, 11])?;
                g.reduce(x, kind, Some(&[0, 1]), true)
            },
        );
    }
}

#[test]
fn softmax_and_log_softmax() {
    check("softmax last", 100, vec![(-3.0, 3.0)], |g| {
        let x = g.input("x", &[4, 17])?;
        g.softmax(x, -1)
    });
    check("softmax axis 0", 101, vec![(-3.0, 3.0)], |g| {
        let x = g.input("x", &[5, 3, 2])?;
        g.softmax(x, 0)
    });
    check("log_softmax", 102, vec![(-3.0, 3.0)], |g| {
        let x = g.input("x", &[3, 19])?;
        g.log_softmax(x, 1)
    });
}

#[test]
fn layer_norm_and_rms_norm() {
    check("layer_norm affine", 110, vec![(-2.0, 2.0)], |g| {
        let x = g.input("x", &[3, 2, 11])?;
        let gamma = g.input("gamma", &[2, 11])?;
        let beta = g.input("beta", &[2, 11])?;
        g.layer_norm(x, 2, Some(gamma), Some(beta), 1e-5)
    });
    check("layer_norm plain", 111, vec![(-2.0, 2.0)], |g| {
        let x = g.input("x", &[7, 13])?;
        g.layer_norm(x, 1, None, None, 1e-5)
    });
    check("rms_norm", 112, vec![(-2.0, 2.0)], |g| {
        let x = g.input("x", &[5, 17])?;
        let gamma = g.input("gamma", &[17])?;
        g.rms_norm(x, 1, Some(gamma), 1e-6)
    });
}

#[test]
fn attention_composed_backward() {
    check("attention", 120, vec![], |g| {
        let q = g.input("q", &[2, 2, 5, 4])?;
        let k = g.input("k", &[2, 2, 7, 4])?;
        let v = g.input("v", &[2, 2, 7, 4])?;
        g.attention(q, k, v, false, None)
    });
    check("attention causal gqa", 121, vec![], |g| {
        let q = g.input("q", &[1, 4, 6, 8])?;
        let k = g.input("k", &[1, 2, 6, 8])?;
        let v = g.input("v", &[1, 2, 6, 8])?;
        g.attention(q, k, v, true, Some(0.3))
    });
}

#[test]
fn conv2d_backward() {
    let cases = [
        (
            "conv2d 3x3 pad 1",
            [2, 3, 7, 6],
            [4, 3, 3, 3],
            Conv2dAttrs {
                padding: [1; 4],
                ..Default::default()
            },
        ),
        (
            "conv2d stride 2 dropping rows",
            [2, 2, 9, 8],
            [3, 2, 3, 2],
            Conv2dAttrs {
                stride: [2, 3],
                padding: [1, 0, 0, 1],
                ..Default::default()
            },
        ),
        (
            "conv2d groups dilation",
            [1, 4, 8, 9],
            [6, 2, 3, 3],
            Conv2dAttrs {
                dilation: [2, 1],
                groups: 2,
                padding: [2, 1, 1, 0],
                ..Default::default()
            },
        ),
    ];
    for (k, (what, xs, ws, attrs)) in cases.into_iter().enumerate() {
        check(what, 130 + k as u64, vec![], |g| {
            let x = g.input("x", &xs)?;
            let w = g.input("w", &ws)?;
            let b = g.input("b", &[ws[0]])?;
            g.conv2d(x, w, Some(b), attrs)
        });
    }
}

#[test]
fn layout_ops() {
    check("transpose reshape broadcast", 140, vec![], |g| {
        let x = g.input("x", &[3, 4, 5])?;
        let t = g.transpose(x, 0, 2)?;
        let r = g.reshape(t, &[5, 12])?;
        let b = g.input("b", &[1, 12])?;
        let bb = g.broadcast_to(b, &[5, 12])?;
        let e = g.exp(r)?;
        g.mul(e, bb)
    });
}

#[test]
fn index_ops_concat_slice_pad_and_global_pool() {
    use flopwatt::ops::gather::PadMode;
    check("concat", 150, vec![], |g| {
        let a = g.input("a", &[3, 5, 2])?;
        let b = g.input("b", &[3, 1, 2])?;
        let c = g.input("c", &[3, 7, 2])?;
        let y = g.concat(&[a, b, c], 1)?;
        g.exp(y)
    });
    check("unit-step slice", 151, vec![], |g| {
        let x = g.input("x", &[6, 11])?;
        let s = g.slice(x, &[1, 3], &[1, 1], &[4, 7])?;
        g.mul(s, s)
    });
    check("constant pad", 152, vec![], |g| {
        let x = g.input("x", &[2, 5, 3])?;
        let p = g.pad(x, &[0, 2, 1], &[1, 0, 3], PadMode::Constant(0.5))?;
        g.exp(p)
    });
    check("global average pool", 153, vec![], |g| {
        let x = g.input("x", &[2, 3, 5, 7])?;
        let p = g.global_avg_pool(x)?;
        g.mul(p, p)
    });
}

#[test]
fn mlp_with_losses() {
    // Linear -> gelu -> Linear, MSE; and a classifier with cross-entropy on class ids.
    let dev = match common::device() {
        Some(d) => d,
        None => return,
    };
    let mut g = Graph::new();
    let x = g.input("x", &[9, 5]).unwrap();
    let w1 = g.input("w1", &[5, 8]).unwrap();
    let b1 = g.input("b1", &[8]).unwrap();
    let w2 = g.input("w2", &[8, 3]).unwrap();
    let t = g.input("t", &[9, 3]).unwrap();
    let h = g.matmul(x, w1).unwrap();
    let h = g.add(h, b1).unwrap();
    let h = g.gelu(h).unwrap();
    let y = g.matmul(h, w2).unwrap();
    let loss = autodiff::mse(&mut g, y, t, Reduction::Mean).unwrap();
    g.output(loss).unwrap();
    check_loss_graph(&dev, &g, loss, "mlp mse", 150, &vec![]);

    for (k, probs) in [false, true].into_iter().enumerate() {
        let mut g = Graph::new();
        let logits = g.input("logits", &[7, 5]).unwrap();
        let target = if probs {
            let p = g.input("p", &[7, 5]).unwrap();
            let p = g.softmax(p, -1).unwrap();
            Target::Probabilities(p)
        } else {
            let ids: Vec<f32> = (0..7).map(|i| ((i * 3) % 5) as f32).collect();
            Target::Classes(g.constant("ids", ids, &[7]).unwrap())
        };
        let loss =
            autodiff::cross_entropy_with_logits(&mut g, logits, target, Reduction::Sum).unwrap();
        g.output(loss).unwrap();
        check_loss_graph(
            &dev,
            &g,
            loss,
            "cross-entropy",
            160 + k as u64,
            &vec![(-3.0, 3.0)],
        );
    }
}

#[test]
fn fused_and_unfused_gradients_agree() {
    let dev = match common::device() {
        Some(d) => d,
        None => return,
    };
    let mut g = Graph::new();
    let x = g.input("x", &[6, 10]).unwrap();
    let w = g.input("w", &[10, 4]).unwrap();
    let h = g.matmul(x, w).unwrap();
    let h = g.relu(h).unwrap();
    let s = g.softmax(h, -1).unwrap();
    let loss = weighted_loss(&mut g, s, 7);
    g.output(loss).unwrap();
    let gg = autodiff::grad(&g, loss, &[x, w]).unwrap();
    let data = input_data(&g, 170, &vec![]);
    let a = run_grads(&dev, &gg, &data, CompileOptions::default());
    let b = run_grads(
        &dev,
        &gg,
        &data,
        CompileOptions {
            fusion: false,
            memory_planning: false,
            ..CompileOptions::DEFAULT
        },
    );
    for (ga, gb) in a.iter().zip(&b) {
        let gb64: Vec<f64> = gb.iter().map(|&v| v as f64).collect();
        check_nmse("fused vs unfused", ga, &gb64, GRAD_NMSE).unwrap();
    }
}

#[test]
fn grad_errors() {
    let mut g = Graph::new();
    let x = g.input("x", &[2, 3]).unwrap();
    let e = autodiff::grad(&g, ValueId(9), &[x]).unwrap_err();
    assert!(e.to_string().contains("grad"), "{e}");
    let e = autodiff::mse(&mut g, x, ValueId(0), Reduction::Mean);
    assert!(e.is_ok());
    let y = g.input("y", &[3, 2]).unwrap();
    let e = autodiff::mse(&mut g, x, y, Reduction::Mean).unwrap_err();
    assert!(e.to_string().contains("mse"), "{e}");
    let e = autodiff::cross_entropy_with_logits(&mut g, x, Target::Classes(y), Reduction::Mean)
        .unwrap_err();
    assert!(e.to_string().contains("cross_entropy"), "{e}");
    // A value the loss does not depend on gets a zero gradient.
    let l = g.reduce(x, ReduceKind::Sum, None, false).unwrap();
    let gg = autodiff::grad(&g, l, &[x, y]).unwrap();
    assert_eq!(gg.outputs().len(), 3);
    let _ = Activation::Relu;
}

#[test]
fn scalar_seed_reaches_every_kind_of_consumer() {
    // L = mean(softmax(x w)) + sum(leaky_relu(x, -0.2)): the seed stays a literal through
    // the sum/mean and must be broadcast for softmax and matmul.
    let dev = match common::device() {
        Some(d) => d,
        None => return,
    };
    let mut g = Graph::new();
    let x = g.input("x", &[5, 3]).unwrap();
    let w = g.input("w", &[3, 4]).unwrap();
    let h = g.matmul(x, w).unwrap();
    let s = g.softmax(h, -1).unwrap();
    let s = g.exp(s).unwrap();
    let m = g.reduce(s, ReduceKind::Mean, None, false).unwrap();
    let l = g.activation(x, Activation::LeakyRelu(-0.2)).unwrap();
    let l = g.reduce(l, ReduceKind::Sum, None, false).unwrap();
    let loss = g.add(m, l).unwrap();
    let loss = g.scale(loss, 3.0).unwrap();
    g.output(loss).unwrap();
    check_loss_graph(&dev, &g, loss, "scalar seed", 180, &vec![]);
}

#[test]
fn index_and_pooling_ops() {
    use flopwatt::ops::conv::ConvTranspose2dParams;
    use flopwatt::ops::gather::PadMode;
    check("concat slice pad", 190, vec![], |g| {
        let a = g.input("a", &[2, 3, 5])?;
        let b = g.input("b", &[2, 4, 5])?;
        let c = g.concat(&[a, b], 1)?;
        let s = g.slice(c, &[0, 1, 1], &[1, 1, 1], &[2, 5, 3])?;
        let p = g.pad(s, &[0, 2, 1], &[1, 0, 2], PadMode::Constant(0.5))?;
        g.exp(p)
    });
    check("global average pool", 191, vec![], |g| {
        let x = g.input("x", &[2, 3, 5, 7])?;
        g.global_avg_pool(x)
    });
    check("conv transpose", 192, vec![], |g| {
        let x = g.input("x", &[2, 4, 5, 4])?;
        let w = g.input("w", &[4, 3, 3, 2])?;
        let b = g.input("b", &[6])?;
        g.conv_transpose2d(
            x,
            w,
            Some(b),
            ConvTranspose2dParams {
                stride: [2, 1],
                padding: [1, 0, 0, 1],
                output_padding: [1, 0],
                groups: 2,
                ..Default::default()
            },
        )
    });
}

#[test]
fn pooling_windows() {
    use flopwatt::ops::pool::{Pool2dParams, PoolKind};
    for (k, kind) in [PoolKind::Max, PoolKind::Avg, PoolKind::AvgCountPad]
        .into_iter()
        .enumerate()
    {
        check(&format!("pool2d {kind:?}"), 200 + k as u64, vec![], |g| {
            let x = g.input("x", &[2, 3, 7, 6])?;
            let w = g.input("w", &[3, 3, 1, 1])?;
            // A 1x1 conv first, so the pooled values depend on a parameter too.
            let h = g.conv2d(x, w, None, Conv2dAttrs::default())?;
            g.pool2d(
                h,
                Pool2dParams {
                    kind,
                    kernel: [3, 2],
                    stride: [2, 2],
                    padding: [1, 0, 1, 1],
                    dilation: [1, 1],
                    ceil_mode: true,
                },
            )
        });
    }
}
