//! The workload registry: ids, FLOP and byte counts as docs/workloads.md states them, how to
//! build inputs, and how to check the answer against the f64 reference.

use super::{Prepared, Suite, Workload};
use flopwatt::device::Device;
use flopwatt::error::Result;
use flopwatt::exec::Recorder;
use flopwatt::executable::Compile;
use flopwatt::ops::attention::{encode_attention, encode_attention_composed, AttentionParams};
use flopwatt::ops::conv::{encode_conv2d, Conv2dParams};
use flopwatt::ops::elementwise::{encode_fused, BinaryOp, Expr, UnaryOp};
use std::rc::Rc;

use flopwatt::executable::CompileOptions;
use flopwatt::graph::Graph;
use flopwatt::ops::matmul::{encode_matmul, Epilogue};
use flopwatt::ops::norm::{encode_layer_norm, encode_softmax};
use flopwatt::ops::reduce::{encode_reduce, ReduceOp};
use flopwatt::ops::Activation;
use flopwatt::tensor::Tensor;
use flopwatt_reference::{
    check_close, check_nmse, random, EXACT_F32, NMSE_F32, TRANSCENDENTAL_F32,
};

/// A [`Prepared`] made of closures.
struct Closures<E, O, C> {
    encode: E,
    outputs: O,
    check: C,
    flops: u64,
    bytes: u64,
}

impl<E, O, C> Prepared for Closures<E, O, C>
where
    E: Fn(&mut Recorder) -> Result<()>,
    O: Fn(&Device) -> Result<Vec<Tensor>>,
    C: Fn(&[Vec<f32>]) -> Result<()>,
{
    fn encode(&self, rec: &mut Recorder) -> Result<()> {
        (self.encode)(rec)
    }
    fn outputs(&self, dev: &Device) -> Result<Vec<Tensor>> {
        (self.outputs)(dev)
    }
    fn check(&self, got: &[Vec<f32>]) -> Result<()> {
        (self.check)(got)
    }
    fn flops(&self) -> u64 {
        self.flops
    }
    fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A [`Prepared`] whose timed runs are its own (`run`): a compiled graph's replay, or bare
/// dispatches; the rest is `inner`'s.
struct OwnRuns<R> {
    inner: Box<dyn Prepared>,
    // The browser times through `encode` (a page cannot block on a run).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    run: R,
}

impl<R> Prepared for OwnRuns<R>
where
    R: Fn() -> Result<flopwatt::profile::RunProfile>,
{
    fn encode(&self, rec: &mut Recorder) -> Result<()> {
        self.inner.encode(rec)
    }
    fn outputs(&self, dev: &Device) -> Result<Vec<Tensor>> {
        self.inner.outputs(dev)
    }
    fn check(&self, got: &[Vec<f32>]) -> Result<()> {
        self.inner.check(got)
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn run_profiled(&self) -> Option<Result<flopwatt::profile::RunProfile>> {
        Some((self.run)())
    }
    fn flops(&self) -> u64 {
        self.inner.flops()
    }
    fn bytes(&self) -> u64 {
        self.inner.bytes()
    }
}

/// A workload's run (`encode`), its checked run (`outputs`) and the f64 comparison of the
/// downloaded outputs (`check`): apart, so that the browser can await the download between.
fn prepared<E, O, C>(flops: u64, bytes: u64, encode: E, outputs: O, check: C) -> Box<dyn Prepared>
where
    E: Fn(&mut Recorder) -> Result<()> + 'static,
    O: Fn(&Device) -> Result<Vec<Tensor>> + 'static,
    C: Fn(&[Vec<f32>]) -> Result<()> + 'static,
{
    Box::new(Closures {
        encode,
        outputs,
        check,
        flops,
        bytes,
    })
}

fn workload(
    id: impl Into<String>,
    variant: Option<&'static str>,
    suite: Suite,
    prepare: impl Fn(&Device) -> Result<Box<dyn Prepared>> + Send + Sync + 'static,
) -> Workload {
    Workload {
        id: id.into(),
        variant,
        suite,
        prepare: Box::new(prepare),
    }
}

/// Runs `encode` once on its own submit and returns the tensor it wrote, to be downloaded.
fn run_for_check(
    dev: &Device,
    encode: impl FnOnce(&mut Recorder) -> Result<Tensor>,
) -> Result<Vec<Tensor>> {
    let mut rec = Recorder::new(dev);
    let out = encode(&mut rec)?;
    rec.submit(false)?;
    Ok(vec![out])
}

/// Rows checked against the reference for large outputs: every row depends on its own
/// indices, so indexing bugs show in any sample; 16 spread rows keep an f64 check of a
/// 2048-cube matmul under a second.
fn sample_rows(m: usize) -> Vec<usize> {
    if m <= 256 {
        return (0..m).collect();
    }
    let mut rows: Vec<usize> = (0..16).map(|i| i * (m - 1) / 15).collect();
    rows.extend([1, m / 2 + 1, m - 2]);
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// `C = A B`, square f32, FLOPs 2 n^3.
fn matmul_square(n: usize, suite: Suite) -> Workload {
    workload(format!("matmul-{n}"), None, suite, move |dev| {
        let a = random(n * n, 11);
        let b = random(n * n, 12);
        let ta = Tensor::from_f32(dev, &a, &[n, n])?;
        let tb = Tensor::from_f32(dev, &b, &[n, n])?;
        let (va, vb) = (ta.clone(), tb.clone());
        let flops = 2 * (n as u64).pow(3);
        let bytes = 3 * (n * n * 4) as u64;
        Ok(prepared(
            flops,
            bytes,
            move |rec| {
                let c = encode_matmul(rec, &ta, &tb, &Epilogue::default(), None)?;
                rec.keep_alive(c);
                Ok(())
            },
            move |dev| {
                run_for_check(dev, |rec| {
                    encode_matmul(rec, &va, &vb, &Epilogue::default(), None)
                })
            },
            move |got: &[Vec<f32>]| {
                let got = &got[0];
                let rows = sample_rows(n);
                let mut g = Vec::with_capacity(rows.len() * n);
                let mut want = Vec::with_capacity(rows.len() * n);
                for &i in &rows {
                    let mut acc = vec![0f64; n];
                    for kk in 0..n {
                        let aik = a[i * n + kk] as f64;
                        for (j, w) in acc.iter_mut().enumerate() {
                            *w += aik * b[kk * n + j] as f64;
                        }
                    }
                    want.extend(acc);
                    g.extend_from_slice(&got[i * n..(i + 1) * n]);
                }
                check_nmse(&format!("matmul-{n}"), &g, &want, NMSE_F32)
            },
        ))
    })
}

/// `sum` over the last axis of [4096, 4096]; FLOPs n.
fn sum_4096() -> Workload {
    workload("sum-4096", None, Suite::Quick, |dev| {
        let (r, c) = (4096usize, 4096usize);
        let x = random(r * c, 21);
        let t = Tensor::from_f32(dev, &x, &[r, c])?;
        let tv = t.clone();
        Ok(prepared(
            (r * c) as u64,
            ((r * c + r) * 4) as u64,
            move |rec| {
                let s = encode_reduce(rec, &t, ReduceOp::Sum, Some(&[-1]), false)?;
                rec.keep_alive(s);
                Ok(())
            },
            move |dev| {
                run_for_check(dev, |rec| {
                    encode_reduce(rec, &tv, ReduceOp::Sum, Some(&[-1]), false)
                })
            },
            move |got: &[Vec<f32>]| {
                let got = &got[0];
                let want: Vec<f64> = x
                    .chunks(c)
                    .map(|row| row.iter().map(|&v| v as f64).sum())
                    .collect();
                check_nmse("sum-4096", got, &want, NMSE_F32)
            },
        ))
    })
}

/// `y = relu(x * 2 + 1)` on 16M floats; FLOPs 3n. Fused: one generated kernel; unfused: one
/// kernel per op with the intermediates in device memory.
fn chain_16m(fused: bool) -> Workload {
    let variant = if fused { "fused" } else { "unfused" };
    workload("chain-16m", Some(variant), Suite::Quick, move |dev| {
        let n = 16usize << 20;
        let x = random(n, 31);
        let t = Tensor::from_f32(dev, &x, &[n])?;
        let tv = t.clone();
        let mul = Expr::binary(BinaryOp::Mul, Expr::input(0), Expr::Const(2.0));
        let add = Expr::binary(BinaryOp::Add, Expr::input(0), Expr::Const(1.0));
        let relu = Expr::input(0).unary(UnaryOp::Act(Activation::Relu));
        let chain = Expr::binary(BinaryOp::Add, mul.clone(), Expr::Const(1.0))
            .unary(UnaryOp::Act(Activation::Relu));
        let encode = move |rec: &mut Recorder, x: &Tensor| -> Result<Tensor> {
            if fused {
                encode_fused(rec, &[x], &chain)
            } else {
                let a = encode_fused(rec, &[x], &mul)?;
                let b = encode_fused(rec, &[&a], &add)?;
                rec.keep_alive(a);
                let c = encode_fused(rec, &[&b], &relu)?;
                rec.keep_alive(b);
                Ok(c)
            }
        };
        let enc2 = encode.clone();
        // Bytes as the fused kernel needs them: x read once, y written once.
        Ok(prepared(
            3 * n as u64,
            (2 * n * 4) as u64,
            move |rec| {
                let y = encode(rec, &t)?;
                rec.keep_alive(y);
                Ok(())
            },
            move |dev| run_for_check(dev, |rec| enc2(rec, &tv)),
            move |got: &[Vec<f32>]| {
                let got = &got[0];
                let want: Vec<f64> = x.iter().map(|&v| (v as f64 * 2.0 + 1.0).max(0.0)).collect();
                check_close("chain-16m", got, &want, EXACT_F32)
            },
        ))
    })
}

/// Softmax or layernorm over the last axis of [4096, 4096]; FLOPs 5n and 8n.
fn norm_4096(layernorm: bool) -> Workload {
    let id = if layernorm {
        "layernorm-4096"
    } else {
        "softmax-4096"
    };
    workload(id, None, Suite::Quick, move |dev| {
        let (r, c) = (4096usize, 4096usize);
        let x = flopwatt_reference::random_range(r * c, 41, -4.0, 4.0);
        let g = flopwatt_reference::random_range(c, 42, 0.5, 1.5);
        let b = random(c, 43);
        let t = Tensor::from_f32(dev, &x, &[r, c])?;
        let tg = Tensor::from_f32(dev, &g, &[c])?;
        let tb = Tensor::from_f32(dev, &b, &[c])?;
        let encode = move |rec: &mut Recorder| -> Result<Tensor> {
            if layernorm {
                encode_layer_norm(rec, &t, 1, Some(&tg), Some(&tb), 1e-5)
            } else {
                encode_softmax(rec, &t, -1, false)
            }
        };
        let enc2 = encode.clone();
        let n = (r * c) as u64;
        let params = if layernorm { 2 * c as u64 } else { 0 };
        Ok(prepared(
            if layernorm { 8 * n } else { 5 * n },
            (2 * n + params) * 4,
            move |rec| {
                let y = encode(rec)?;
                rec.keep_alive(y);
                Ok(())
            },
            move |dev| run_for_check(dev, |rec| enc2(rec)),
            move |got: &[Vec<f32>]| {
                let got = &got[0];
                let want = if layernorm {
                    flopwatt_reference::norm::layer_norm(&x, c, Some(&g), Some(&b), 1e-5)
                } else {
                    flopwatt_reference::norm::softmax(&x, &[r, c], 1, false)
                };
                check_close(id, got, &want, TRANSCENDENTAL_F32)
            },
        ))
    })
}

/// ResNet's 3x3 stage: input [8, 64, 56, 56], weight [64, 64, 3, 3], stride 1, pad 1;
/// FLOPs 2 N Cout H W Cin 9.
fn conv2d_resnet() -> Workload {
    workload("conv2d-resnet", None, Suite::Quick, |dev| {
        let xs = [8usize, 64, 56, 56];
        let ws = [64usize, 64, 3, 3];
        let x = random(xs.iter().product(), 51);
        let w = random(ws.iter().product(), 52);
        let tx = Tensor::from_f32(dev, &x, &xs)?;
        let tw = Tensor::from_f32(dev, &w, &ws)?;
        let (vx, vw) = (tx.clone(), tw.clone());
        let p = Conv2dParams {
            padding: [1; 4],
            ..Conv2dParams::default()
        };
        let flops = 2 * 8 * 64 * 56 * 56 * 64 * 9u64;
        let bytes = ((x.len() + w.len() + 8 * 64 * 56 * 56) * 4) as u64;
        Ok(prepared(
            flops,
            bytes,
            move |rec| {
                let y = encode_conv2d(rec, &tx, &tw, None, &p)?;
                rec.keep_alive(y);
                Ok(())
            },
            move |dev| run_for_check(dev, |rec| encode_conv2d(rec, &vx, &vw, None, &p)),
            move |got: &[Vec<f32>]| {
                let got = &got[0];
                let (want, _) = flopwatt_reference::conv::conv2d(
                    &x,
                    xs,
                    &w,
                    ws,
                    None,
                    [1, 1],
                    [1; 4],
                    [1, 1],
                    1,
                    Activation::None,
                );
                check_nmse("conv2d-resnet", got, &want, NMSE_F32)
            },
        ))
    })
}

/// Attention over [1, 8, seq, 64]; FLOPs 4 b h s s d (full, also when causal). `fused`:
/// the one-kernel online-softmax attention; unfused: scores, softmax, probabilities x V with
/// the score matrix in device memory.
fn attention(seq: usize, causal: bool, variant: Option<&'static str>, suite: Suite) -> Workload {
    let id = if causal {
        format!("attention-s{seq}-causal")
    } else {
        format!("attention-s{seq}")
    };
    let label = id.clone();
    let composed = variant == Some("unfused");
    workload(id, variant, suite, move |dev| {
        let (b, h, d) = (1usize, 8usize, 64usize);
        let shape = [b, h, seq, d];
        let n = b * h * seq * d;
        let (q, k, v) = (random(n, 61), random(n, 62), random(n, 63));
        let tq = Tensor::from_f32(dev, &q, &shape)?;
        let tk = Tensor::from_f32(dev, &k, &shape)?;
        let tv = Tensor::from_f32(dev, &v, &shape)?;
        let p = AttentionParams {
            causal,
            ..AttentionParams::default()
        };
        let encode = move |rec: &mut Recorder| -> Result<Tensor> {
            if composed {
                encode_attention_composed(rec, &tq, &tk, &tv, causal).map(|(o, _)| o)
            } else {
                encode_attention(rec, &tq, &tk, &tv, &p)
            }
        };
        let enc2 = encode.clone();
        let flops = 4 * (b * h * seq * seq * d) as u64;
        let label = label.clone();
        Ok(prepared(
            flops,
            (4 * n * 4) as u64,
            move |rec| {
                let o = encode(rec)?;
                rec.keep_alive(o);
                Ok(())
            },
            move |dev| run_for_check(dev, |rec| enc2(rec)),
            move |got: &[Vec<f32>]| {
                let got = &got[0];
                let want = flopwatt_reference::attention::attention(
                    &q,
                    &k,
                    &v,
                    [b, h, h, seq, seq, d],
                    1.0 / (d as f64).sqrt(),
                    causal,
                    &|_, _, _, _| Some(0.0),
                );
                check_nmse(&label, got, &want, NMSE_F32)
            },
        ))
    })
}

/// A graph and the data of its inputs.
pub type GraphWithData = (Graph, Vec<Vec<f32>>);

/// A graph workload compiled with fusion on (`fused`) or off (`unfused`), memory planning on.
/// FLOPs are the sum over the graph's ops (the unfused dispatches' stated FLOPs, the same for
/// both variants); bytes are what the graph must read and write at least: inputs, weights and
/// outputs once each.
fn graph_workload(
    id: &'static str,
    fused: bool,
    suite: Suite,
    build: fn() -> Result<GraphWithData>,
) -> Workload {
    let variant = if fused { "fused" } else { "unfused" };
    graph_workload_as(id, Some(variant), fused, true, suite, build)
}

/// [`graph_workload`] with an explicit variant name. `replay`: timed runs are the
/// executable's own (`run_profiled`: it replays what it built at compile time), so wall time
/// shows the host cost a program calling `run` pays; else every run is recorded afresh
/// (`Executable::encode`, what every run cost before replay).
fn graph_workload_as(
    id: &'static str,
    variant: Option<&'static str>,
    fused: bool,
    replay: bool,
    suite: Suite,
    build: fn() -> Result<GraphWithData>,
) -> Workload {
    workload(id, variant, suite, move |dev| {
        let (graph, data) = build()?;
        let options = CompileOptions {
            fusion: fused,
            memory_planning: true,
            ..CompileOptions::DEFAULT
        };
        let exe = Rc::new(graph.compile_with(dev, options)?);
        let inputs: Vec<Tensor> = graph
            .inputs()
            .iter()
            .zip(&data)
            .map(|(v, d)| match graph.dtype(*v) {
                // Integer inputs (token ids, masks) are carried exactly in the f32 data.
                flopwatt::tensor::DType::I32 => {
                    let ints: Vec<i32> = d.iter().map(|&x| x as i32).collect();
                    Tensor::from_i32(dev, &ints, graph.shape(*v))
                }
                _ => Tensor::from_f32(dev, d, graph.shape(*v)),
            })
            .collect::<Result<_>>()?;
        let ops_flops: u64 = {
            let unfused = graph.compile_with(
                dev,
                CompileOptions {
                    fusion: false,
                    memory_planning: true,
                    ..CompileOptions::DEFAULT
                },
            )?;
            let mut rec = Recorder::new(dev);
            let refs: Vec<&Tensor> = inputs.iter().collect();
            unfused.encode(&mut rec, &refs)?;
            rec.dispatches().iter().map(|d| d.cost.flops).sum()
        };
        let out_bytes: usize = graph
            .outputs()
            .iter()
            .map(|o| flopwatt::tensor::numel(graph.shape(*o)) * 4)
            .sum();
        let bytes = (data.iter().map(Vec::len).sum::<usize>() * 4) as u64
            + exe.constant_bytes()
            + out_bytes as u64;
        let (e1, i1) = (exe.clone(), inputs.clone());
        let (e2, i2) = (exe.clone(), inputs.clone());
        let inner = prepared(
            ops_flops,
            bytes,
            move |rec| {
                let refs: Vec<&Tensor> = i1.iter().collect();
                for o in e1.encode(rec, &refs)? {
                    rec.keep_alive(o);
                }
                Ok(())
            },
            move |_dev| {
                let refs: Vec<&Tensor> = inputs.iter().collect();
                exe.run(&refs)
            },
            move |got: &[Vec<f32>]| {
                let data64: Vec<Vec<f64>> =
                    data.iter().map(|d| flopwatt_reference::to_f64(d)).collect();
                let want = flopwatt_reference::graph::eval(&graph, &data64);
                for (g, w) in got.iter().zip(&want) {
                    check_nmse(id, g, w, NMSE_F32)?;
                }
                Ok(())
            },
        );
        let run = move || {
            let refs: Vec<&Tensor> = i2.iter().collect();
            e2.run_profiled(&refs).map(|(_, profile)| profile)
        };
        if !replay {
            return Ok(inner);
        }
        Ok(Box::new(OwnRuns { inner, run }) as Box<dyn Prepared>)
    })
}

/// Steps of the `dispatch-overhead` graph.
const OVERHEAD_STEPS: usize = 256;

/// 256 dependent elementwise steps on 64 floats, compiled without fusion: 256 tiny
/// dispatches whose time is nearly all host and driver (the `dispatch-overhead` workload).
fn dispatch_overhead_graph() -> Result<GraphWithData> {
    let mut g = Graph::new();
    let x = g.input("x", &[64])?;
    let mut y = x;
    for i in 0..OVERHEAD_STEPS {
        y = if i % 2 == 0 {
            g.scale(y, 0.5)?
        } else {
            g.add_scalar(y, 1.0)?
        };
    }
    g.output(y)?;
    Ok((g, vec![random(64, 71)]))
}

#[cfg(not(target_arch = "wasm32"))]
/// The floor beside `dispatch-overhead`: as many one-invocation dispatches, recorded once
/// and submitted again and again, with nothing of flopwatt's between them.
fn dispatch_overhead_bare() -> Workload {
    workload("dispatch-overhead-bare", None, Suite::Quick, move |dev| {
        let bare = Rc::new(flopwatt::exec::BareDispatches::new(dev, OVERHEAD_STEPS)?);
        let inner = prepared(0, 0, |_| Ok(()), |_| Ok(Vec::new()), |_| Ok(()));
        let run = move || bare.run_profiled();
        Ok(Box::new(OwnRuns { inner, run }) as Box<dyn Prepared>)
    })
}

fn mlp_epilogue_graph() -> Result<GraphWithData> {
    flopwatt::graph::models::mlp_epilogue(2048, 1024, 1024)
}

/// `sum(x * x)` over 16M floats (a full reduction): fused, the square is the reduction's
/// prologue and is never written; unfused, a 64 MiB intermediate is written and read back.
fn sumsq_16m_graph() -> Result<GraphWithData> {
    let n = 16usize << 20;
    let mut g = Graph::new();
    let x = g.input("x", &[n])?;
    let sq = g.mul(x, x)?;
    let s = g.reduce(sq, flopwatt::graph::ReduceKind::Sum, None, false)?;
    g.output(s)?;
    Ok((g, vec![random(n, 41)]))
}

/// `x - mean(x, -1, keepdim)` on [4096, 4096] (centring): fused, each row's mean stays in a
/// register and the row is written centred by the same kernel; unfused, a mean pass and a
/// broadcast subtraction.
fn center_4096_graph() -> Result<GraphWithData> {
    let mut g = Graph::new();
    let x = g.input("x", &[4096, 4096])?;
    let m = g.reduce(x, flopwatt::graph::ReduceKind::Mean, Some(&[-1]), true)?;
    let c = g.sub(x, m)?;
    g.output(c)?;
    Ok((g, vec![random(4096 * 4096, 42)]))
}

fn transformer_block_graph() -> Result<GraphWithData> {
    flopwatt::graph::models::transformer_block(512, 8, 256, 4)
}

/// Batch and sequence length of the `minilm-l3` workload.
pub const MINILM_SHAPE: [usize; 2] = [2, 16];

/// The MiniLM-L3 encoder (see [`flopwatt::onnx::minilm_path`]) lowered for [`MINILM_SHAPE`], with
/// fixed token ids (`[CLS]` ... `[SEP]`, the second sentence padded and masked).
pub fn minilm_graph() -> Result<GraphWithData> {
    let path = flopwatt::onnx::find_minilm().ok_or_else(|| {
        flopwatt::error::Error::invalid(
            "minilm-l3",
            format!(
                "model not found at {}",
                flopwatt::onnx::minilm_path().display()
            ),
        )
    })?;
    let mut model = flopwatt::onnx::load(&path)?;
    let [b, s] = MINILM_SHAPE;
    let shapes = ["input_ids", "attention_mask"]
        .iter()
        .map(|n| (n.to_string(), vec![b, s]))
        .collect();
    model.specialize(&shapes)?;
    let low = flopwatt::onnx::to_graph::to_graph(&model)?;
    let mut ids = vec![0f32; b * s];
    let mut mask = vec![0f32; b * s];
    for r in 0..b {
        let len = s - r * (s / 3);
        for t in 0..len {
            ids[r * s + t] = match t {
                0 => 101.0,
                _ if t + 1 == len => 102.0,
                _ => (1000 + (r * 7919 + t * 104_729) % 28_000) as f32,
            };
            mask[r * s + t] = 1.0;
        }
    }
    let data = low
        .inputs
        .iter()
        .map(|n| {
            if n == "attention_mask" {
                mask.clone()
            } else {
                ids.clone()
            }
        })
        .collect();
    Ok((low.graph, data))
}

/// A model, one batch (the graph's non-parameter inputs, in order) and its optimiser.
type TrainSetup = (
    flopwatt::optim::data::Model,
    Vec<Vec<f32>>,
    flopwatt::optim::Optimizer,
);

/// One training step (forward, backward, optimiser update; one submit) of a model. FLOPs
/// are the sum of the step's dispatches' stated FLOPs; bytes are the batch read once and
/// the parameters and optimiser state read and written once. Verified against the f64
/// reference: the loss, and the parameters after one step from the reference gradient graph
/// and the reference optimiser.
fn train_step(id: &'static str, suite: Suite, build: fn() -> Result<TrainSetup>) -> Workload {
    use flopwatt::optim::Trainer;
    use std::cell::RefCell;
    workload(id, None, suite, move |dev| {
        let (model, batch, opt) = build()?;
        let trainer = Trainer::new(
            dev,
            &model.graph,
            model.loss,
            &model.params,
            opt,
            CompileOptions::default(),
        )?;
        let data_vals: Vec<_> = model
            .graph
            .inputs()
            .into_iter()
            .filter(|v| !model.params.iter().any(|p| p.0 == *v))
            .collect();
        let tensors: Vec<Tensor> = data_vals
            .iter()
            .zip(&batch)
            .map(|(v, d)| Tensor::from_f32(dev, d, model.graph.shape(*v)))
            .collect::<Result<_>>()?;
        let trainer = Rc::new(RefCell::new(trainer));
        let flops: u64 = {
            let mut rec = Recorder::new(dev);
            let refs: Vec<&Tensor> = tensors.iter().collect();
            let mut probe = Trainer::new(
                dev,
                &model.graph,
                model.loss,
                &model.params,
                opt,
                CompileOptions::default(),
            )?;
            probe.encode_step(&mut rec, &refs)?;
            rec.dispatches().iter().map(|d| d.cost.flops).sum()
        };
        let param_elems: usize = model.params.iter().map(|p| p.1.len()).sum();
        let bytes = 4
            * (batch.iter().map(Vec::len).sum::<usize>()
                + 2 * param_elems * (1 + opt.state_tensors())) as u64;
        let t1 = trainer.clone();
        let ts1 = tensors.clone();
        Ok(prepared(
            flops,
            bytes,
            move |rec| {
                let refs: Vec<&Tensor> = ts1.iter().collect();
                let loss = t1.borrow_mut().encode_step(rec, &refs)?;
                rec.keep_alive(loss);
                Ok(())
            },
            {
                let model = model.clone();
                move |dev| {
                    // A fresh trainer: one step from the initial parameters.
                    let mut tr = Trainer::new(
                        dev,
                        &model.graph,
                        model.loss,
                        &model.params,
                        opt,
                        CompileOptions::default(),
                    )?;
                    let refs: Vec<&Tensor> = tensors.iter().collect();
                    let mut out = vec![tr.step(&refs)?];
                    out.extend(tr.params().iter().cloned());
                    Ok(out)
                }
            },
            move |got| {
                let wrt: Vec<_> = model.params.iter().map(|p| p.0).collect();
                let gg = flopwatt::autodiff::grad(&model.graph, model.loss, &wrt)?;
                let mut batch_it = batch.iter();
                let inputs64: Vec<Vec<f64>> = model
                    .graph
                    .inputs()
                    .iter()
                    .map(|v| match model.params.iter().find(|p| p.0 == *v) {
                        Some(p) => flopwatt_reference::to_f64(&p.1),
                        None => flopwatt_reference::to_f64(batch_it.next().expect("batch")),
                    })
                    .collect();
                let want = flopwatt_reference::graph::eval(&gg, &inputs64);
                check_close(&format!("{id} loss"), &got[0], &want[0], TRANSCENDENTAL_F32)?;
                let r = flopwatt_reference::train::OptimRef::from(opt);
                for (i, (p, got)) in model.params.iter().zip(&got[1..]).enumerate() {
                    let mut w = flopwatt_reference::to_f64(&p.1);
                    let mut st = vec![vec![0.0; w.len()]; opt.state_tensors()];
                    r.step(&mut w, &want[i + 1], &mut st, 1);
                    check_nmse(&format!("{id} parameter {i}"), got, &w, NMSE_F32)?;
                }
                Ok(())
            },
        ))
    })
}

fn train_mlp_setup() -> Result<TrainSetup> {
    use flopwatt::optim::data::{mlp_regression, synthetic_regression};
    let (x, y) = synthetic_regression(64, 10, 20, 10, 0.05, 7);
    let model = mlp_regression(64, 10, 20, 10, 3)?;
    Ok((model, vec![x, y], flopwatt::optim::Optimizer::sgd(0.01)))
}

fn train_cnn_setup() -> Result<TrainSetup> {
    use flopwatt::optim::data::{cnn_classifier, synthetic_images};
    let (x, y) = synthetic_images(32, 3, 16, 10, 5);
    let model = cnn_classifier(32, 3, 16, 16, 32, 10, 2)?;
    Ok((model, vec![x, y], flopwatt::optim::Optimizer::adam(1e-3)))
}

/// Every workload, in report order.
pub fn all() -> Vec<Workload> {
    let mut v = vec![
        matmul_square(256, Suite::Standard),
        matmul_square(512, Suite::Standard),
        matmul_square(1024, Suite::Quick),
        matmul_square(2048, Suite::Standard),
        conv2d_resnet(),
        attention(512, false, None, Suite::Quick),
        attention(1024, true, Some("fused"), Suite::Standard),
        attention(1024, true, Some("unfused"), Suite::Standard),
        sum_4096(),
        norm_4096(false),
        norm_4096(true),
        chain_16m(true),
        chain_16m(false),
        graph_workload("mlp-epilogue", true, Suite::Standard, mlp_epilogue_graph),
        graph_workload("mlp-epilogue", false, Suite::Standard, mlp_epilogue_graph),
        graph_workload("sumsq-16m", true, Suite::Standard, sumsq_16m_graph),
        graph_workload("sumsq-16m", false, Suite::Standard, sumsq_16m_graph),
        graph_workload("center-4096", true, Suite::Standard, center_4096_graph),
        graph_workload("center-4096", false, Suite::Standard, center_4096_graph),
        graph_workload(
            "transformer-block",
            true,
            Suite::Standard,
            transformer_block_graph,
        ),
        graph_workload(
            "transformer-block",
            false,
            Suite::Standard,
            transformer_block_graph,
        ),
    ];
    for (variant, replay) in [("replayed", true), ("recorded", false)] {
        v.push(graph_workload_as(
            "dispatch-overhead",
            Some(variant),
            false,
            replay,
            Suite::Quick,
            dispatch_overhead_graph,
        ));
    }
    #[cfg(not(target_arch = "wasm32"))]
    v.push(dispatch_overhead_bare());
    v.push(train_step("train-mlp-step", Suite::Quick, train_mlp_setup));
    v.push(train_step(
        "train-cnn-step",
        Suite::Standard,
        train_cnn_setup,
    ));
    // Only where the model file is present (it is not part of the repository).
    if flopwatt::onnx::find_minilm().is_some() {
        for fused in [true, false] {
            v.push(graph_workload(
                "minilm-l3",
                fused,
                Suite::Standard,
                minilm_graph,
            ));
        }
    }
    for n in [128, 384, 768, 1536, 3072] {
        v.push(matmul_square(n, Suite::Full));
    }
    v
}
