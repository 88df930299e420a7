//! Elementwise benchmarks.
//!
//! `chain-16m`: y = relu(x * 2 + 1) on 16M f32, fused (one generated kernel) against unfused
//! (three single-op kernels recorded into one submit). Each iteration records, submits and
//! waits, so the time includes the ~50 us per-dispatch overhead that fusion saves.
//! `chain-16m/fused-linear` and `chain-16m/fused-strided` force the other layouts of the same
//! kernel, to show what the vec4 fast path buys; `chain-16m/fused-other-class` forces the
//! kernel variant of the other adapter class (on lavapipe: the GPU's `if` guard instead of
//! the clamped index, see `ops::elementwise::Bounds`).

use criterion::{criterion_group, criterion_main, Criterion};
use flopwatt::ops::elementwise::{self as ew, Expr, Layout, UnaryOp};
use flopwatt::ops::Activation;
use flopwatt::{AdapterClass, Device, Recorder, Tensor};
use flopwatt_reference as reference;

const N: usize = 16 * 1024 * 1024;

fn chain() -> Expr {
    (Expr::input(0) * Expr::Const(2.0) + Expr::Const(1.0)).unary(UnaryOp::Act(Activation::Relu))
}

fn fused(dev: &Device, x: &Tensor, layout: Option<Layout>, timed: bool) -> Option<f64> {
    fused_class(dev, x, layout, None, timed)
}

fn fused_class(
    dev: &Device,
    x: &Tensor,
    layout: Option<Layout>,
    class: Option<AdapterClass>,
    timed: bool,
) -> Option<f64> {
    let mut rec = Recorder::new(dev);
    let y = ew::encode_fused_variant(&mut rec, &[x], &chain(), layout, class).expect("fused");
    let p = rec.submit(timed).expect("submit");
    drop(y);
    p.map(|p| p.dispatches.iter().map(|r| r.gpu_ns).sum::<f64>() / 1e6)
}

fn unfused(dev: &Device, x: &Tensor, two: &Tensor, one: &Tensor, timed: bool) -> Option<f64> {
    let mut rec = Recorder::new(dev);
    let a = ew::encode_mul(&mut rec, x, two).expect("mul");
    let b = ew::encode_add(&mut rec, &a, one).expect("add");
    let c = ew::encode_unary(&mut rec, &b, UnaryOp::Act(Activation::Relu)).expect("relu");
    let p = rec.submit(timed).expect("submit");
    drop((a, b, c));
    p.map(|p| p.dispatches.iter().map(|r| r.gpu_ns).sum::<f64>() / 1e6)
}

fn bench(c: &mut Criterion) {
    let dev = match Device::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIPPED elementwise benches: {e}");
            return;
        }
    };
    let x = Tensor::from_f32(&dev, &reference::random(N, 1), &[N]).expect("upload");
    // Scalars broadcast: the unfused chain reads them through stride 0.
    let two = Tensor::from_f32(&dev, &[2.0], &[1]).expect("upload");
    let one = Tensor::from_f32(&dev, &[1.0], &[1]).expect("upload");

    // Warm up (pipeline JIT), then GPU time per run from timestamps, the three workloads
    // interleaved so that load from other processes hits them alike; medians of 7.
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let copy = |timed: bool| {
        let mut rec = Recorder::new(&dev);
        let y = ew::encode_fused(&mut rec, &[&x], &Expr::input(0)).expect("copy");
        let p = rec.submit(timed).expect("submit");
        drop(y);
        p.map(|p| p.dispatches.iter().map(|r| r.gpu_ns).sum::<f64>() / 1e6)
    };
    let other = match dev.class() {
        AdapterClass::Cpu => AdapterClass::Gpu,
        AdapterClass::Gpu => AdapterClass::Cpu,
    };
    fused(&dev, &x, None, false);
    fused_class(&dev, &x, None, Some(other), false);
    unfused(&dev, &x, &two, &one, false);
    copy(false);
    let (mut f, mut o, mut u, mut cp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..7 {
        f.extend(fused(&dev, &x, None, true));
        o.extend(fused_class(&dev, &x, None, Some(other), true));
        u.extend(unfused(&dev, &x, &two, &one, true));
        cp.extend(copy(true));
    }
    let (f, o, u, cp) = (median(f), median(o), median(u), median(cp));
    eprintln!(
        "chain-16m GPU time, interleaved medians of 7: fused {f:.1} ms, fused with the {other:?} \
         variant {o:.1} ms, unfused {u:.1} ms ({:.2}x), copy-probe {cp:.1} ms (fused/copy {:.2})",
        u / f,
        f / cp
    );
    // The device's copy ceiling as `flopwatt peak` measures it, against the fused chain's
    // bytes (x read once, y written once).
    if let Ok(peak) = flopwatt::peak::copy_gbps(&dev) {
        let gbps = (2 * N * 4) as f64 / (f * 1e6);
        eprintln!(
            "chain-16m fused {gbps:.2} GB/s; peak WGSL copy {peak:.2} GB/s ({:.0}%)",
            100.0 * gbps / peak
        );
    }
    for l in [Layout::Linear, Layout::Strided { rank: 1 }] {
        fused(&dev, &x, Some(l), false);
    }

    let mut g = c.benchmark_group("chain-16m");
    g.sample_size(10);
    g.warm_up_time(std::time::Duration::from_secs(1));
    g.measurement_time(std::time::Duration::from_secs(4));
    g.bench_function("fused", |b| b.iter(|| fused(&dev, &x, None, false)));
    g.bench_function("unfused", |b| {
        b.iter(|| unfused(&dev, &x, &two, &one, false))
    });
    g.bench_function("fused-other-class", |b| {
        b.iter(|| fused_class(&dev, &x, None, Some(other), false))
    });
    g.bench_function("fused-linear", |b| {
        b.iter(|| fused(&dev, &x, Some(Layout::Linear), false))
    });
    g.bench_function("fused-strided", |b| {
        b.iter(|| fused(&dev, &x, Some(Layout::Strided { rank: 1 }), false))
    });
    // The floor: the same generated kernel with the identity tree (read 64 MiB, write 64 MiB).
    g.bench_function("copy-probe", |b| b.iter(|| copy(false)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
