//! The workload registry: ids, FLOP and byte counts as design.md section 7 states them, how to
//! build inputs, and how to check the answer against the f64 reference.

use super::{Prepared, Suite, Workload};
use crate::device::Device;
use crate::error::Result;
use crate::exec::Recorder;
use crate::ops::elementwise::{encode_fused, BinaryOp, Expr, UnaryOp};
use crate::ops::matmul::{encode_matmul, Epilogue};
use crate::ops::reduce::{encode_reduce, ReduceOp};
use crate::ops::Activation;
use crate::reference::{check_close, check_nmse, random, EXACT_F32, NMSE_F32};
use crate::tensor::Tensor;

/// A [`Prepared`] made of closures.
struct Closures<E, V> {
    encode: E,
    verify: V,
    flops: u64,
    bytes: u64,
}

impl<E, V> Prepared for Closures<E, V>
where
    E: Fn(&mut Recorder) -> Result<()>,
    V: Fn(&Device) -> Result<()>,
{
    fn encode(&self, rec: &mut Recorder) -> Result<()> {
        (self.encode)(rec)
    }
    fn verify(&self, dev: &Device) -> Result<()> {
        (self.verify)(dev)
    }
    fn flops(&self) -> u64 {
        self.flops
    }
    fn bytes(&self) -> u64 {
        self.bytes
    }
}

fn prepared<E, V>(flops: u64, bytes: u64, encode: E, verify: V) -> Box<dyn Prepared>
where
    E: Fn(&mut Recorder) -> Result<()> + 'static,
    V: Fn(&Device) -> Result<()> + 'static,
{
    Box::new(Closures {
        encode,
        verify,
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

/// Runs `encode` once on its own submit and downloads the tensor it returns.
fn run_and_read(dev: &Device, encode: impl FnOnce(&mut Recorder) -> Result<Tensor>) -> Result<Vec<f32>> {
    let mut rec = Recorder::new(dev);
    let out = encode(&mut rec)?;
    rec.submit(false)?;
    out.to_f32_vec()
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
                let got = run_and_read(dev, |rec| encode_matmul(rec, &va, &vb, &Epilogue::default(), None))?;
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
                let got = run_and_read(dev, |rec| encode_reduce(rec, &tv, ReduceOp::Sum, Some(&[-1]), false))?;
                let want: Vec<f64> = x.chunks(c).map(|row| row.iter().map(|&v| v as f64).sum()).collect();
                check_nmse("sum-4096", &got, &want, NMSE_F32)
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
        let chain = Expr::binary(BinaryOp::Add, mul.clone(), Expr::Const(1.0)).unary(UnaryOp::Act(Activation::Relu));
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
            move |dev| {
                let got = run_and_read(dev, |rec| enc2(rec, &tv))?;
                let want: Vec<f64> = x.iter().map(|&v| (v as f64 * 2.0 + 1.0).max(0.0)).collect();
                check_close("chain-16m", &got, &want, EXACT_F32)
            },
        ))
    })
}

/// Every workload, in report order.
pub fn all() -> Vec<Workload> {
    let mut v = vec![
        matmul_square(256, Suite::Standard),
        matmul_square(512, Suite::Standard),
        matmul_square(1024, Suite::Quick),
        matmul_square(2048, Suite::Standard),
        sum_4096(),
        chain_16m(true),
        chain_16m(false),
    ];
    for n in [128, 384, 768, 1536, 3072] {
        v.push(matmul_square(n, Suite::Full));
    }
    v
}
