//! Pooling, resize and pad against the f64 reference.
mod common;

use flopwatt::ops::pool::{self, Pool2dParams, PoolKind};
use flopwatt::ops::resize::{self, PadMode, ResizeMode};
use flopwatt::{Error, Tensor};
use flopwatt_reference::{self as reference, conv as r};

gpu_test! {
async fn pooling_matches_reference(dev) {
    let cases: [([usize; 4], Pool2dParams); 5] = [
        ([2, 3, 13, 11], Pool2dParams::default()),
        (
            [1, 5, 17, 9],
            Pool2dParams {
                kernel: [3, 3],
                stride: [2, 2],
                padding: [1, 1, 1, 1],
                ..Default::default()
            },
        ),
        (
            [2, 2, 7, 12],
            Pool2dParams {
                kernel: [3, 2],
                stride: [1, 3],
                padding: [2, 0, 1, 1],
                dilation: [2, 1],
                ..Default::default()
            },
        ),
        (
            [1, 1, 1, 1],
            Pool2dParams {
                kernel: [1, 1],
                stride: [1, 1],
                ..Default::default()
            },
        ),
        (
            [3, 7, 31, 29],
            Pool2dParams {
                kernel: [5, 4],
                stride: [3, 2],
                padding: [2, 1, 2, 3],
                ..Default::default()
            },
        ),
    ];
    for (i, (xs, base)) in cases.iter().enumerate() {
        let xd = reference::random(xs.iter().product(), i as u64);
        let x = Tensor::from_f32(&dev, &xd, xs).unwrap();
        for kind in [PoolKind::Max, PoolKind::Avg, PoolKind::AvgCountPad] {
            let p = Pool2dParams { kind, ..*base };
            let y = pool::pool2d(&x, &p).unwrap();
            let (want, s) = r::pool2d(
                &xd,
                *xs,
                p.kernel,
                p.stride,
                p.padding,
                p.dilation,
                kind == PoolKind::Max,
                kind == PoolKind::AvgCountPad,
            );
            assert_eq!(y.shape(), &s);
            // A window sums at most 20 values: a short f32 chain.
            reference::check_close(
                &format!("pool {kind:?} case {i}"),
                &y.to_f32_vec_async().await.unwrap(),
                &want,
                reference::TRANSCENDENTAL_F32,
            )
            .unwrap();
        }
    }
}
}

gpu_test! {
async fn global_average_matches_reference(dev) {
    for (i, xs) in [[2, 3, 7, 7], [1, 1, 1, 1], [2, 257, 3, 5], [1, 2, 127, 129]]
        .into_iter()
        .enumerate()
    {
        let xd = reference::random(xs.iter().product(), 50 + i as u64);
        let x = Tensor::from_f32(&dev, &xd, &xs).unwrap();
        let y = pool::global_avg_pool(&x).unwrap();
        assert_eq!(y.shape(), &[xs[0], xs[1], 1, 1]);
        reference::check_nmse(
            "global_avg_pool",
            &y.to_f32_vec_async().await.unwrap(),
            &r::global_avg_pool(&xd, xs),
            reference::NMSE_F32,
        )
        .unwrap();
    }
}
}

gpu_test! {
async fn resize_matches_reference(dev) {
    for (i, (xs, size)) in [
        ([2, 3, 5, 7], [11, 13]),
        ([1, 2, 13, 9], [4, 5]),
        ([1, 1, 1, 1], [3, 2]),
        ([1, 1, 6, 6], [6, 6]),
    ]
    .into_iter()
    .enumerate()
    {
        let xd = reference::random(xs.iter().product(), 60 + i as u64);
        let x = Tensor::from_f32(&dev, &xd, &xs).unwrap();
        for mode in [ResizeMode::Nearest, ResizeMode::Linear] {
            let y = resize::resize2d(&x, size, mode).unwrap();
            assert_eq!(y.shape(), &[xs[0], xs[1], size[0], size[1]]);
            let want = r::resize2d(&xd, xs, size[0], size[1], mode == ResizeMode::Linear);
            reference::check_close(
                &format!("resize {mode:?} case {i}"),
                &y.to_f32_vec_async().await.unwrap(),
                &want,
                reference::TRANSCENDENTAL_F32,
            )
            .unwrap();
        }
    }
}
}

gpu_test! {
async fn pad_matches_reference(dev) {
    for (i, (xs, pd)) in [
        ([2, 3, 5, 7], [1, 2, 3, 4]),
        ([1, 1, 1, 1], [0, 2, 1, 0]),
        ([1, 2, 4, 3], [7, 5, 6, 9]),
    ]
    .into_iter()
    .enumerate()
    {
        let xd = reference::random(xs.iter().product(), 70 + i as u64);
        let x = Tensor::from_f32(&dev, &xd, &xs).unwrap();
        for (mode, rm) in [
            (PadMode::Constant(-2.5), r::PadMode::Constant(-2.5)),
            (PadMode::Reflect, r::PadMode::Reflect),
            (PadMode::Edge, r::PadMode::Edge),
        ] {
            let y = resize::pad2d(&x, pd, mode).unwrap();
            let want = r::pad2d(&xd, xs, pd, rm);
            reference::check_close(
                &format!("pad {mode:?} case {i}"),
                &y.to_f32_vec_async().await.unwrap(),
                &want,
                reference::EXACT_F32,
            )
            .unwrap();
        }
    }
}
}

gpu_test! {
async fn pool_and_layout_reject_bad_arguments(dev) {
    let x = Tensor::from_f32(&dev, &reference::random(2 * 3 * 4 * 4, 1), &[2, 3, 4, 4]).unwrap();
    let e = pool::pool2d(
        &x,
        &Pool2dParams {
            kernel: [5, 5],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = pool::pool2d(
        &x,
        &Pool2dParams {
            stride: [0, 1],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    let e = pool::pool2d(
        &x,
        &Pool2dParams {
            padding: [2, 0, 0, 0],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    let e = resize::resize2d(&x, [0, 3], ResizeMode::Linear).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    let x3 = x.reshape(&[6, 4, 4]).unwrap();
    assert!(matches!(
        pool::global_avg_pool(&x3),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        resize::pad2d(&x3, [1; 4], PadMode::Edge),
        Err(Error::Shape { .. })
    ));
}
}
