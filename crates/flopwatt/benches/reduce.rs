//! Reduction speed: `sum-4096` (sum over the last axis of [4096, 4096]), plus the same with
//! each kernel family forced (`-direct`, `-tree`) and a full reduction of 2^24 elements, so
//! variants compare side by side in one run. Wall time of record + submit + wait.
mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use flopwatt::ops::reduce::{encode_reduce_with, ReduceOp, Strategy};
use flopwatt::{Device, Recorder, Tensor};
use flopwatt_reference as reference;

fn run(dev: &Device, x: &Tensor, axes: Option<&[isize]>, s: Strategy) -> Tensor {
    let mut rec = Recorder::new(dev);
    let y = encode_reduce_with(&mut rec, x, ReduceOp::Sum, axes, false, s).expect("reduce");
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
    common::copy_baseline(c, &dev, n, "copy-64m-baseline");
    let x = Tensor::from_f32(&dev, &reference::random(n * n, 1), &[n, n]).expect("upload");
    for (id, s) in [
        ("sum-4096", Strategy::Auto),
        ("sum-4096-direct", Strategy::Direct),
        ("sum-4096-tree", Strategy::Tree),
    ] {
        run(&dev, &x, Some(&[-1]), s); // compile + warm up
        c.bench_function(id, |b| b.iter(|| run(&dev, &x, Some(&[-1]), s)));
    }
    run(&dev, &x, Some(&[0]), Strategy::Auto);
    c.bench_function("sum-4096-axis0", |b| {
        b.iter(|| run(&dev, &x, Some(&[0]), Strategy::Auto))
    });
    run(&dev, &x, None, Strategy::Auto);
    c.bench_function("sum-16m-full", |b| {
        b.iter(|| run(&dev, &x, None, Strategy::Auto))
    });
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(group);
