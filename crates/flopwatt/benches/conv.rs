//! conv2d-resnet: input [8, 64, 56, 56], weight [64, 64, 3, 3], stride 1, pad 1
//! (FLOPs 2 N Cout H W Cin 9). Goal on lavapipe: at most 223 ms (2x Burn's 446 ms).
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flopwatt::ops::conv::{self, Conv2dParams};
use flopwatt::{Device, Recorder, Tensor};
use flopwatt_reference as reference;

fn bench(c: &mut Criterion) {
    let dev = match Device::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIPPED: no adapter ({e})");
            return;
        }
    };
    let (n, ci, h, w, co) = (8, 64, 56, 56, 64);
    let x = Tensor::from_f32(&dev, &reference::random(n * ci * h * w, 1), &[n, ci, h, w]).unwrap();
    let wt = Tensor::from_f32(&dev, &reference::random(co * ci * 9, 2), &[co, ci, 3, 3]).unwrap();
    let b = Tensor::from_f32(&dev, &reference::random(co, 3), &[co]).unwrap();
    let p = Conv2dParams {
        padding: [1; 4],
        ..Default::default()
    };
    let flops = 2 * (n * co * h * w * ci * 9) as u64;
    let mut g = c.benchmark_group("conv");
    g.sample_size(10);
    g.throughput(Throughput::Elements(flops));
    g.bench_function("conv2d-resnet", |bn| {
        bn.iter(|| {
            let mut rec = Recorder::new(&dev);
            let y = conv::encode_conv2d(&mut rec, &x, &wt, Some(&b), &p).unwrap();
            rec.submit(false).unwrap();
            y
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
