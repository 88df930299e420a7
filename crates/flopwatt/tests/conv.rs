//! conv2d, conv1d and conv-transpose 2d against the f64 reference (NMSE_F32).
mod common;

use flopwatt::ops::conv::{self, Conv1dParams, Conv2dParams, ConvTranspose2dParams};
use flopwatt::ops::Activation;
use flopwatt::{Error, Tensor};
use flopwatt_reference::{self as reference, conv as rconv};

struct Case {
    x: [usize; 4],
    cout: usize,
    k: [usize; 2],
    p: Conv2dParams,
    bias: bool,
}

async fn run_case(dev: &flopwatt::Device, i: usize, c: &Case) {
    let cin_g = c.x[1] / c.p.groups;
    let ws = [c.cout, cin_g, c.k[0], c.k[1]];
    let xd = reference::random(c.x.iter().product(), 100 + i as u64);
    let wd = reference::random(ws.iter().product(), 200 + i as u64);
    let bd = reference::random(c.cout, 300 + i as u64);
    let x = Tensor::from_f32(dev, &xd, &c.x).unwrap();
    let w = Tensor::from_f32(dev, &wd, &ws).unwrap();
    let b = Tensor::from_f32(dev, &bd, &[c.cout]).unwrap();
    let y = conv::conv2d(&x, &w, c.bias.then_some(&b), &c.p).unwrap();
    let (want, shape) = rconv::conv2d(
        &xd,
        c.x,
        &wd,
        ws,
        c.bias.then_some(&bd[..]),
        c.p.stride,
        c.p.padding,
        c.p.dilation,
        c.p.groups,
        c.p.activation,
    );
    assert_eq!(y.shape(), &shape, "case {i}");
    reference::check_nmse(
        &format!("conv2d case {i} {:?}", c.x),
        &y.to_f32_vec_async().await.unwrap(),
        &want,
        reference::NMSE_F32,
    )
    .unwrap();
}

fn p(
    stride: [usize; 2],
    padding: [usize; 4],
    dilation: [usize; 2],
    groups: usize,
    activation: Activation,
) -> Conv2dParams {
    Conv2dParams {
        stride,
        padding,
        dilation,
        groups,
        activation,
    }
}

gpu_test! {
async fn conv2d_matches_reference_at_awkward_shapes(dev) {
    let none = Activation::None;
    let cases = [
        // 3x3 same padding, odd image, channel count not a multiple of the block.
        Case {
            x: [2, 5, 13, 11],
            cout: 11,
            k: [3, 3],
            p: p([1, 1], [1, 1, 1, 1], [1, 1], 1, none),
            bias: true,
        },
        // 1x1 fast path, odd pixel count.
        Case {
            x: [3, 7, 9, 7],
            cout: 13,
            k: [1, 1],
            p: p([1, 1], [0; 4], [1, 1], 1, Activation::Relu),
            bias: true,
        },
        // stride, asymmetric padding, dilation.
        Case {
            x: [1, 4, 17, 19],
            cout: 9,
            k: [3, 5],
            p: p([2, 3], [2, 0, 1, 3], [2, 1], 1, none),
            bias: false,
        },
        // groups not dividing 32: 3 groups of 2 in, 5 out.
        Case {
            x: [2, 6, 15, 9],
            cout: 15,
            k: [3, 3],
            p: p([1, 2], [1, 2, 0, 1], [1, 1], 3, Activation::Gelu),
            bias: true,
        },
        // depthwise with multiplier 1, 7x7 stride 2.
        Case {
            x: [2, 9, 23, 21],
            cout: 9,
            k: [7, 7],
            p: p([2, 2], [3, 3, 3, 3], [1, 1], 9, Activation::Silu),
            bias: true,
        },
        // depthwise multiplier 2 (cout_g = 2 -> block of 1) with dilation.
        Case {
            x: [1, 5, 11, 14],
            cout: 10,
            k: [3, 3],
            p: p([1, 1], [2, 2, 2, 2], [2, 2], 5, none),
            bias: false,
        },
        // 1x1 with stride (not the flat path), single pixel output rows.
        Case {
            x: [1, 3, 7, 1],
            cout: 4,
            k: [1, 1],
            p: p([2, 1], [0; 4], [1, 1], 1, none),
            bias: true,
        },
        // one pixel, big K.
        Case {
            x: [1, 257, 1, 1],
            cout: 127,
            k: [1, 1],
            p: Conv2dParams::default(),
            bias: true,
        },
        // larger: resnet-like block with many input channels.
        Case {
            x: [2, 64, 20, 18],
            cout: 32,
            k: [3, 3],
            p: p([1, 1], [1, 1, 1, 1], [1, 1], 1, Activation::LeakyRelu(0.2)),
            bias: true,
        },
        // aligned paths: width a multiple of 4 (3x3 pad 1; 5x5 pad 2 with asymmetric right
        // padding and dilation 1), and a 1x1 with pixels per image a multiple of 4.
        Case {
            x: [2, 5, 9, 12],
            cout: 9,
            k: [3, 3],
            p: p([1, 1], [1, 1, 1, 1], [1, 1], 1, none),
            bias: true,
        },
        Case {
            x: [1, 6, 7, 16],
            cout: 8,
            k: [5, 5],
            p: p([2, 1], [2, 2, 1, 5], [1, 1], 2, Activation::Relu),
            bias: false,
        },
        Case {
            x: [1, 4, 12, 8],
            cout: 3,
            k: [3, 2],
            p: p([1, 1], [0, 4, 0, 0], [1, 2], 1, none),
            bias: true,
        },
        Case {
            x: [2, 9, 8, 8],
            cout: 12,
            k: [1, 1],
            p: Conv2dParams::default(),
            bias: true,
        },
        // kernel as large as the padded input.
        Case {
            x: [1, 2, 4, 5],
            cout: 3,
            k: [6, 7],
            p: p([1, 1], [1, 1, 1, 1], [1, 1], 1, none),
            bias: false,
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        run_case(&dev, i, c).await;
    }
}
}

gpu_test! {
async fn conv1d_runs_through_conv2d(dev) {
    let (n, c, l, co, k) = (2, 6, 37, 5, 4);
    let xd = reference::random(n * c * l, 1);
    let wd = reference::random(co * (c / 2) * k, 2);
    let x = Tensor::from_f32(&dev, &xd, &[n, c, l]).unwrap();
    let w = Tensor::from_f32(&dev, &wd, &[co * 2, c / 2, k]).unwrap_err();
    assert!(matches!(w, Error::DataLength { .. }));
    let w = Tensor::from_f32(&dev, &wd, &[co, c / 2, k]);
    // co = 5 is not divisible by groups = 2: a typed error.
    let p = Conv1dParams {
        stride: 2,
        padding: [3, 1],
        dilation: 2,
        groups: 2,
        activation: Activation::Tanh,
    };
    assert!(matches!(
        conv::conv1d(&x, w.as_ref().unwrap(), None, &p),
        Err(Error::InvalidArgument { .. })
    ));
    let wd = reference::random(6 * 3 * k, 3);
    let w = Tensor::from_f32(&dev, &wd, &[6, 3, k]).unwrap();
    let y = conv::conv1d(&x, &w, None, &p).unwrap();
    let (want, s) = rconv::conv2d(
        &xd,
        [n, c, 1, l],
        &wd,
        [6, 3, 1, k],
        None,
        [1, 2],
        [0, 3, 0, 1],
        [1, 2],
        2,
        Activation::Tanh,
    );
    assert_eq!(y.shape(), &[s[0], s[1], s[3]]);
    reference::check_nmse(
        "conv1d",
        &y.to_f32_vec_async().await.unwrap(),
        &want,
        reference::NMSE_F32,
    )
    .unwrap();
}
}

gpu_test! {
async fn conv_transpose2d_matches_reference(dev) {
    // (input shape, output channels per group, kernel, params, bias)
    type TCase = ([usize; 4], usize, [usize; 2], ConvTranspose2dParams, bool);
    let cases: [TCase; 4] = [
        (
            [2, 4, 5, 7],
            3,
            [3, 3],
            ConvTranspose2dParams {
                stride: [2, 2],
                padding: [1, 1, 1, 1],
                output_padding: [1, 1],
                ..Default::default()
            },
            true,
        ),
        (
            [1, 6, 9, 4],
            2,
            [4, 3],
            ConvTranspose2dParams {
                stride: [3, 1],
                padding: [0, 2, 1, 0],
                output_padding: [2, 0],
                dilation: [1, 2],
                groups: 3,
                activation: Activation::Relu,
            },
            false,
        ),
        (
            [1, 1, 1, 1],
            5,
            [2, 2],
            ConvTranspose2dParams::default(),
            true,
        ),
        (
            [2, 16, 13, 11],
            8,
            [5, 5],
            ConvTranspose2dParams {
                stride: [2, 3],
                padding: [2, 2, 2, 2],
                groups: 2,
                ..Default::default()
            },
            true,
        ),
    ];
    for (i, (xs, cout_g, k, p, has_b)) in cases.iter().enumerate() {
        let ws = [xs[1], *cout_g, k[0], k[1]];
        let xd = reference::random(xs.iter().product(), 10 + i as u64);
        let wd = reference::random(ws.iter().product(), 20 + i as u64);
        let bd = reference::random(cout_g * p.groups, 30 + i as u64);
        let x = Tensor::from_f32(&dev, &xd, xs).unwrap();
        let w = Tensor::from_f32(&dev, &wd, &ws).unwrap();
        let b = Tensor::from_f32(&dev, &bd, &[cout_g * p.groups]).unwrap();
        let y = conv::conv_transpose2d(&x, &w, has_b.then_some(&b), p).unwrap();
        let (want, s) = rconv::conv_transpose2d(
            &xd,
            *xs,
            &wd,
            ws,
            has_b.then_some(&bd[..]),
            p.stride,
            p.padding,
            p.output_padding,
            p.dilation,
            p.groups,
            p.activation,
        );
        assert_eq!(y.shape(), &s);
        reference::check_nmse(
            &format!("conv_transpose2d case {i}"),
            &y.to_f32_vec_async().await.unwrap(),
            &want,
            reference::NMSE_F32,
        )
        .unwrap();
    }
}
}

gpu_test! {
async fn conv_rejects_bad_shapes_with_typed_errors(dev) {
    let x = Tensor::from_f32(&dev, &reference::random(2 * 4 * 5 * 5, 1), &[2, 4, 5, 5]).unwrap();
    let w = Tensor::from_f32(&dev, &reference::random(3 * 4 * 3 * 3, 2), &[3, 4, 3, 3]).unwrap();
    let p = Conv2dParams::default;
    // wrong channel count for groups
    let e = conv::conv2d(&x, &w, None, &Conv2dParams { groups: 2, ..p() }).unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { .. } | Error::Shape { .. }),
        "{e}"
    );
    // zero stride
    let e = conv::conv2d(
        &x,
        &w,
        None,
        &Conv2dParams {
            stride: [0, 1],
            ..p()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    // kernel bigger than input
    let big = Tensor::from_f32(&dev, &reference::random(3 * 4 * 7 * 7, 3), &[3, 4, 7, 7]).unwrap();
    let e = conv::conv2d(&x, &big, None, &p()).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // bias of the wrong length
    let b = Tensor::from_f32(&dev, &[1.0, 2.0], &[2]).unwrap();
    let e = conv::conv2d(&x, &w, Some(&b), &p()).unwrap_err();
    assert!(e.to_string().contains("conv2d"), "{e}");
    // rank 3 input
    let x3 = x.reshape(&[8, 5, 5]).unwrap();
    assert!(matches!(
        conv::conv2d(&x3, &w, None, &p()),
        Err(Error::Shape { .. })
    ));
}
}
