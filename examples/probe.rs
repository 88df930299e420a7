use flopwatt::ops::attention::{self, AttentionParams};
use flopwatt::ops::conv::{self, Conv2dParams};
use flopwatt::{reference, Device, Recorder, Tensor};
use std::time::Instant;

fn med(mut f: impl FnMut(), n: usize) -> f64 {
    f();
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[n / 2]
}

fn main() {
    let dev = Device::new().unwrap();
    let what = std::env::args().nth(1).unwrap_or_default();
    if what.contains("conv") {
        let nb: usize = std::env::var("NB").map(|s| s.parse().unwrap()).unwrap_or(1);
        let (n, ci, h, w, co) = (nb, 64, 56, 56, 64);
        let x =
            Tensor::from_f32(&dev, &reference::random(n * ci * h * w, 1), &[n, ci, h, w]).unwrap();
        let wt =
            Tensor::from_f32(&dev, &reference::random(co * ci * 9, 2), &[co, ci, 3, 3]).unwrap();
        let p = Conv2dParams {
            padding: [1; 4],
            ..Default::default()
        };
        let flops = 2.0 * (n * co * h * w * ci * 9) as f64;
        let ms = med(
            || {
                let mut r = Recorder::new(&dev);
                conv::encode_conv2d(&mut r, &x, &wt, None, &p).unwrap();
                r.submit(false).unwrap();
            },
            5,
        );
        println!("conv n={n}: {ms:.1} ms, {:.2} GFLOP/s", flops / ms / 1e6);
    }
    if what.contains("attn") {
        let s: usize = std::env::var("S")
            .map(|s| s.parse().unwrap())
            .unwrap_or(512);
        let d: usize = std::env::var("D").map(|s| s.parse().unwrap()).unwrap_or(64);
        let (b, h) = (1, 8);
        let t = |seed| {
            Tensor::from_f32(&dev, &reference::random(b * h * s * d, seed), &[b, h, s, d]).unwrap()
        };
        let (q, k, v) = (t(1), t(2), t(3));
        let flops = 4.0 * (b * h * s * s * d) as f64;
        for causal in [false, true] {
            let kernel = if std::env::var("TILED").is_ok() {
                attention::AttentionKernel::Tiled
            } else {
                attention::AttentionKernel::Streaming
            };
            let p = AttentionParams {
                causal,
                kernel,
                ..Default::default()
            };
            let ms = med(
                || {
                    let mut r = Recorder::new(&dev);
                    attention::encode_attention(&mut r, &q, &k, &v, &p).unwrap();
                    r.submit(false).unwrap();
                },
                5,
            );
            println!(
                "attn s={s} causal={causal}: {ms:.1} ms, {:.2} GFLOP/s",
                flops / ms / 1e6
            );
        }
    }
}
