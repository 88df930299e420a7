//! conv2d backward kernels (input gradient, weight gradient) against the f64 reference.
// Native only (sync API); the browser runs the gpu_test! binaries.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::graph::Conv2dAttrs;
use flopwatt::ops::conv_backward::{conv2d_backward_input, conv2d_backward_weight};
use flopwatt::{Error, Tensor};
use flopwatt_reference::{check_nmse, random, to_f64, train, NMSE_F32};

fn out_shape(xs: [usize; 4], ws: [usize; 4], a: &Conv2dAttrs) -> [usize; 4] {
    let s = flopwatt::graph::conv2d_shape(&xs, &ws, None, a).unwrap();
    [s[0], s[1], s[2], s[3]]
}

#[test]
fn input_and_weight_gradients_match_reference() {
    let dev = device_or_skip!();
    let cases: Vec<([usize; 4], [usize; 4], Conv2dAttrs)> = vec![
        ([1, 1, 1, 1], [1, 1, 1, 1], Conv2dAttrs::default()),
        (
            [2, 3, 13, 11],
            [5, 3, 3, 3],
            Conv2dAttrs {
                padding: [1; 4],
                ..Default::default()
            },
        ),
        (
            [3, 4, 17, 10],
            [6, 2, 5, 3],
            Conv2dAttrs {
                stride: [2, 3],
                padding: [2, 1, 0, 1],
                dilation: [1, 2],
                groups: 2,
            },
        ),
        // Depthwise.
        (
            [2, 8, 9, 9],
            [8, 1, 3, 3],
            Conv2dAttrs {
                padding: [1; 4],
                groups: 8,
                ..Default::default()
            },
        ),
        // Stride 1, groups, dilation, asymmetric padding (the flipped-weight forward path).
        (
            [2, 6, 11, 9],
            [4, 3, 3, 2],
            Conv2dAttrs {
                padding: [2, 0, 1, 1],
                dilation: [2, 1],
                groups: 2,
                ..Default::default()
            },
        ),
        // Stride 1 but padding wider than the kernel reaches (the transposed-conv path).
        (
            [2, 3, 5, 7],
            [2, 3, 1, 1],
            Conv2dAttrs {
                padding: [1, 0, 2, 1],
                ..Default::default()
            },
        ),
        // Large batch, small weight: exercises the batch split plus the sum of partials.
        (
            [64, 3, 16, 16],
            [8, 3, 3, 3],
            Conv2dAttrs {
                stride: [2, 2],
                padding: [1; 4],
                ..Default::default()
            },
        ),
    ];
    for (k, (xs, ws, a)) in cases.into_iter().enumerate() {
        let ys = out_shape(xs, ws, &a);
        let x = random(xs.iter().product(), 500 + k as u64);
        let w = random(ws.iter().product(), 600 + k as u64);
        let dy = random(ys.iter().product(), 700 + k as u64);
        let tx = Tensor::from_f32(&dev, &x, &xs).unwrap();
        let tw = Tensor::from_f32(&dev, &w, &ws).unwrap();
        let tdy = Tensor::from_f32(&dev, &dy, &ys).unwrap();
        let dx = conv2d_backward_input(&tdy, &tw, &xs, &a).unwrap();
        assert_eq!(dx.shape(), xs);
        let want = train::conv2d_backward_input(&to_f64(&dy), &to_f64(&w), xs, ws, &a);
        check_nmse(
            &format!("dx case {k}"),
            &dx.to_f32_vec().unwrap(),
            &want,
            NMSE_F32,
        )
        .unwrap();
        let dw = conv2d_backward_weight(&tx, &tdy, &ws, &a).unwrap();
        assert_eq!(dw.shape(), ws);
        let want = train::conv2d_backward_weight(&to_f64(&x), &to_f64(&dy), xs, ws, &a);
        check_nmse(
            &format!("dw case {k}"),
            &dw.to_f32_vec().unwrap(),
            &want,
            NMSE_F32,
        )
        .unwrap();
    }
}

#[test]
fn shape_errors_name_the_op() {
    let dev = device_or_skip!();
    let dy = Tensor::from_f32(&dev, &random(2 * 4 * 5 * 5, 1), &[2, 4, 5, 5]).unwrap();
    let w = Tensor::from_f32(&dev, &random(4 * 3 * 3 * 3, 2), &[4, 3, 3, 3]).unwrap();
    let a = Conv2dAttrs::default();
    // A 7x7 input gives a 5x5 output; 8x8 does not.
    assert!(conv2d_backward_input(&dy, &w, &[2, 3, 7, 7], &a).is_ok());
    let e = conv2d_backward_input(&dy, &w, &[2, 3, 8, 8], &a).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    assert!(e.to_string().contains("conv2d_backward_input"), "{e}");
    let x = Tensor::from_f32(&dev, &random(2 * 3 * 8 * 8, 3), &[2, 3, 8, 8]).unwrap();
    let e = conv2d_backward_weight(&x, &dy, &[4, 3, 3, 3], &a).unwrap_err();
    assert!(e.to_string().contains("conv2d_backward_weight"), "{e}");
}

#[test]
fn pool_backward_matches_reference() {
    use flopwatt::ops::conv_backward::pool2d_backward;
    use flopwatt::ops::pool::{pool2d, Pool2dParams, PoolKind};
    use flopwatt_reference::train::{self as tr, PoolRef};
    let dev = device_or_skip!();
    let cases = [
        (
            PoolKind::Max,
            [2, 3, 9, 8],
            [2, 2],
            [2, 2],
            [0; 4],
            [1, 1],
            false,
        ),
        (
            PoolKind::Max,
            [1, 2, 11, 7],
            [3, 3],
            [2, 1],
            [1, 1, 1, 0],
            [1, 2],
            true,
        ),
        (
            PoolKind::Avg,
            [2, 2, 10, 9],
            [3, 2],
            [2, 2],
            [1, 0, 1, 1],
            [1, 1],
            true,
        ),
        (
            PoolKind::AvgCountPad,
            [1, 3, 7, 7],
            [3, 3],
            [1, 1],
            [1; 4],
            [1, 1],
            false,
        ),
        (
            PoolKind::Max,
            [4, 16, 32, 32],
            [3, 3],
            [2, 2],
            [1; 4],
            [1, 1],
            false,
        ),
    ];
    for (k, (kind, xs, kernel, stride, padding, dilation, ceil_mode)) in
        cases.into_iter().enumerate()
    {
        let p = Pool2dParams {
            kind,
            kernel,
            stride,
            padding,
            dilation,
            ceil_mode,
        };
        let x = random(xs.iter().product(), 900 + k as u64);
        let tx = Tensor::from_f32(&dev, &x, &xs).unwrap();
        let y = pool2d(&tx, &p).unwrap();
        let ys = y.shape().to_vec();
        let dy = random(ys.iter().product(), 950 + k as u64);
        let tdy = Tensor::from_f32(&dev, &dy, &ys).unwrap();
        let dx = pool2d_backward(&tx, &tdy, &p).unwrap();
        let r = PoolRef {
            max: kind == PoolKind::Max,
            count_pad: kind == PoolKind::AvgCountPad,
            k: kernel,
            stride,
            pad: padding,
            dil: dilation,
        };
        let want = tr::pool2d_backward(&to_f64(&x), &to_f64(&dy), xs, [ys[2], ys[3]], &r);
        check_nmse(
            &format!("pool dx case {k}"),
            &dx.to_f32_vec().unwrap(),
            &want,
            NMSE_F32,
        )
        .unwrap();
        // The f64 forward agrees with the device forward (same window rules).
        let fwd = tr::pool2d(&to_f64(&x), xs, [ys[2], ys[3]], &r);
        check_nmse(
            &format!("pool y case {k}"),
            &y.to_f32_vec().unwrap(),
            &fwd,
            NMSE_F32,
        )
        .unwrap();
    }
    let bad = Tensor::from_f32(&dev, &random(4, 1), &[1, 1, 2, 2]).unwrap();
    let tx = Tensor::from_f32(&dev, &random(64, 2), &[1, 1, 8, 8]).unwrap();
    let e = pool2d_backward(&tx, &bad, &Pool2dParams::default()).unwrap_err();
    assert!(e.to_string().contains("pool2d_backward"), "{e}");
}
