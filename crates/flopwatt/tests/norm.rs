//! Softmax, log-softmax, layer norm and RMS norm against the f64 reference, both kernel
//! families, awkward sizes, every axis, extreme inputs, typed errors.
mod common;

use flopwatt::ops::norm::{
    encode_norm, encode_softmax_with, layer_norm, log_softmax, rms_norm, softmax, NormOptions,
};
use flopwatt::ops::reduce::Strategy;
use flopwatt::{Device, Error, Recorder, Tensor};
use flopwatt_reference::norm as refn;
use flopwatt_reference::{self as reference, check_close, TRANSCENDENTAL_F32};

const STRATEGIES: [Strategy; 3] = [Strategy::Auto, Strategy::Direct, Strategy::Tree];

async fn run_softmax(dev: &Device, x: &Tensor, axis: isize, log: bool, o: NormOptions) -> Vec<f32> {
    let mut rec = Recorder::new(dev);
    let y = encode_softmax_with(&mut rec, x, axis, log, o).unwrap();
    rec.submit(false).unwrap();
    assert_eq!(y.shape(), x.shape());
    y.to_f32_vec_async().await.unwrap()
}

async fn softmax_case(dev: &Device, shape: &[usize], data: &[f32]) {
    softmax_case_with(dev, shape, data, NormOptions::default()).await
}

/// Every axis, both forms, every strategy, with `base`'s other kernel choices.
async fn softmax_case_with(dev: &Device, shape: &[usize], data: &[f32], base: NormOptions) {
    let x = Tensor::from_f32(dev, data, shape).unwrap();
    for axis in 0..shape.len() {
        for log in [false, true] {
            let want = refn::softmax(data, shape, axis, log);
            for s in STRATEGIES {
                let o = NormOptions {
                    strategy: s,
                    ..base
                };
                let got = run_softmax(dev, &x, axis as isize - shape.len() as isize, log, o).await;
                check_close(
                    &format!("softmax log={log} {shape:?} axis {axis} {s:?}"),
                    &got,
                    &want,
                    TRANSCENDENTAL_F32,
                )
                .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

gpu_test! {
async fn softmax_every_axis_awkward_sizes(dev) {
    let shapes: &[&[usize]] = &[
        &[1],
        &[127],
        &[257],
        &[4096],
        &[3, 4096],
        &[300, 64],
        &[257, 33],
        &[5, 7, 129],
        &[2, 3, 4, 5],
        &[1, 1, 3],
    ];
    for (i, shape) in shapes.iter().enumerate() {
        let n = shape.iter().product();
        softmax_case(
            &dev,
            shape,
            &reference::random_range(n, i as u64, -8.0, 8.0),
        ).await;
    }
}
}

gpu_test! {
async fn softmax_huge_and_infinite_inputs(dev) {
    let ninf = f32::NEG_INFINITY;
    let data = [
        1e38, -1e38, 1.0, ninf, //
        ninf, 0.0, 0.0, ninf, //
        1e30, 1e30, -1e30, 88.0, //
        1e4, 9999.0, 9998.5, -1e4, //
    ];
    softmax_case(&dev, &[4, 4], &data).await;
    // Long rows with huge values (vec4 path and tree path over 4096 wide rows).
    let mut long = reference::random_range(2 * 4096, 3, -1.0, 1.0);
    for v in long.iter_mut().step_by(97) {
        *v = 1e20;
    }
    long[5] = ninf;
    softmax_case(&dev, &[2, 4096], &long).await;
    let y = softmax(&Tensor::from_f32(&dev, &data, &[4, 4]).unwrap(), -1)
        .unwrap()
        .to_f32_vec_async().await
        .unwrap();
    assert!(y.iter().all(|v| v.is_finite()), "{y:?}");
    let y = log_softmax(&Tensor::from_f32(&dev, &data, &[4, 4]).unwrap(), 1)
        .unwrap()
        .to_f32_vec_async().await
        .unwrap();
    assert_eq!(y[3], ninf);
}
}

async fn norm_case(dev: &Device, shape: &[usize], norm_dims: usize, seed: u64, offset: f32) {
    norm_case_with(dev, shape, norm_dims, seed, offset, NormOptions::default()).await
}

/// Layer and RMS norm, every strategy and affine form, with `base`'s other kernel choices.
async fn norm_case_with(
    dev: &Device,
    shape: &[usize],
    norm_dims: usize,
    seed: u64,
    offset: f32,
    base: NormOptions,
) {
    let n: usize = shape.iter().product();
    let len: usize = shape[shape.len() - norm_dims..].iter().product();
    let tail = &shape[shape.len() - norm_dims..];
    let data: Vec<f32> = reference::random(n, seed)
        .into_iter()
        .map(|v| v + offset)
        .collect();
    let g = reference::random_range(len, seed + 1, 0.5, 1.5);
    let b = reference::random(len, seed + 2);
    let x = Tensor::from_f32(dev, &data, shape).unwrap();
    let gt = Tensor::from_f32(dev, &g, tail).unwrap();
    let bt = Tensor::from_f32(dev, &b, tail).unwrap();
    let eps = 1e-5;
    for s in STRATEGIES {
        let o = NormOptions {
            strategy: s,
            ..base
        };
        for (gamma, beta) in [(None, None), (Some(&gt), None), (Some(&gt), Some(&bt))] {
            let mut rec = Recorder::new(dev);
            let ln = encode_norm(&mut rec, &x, norm_dims, gamma, beta, eps, false, o).unwrap();
            let rms = encode_norm(&mut rec, &x, norm_dims, gamma, None, eps, true, o).unwrap();
            rec.submit(false).unwrap();
            let gs = gamma.map(|_| &g[..]);
            let bs = beta.map(|_| &b[..]);
            let what = format!(
                "{shape:?} norm_dims {norm_dims} gamma {} beta {} offset {offset} {s:?}",
                gs.is_some(),
                bs.is_some()
            );
            let want = refn::layer_norm(&data, len, gs, bs, eps);
            check_close(
                &format!("layer_norm {what}"),
                &ln.to_f32_vec_async().await.unwrap(),
                &want,
                TRANSCENDENTAL_F32,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let want = refn::rms_norm(&data, len, gs, eps);
            check_close(
                &format!("rms_norm {what}"),
                &rms.to_f32_vec_async().await.unwrap(),
                &want,
                TRANSCENDENTAL_F32,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

gpu_test! {
async fn norms_at_awkward_sizes(dev) {
    let cases: &[(&[usize], usize)] = &[
        (&[7], 1),
        (&[1, 127], 1),
        (&[300, 64], 1),
        (&[257, 33], 1),
        (&[5, 7, 129], 1),
        (&[5, 7, 129], 2),
        (&[5, 7, 129], 3),
        (&[2, 3, 4, 5], 2),
        (&[3, 4096], 1),
        (&[260, 257], 1),
        (&[260, 44], 1),
    ];
    for (i, (shape, nd)) in cases.iter().enumerate() {
        norm_case(&dev, shape, *nd, 10 * i as u64, 0.0).await;
    }
}
}

gpu_test! {
/// A mean far from zero against the spread: the shifted one-pass sums must not cancel.
async fn layer_norm_with_large_mean(dev) {
    norm_case(&dev, &[300, 256], 1, 77, 100.0).await;
    norm_case(&dev, &[3, 1001], 1, 78, -100.0).await;
}
}

gpu_test! {
async fn bad_arguments_are_typed_errors(dev) {
    let x = Tensor::from_f32(&dev, &reference::random(24, 1), &[2, 3, 4]).unwrap();
    for axis in [3isize, -4] {
        assert!(matches!(
            softmax(&x, axis),
            Err(Error::InvalidArgument { op: "softmax", .. })
        ));
    }
    assert!(matches!(
        log_softmax(&x, 5),
        Err(Error::InvalidArgument {
            op: "log_softmax",
            ..
        })
    ));
    for nd in [0usize, 4] {
        assert!(matches!(
            layer_norm(&x, nd, None, None, 1e-5),
            Err(Error::InvalidArgument {
                op: "layer_norm",
                ..
            })
        ));
        assert!(matches!(
            rms_norm(&x, nd, None, 1e-5),
            Err(Error::InvalidArgument { op: "rms_norm", .. })
        ));
    }
    let g_bad = Tensor::from_f32(&dev, &[1.0; 3], &[3]).unwrap();
    let g_ok = Tensor::from_f32(&dev, &[1.0; 12], &[3, 4]).unwrap();
    match layer_norm(&x, 1, Some(&g_bad), None, 1e-5) {
        Err(Error::Shape {
            op: "layer_norm",
            message,
        }) => assert!(
            message.contains("[3]") && message.contains("[4]"),
            "{message}"
        ),
        other => panic!("expected Shape error, got {other:?}"),
    }
    assert!(matches!(
        layer_norm(&x, 2, Some(&g_ok), Some(&g_bad), 1e-5),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        rms_norm(&x, 2, Some(&g_bad), 1e-5),
        Err(Error::Shape { op: "rms_norm", .. })
    ));
    assert!(matches!(
        layer_norm(&x, 2, None, Some(&g_ok), 1e-5),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        layer_norm(&x, 1, None, None, -1.0),
        Err(Error::InvalidArgument { .. })
    ));
    let xi = Tensor::from_i32(&dev, &[1, 2], &[2]).unwrap();
    assert!(matches!(
        softmax(&xi, 0),
        Err(Error::UnsupportedDType { .. })
    ));
    let xt = x.transpose(0, 2).unwrap();
    assert!(matches!(softmax(&xt, 0), Err(Error::Shape { .. })));
}
}

gpu_test! {
/// The direct softmax's other last-sweep form (store exp, then rescale) stays correct too.
async fn softmax_store_variant(dev) {
    let store = NormOptions { recompute_exp: false, ..NormOptions::default() };
    for (i, shape) in [[3usize, 4096], [300, 64]].iter().enumerate() {
        let n = shape.iter().product();
        softmax_case_with(
            &dev,
            shape,
            &reference::random_range(n, 50 + i as u64, -8.0, 8.0),
            store,
        ).await;
    }
}
}

gpu_test! {
/// Layer norm's other block form (each block read twice) stays correct too.
async fn layer_norm_reread_variant(dev) {
    let reread = NormOptions { one_read: false, ..NormOptions::default() };
    norm_case_with(&dev, &[260, 44], 1, 90, 0.0, reread).await;
    norm_case_with(&dev, &[300, 256], 1, 91, 100.0, reread).await;
}
}

gpu_test! {
/// Row lengths around the short-row cut and the vec4 width, every strategy: softmax, layer
/// norm and RMS norm against the f64 reference. 70 rows span two direct workgroups.
async fn row_lengths_around_the_short_row_cut(dev) {
    for (i, len) in [1usize, 3, 4, 31, 33, 64, 65, 1000, 4099].into_iter().enumerate() {
        let rows = if len <= 64 { 70 } else { 3 };
        let shape = [rows, len];
        let data = reference::random(rows * len, 900 + i as u64);
        let x = Tensor::from_f32(&dev, &data, &shape).unwrap();
        let want = refn::softmax(&data, &shape, 1, false);
        for s in STRATEGIES {
            let got = run_softmax(&dev, &x, -1, false, s.into()).await;
            check_close(&format!("softmax {shape:?} {s:?}"), &got, &want, TRANSCENDENTAL_F32)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        norm_case(&dev, &shape, 1, 950 + i as u64, 0.0).await;
    }
}
}

/// On the GPU class, short rows take one invocation per row (64 rows per workgroup) and long
/// rows a workgroup each: the dispatch's kernel and grid say which.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn gpu_class_picks_by_row_length() {
    use flopwatt::{AdapterClass, DeviceOptions};
    if common::device().is_none() {
        return;
    }
    let opts = DeviceOptions {
        adapter_class: Some(AdapterClass::Gpu),
        ..DeviceOptions::from_env().unwrap()
    };
    let dev = Device::with_options(&opts).unwrap();
    for (rows, len, direct) in [
        (4096usize, 32usize, true),
        (4096, 64, true),
        (64, 65, false),
    ] {
        let x = Tensor::from_f32(&dev, &vec![0.5; rows * len], &[rows, len]).unwrap();
        let mut rec = Recorder::new(&dev);
        encode_softmax_with(&mut rec, &x, -1, false, Strategy::Auto).unwrap();
        encode_norm(&mut rec, &x, 1, None, None, 1e-5, false, Strategy::Auto).unwrap();
        encode_norm(&mut rec, &x, 1, None, None, 1e-5, true, Strategy::Auto).unwrap();
        for d in rec.dispatches() {
            let what = format!("{} at [{rows}, {len}]", d.kernel);
            if direct {
                assert!(d.kernel.contains("direct"), "{what}: want one lane per row");
                assert_eq!(d.workgroups()[0] as usize, rows / 64, "{what}");
            } else {
                assert!(
                    d.kernel.contains("tree"),
                    "{what}: want a workgroup per row"
                );
                assert_eq!(d.workgroups()[0] as usize, rows, "{what}");
            }
        }
        rec.submit(false).unwrap();
    }
}
