//! Training: one step of the example MLP (batch 64, SGD) and of the example CNN (batch 32,
//! Adam), and the conv2d backward kernels beside the forward conv of the same shape (the
//! backward pair should cost about twice the forward: each is one conv's worth of FLOPs).
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flopwatt::graph::Conv2dAttrs;
use flopwatt::ops::conv::{self, Conv2dParams};
use flopwatt::ops::conv_backward;
use flopwatt::optim::data::{
    cnn_classifier, mlp_regression, synthetic_images, synthetic_regression,
};
use flopwatt::optim::{Optimizer, Trainer};
use flopwatt::{CompileOptions, Device, Recorder, Tensor};
use flopwatt_reference as reference;

fn bench(c: &mut Criterion) {
    let dev = match Device::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIPPED: no adapter ({e})");
            return;
        }
    };
    let mut g = c.benchmark_group("train");
    g.sample_size(10);

    let m = mlp_regression(64, 10, 20, 10, 3).unwrap();
    let (x, y) = synthetic_regression(64, 10, 20, 10, 0.05, 7);
    let mut tr = Trainer::new(
        &dev,
        &m.graph,
        m.loss,
        &m.params,
        Optimizer::sgd(0.01),
        CompileOptions::default(),
    )
    .unwrap();
    let (tx, ty) = (
        Tensor::from_f32(&dev, &x, &[64, 10]).unwrap(),
        Tensor::from_f32(&dev, &y, &[64, 10]).unwrap(),
    );
    g.bench_function("train-mlp-step", |b| {
        b.iter(|| tr.step(&[&tx, &ty]).unwrap())
    });

    let m = cnn_classifier(32, 3, 16, 16, 32, 10, 2).unwrap();
    let (x, y) = synthetic_images(32, 3, 16, 10, 5);
    let mut tr = Trainer::new(
        &dev,
        &m.graph,
        m.loss,
        &m.params,
        Optimizer::adam(1e-3),
        CompileOptions::default(),
    )
    .unwrap();
    let (tx, ty) = (
        Tensor::from_f32(&dev, &x, &[32, 3, 16, 16]).unwrap(),
        Tensor::from_f32(&dev, &y, &[32]).unwrap(),
    );
    g.bench_function("train-cnn-step", |b| {
        b.iter(|| tr.step(&[&tx, &ty]).unwrap())
    });

    // conv forward vs its two gradients: x [8, 32, 28, 28], w [32, 32, 3, 3], pad 1.
    let (n, ci, h, w, co) = (8, 32, 28, 28, 32);
    let xs = [n, ci, h, w];
    let ws = [co, ci, 3, 3];
    let x = Tensor::from_f32(&dev, &reference::random(n * ci * h * w, 1), &xs).unwrap();
    let wt = Tensor::from_f32(&dev, &reference::random(co * ci * 9, 2), &ws).unwrap();
    let dy = Tensor::from_f32(&dev, &reference::random(n * co * h * w, 3), &[n, co, h, w]).unwrap();
    let a = Conv2dAttrs {
        padding: [1; 4],
        ..Default::default()
    };
    let p = Conv2dParams {
        padding: [1; 4],
        ..Default::default()
    };
    g.throughput(Throughput::Elements(2 * (n * co * h * w * ci * 9) as u64));
    g.bench_function("conv2d-forward-8x32x28", |b| {
        b.iter(|| {
            let mut rec = Recorder::new(&dev);
            let y = conv::encode_conv2d(&mut rec, &x, &wt, None, &p).unwrap();
            rec.submit(false).unwrap();
            y
        })
    });
    g.bench_function("conv2d-backward-input-8x32x28", |b| {
        b.iter(|| {
            let mut rec = Recorder::new(&dev);
            let y =
                conv_backward::encode_conv2d_backward_input(&mut rec, &dy, &wt, &xs, &a).unwrap();
            rec.submit(false).unwrap();
            y
        })
    });
    g.bench_function("conv2d-backward-weight-8x32x28", |b| {
        b.iter(|| {
            let mut rec = Recorder::new(&dev);
            let y =
                conv_backward::encode_conv2d_backward_weight(&mut rec, &x, &dy, &ws, &a).unwrap();
            rec.submit(false).unwrap();
            y
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
