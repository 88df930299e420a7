//! Reductions against the f64 reference at awkward sizes, both kernel families.
mod common;

use flopwatt::ops::reduce::{encode_reduce_with, reduce, ReduceOp, Strategy};
use flopwatt::{DType, Device, Error, Recorder, Tensor};
use flopwatt_reference::reduce::{reduce as reference, Kind};
use flopwatt_reference::{self as reference, check_close, check_nmse, EXACT_F32, NMSE_F32};

const OPS: [(ReduceOp, Kind); 7] = [
    (ReduceOp::Sum, Kind::Sum),
    (ReduceOp::Mean, Kind::Mean),
    (ReduceOp::Max, Kind::Max),
    (ReduceOp::Min, Kind::Min),
    (ReduceOp::Prod, Kind::Prod),
    (ReduceOp::ArgMax, Kind::ArgMax),
    (ReduceOp::ArgMin, Kind::ArgMin),
];

fn mask(rank: usize, axes: Option<&[isize]>) -> Vec<bool> {
    match axes {
        None => vec![true; rank],
        Some(a) => (0..rank)
            .map(|d| a.iter().any(|&x| (x + rank as isize) as usize % rank == d))
            .collect(),
    }
}

fn expected_shape(shape: &[usize], m: &[bool], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .zip(m)
        .filter_map(|(&d, &r)| {
            if !r {
                Some(d)
            } else if keepdims {
                Some(1)
            } else {
                None
            }
        })
        .collect()
}

/// Data suited to the op: products stay near 1, arg ops get many ties.
fn data_for(op: ReduceOp, n: usize, seed: u64) -> Vec<f32> {
    match op {
        // Narrow enough that products of 10^5 terms stay well inside f32 range.
        ReduceOp::Prod => reference::random_range(n, seed, 0.99, 1.01),
        ReduceOp::ArgMax | ReduceOp::ArgMin => reference::random_range(n, seed, -4.0, 4.0)
            .into_iter()
            .map(f32::floor)
            .collect(),
        _ => reference::random(n, seed),
    }
}

fn run(
    dev: &Device,
    x: &Tensor,
    op: ReduceOp,
    axes: Option<&[isize]>,
    keepdims: bool,
    s: Strategy,
) -> Tensor {
    let mut rec = Recorder::new(dev);
    let out = encode_reduce_with(&mut rec, x, op, axes, keepdims, s).unwrap();
    rec.submit(false).unwrap();
    out
}

async fn check_op(what: &str, out: &Tensor, op: ReduceOp, want: &[f64]) {
    let r = if op.is_arg() {
        assert_eq!(out.dtype(), DType::I32, "{what}");
        let got = out.to_i32_vec_async().await.unwrap();
        let want_i: Vec<i32> = want.iter().map(|&w| w as i32).collect();
        assert_eq!(got, want_i, "{what}");
        Ok(())
    } else {
        let got = out.to_f32_vec_async().await.unwrap();
        match op {
            ReduceOp::Max | ReduceOp::Min => check_close(what, &got, want, EXACT_F32),
            _ => check_nmse(what, &got, want, NMSE_F32),
        }
    };
    r.unwrap_or_else(|e| panic!("{e}"));
}

async fn case(dev: &Device, shape: &[usize], axes: Option<&[isize]>, seed: u64) {
    let n: usize = shape.iter().product();
    let m = mask(shape.len(), axes);
    for (op, kind) in OPS {
        let data = data_for(op, n, seed);
        let want = reference(&data, shape, &m, kind);
        let x = Tensor::from_f32(dev, &data, shape).unwrap();
        for s in [Strategy::Direct, Strategy::Tree] {
            for keepdims in [false, true] {
                let what = format!("{op:?} {shape:?} axes {axes:?} keepdims {keepdims} {s:?}");
                let out = run(dev, &x, op, axes, keepdims, s);
                assert_eq!(out.shape(), expected_shape(shape, &m, keepdims), "{what}");
                check_op(&what, &out, op, &want).await;
            }
        }
    }
}

gpu_test! {
async fn rank1_awkward_sizes(dev) {
    for (i, n) in [1usize, 2, 3, 127, 257, 4096, 4099, 100_003]
        .into_iter()
        .enumerate()
    {
        if common::BROWSER && n > 10_000 {
            continue; // native only (see common::BROWSER)
        }
        case(&dev, &[n], None, i as u64).await;
        case(&dev, &[n], Some(&[-1]), 100 + i as u64).await;
    }
}
}

gpu_test! {
async fn rank2_every_axis(dev) {
    for (i, shape) in [
        [1usize, 1],
        [3, 257],
        [257, 3],
        [127, 128],
        [4096, 33],
        [2, 100_003],
    ]
    .into_iter()
    .enumerate()
    {
        for axes in [
            Some(&[0isize][..]),
            Some(&[1]),
            Some(&[-1]),
            Some(&[0, 1]),
            None,
        ] {
            case(&dev, &shape, axes, 10 + i as u64).await;
        }
    }
}
}

gpu_test! {
async fn rank3_and_rank4_axis_sets(dev) {
    let cases: &[(&[usize], &[&[isize]])] = &[
        (
            &[5, 7, 129],
            &[&[0], &[1], &[2], &[0, 2], &[0, 1], &[1, 2], &[-3, -1]],
        ),
        (
            &[2, 3, 4, 5],
            &[
                &[0],
                &[1],
                &[2],
                &[3],
                &[0, 2],
                &[1, 3],
                &[1, 2],
                &[0, 3],
                &[0, 1, 2, 3],
                &[0, 1, 3],
            ],
        ),
        (&[3, 5000, 8], &[&[1], &[0, 1], &[0]]),
        (&[300, 20], &[&[0]]),
        (&[9000, 64], &[&[0]]),
        (&[3, 1, 64, 2], &[&[1], &[2], &[1, 2], &[0, 3]]),
    ];
    for (i, (shape, axes_list)) in cases.iter().enumerate() {
        if common::BROWSER && shape.iter().product::<usize>() > 100_000 {
            continue; // native only (see common::BROWSER)
        }
        for (j, axes) in axes_list.iter().enumerate() {
            case(&dev, shape, Some(axes), (i * 100 + j) as u64).await;
        }
    }
}
}

gpu_test! {
async fn strided_views(dev) {
    let shape = [37usize, 65];
    let data = reference::random(37 * 65, 5);
    let x = Tensor::from_f32(&dev, &data, &shape).unwrap();
    let xt = x.transpose(0, 1).unwrap(); // [65, 37]
    let dense: Vec<f32> = xt.to_f32_vec_async().await.unwrap();
    for axes in [Some(&[0isize][..]), Some(&[1]), None] {
        let m = mask(2, axes);
        for (op, kind) in OPS {
            let want = reference(&dense, &[65, 37], &m, kind);
            let out = reduce(&xt, op, axes, false).unwrap();
            check_op(&format!("transposed {op:?} {axes:?}"), &out, op, &want).await;
        }
    }
    let b = Tensor::from_f32(&dev, &data[..65], &[1, 65])
        .unwrap()
        .broadcast_to(&[7, 65])
        .unwrap();
    let dense = b.to_f32_vec_async().await.unwrap();
    for (op, kind) in OPS {
        let want = reference(&dense, &[7, 65], &[true, false], kind);
        let out = reduce(&b, op, Some(&[0]), true).unwrap();
        assert_eq!(out.shape(), &[1, 65]);
        check_op(&format!("broadcast {op:?}"), &out, op, &want).await;
    }
}
}

gpu_test! {
/// Full sums of up to 2^24 random elements: NMSE and a tight bound on the scalar relative to
/// sum |x| (the condition of the sum), and exact sums of ones (the peer bug: wrong totals).
async fn large_full_sums(dev) {
    for (i, n) in [1usize, (1 << 18) + 1, 1 << 22, 1 << 24]
        .into_iter()
        .enumerate()
    {
        for (lo, hi) in [(-1.0f32, 1.0f32), (0.0, 1.0)] {
            let data = reference::random_range(n, 40 + i as u64, lo, hi);
            let want: f64 = data.iter().map(|&v| v as f64).sum();
            let abs: f64 = data.iter().map(|&v| (v as f64).abs()).sum();
            let x = Tensor::from_f32(&dev, &data, &[n]).unwrap();
            for s in [Strategy::Direct, Strategy::Tree] {
                let got = run(&dev, &x, ReduceOp::Sum, None, false, s)
                    .to_f32_vec_async().await
                    .unwrap()[0] as f64;
                check_nmse(
                    &format!("sum n={n} {s:?}"),
                    &[got as f32],
                    &[want],
                    NMSE_F32,
                )
                .unwrap_or_else(|e| panic!("{e}"));
                // 1e-6 of sum|x| is ~17 ulp of the worst-case magnitude: far below any
                // dropped or doubled chunk, above f32 rounding of a chunked sum.
                assert!(
                    (got - want).abs() <= 1e-6 * abs,
                    "sum n={n} [{lo},{hi}) {s:?}: got {got} want {want} (sum|x| {abs})"
                );
                let mean = run(&dev, &x, ReduceOp::Mean, None, false, s)
                    .to_f32_vec_async().await
                    .unwrap()[0] as f64;
                assert!(
                    (mean - want / n as f64).abs() <= 1e-6 * abs / n as f64,
                    "mean n={n} {s:?}"
                );
            }
        }
        let ones = Tensor::from_f32(&dev, &vec![1.0f32; n], &[n]).unwrap();
        for s in [Strategy::Direct, Strategy::Tree] {
            let got = run(&dev, &ones, ReduceOp::Sum, None, false, s)
                .to_f32_vec_async().await
                .unwrap();
            assert_eq!(got, vec![n as f32], "sum of {n} ones {s:?}");
        }
    }
}
}

gpu_test! {
async fn ties_nan_and_infinities(dev) {
    let x = Tensor::from_f32(&dev, &[f32::NAN, 1.0, 5.0, f32::NAN, 5.0, -3.0, -3.0], &[7]).unwrap();
    for s in [Strategy::Direct, Strategy::Tree] {
        let i = async |op| run(&dev, &x, op, None, false, s).to_i32_vec_async().await.unwrap()[0];
        let v = async |op| run(&dev, &x, op, None, false, s).to_f32_vec_async().await.unwrap()[0];
        assert_eq!(i(ReduceOp::ArgMax).await, 2, "{s:?}");
        assert_eq!(i(ReduceOp::ArgMin).await, 5, "{s:?}");
        assert_eq!(v(ReduceOp::Max).await, 5.0, "{s:?}");
        assert_eq!(v(ReduceOp::Min).await, -3.0, "{s:?}");
        assert!(v(ReduceOp::Sum).await.is_nan(), "{s:?}");
    }
    let inf = Tensor::from_f32(
        &dev,
        &[
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::INFINITY,
        ],
        &[2, 2],
    )
    .unwrap();
    for s in [Strategy::Direct, Strategy::Tree] {
        let got = run(&dev, &inf, ReduceOp::ArgMax, Some(&[1]), false, s)
            .to_i32_vec_async().await
            .unwrap();
        assert_eq!(got, vec![0, 0], "{s:?}");
        let got = run(&dev, &inf, ReduceOp::ArgMin, Some(&[0]), false, s)
            .to_i32_vec_async().await
            .unwrap();
        assert_eq!(got, vec![0, 0], "{s:?}");
        let got = run(&dev, &inf, ReduceOp::Max, Some(&[1]), false, s)
            .to_f32_vec_async().await
            .unwrap();
        assert_eq!(got, vec![f32::NEG_INFINITY, f32::INFINITY], "{s:?}");
    }
    // The max sits in several chunks of a long row: the first one must win across passes.
    let n = 300_001;
    let mut data = reference::random(n, 9);
    for &p in &[70_000usize, 150_000, 299_999] {
        data[p] = 2.0;
    }
    let x = Tensor::from_f32(&dev, &data, &[n]).unwrap();
    for s in [Strategy::Direct, Strategy::Tree] {
        assert_eq!(
            run(&dev, &x, ReduceOp::ArgMax, None, false, s)
                .to_i32_vec_async().await
                .unwrap(),
            vec![70_000]
        );
    }
}
}

gpu_test! {
async fn bad_arguments_are_typed_errors(dev) {
    let x = Tensor::from_f32(&dev, &reference::random(6, 1), &[2, 3]).unwrap();
    for axes in [&[2isize][..], &[-3], &[0, 0], &[1, -1]] {
        match reduce(&x, ReduceOp::Sum, Some(axes), false) {
            Err(Error::InvalidArgument {
                op: "reduce",
                message,
            }) => assert!(message.contains("[2, 3]"), "{message}"),
            other => panic!("axes {axes:?}: expected InvalidArgument, got {other:?}"),
        }
    }
    let xi = Tensor::from_i32(&dev, &[1, 2, 3], &[3]).unwrap();
    assert!(matches!(
        reduce(&xi, ReduceOp::Sum, None, false),
        Err(Error::UnsupportedDType { op: "reduce", .. })
    ));
    let empty = Tensor::empty(&dev, &[0, 3], DType::F32).unwrap();
    assert!(matches!(
        reduce(&empty, ReduceOp::Max, None, false),
        Err(Error::InvalidArgument { .. })
    ));
}
}

gpu_test! {
/// Column reductions (sum over rows of [R, C], as every bias gradient) at awkward sizes, both
/// kernel families: the GPU family splits the rows over workgroups and combines the partials.
async fn column_reductions_split_over_rows(dev) {
    let mut seed = 500;
    for r in [1usize, 7, 1000, 4097] {
        for c in [1usize, 3, 4, 65] {
            let shape = [r, c];
            let m = [true, false];
            for (op, kind) in OPS {
                seed += 1;
                let data = data_for(op, r * c, seed);
                let want = reference(&data, &shape, &m, kind);
                let x = Tensor::from_f32(&dev, &data, &shape).unwrap();
                for s in [Strategy::Direct, Strategy::Tree] {
                    let out = run(&dev, &x, op, Some(&[0]), false, s);
                    check_op(&format!("{op:?} {shape:?} rows {s:?}"), &out, op, &want).await;
                }
            }
        }
    }
}
}

gpu_test! {
/// The GPU family's column reduction of [4096, 64] spreads the rows over many workgroups,
/// then one small dispatch combines the partials; the CPU family keeps one pass.
async fn column_reduction_dispatch_shape(dev) {
    let x = Tensor::from_f32(&dev, &vec![1.0; 4096 * 64], &[4096, 64]).unwrap();
    for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::ArgMax] {
        let mut rec = Recorder::new(&dev);
        let out = encode_reduce_with(&mut rec, &x, op, Some(&[0]), false, Strategy::Tree).unwrap();
        let groups: Vec<u32> = rec.dispatches().iter().map(|d| d.workgroups()[0]).collect();
        assert_eq!(groups.len(), 2, "{op:?}: split pass then combine, got {groups:?}");
        assert!(groups[0] >= 16, "{op:?}: first pass {groups:?} uses too few workgroups");
        assert_eq!(groups[1], 1, "{op:?}: combine of 64 columns is one workgroup");
        rec.submit(false).unwrap();
        if op == ReduceOp::Sum {
            assert_eq!(out.to_f32_vec_async().await.unwrap(), vec![4096.0; 64]);
        }
    }
    let mut rec = Recorder::new(&dev);
    encode_reduce_with(&mut rec, &x, ReduceOp::Sum, Some(&[0]), false, Strategy::Direct).unwrap();
    assert_eq!(rec.len(), 1, "the CPU family reads the columns in one pass");
}
}

gpu_test! {
/// Row reductions at lengths around the short-row cut, every strategy (`Auto` takes one
/// invocation per short row on either adapter class).
async fn row_lengths_around_the_short_row_cut(dev) {
    for (i, len) in [1usize, 3, 4, 31, 33, 64, 65, 1000, 4099].into_iter().enumerate() {
        let rows = if len <= 64 { 70 } else { 3 };
        let shape = [rows, len];
        for (op, kind) in OPS {
            let data = data_for(op, rows * len, 700 + i as u64);
            let want = reference(&data, &shape, &[false, true], kind);
            let x = Tensor::from_f32(&dev, &data, &shape).unwrap();
            for s in [Strategy::Auto, Strategy::Direct, Strategy::Tree] {
                let out = run(&dev, &x, op, Some(&[-1]), false, s);
                check_op(&format!("{op:?} {shape:?} {s:?}"), &out, op, &want).await;
            }
        }
    }
}
}

/// On the GPU class, short rows take one invocation per row and long rows a workgroup each.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn gpu_class_row_reduction_picks_by_row_length() {
    use flopwatt::{AdapterClass, DeviceOptions};
    if common::device().is_none() {
        return;
    }
    let opts = DeviceOptions {
        adapter_class: Some(AdapterClass::Gpu),
        ..DeviceOptions::from_env().unwrap()
    };
    let dev = Device::with_options(&opts).unwrap();
    for (rows, len, tree) in [
        (4096usize, 32usize, false),
        (4096, 64, false),
        (64, 65, true),
    ] {
        let x = Tensor::from_f32(&dev, &vec![1.0; rows * len], &[rows, len]).unwrap();
        let mut rec = Recorder::new(&dev);
        let out = encode_reduce_with(
            &mut rec,
            &x,
            ReduceOp::Sum,
            Some(&[1]),
            false,
            Strategy::Auto,
        )
        .unwrap();
        let d = &rec.dispatches()[0];
        let what = format!("{} at [{rows}, {len}]", d.kernel);
        assert_eq!(rec.len(), 1, "{what}");
        assert_eq!(d.kernel.contains("tree"), tree, "{what}");
        let groups = if tree { rows } else { rows / 64 };
        assert_eq!(d.workgroups()[0] as usize, groups, "{what}");
        rec.submit(false).unwrap();
        assert_eq!(
            common::block_on(out.to_f32_vec_async()).unwrap(),
            vec![len as f32; rows]
        );
    }
}
