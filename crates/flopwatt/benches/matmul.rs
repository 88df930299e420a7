//! Square f32 matmul with the variant `choose_variant` picks: groups `matmul-256` ..
//! `matmul-2048` (function id `chosen`).
//! Throughput is Elements(2 n^3), so criterion's elements/s read as FLOP/s.
//!
//! `cargo bench --bench matmul` (lavapipe is slow: few samples, short windows).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flopwatt::ops::matmul::matmul;
use flopwatt::{Device, Tensor};
use flopwatt_reference as reference;

fn bench(c: &mut Criterion) {
    let dev = match Device::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter ({e})");
            return;
        }
    };
    for n in [256usize, 512, 1024, 2048] {
        // One group per workload so the group id is exactly the shared workload id.
        let mut group = c.benchmark_group(format!("matmul-{n}"));
        group.sample_size(10);
        let a = Tensor::from_f32(&dev, &reference::random(n * n, 1), &[n, n]).expect("upload A");
        let b = Tensor::from_f32(&dev, &reference::random(n * n, 2), &[n, n]).expect("upload B");
        // The first dispatch JIT-compiles the pipeline; keep it out of the warm-up estimate.
        matmul(&a, &b).expect("matmul");
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        group.warm_up_time(Duration::from_secs(if n >= 2048 { 2 } else { 1 }));
        group.measurement_time(Duration::from_secs(match n {
            2048 => 30,
            1024 => 8,
            _ => 3,
        }));
        group.bench_function("chosen", |bch| bch.iter(|| matmul(&a, &b).expect("matmul")));
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
