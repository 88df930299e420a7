//! Normalisation speed: `softmax-4096` and `layernorm-4096` (last axis of [4096, 4096]),
//! plus each kernel family forced, side by side. Wall time of record + submit + wait.
mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use flopwatt::ops::norm::{encode_norm, encode_softmax_with, NormOptions};
use flopwatt::ops::reduce::Strategy;
use flopwatt::{Device, Recorder, Tensor};
use flopwatt_reference as reference;

fn softmax(dev: &Device, x: &Tensor, s: impl Into<NormOptions>) -> Tensor {
    let mut rec = Recorder::new(dev);
    let y = encode_softmax_with(&mut rec, x, -1, false, s).expect("softmax");
    rec.submit(false).expect("submit");
    y
}

fn layernorm(
    dev: &Device,
    x: &Tensor,
    g: &Tensor,
    b: &Tensor,
    s: impl Into<NormOptions>,
) -> Tensor {
    let mut rec = Recorder::new(dev);
    let y = encode_norm(&mut rec, x, 1, Some(g), Some(b), 1e-5, false, s).expect("layer_norm");
    rec.submit(false).expect("submit");
    y
}

fn benches(c: &mut Criterion) {
    let dev = match Device::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter ({e})");
            return;
        }
    };
    let n = 4096;
    // Baseline in the same run: the driver's own copy of the 64 MiB.
    common::copy_baseline(c, &dev, n, "copy-64m-baseline-norm");
    let x = Tensor::from_f32(&dev, &reference::random(n * n, 1), &[n, n]).expect("upload");
    let g = Tensor::from_f32(&dev, &reference::random_range(n, 2, 0.5, 1.5), &[n]).expect("upload");
    let b = Tensor::from_f32(&dev, &reference::random(n, 3), &[n]).expect("upload");
    for (id, s) in [
        ("softmax-4096", Strategy::Auto),
        ("softmax-4096-direct", Strategy::Direct),
        ("softmax-4096-tree", Strategy::Tree),
    ] {
        softmax(&dev, &x, s);
        c.bench_function(id, |bch| bch.iter(|| softmax(&dev, &x, s)));
    }
    let store = NormOptions {
        strategy: Strategy::Direct,
        recompute_exp: false,
        ..NormOptions::default()
    };
    softmax(&dev, &x, store);
    c.bench_function("softmax-4096-direct-store", |bch| {
        bch.iter(|| softmax(&dev, &x, store))
    });
    for (id, s) in [
        ("layernorm-4096", Strategy::Auto),
        ("layernorm-4096-direct", Strategy::Direct),
        ("layernorm-4096-tree", Strategy::Tree),
    ] {
        layernorm(&dev, &x, &g, &b, s);
        c.bench_function(id, |bch| bch.iter(|| layernorm(&dev, &x, &g, &b, s)));
    }
    let reread = NormOptions {
        strategy: Strategy::Direct,
        one_read: false,
        ..NormOptions::default()
    };
    layernorm(&dev, &x, &g, &b, reread);
    c.bench_function("layernorm-4096-direct-reread", |bch| {
        bch.iter(|| layernorm(&dev, &x, &g, &b, reread))
    });
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(group);
