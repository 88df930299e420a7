//! Elementwise ops and fused expression trees against the f64 reference.
mod common;

use flopwatt::ops::elementwise::{self as ew, BinaryOp, Expr, UnaryOp};
use flopwatt::ops::Activation;
use flopwatt::{DType, Device, Error, Recorder, Tensor};
use flopwatt_reference::elementwise::{
    binary_f64, binary_tolerance, cast_f64, eval_bound, eval_f64, unary_f64, unary_tolerance,
};
use flopwatt_reference::{
    self as reference, check_close, close, random_range, to_f64, F16_STORAGE,
};

const SIZES: [usize; 5] = [1, 127, 257, 4096, 100_003];

fn up(dev: &Device, data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_f32(dev, data, shape).unwrap()
}

/// The reference rounded to f32 (the output dtype), so overflow to inf is expected too.
fn as_f32(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().map(|x| x as f32 as f64).collect()
}

gpu_test! {
async fn every_unary_op_at_awkward_sizes(dev) {
    for (s, &n) in SIZES.iter().enumerate() {
        let x = random_range(n, 100 + s as u64, -3.0, 3.0);
        let t = up(&dev, &x, &[n]);
        for op in UnaryOp::samples() {
            let got = ew::unary(&t, op).unwrap().to_f32_vec_async().await.unwrap();
            let want = as_f32(x.iter().map(|&v| unary_f64(op, v as f64)).collect());
            check_close(&format!("{op:?} n={n}"), &got, &want, unary_tolerance(op)).unwrap();
        }
    }
}
}

gpu_test! {
async fn sigmoid_keeps_relative_accuracy_in_its_tail(dev) {
    // A detector's probability map lives in sigmoid's tail (1e-13..1e-4) on a page without
    // text; there the value itself, not an absolute 2e-6, is what must be right.
    let x = random_range(1001, 21, -30.0, -8.0);
    let t = up(&dev, &x, &[1001]);
    let op = UnaryOp::Act(Activation::Sigmoid);
    let got = ew::unary(&t, op).unwrap().to_f32_vec_async().await.unwrap();
    let want = as_f32(x.iter().map(|&v| unary_f64(op, v as f64)).collect());
    let rel = reference::Tolerance { rel: 2e-5, abs: 0.0 };
    check_close("sigmoid tail", &got, &want, rel).unwrap();
}
}

gpu_test! {
async fn named_unary_functions_match_their_ops(dev) {
    let x = random_range(257, 9, -4.0, 4.0);
    let t = up(&dev, &x, &[257]);
    type Named = fn(&Tensor) -> flopwatt::Result<Tensor>;
    let cases: [(Named, UnaryOp); 7] = [
        (ew::neg, UnaryOp::Neg),
        (ew::relu, UnaryOp::Act(Activation::Relu)),
        (ew::gelu, UnaryOp::Act(Activation::Gelu)),
        (ew::gelu_tanh, UnaryOp::Act(Activation::GeluTanh)),
        (ew::silu, UnaryOp::Act(Activation::Silu)),
        (ew::erf, UnaryOp::Erf),
        (ew::softplus, UnaryOp::Softplus),
    ];
    for (f, op) in cases {
        let got = f(&t).unwrap().to_f32_vec_async().await.unwrap();
        let want = as_f32(x.iter().map(|&v| unary_f64(op, v as f64)).collect());
        check_close(&format!("{op:?}"), &got, &want, unary_tolerance(op)).unwrap();
    }
    let got = ew::leaky_relu(&t, 0.01).unwrap().to_f32_vec_async().await.unwrap();
    let op = UnaryOp::Act(Activation::LeakyRelu(0.01));
    let want = as_f32(x.iter().map(|&v| unary_f64(op, v as f64)).collect());
    check_close("leaky_relu", &got, &want, unary_tolerance(op)).unwrap();
    let got = ew::hard_sigmoid(&t, 0.2, 0.5)
        .unwrap()
        .to_f32_vec_async().await
        .unwrap();
    let op = UnaryOp::HardSigmoid {
        alpha: 0.2,
        beta: 0.5,
    };
    let want = as_f32(x.iter().map(|&v| unary_f64(op, v as f64)).collect());
    check_close("hard_sigmoid", &got, &want, unary_tolerance(op)).unwrap();
    let got = ew::clip(&t, -1.5, 2.0).unwrap().to_f32_vec_async().await.unwrap();
    let want: Vec<f64> = x.iter().map(|&v| (v as f64).clamp(-1.5, 2.0)).collect();
    check_close(
        "clip",
        &got,
        &want,
        unary_tolerance(UnaryOp::Clip {
            min: -1.5,
            max: 2.0,
        }),
    )
    .unwrap();
}
}

fn binary_inputs(op: BinaryOp, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    match op {
        // Positive bases for the smooth part; negative bases with integer exponents below.
        BinaryOp::Pow => (
            random_range(n, seed, 0.1, 3.0),
            random_range(n, seed + 1, -3.0, 3.0),
        ),
        // Ties matter for comparisons: draw from a few values so a == b often.
        o if o.is_comparison() => {
            let a = random_range(n, seed, 0.0, 4.0)
                .iter()
                .map(|v| v.floor())
                .collect();
            let b = random_range(n, seed + 1, 0.0, 4.0)
                .iter()
                .map(|v| v.floor())
                .collect();
            (a, b)
        }
        _ => (
            random_range(n, seed, -3.0, 3.0),
            random_range(n, seed + 1, -3.0, 3.0),
        ),
    }
}

gpu_test! {
async fn every_binary_op_same_shape_at_awkward_sizes(dev) {
    for (s, &n) in SIZES.iter().enumerate() {
        for op in BinaryOp::ALL {
            let (a, b) = binary_inputs(op, n, 200 + s as u64);
            let (ta, tb) = (up(&dev, &a, &[n]), up(&dev, &b, &[n]));
            let got = ew::binary(&ta, &tb, op).unwrap().to_f32_vec_async().await.unwrap();
            let want = as_f32(
                a.iter()
                    .zip(&b)
                    .map(|(&x, &y)| binary_f64(op, x as f64, y as f64))
                    .collect(),
            );
            check_close(&format!("{op:?} n={n}"), &got, &want, binary_tolerance(op)).unwrap();
        }
    }
}
}

gpu_test! {
async fn every_binary_op_broadcasts(dev) {
    // [3,1,5] with [4,1] -> [3,4,5]; and a scalar-like [1] with [127].
    for (sa, sb) in [
        (vec![3usize, 1, 5], vec![4usize, 1]),
        (vec![1], vec![127]),
        (vec![2, 1, 1, 3], vec![5, 1]),
    ] {
        let (na, nb) = (sa.iter().product::<usize>(), sb.iter().product::<usize>());
        for op in BinaryOp::ALL {
            let (a, _) = binary_inputs(op, na, 300);
            let (_, b) = binary_inputs(op, nb, 400);
            let got_t = ew::binary(&up(&dev, &a, &sa), &up(&dev, &b, &sb), op).unwrap();
            let e = Expr::binary(op, Expr::input(0), Expr::input(1));
            let (shape, want) = reference::elementwise::eval_broadcast(
                &e,
                &[(&to_f64(&a), &sa), (&to_f64(&b), &sb)],
            )
            .unwrap();
            assert_eq!(got_t.shape(), &shape[..]);
            let got = got_t.to_f32_vec_async().await.unwrap();
            check_close(
                &format!("{op:?} {sa:?} with {sb:?}"),
                &got,
                &as_f32(want),
                binary_tolerance(op),
            )
            .unwrap();
        }
    }
    let bad = ew::add(&up(&dev, &[0.5; 6], &[2, 3]), &up(&dev, &[0.5; 4], &[4, 1]));
    match bad {
        Err(Error::Shape { op, message }) => {
            assert_eq!(op, "elementwise");
            assert!(
                message.contains("[2, 3]") && message.contains("[4, 1]"),
                "{message}"
            );
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}
}

gpu_test! {
async fn transposed_and_broadcast_views_are_read_in_place(dev) {
    // a: [7, 13] stored, viewed as [13, 7]; b: [13, 7] contiguous; c: [7] broadcast.
    let a = random_range(91, 1, -2.0, 2.0);
    let b = random_range(91, 2, -2.0, 2.0);
    let c = random_range(7, 3, -2.0, 2.0);
    let ta = up(&dev, &a, &[7, 13]).transpose(0, 1).unwrap();
    let tb = up(&dev, &b, &[13, 7]);
    let tc = up(&dev, &c, &[7]);
    let expr =
        (Expr::input(0) * Expr::input(1) - Expr::input(2)).unary(UnaryOp::Act(Activation::Relu));
    let got = ew::fused(&[&ta, &tb, &tc], &expr).unwrap();
    assert!(got.is_contiguous());
    let a_logical = to_f64(&ta.to_f32_vec_async().await.unwrap());
    let (_, want) = reference::elementwise::eval_broadcast(
        &expr,
        &[
            (&a_logical, &[13, 7]),
            (&to_f64(&b), &[13, 7]),
            (&to_f64(&c), &[7]),
        ],
    )
    .unwrap();
    // Two roundings (mul, sub), then an exact relu.
    check_close(
        "transposed",
        &got.to_f32_vec_async().await.unwrap(),
        &want,
        reference::Tolerance {
            rel: 5e-7,
            abs: 1e-6,
        },
    )
    .unwrap();
    // A transposed view broadcast on top: [1, 13, 7] with a [3, 1, 1].
    let t3 = ta.reshape(&[13, 7]).err();
    assert!(t3.is_some(), "reshape of a strided view must refuse");
    let d = random_range(3, 4, -1.0, 1.0);
    let td = up(&dev, &d, &[3, 1, 1]);
    let got = ew::add(&ta, &td).unwrap();
    assert_eq!(got.shape(), &[3, 13, 7]);
    let (_, want) = reference::elementwise::eval_broadcast(
        &(Expr::input(0) + Expr::input(1)),
        &[(&a_logical, &[13, 7]), (&to_f64(&d), &[3, 1, 1])],
    )
    .unwrap();
    check_close(
        "transposed+broadcast",
        &got.to_f32_vec_async().await.unwrap(),
        &want,
        reference::EXACT_F32,
    )
    .unwrap();
}
}

gpu_test! {
async fn nan_and_inf_propagate(dev) {
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        1.0,
        -1.0,
        2.5,
        -2.5,
        0.5,
    ];
    let m = specials.len();
    // All pairs, as a [m, 1] x [m] broadcast; 10 x 10 also checks the strided path.
    let col = up(&dev, &specials, &[m, 1]);
    let row = up(&dev, &specials, &[m]);
    for op in BinaryOp::ALL {
        let got = ew::binary(&col, &row, op).unwrap().to_f32_vec_async().await.unwrap();
        for i in 0..m {
            for j in 0..m {
                let (a, b) = (specials[i] as f64, specials[j] as f64);
                let want = binary_f64(op, a, b) as f32 as f64;
                let g = got[i * m + j];
                assert!(
                    close(g, want, binary_tolerance(op)),
                    "{op:?}({a}, {b}) = {g}, want {want}"
                );
            }
        }
    }
    // Includes gelu/silu at -inf, whose limit 0 the kernels return explicitly.
    let t = up(&dev, &specials, &[m]);
    for op in UnaryOp::samples() {
        let got = ew::unary(&t, op).unwrap().to_f32_vec_async().await.unwrap();
        for (i, &x) in specials.iter().enumerate() {
            let want = unary_f64(op, x as f64) as f32 as f64;
            assert!(
                close(got[i], want, unary_tolerance(op)),
                "{op:?}({x}) = {}, want {want}",
                got[i]
            );
        }
    }
}
}

gpu_test! {
async fn domain_edges(dev) {
    let x = [-1.0f32, -0.0, 0.0, f32::INFINITY, 1e-30, -1e-30];
    let t = up(&dev, &x, &[6]);
    let log = ew::log(&t).unwrap().to_f32_vec_async().await.unwrap();
    assert!(log[0].is_nan(), "log(-1) = {}", log[0]);
    assert_eq!(log[1], f32::NEG_INFINITY, "log(-0)");
    assert_eq!(log[2], f32::NEG_INFINITY, "log(0)");
    assert_eq!(log[3], f32::INFINITY, "log(inf)");
    let sqrt = ew::sqrt(&t).unwrap().to_f32_vec_async().await.unwrap();
    assert!(sqrt[0].is_nan(), "sqrt(-1)");
    assert_eq!(
        sqrt[1].to_bits(),
        (-0.0f32).to_bits(),
        "sqrt(-0) must be -0, got {}",
        sqrt[1]
    );
    assert_eq!(sqrt[2], 0.0);
    assert_eq!(sqrt[3], f32::INFINITY);
    let r = ew::rsqrt(&t).unwrap().to_f32_vec_async().await.unwrap();
    assert!(
        r[0].is_nan() && r[2] == f32::INFINITY && r[3] == 0.0,
        "rsqrt {r:?}"
    );
    let rec = ew::reciprocal(&t).unwrap().to_f32_vec_async().await.unwrap();
    assert_eq!(rec[1], f32::NEG_INFINITY, "1/-0");
    assert_eq!(rec[2], f32::INFINITY, "1/0");
    let e = ew::exp(&up(&dev, &[100.0, -100.0, f32::NEG_INFINITY], &[3]))
        .unwrap()
        .to_f32_vec_async().await
        .unwrap();
    assert_eq!(e, vec![f32::INFINITY, 0.0, 0.0]);
    // pow edges follow C.
    let base = up(
        &dev,
        &[-2.0, -2.0, -0.0, 0.0, -1.0, f32::NAN, 1.0, -8.0],
        &[8],
    );
    let expo = up(
        &dev,
        &[3.0, 0.5, -1.0, -1.0, f32::INFINITY, 0.0, f32::NAN, 2.0],
        &[8],
    );
    let p = ew::pow(&base, &expo).unwrap().to_f32_vec_async().await.unwrap();
    assert_eq!(p[0], -8.0);
    assert!(p[1].is_nan());
    assert_eq!(p[2], f32::NEG_INFINITY);
    assert_eq!(p[3], f32::INFINITY);
    assert_eq!(&p[4..7], &[1.0, 1.0, 1.0]);
    assert!((p[7] - 64.0).abs() < 64.0 * 2e-5, "(-8)^2 = {}", p[7]);
}
}

gpu_test! {
async fn comparisons_feed_where_as_f32_and_i32_masks(dev) {
    let n = 4099;
    let a = random_range(n, 11, -1.0, 1.0);
    let b = random_range(n, 12, -5.0, 5.0);
    let (ta, tb) = (up(&dev, &a, &[n]), up(&dev, &b, &[n]));
    let zero = up(&dev, &[0.0], &[1]);
    let mask = ew::gt(&ta, &zero).unwrap();
    assert_eq!(mask.dtype(), DType::F32);
    let got = ew::where_(&mask, &ta, &tb).unwrap().to_f32_vec_async().await.unwrap();
    let want: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| if x > 0.0 { x as f64 } else { y as f64 })
        .collect();
    check_close("where(f32 mask)", &got, &want, reference::EXACT_F32).unwrap();
    // An i32 mask (and broadcasting of the cond).
    let imask: Vec<i32> = (0..n as i32)
        .map(|i| (i % 3 == 0) as i32 * (i % 7 - 3))
        .collect();
    let tm = Tensor::from_i32(&dev, &imask, &[n]).unwrap();
    let got = ew::where_(&tm, &ta, &tb).unwrap().to_f32_vec_async().await.unwrap();
    let want: Vec<f64> = (0..n)
        .map(|i| {
            if imask[i] != 0 {
                a[i] as f64
            } else {
                b[i] as f64
            }
        })
        .collect();
    check_close("where(i32 mask)", &got, &want, reference::EXACT_F32).unwrap();
    // A NaN cond counts as true (NaN != 0), -0 as false.
    let c = up(&dev, &[f32::NAN, -0.0, f32::INFINITY], &[3]);
    let got = ew::where_(&c, &up(&dev, &[1.0], &[1]), &up(&dev, &[2.0], &[1])).unwrap();
    assert_eq!(got.to_f32_vec_async().await.unwrap(), vec![1.0, 2.0, 1.0]);
    // Comparison casts to an i32 mask.
    let m32 = ew::fused(
        &[&ta, &zero],
        &Expr::binary(BinaryOp::Le, Expr::input(0), Expr::input(1)).cast(DType::I32),
    )
    .unwrap();
    assert_eq!(m32.dtype(), DType::I32);
    let want: Vec<i32> = a.iter().map(|&x| (x <= 0.0) as i32).collect();
    assert_eq!(m32.to_i32_vec_async().await.unwrap(), want);
}
}

gpu_test! {
async fn casts_between_dtypes(dev) {
    let x = [
        2.7f32,
        -2.7,
        0.0,
        -0.5,
        1e10,
        -1e10,
        f32::NAN,
        f32::INFINITY,
        16_777_216.0,
        123_456.0,
        -7.0,
    ];
    for n_extra in [0usize, 1] {
        // 11 and 12 elements: a partial and a whole last vec4.
        let mut v = x.to_vec();
        v.extend(std::iter::repeat_n(3.5, n_extra));
        let t = up(&dev, &v, &[v.len()]);
        let i = ew::cast(&t, DType::I32).unwrap();
        assert_eq!(i.dtype(), DType::I32);
        let want: Vec<i32> = v.iter().map(|&f| f as i32).collect();
        assert_eq!(i.to_i32_vec_async().await.unwrap(), want);
        let back = ew::cast(&i, DType::F32).unwrap();
        assert_eq!(back.dtype(), DType::F32);
        let want: Vec<f32> = want.iter().map(|&k| k as f32).collect();
        assert_eq!(back.to_f32_vec_async().await.unwrap(), want);
    }
    let r = random_range(4099, 5, -70000.0, 70000.0);
    let ints: Vec<i32> = r.iter().map(|&v| v as i32).collect();
    let ti = Tensor::from_i32(&dev, &ints, &[4099]).unwrap();
    let got = ew::cast(&ti, DType::F32).unwrap().to_f32_vec_async().await.unwrap();
    assert_eq!(got, ints.iter().map(|&k| k as f32).collect::<Vec<_>>());

    if !dev.has_f16() {
        let t = up(&dev, &[1.0], &[1]);
        assert!(matches!(
            ew::cast(&t, DType::F16),
            Err(Error::MissingFeature { .. })
        ));
        eprintln!("SKIPPED f16 casts: no SHADER_F16");
        return;
    }
    for n in [127usize, 4096] {
        let v = random_range(n, 21, -1000.0, 1000.0);
        let t = up(&dev, &v, &[n]);
        let h = ew::cast(&t, DType::F16).unwrap();
        assert_eq!(h.dtype(), DType::F16);
        let want: Vec<f32> = v.iter().map(|&f| half::f16::from_f32(f).to_f32()).collect();
        assert_eq!(
            h.to_f32_vec_async().await.unwrap(),
            want,
            "f32 -> f16 rounds to nearest"
        );
        let back = ew::cast(&h, DType::F32).unwrap().to_f32_vec_async().await.unwrap();
        assert_eq!(back, want);
        let hi = ew::cast(&h, DType::I32).unwrap().to_i32_vec_async().await.unwrap();
        assert_eq!(hi, want.iter().map(|&f| f as i32).collect::<Vec<_>>());
        let ih = ew::cast(&Tensor::from_i32(&dev, &hi, &[n]).unwrap(), DType::F16).unwrap();
        let want_ih: Vec<f32> = hi
            .iter()
            .map(|&k| half::f16::from_f32(k as f32).to_f32())
            .collect();
        assert_eq!(ih.to_f32_vec_async().await.unwrap(), want_ih);
        // f16 arithmetic keeps f16 storage, computes in f32.
        let sum = ew::add(&h, &h).unwrap();
        assert_eq!(sum.dtype(), DType::F16);
        let want_sum: Vec<f64> = want
            .iter()
            .map(|&f| cast_f64(2.0 * f as f64, DType::F16))
            .collect();
        check_close(
            "f16 add",
            &sum.to_f32_vec_async().await.unwrap(),
            &want_sum,
            F16_STORAGE,
        )
        .unwrap();
    }
}
}

gpu_test! {
async fn fused_matches_unfused_in_one_recorder(dev) {
    for n in [127usize, 4096, 100_003] {
        let x = random_range(n, 31, -3.0, 3.0);
        let t = up(&dev, &x, &[n]);
        let chain = (Expr::input(0) * Expr::Const(2.0) + Expr::Const(1.0))
            .unary(UnaryOp::Act(Activation::Relu));
        let mut rec = Recorder::new(&dev);
        let fused = ew::encode_fused(&mut rec, &[&t], &chain).unwrap();
        let two = up(&dev, &[2.0], &[1]);
        let one = up(&dev, &[1.0], &[1]);
        let m = ew::encode_mul(&mut rec, &t, &two).unwrap();
        let a = ew::encode_add(&mut rec, &m, &one).unwrap();
        let r = ew::encode_unary(&mut rec, &a, UnaryOp::Act(Activation::Relu)).unwrap();
        assert_eq!(rec.len(), 4);
        assert_eq!(rec.dispatches()[0].cost.flops, 3 * n as u64);
        assert_eq!(rec.dispatches()[0].cost.bytes, 8 * n as u64);
        assert_eq!(rec.dispatches()[1].cost.bytes, 8 * n as u64 + 4);
        // A one-element operand is splatted: the dense fast path, not the strided one.
        // (vec4 also for n % 4 != 0: the last vec4 runs into the buffer's padding.)
        assert!(rec
            .dispatches()
            .iter()
            .all(|d| d.kernel == "elementwise.vec4"));
        rec.submit(false).unwrap();
        let (f, u) = (fused.to_f32_vec_async().await.unwrap(), r.to_f32_vec_async().await.unwrap());
        // x * 2 is exact, so a contracted fma gives the same single rounding as mul + add.
        assert_eq!(f, u, "fused and unfused must agree");
        let want: Vec<f64> = x.iter().map(|&v| eval_f64(&chain, &[v as f64])).collect();
        check_close("chain", &f, &want, reference::EXACT_F32).unwrap();
    }
}
}

gpu_test! {
async fn grids_over_65535_workgroups_split(dev) {
    // The scalar layout, forced: 65537 workgroups of 256 (the vec4 path moves 4096
    // elements per workgroup, so no f32 tensor under the 128 MiB binding limit needs a split).
    let n = 65_536 * 256 + 1;
    let x: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 - 500.0).collect();
    let t = up(&dev, &x, &[n]);
    let mut rec = Recorder::new(&dev);
    let y =
        ew::encode_fused_with(&mut rec, &[&t], &-Expr::input(0), Some(ew::Layout::Linear)).unwrap();
    assert_eq!(rec.dispatches()[0].kernel, "elementwise.linear");
    rec.submit(false).unwrap();
    let got = y.to_f32_vec_async().await.unwrap();
    let wrong = got.iter().zip(&x).position(|(g, v)| *g != -v);
    assert_eq!(wrong, None, "element {wrong:?} of {n}");
}
}

gpu_test! {
async fn user_errors_are_typed(dev) {
    let t = up(&dev, &[1.0, 2.0], &[2]);
    assert!(matches!(
        ew::fused(&[&t], &Expr::input(1).unary(UnaryOp::Exp)),
        Err(Error::InvalidArgument { .. })
    ));
    // A tree that reads no input still takes the inputs' shape.
    let c = ew::fused(&[&t], &Expr::Const(1.5)).unwrap();
    assert_eq!(c.to_f32_vec_async().await.unwrap(), vec![1.5, 1.5]);
    assert!(matches!(
        ew::fused(&[], &Expr::input(0)),
        Err(Error::InvalidArgument { .. })
    ));
    let big: Vec<Tensor> = (0..8).map(|_| t.clone()).collect();
    let refs: Vec<&Tensor> = big.iter().collect();
    let sum8 = (1..8).fold(Expr::input(0), |e, i| e + Expr::input(i));
    assert!(matches!(
        ew::fused(&refs, &sum8),
        Err(Error::InvalidArgument { .. })
    ));
    // Nine dims that do not coalesce (the broadcast pattern alternates).
    let a = up(&dev, &[0.25; 32], &[2, 1, 2, 1, 2, 1, 2, 1, 2]);
    let b = up(&dev, &[0.5; 16], &[2, 1, 2, 1, 2, 1, 2, 1]);
    match ew::add(&a, &b) {
        Err(Error::Shape { message, .. }) => assert!(message.contains("9 dims"), "{message}"),
        other => panic!("expected a shape error, got {other:?}"),
    }
}
}

/// A random tree of depth <= `depth` over `k` inputs.
fn random_tree(rng: &mut fastrand::Rng, depth: usize, k: usize, f16: bool) -> Expr {
    if depth == 0 || rng.u32(0..5) == 0 {
        return if rng.u32(0..5) == 0 {
            Expr::Const(((rng.f32() * 4.0 - 2.0) * 4.0).round() / 4.0)
        } else {
            Expr::input(rng.usize(0..k))
        };
    }
    let sub = |rng: &mut fastrand::Rng| random_tree(rng, depth - 1, k, f16);
    match rng.u32(0..10) {
        0..=3 => {
            let op = BinaryOp::ALL[rng.usize(0..BinaryOp::ALL.len())];
            let a = sub(rng);
            let mut b = sub(rng);
            // Identical operands let the driver fold (x < x is 0, x - x is 0) and then
            // treat that zero as exact; see the module docs on float controls.
            while b == a {
                b = sub(rng);
            }
            Expr::binary(op, a, b)
        }
        4..=7 => {
            let ops = UnaryOp::samples();
            sub(rng).unary(ops[rng.usize(0..ops.len())])
        }
        8 => Expr::where_(sub(rng), sub(rng), sub(rng)),
        _ => {
            let d = match rng.u32(0..3) {
                0 => DType::I32,
                1 if f16 => DType::F16,
                _ => DType::F32,
            };
            sub(rng).cast(d)
        }
    }
}

gpu_test! {
async fn random_trees_match_eval_f64(dev) {
    let mut rng = fastrand::Rng::with_seed(0xe1e);
    let (mut checked, mut skipped) = (0usize, 0usize);
    for tree_i in 0..150 {
        let k = rng.usize(1..4);
        let expr = random_tree(&mut rng, 4, k, dev.has_f16());
        // A common shape, and each input a broadcastable (sometimes transposed) variant.
        let rank = rng.usize(1..4);
        let dims = [1usize, 2, 3, 5, 7, 13, 64];
        let out: Vec<usize> = (0..rank).map(|_| dims[rng.usize(0..dims.len())]).collect();
        let mut tensors = Vec::new();
        let mut logical = Vec::new();
        let mut shapes = Vec::new();
        for i in 0..k {
            let drop = rng.usize(0..=rank.min(1));
            let shape: Vec<usize> = out[drop..]
                .iter()
                .map(|&d| if rng.u32(0..3) == 0 { 1 } else { d })
                .collect();
            let n: usize = shape.iter().product();
            let data = random_range(n, 1000 + tree_i * 10 + i as u64, -2.0, 2.0);
            // Mostly f32; some i32 (small integers) and, where the device has it, f16 inputs.
            let dtype = match rng.u32(0..6) {
                0 => DType::I32,
                1 if dev.has_f16() => DType::F16,
                _ => DType::F32,
            };
            let upload = |shape: &[usize]| match dtype {
                DType::I32 => {
                    let ints: Vec<i32> = data.iter().map(|v| (v * 2.0).round() as i32).collect();
                    Tensor::from_i32(&dev, &ints, shape).unwrap()
                }
                DType::F16 => {
                    let h: Vec<half::f16> = data.iter().map(|&v| half::f16::from_f32(v)).collect();
                    Tensor::from_f16(&dev, &h, shape).unwrap()
                }
                DType::F32 => up(&dev, &data, shape),
            };
            let t = if shape.len() >= 2 && rng.bool() {
                // Upload the transposed layout and view it back as `shape`.
                let r = shape.len();
                let mut sw = shape.clone();
                sw.swap(0, r - 1);
                upload(&sw).transpose(0, r - 1).unwrap()
            } else {
                upload(&shape)
            };
            logical.push(to_f64(&t.to_f32_vec_async().await.unwrap()));
            shapes.push(shape);
            tensors.push(t);
        }
        let refs: Vec<&Tensor> = tensors.iter().collect();
        let got_t = match ew::fused(&refs, &expr) {
            Ok(t) => t,
            Err(e) => panic!("tree {tree_i} {expr:?}: {e}"),
        };
        let got = got_t.to_f32_vec_async().await.unwrap();
        let ins: Vec<(&[f64], &[usize])> = logical
            .iter()
            .map(|v| &v[..])
            .zip(shapes.iter().map(|s| &s[..]))
            .collect();
        let (shape, rows) = reference::elementwise::broadcast_rows(&ins).unwrap();
        assert_eq!(got_t.shape(), &shape[..], "tree {tree_i}");
        for (j, row) in rows.iter().enumerate() {
            let (want, bound) = eval_bound(&expr, row);
            if !bound.is_finite() {
                skipped += 1;
                continue;
            }
            // An f16 output rounds the f32 result once more.
            let bound = match got_t.dtype() {
                DType::F16 => bound + F16_STORAGE.abs + F16_STORAGE.rel * want.abs(),
                _ => bound,
            };
            let want = cast_f64(want, got_t.dtype());
            let g = got[j] as f64;
            let ok = if want.is_nan() {
                g.is_nan()
            } else if want.is_infinite() {
                g == want
            } else {
                (g - want).abs() <= bound * 1.0001 + 1e-30 && !g.is_nan()
            };
            assert!(ok, "tree {tree_i} {expr:?}\n element {j} inputs {row:?}: got {g}, want {want} +- {bound}");
            checked += 1;
        }
    }
    eprintln!("random trees: {checked} elements checked, {skipped} skipped as ill-conditioned");
    assert!(
        checked > 3 * skipped,
        "too many ill-conditioned elements: {checked} checked, {skipped} skipped"
    );
}
}

gpu_test! {
async fn every_layout_gives_the_same_answer(dev) {
    use flopwatt::ops::elementwise::Layout;
    let n = 4099;
    let x = random_range(n, 41, -3.0, 3.0);
    let y = random_range(n, 42, -3.0, 3.0);
    let (tx, ty) = (up(&dev, &x, &[n]), up(&dev, &y, &[n]));
    let expr = Expr::where_(
        Expr::binary(BinaryOp::Gt, Expr::input(0), Expr::input(1)),
        Expr::input(0).unary(UnaryOp::Act(Activation::Gelu)),
        Expr::input(1) * Expr::Const(-0.5),
    );
    let mut outs = Vec::new();
    for layout in [Layout::Linear, Layout::Vec4, Layout::Strided { rank: 1 }] {
        let mut rec = Recorder::new(&dev);
        let t = ew::encode_fused_with(&mut rec, &[&tx, &ty], &expr, Some(layout)).unwrap();
        let name = rec.dispatches()[0].kernel.clone();
        rec.submit(false).unwrap();
        outs.push((name, t.to_f32_vec_async().await.unwrap()));
    }
    assert_eq!(outs[0].0, "elementwise.linear");
    assert_eq!(outs[1].0, "elementwise.vec4");
    assert_eq!(outs[2].0, "elementwise.strided1");
    assert!(outs[0].1 == outs[1].1 && outs[1].1 == outs[2].1);
    let want: Vec<f64> = x
        .iter()
        .zip(&y)
        .map(|(&a, &b)| eval_f64(&expr, &[a as f64, b as f64]))
        .collect();
    check_close("layouts", &outs[0].1, &want, reference::TRANSCENDENTAL_F32).unwrap();
    // A broadcast cannot take the dense layouts.
    let row = up(&dev, &x[..4], &[4]);
    let col = up(&dev, &y[..3], &[3, 1]);
    let mut rec = Recorder::new(&dev);
    let r = ew::encode_fused_with(
        &mut rec,
        &[&row, &col],
        &(Expr::input(0) + Expr::input(1)),
        Some(Layout::Vec4),
    );
    assert!(matches!(r, Err(Error::InvalidArgument { .. })));
}
}

gpu_test! {
async fn both_bounds_variants_at_awkward_sizes(dev) {
    use flopwatt::ops::elementwise::{Bounds, ElementwiseKernel, Layout};
    use flopwatt::AdapterClass;
    // The variant really changes the source: a clamp with no branch, or a guard.
    let chain =
        (Expr::input(0) * Expr::Const(2.0) + Expr::Const(1.0)).unary(UnaryOp::Act(Activation::Relu));
    let src = |c| {
        ElementwiseKernel::generate_for(&chain, &[DType::F32], Layout::Vec4, &[], c)
            .unwrap()
            .source
    };
    let (cpu, gpu) = (src(AdapterClass::Cpu), src(AdapterClass::Gpu));
    assert!(cpu.contains("min(base") && !cpu.contains("if (i < p.n)"));
    assert!(gpu.contains("if (i < p.n)") && !gpu.contains("min(base"));
    assert_eq!(Bounds::for_class(AdapterClass::Cpu), Bounds::Clamp);
    // In place, a clamped surplus invocation would re-read an overwritten element: guard.
    let aliased =
        ElementwiseKernel::generate_aliased(&chain, &[DType::F32], Layout::Vec4, &[], Some(0))
            .unwrap()
            .source;
    assert!(aliased.contains("if (i < p.n)") && !aliased.contains("min(base"));

    let two_roundings = reference::Tolerance {
        rel: 5e-7,
        abs: 1e-6,
    };
    for class in [AdapterClass::Cpu, AdapterClass::Gpu] {
        let run = |inputs: &[&Tensor], e: &Expr, layout: Option<Layout>| {
            let mut rec = Recorder::new(&dev);
            let t = ew::encode_fused_variant(&mut rec, inputs, e, layout, Some(class)).unwrap();
            let name = rec.dispatches()[0].kernel.clone();
            rec.submit(false).unwrap();
            (name, t)
        };
        // 4099 and 4096 * 4 + 5: past one workgroup's vec4 block, not a multiple of 4.
        for (s, &n) in [1usize, 3, 127, 4099, 16_389, 1_000_003].iter().enumerate() {
            let x = random_range(n, 500 + s as u64, -3.0, 3.0);
            let y = random_range(n, 600 + s as u64, -3.0, 3.0);
            let (tx, ty) = (up(&dev, &x, &[n]), up(&dev, &y, &[n]));
            let want: Vec<f64> = x.iter().map(|&v| eval_f64(&chain, &[v as f64])).collect();
            for layout in [None, Some(Layout::Linear), Some(Layout::Strided { rank: 1 })] {
                let (name, t) = run(&[&tx], &chain, layout);
                let got = t.to_f32_vec_async().await.unwrap();
                let what = format!("{class:?} {name} n={n}");
                check_close(&what, &got, &want, reference::EXACT_F32).unwrap();
            }
            // A splatted scalar between two dense operands: x * s + y.
            let sc = up(&dev, &[-1.5], &[1]);
            let e = Expr::input(0) * Expr::input(1) + Expr::input(2);
            let (name, t) = run(&[&tx, &sc, &ty], &e, None);
            let want: Vec<f64> = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| a as f64 * -1.5 + b as f64)
                .collect();
            let got = t.to_f32_vec_async().await.unwrap();
            check_close(&format!("{class:?} {name} splat n={n}"), &got, &want, two_roundings)
                .unwrap();
            // i32 output (vec4<i32> stores).
            let e = (Expr::input(0) * Expr::Const(100.0)).cast(DType::I32);
            let (_, t) = run(&[&tx], &e, None);
            let got = t.to_i32_vec_async().await.unwrap();
            let want: Vec<i32> = x.iter().map(|&v| (v * 100.0) as i32).collect();
            assert_eq!(got, want, "{class:?} i32 n={n}");
            if dev.has_f16() {
                let h: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
                let th = Tensor::from_f16(&dev, &h, &[n]).unwrap();
                let (name, t) = run(&[&th], &chain, None);
                assert_eq!(t.dtype(), DType::F16);
                let got = t.to_f32_vec_async().await.unwrap();
                let want: Vec<f64> = h
                    .iter()
                    .map(|&v| eval_f64(&chain, &[v.to_f64()]))
                    .collect();
                check_close(&format!("{class:?} {name} f16 n={n}"), &got, &want, F16_STORAGE)
                    .unwrap();
            }
        }
        // Broadcast and a transposed view: the strided layout, rank 2 and 3.
        let (r, c) = (127, 3);
        let a = random_range(r * c, 70, -2.0, 2.0);
        let b = random_range(r, 71, -2.0, 2.0);
        let d = random_range(5, 72, -2.0, 2.0);
        let ta = up(&dev, &a, &[c, r]).transpose(0, 1).unwrap();
        let tb = up(&dev, &b, &[r, 1]);
        let td = up(&dev, &d, &[5, 1, 1]);
        let e = (Expr::input(0) - Expr::input(1) * Expr::input(2))
            .unary(UnaryOp::Act(Activation::Relu));
        let (name, t) = run(&[&ta, &tb, &td], &e, None);
        assert!(name.starts_with("elementwise.strided"), "{name}");
        assert_eq!(t.shape(), &[5, r, c]);
        let a_logical = to_f64(&ta.to_f32_vec_async().await.unwrap());
        let (_, want) = reference::elementwise::eval_broadcast(
            &e,
            &[
                (&a_logical, &[r, c]),
                (&to_f64(&b), &[r, 1]),
                (&to_f64(&d), &[5, 1, 1]),
            ],
        )
        .unwrap();
        let got = t.to_f32_vec_async().await.unwrap();
        check_close(&format!("{class:?} broadcast"), &got, &want, two_roundings).unwrap();
    }
}
}

/// Integer arithmetic is exact in i32 or an error after the run that says why, never a
/// rounded or saturated integer (f32 holds integers exactly only up to 2^24). Native only:
/// the browser's untimed submit does not wait to read the error flag.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn integer_arithmetic_is_exact_or_an_error() {
    let dev = device_or_skip!();
    let t = |v: &[i32]| Tensor::from_i32(&dev, v, &[v.len()]).unwrap();
    let int =
        |e: Expr, ins: &[&Tensor]| ew::fused(ins, &e.cast(DType::I32)).and_then(|y| y.to_i32_vec());
    let (a, b) = (Expr::input(0), Expr::input(1));
    let x = t(&[16_777_217, -16_777_217, 4097, i32::MAX, 7, -7]);
    let y = t(&[2, 2, 4097, 1, 2, 2]);
    let exact = [
        (
            a.clone() * b.clone(),
            [33_554_434, -33_554_434, 16_785_409, i32::MAX, 14, -14],
        ),
        (
            a.clone() + b.clone(),
            [16_777_219, -16_777_215, 8194, 0, 9, -5],
        ),
        (
            a.clone() - b.clone(),
            [16_777_215, -16_777_219, 0, i32::MAX - 1, 5, -9],
        ),
        (
            (a.clone() / b.clone()),
            [8_388_608, -8_388_608, 1, i32::MAX, 3, -3],
        ),
        (
            Expr::binary(BinaryOp::Max, a.clone().unary(UnaryOp::Neg), b.clone()),
            [2, 16_777_217, 4097, 1, 2, 7],
        ),
        // x * x - x * (x - 1) = x: in f32, 4097 * 4097 rounds and this gave 4096.
        (
            a.clone() * a.clone() - a.clone() * (a.clone() - b.clone().unary(UnaryOp::Abs)),
            [0; 6],
        ),
    ];
    for (k, (e, want)) in exact.into_iter().enumerate() {
        if k == 1 {
            // i32::MAX + 1 overflows: checked below; the rest of this row is exact.
            let z = t(&[16_777_217, -16_777_217, 4097, i32::MAX - 1, 7, -7]);
            let got = int(e, &[&z, &y]).unwrap();
            assert_eq!(got, [16_777_219, -16_777_215, 8194, i32::MAX, 9, -5]);
            continue;
        }
        if k == 5 {
            let x = t(&[4097, 46_340, 3, -40_000, 1, 0]);
            let one = t(&[1; 6]);
            let got = int(e, &[&x, &one]).unwrap();
            assert_eq!(got, [4097, 46_340, 3, -40_000, 1, 0]);
            continue;
        }
        assert_eq!(int(e.clone(), &[&x, &y]).unwrap(), want, "{e:?}");
    }
    // Comparisons compare the integers, not their f32 roundings.
    let c = ew::fused(
        &[&t(&[16_777_217]), &t(&[16_777_216])],
        &Expr::binary(BinaryOp::Eq, a.clone(), b.clone()),
    );
    assert_eq!(c.unwrap().to_f32_vec().unwrap(), [0.0]);
    // Broadcast (strided) and where over integers stay exact too.
    let m = Tensor::from_i32(&dev, &[16_777_217, 3, -5, 8], &[2, 2]).unwrap();
    let col = Tensor::from_i32(&dev, &[2, 0], &[2, 1]).unwrap();
    let e = Expr::where_(b.clone(), a.clone() * b.clone(), a.clone() - Expr::input(0));
    assert_eq!(int(e, &[&m, &col]).unwrap(), [33_554_434, 6, 0, 0]);
    // Overflow, division by zero, and an inexact f32 output are errors.
    let errs: [(Expr, &[i32], &[i32], &str); 6] = [
        (a.clone() * b.clone(), &[i32::MAX], &[2], "overflows i32"),
        (a.clone() + b.clone(), &[i32::MAX], &[1], "overflows i32"),
        (a.clone() - b.clone(), &[i32::MIN], &[1], "overflows i32"),
        (
            a.clone().unary(UnaryOp::Neg),
            &[i32::MIN],
            &[1],
            "overflows i32",
        ),
        (a.clone() / b.clone(), &[i32::MIN], &[-1], "overflows i32"),
        (a.clone() / b.clone(), &[5], &[0], "division by zero"),
    ];
    for (e, x, y, want) in errs {
        let msg = int(e.clone(), &[&t(x), &t(y)])
            .expect_err("accepted")
            .to_string();
        assert!(msg.contains(want), "{e:?}: {msg}");
    }
    let sum = a.clone() + b.clone();
    let f = ew::fused(&[&t(&[16_777_216]), &t(&[2])], &sum).unwrap();
    assert_eq!(f.to_f32_vec().unwrap(), [16_777_218.0]);
    let e = ew::fused(&[&t(&[16_777_216]), &t(&[1])], &sum).expect_err("rounded");
    assert!(e.to_string().contains("not exactly representable"), "{e}");
}
