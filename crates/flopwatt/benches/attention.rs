//! attention-s512 (batch 1, 8 heads, seq 512, head dim 64, no mask; FLOPs 4 b h s s d),
//! attention-s1024-causal (seq 1024, causal; FLOPs counted full), and fused vs composed
//! (scores matmul, softmax, PV matmul) at seq 1024 with the peak buffer bytes of both.
//! Goals on lavapipe: s512 at most 18.2 ms; fused at least 2x the composed version.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flopwatt::ops::attention::{self, AttentionParams};
use flopwatt::{Device, Recorder, Tensor};
use flopwatt_reference as reference;

fn qkv(dev: &Device, s: usize) -> (Tensor, Tensor, Tensor) {
    let (b, h, d) = (1, 8, 64);
    let t = |seed| {
        Tensor::from_f32(dev, &reference::random(b * h * s * d, seed), &[b, h, s, d]).unwrap()
    };
    (t(1), t(2), t(3))
}

fn bench(c: &mut Criterion) {
    let dev = match Device::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIPPED: no adapter ({e})");
            return;
        }
    };
    let mut g = c.benchmark_group("attention");
    g.sample_size(10);
    for (id, s, causal) in [
        ("attention-s512", 512, false),
        ("attention-s1024-causal", 1024, true),
    ] {
        let (q, k, v) = qkv(&dev, s);
        g.throughput(Throughput::Elements(4 * 8 * (s * s * 64) as u64));
        let p = AttentionParams {
            causal,
            ..Default::default()
        };
        g.bench_function(id, |bn| {
            bn.iter(|| {
                let mut rec = Recorder::new(&dev);
                let o = attention::encode_attention(&mut rec, &q, &k, &v, &p).unwrap();
                rec.submit(false).unwrap();
                o
            })
        });
    }
    // Fused vs composed at seq 1024 (no mask).
    let s = 1024;
    let (q, k, v) = qkv(&dev, s);
    let io = 4 * 4 * 8 * s * 64; // q, k, v, out
    let (_, score_bytes) = {
        let mut rec = Recorder::new(&dev);
        let r = attention::encode_attention_composed(&mut rec, &q, &k, &v, false).unwrap();
        rec.submit(false).unwrap();
        r
    };
    eprintln!(
        "peak buffer bytes at seq {s}: fused {} (q, k, v, out; no score buffer), composed {} (plus the [1, 8, {s}, {s}] scores: {score_bytes})",
        io,
        io as u64 + score_bytes
    );
    g.throughput(Throughput::Elements(4 * 8 * (s * s * 64) as u64));
    let p = AttentionParams::default();
    g.bench_function("attention-s1024-fused", |bn| {
        bn.iter(|| {
            let mut rec = Recorder::new(&dev);
            let o = attention::encode_attention(&mut rec, &q, &k, &v, &p).unwrap();
            rec.submit(false).unwrap();
            o
        })
    });
    g.bench_function("attention-s1024-composed", |bn| {
        bn.iter(|| {
            let mut rec = Recorder::new(&dev);
            let o = attention::encode_attention_composed(&mut rec, &q, &k, &v, false).unwrap();
            rec.submit(false).unwrap();
            o
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
