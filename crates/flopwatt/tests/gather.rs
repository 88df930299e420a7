//! Index kernels (gather, slice, concat, pad) and the ONNX-import graph ops (cast, gather,
//! concat, slice views, pad, pooling with ceil_mode, conv-transpose, i32 inputs) against the
//! f64 references, at awkward sizes, fused and unfused.
// Native only (sync API); the browser runs the gpu_test! binaries.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::graph::Graph;
use flopwatt::ops::conv::ConvTranspose2dParams;
use flopwatt::ops::gather::{self, slice_range, PadMode};
use flopwatt::ops::pool::{Pool2dParams, PoolKind};
use flopwatt::tensor::{numel, DType};
use flopwatt::Compile;
use flopwatt::{CompileOptions, Device, Error, Tensor};
use flopwatt_reference::gather as r;
use flopwatt_reference::{
    self as reference, check_close, random, to_f64, EXACT_F32, NMSE_F32, TRANSCENDENTAL_F32,
};

fn ints(n: usize, seed: u64, lo: i32, hi: i32) -> Vec<i32> {
    reference::random_range(n, seed, lo as f32, hi as f32 + 0.999)
        .iter()
        .map(|&v| (v.floor() as i32).clamp(lo, hi))
        .collect()
}

#[test]
fn gather_matches_reference_at_awkward_sizes() {
    let dev = device_or_skip!();
    // (data shape, indices shape, axis)
    let cases: &[(&[usize], &[usize], usize)] = &[
        (&[1], &[1], 0),
        (&[127], &[257], 0),
        (&[257, 3], &[2, 5], 0),
        (&[7, 127, 5], &[13], 1),
        (&[3, 5, 129], &[4, 3], 2),
        (&[1000, 384], &[2, 16], 0),
        (&[2, 1, 3], &[], 1),
    ];
    for (i, (ds, is, axis)) in cases.iter().enumerate() {
        let n = ds[*axis] as i32;
        // Negative indices count from the end, down to -n.
        let mut idx = ints(numel(is), i as u64 + 50, -n, n - 1);
        if idx.len() > 3 {
            idx[1] = n - 1;
            idx[2] = -n;
        }
        let data = random(numel(ds), i as u64);
        let x = Tensor::from_f32(&dev, &data, ds).unwrap();
        let it = Tensor::from_i32(&dev, &idx, is).unwrap();
        let y = gather::gather(&x, &it, *axis).unwrap();
        let idx64: Vec<i64> = idx.iter().map(|&v| v as i64).collect();
        let want = r::gather(&to_f64(&data), ds, &idx64, is, *axis);
        assert_eq!(y.shape(), gather::gather_shape(ds, is, *axis).as_slice());
        check_close(
            &format!("gather {ds:?} {is:?} axis {axis}"),
            &y.to_f32_vec().unwrap(),
            &want,
            EXACT_F32,
        )
        .unwrap();
    }
    // i32 data moves bit-exactly (beyond 2^24 too).
    let big: Vec<i32> = vec![(1 << 30) + 7, -(1 << 29) - 3, 16_777_217];
    let x = Tensor::from_i32(&dev, &big, &[3]).unwrap();
    let it = Tensor::from_i32(&dev, &[2, 0, -2], &[3]).unwrap();
    let y = gather::gather(&x, &it, 0).unwrap();
    assert_eq!(y.dtype(), DType::I32);
    assert_eq!(y.to_i32_vec().unwrap(), vec![big[2], big[0], big[1]]);
}

/// An index outside `-len..len`, known only on the device, makes the run an error naming the
/// index and the gather (a flag the kernel sets, read back after the run), never a zero row;
/// `-1` picks the last row. Eager op and compiled graph alike.
#[test]
fn gather_indices_out_of_range_at_run_time_are_an_error() {
    let dev = device_or_skip!();
    let x = Tensor::from_f32(&dev, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], &[4, 2]).unwrap();
    let last = Tensor::from_i32(&dev, &[-1, 0], &[2]).unwrap();
    let y = gather::gather(&x, &last, 0).unwrap().to_f32_vec().unwrap();
    assert_eq!(y, [6.0, 7.0, 0.0, 1.0]);
    for bad in [[0, 5], [-5, 1], [i32::MIN, 0], [i32::MAX, 0]] {
        let it = Tensor::from_i32(&dev, &bad, &[2]).unwrap();
        let e = gather::gather(&x, &it, 0).expect_err("an index out of range gave a result");
        let msg = e.to_string();
        let want = format!(
            "index {} is out of range",
            bad.iter().find(|&&b| b != 0 && b != 1).unwrap()
        );
        assert!(msg.contains(&want) && msg.contains("gather"), "{msg}");
    }
    let mut g = Graph::new();
    let table = g.input("table", &[4, 2]).unwrap();
    let ids = g.input_typed("ids", &[2], DType::I32).unwrap();
    let y = g.gather(table, ids, 0).unwrap();
    let y = g.name(y, "lookup");
    g.output(y).unwrap();
    let exe = g.compile(&dev).unwrap();
    let ok = exe.run(&[&x, &last]).unwrap();
    assert_eq!(ok[0].to_f32_vec().unwrap(), [6.0, 7.0, 0.0, 1.0]);
    let it = Tensor::from_i32(&dev, &[0, 4], &[2]).unwrap();
    let msg = exe.run(&[&x, &it]).expect_err("out of range").to_string();
    assert!(msg.contains("lookup") && msg.contains("index 4"), "{msg}");
    // The device stays usable and the next good run is right.
    let ok = exe.run(&[&x, &last]).unwrap();
    assert_eq!(ok[0].to_f32_vec().unwrap(), [6.0, 7.0, 0.0, 1.0]);
}

#[test]
fn slice_ranges_follow_onnx_clamping() {
    assert_eq!(slice_range(10, 0, i64::MAX, 1), (0, 10));
    assert_eq!(slice_range(10, -3, -1, 1), (7, 2));
    assert_eq!(slice_range(10, 20, 30, 1), (10, 0));
    assert_eq!(slice_range(10, -1, i64::MIN, -1), (9, 10));
    assert_eq!(slice_range(10, 8, 1, -3), (8, 3));
    assert_eq!(slice_range(10, 1, 8, 3), (1, 3));
    assert_eq!(slice_range(5, 0, 5, i64::MAX), (0, 1));
    assert_eq!(slice_range(0, 0, 1, 1), (0, 0));
}

#[test]
fn slice_concat_pad_match_reference() {
    let dev = device_or_skip!();
    let xs = [7usize, 127, 5];
    let data = random(numel(&xs), 3);
    let x = Tensor::from_f32(&dev, &data, &xs).unwrap();
    let xd = to_f64(&data);
    // Slices with positive, negative and large steps.
    for (k, (starts, steps, counts)) in [
        ([0usize, 0, 0], [1isize, 1, 1], [7usize, 127, 5]),
        ([6, 126, 4], [-1, -1, -1], [7, 127, 5]),
        ([1, 3, 0], [2, 5, 3], [3, 25, 2]),
        ([5, 100, 2], [-2, -7, 1], [3, 15, 1]),
    ]
    .iter()
    .enumerate()
    {
        let y = gather::slice(&x, starts, steps, counts).unwrap();
        let want = r::slice(&xd, &xs, starts, steps, counts);
        check_close(
            &format!("slice {k}"),
            &y.to_f32_vec().unwrap(),
            &want,
            EXACT_F32,
        )
        .unwrap();
    }
    // A slice of a transposed view reads through its strides.
    let xt = x.transpose(0, 2).unwrap();
    let y = gather::slice(&xt, &[4, 0, 6], &[-1, 2, -1], &[5, 64, 7]).unwrap();
    let xtd: Vec<f64> = (0..numel(&[5, 127, 7]))
        .map(|e| {
            let (a, b, c) = (e / (127 * 7), (e / 7) % 127, e % 7);
            xd[(c * 127 + b) * 5 + a]
        })
        .collect();
    let want = r::slice(&xtd, &[5, 127, 7], &[4, 0, 6], &[-1, 2, -1], &[5, 64, 7]);
    check_close(
        "slice of a view",
        &y.to_f32_vec().unwrap(),
        &want,
        EXACT_F32,
    )
    .unwrap();
    // Concat along each axis, with an empty piece.
    for axis in 0..3 {
        let mut s2 = xs;
        s2[axis] = 3;
        let mut s3 = xs;
        s3[axis] = 0;
        let d2 = random(numel(&s2), 7 + axis as u64);
        let b = Tensor::from_f32(&dev, &d2, &s2).unwrap();
        let c = Tensor::empty(&dev, &s3, DType::F32).unwrap();
        let y = gather::concat(&[&x, &c, &b], axis).unwrap();
        let want = r::concat(&[(&xd, &xs), (&[], &s3), (&to_f64(&d2), &s2)], axis);
        check_close(
            &format!("concat axis {axis}"),
            &y.to_f32_vec().unwrap(),
            &want,
            EXACT_F32,
        )
        .unwrap();
    }
    // Pad: every mode, asymmetric pads, a crop.
    for (k, mode) in [
        PadMode::Constant(-1.5),
        PadMode::Reflect,
        PadMode::Edge,
        PadMode::Wrap,
    ]
    .into_iter()
    .enumerate()
    {
        let (begin, end) = ([2isize, 0, 3], [1isize, -2, 4]);
        let y = gather::pad(&x, &begin, &end, mode).unwrap();
        let m = match mode {
            PadMode::Constant(v) => r::Mode::Constant(v as f64),
            PadMode::Reflect => r::Mode::Reflect,
            PadMode::Edge => r::Mode::Edge,
            PadMode::Wrap => r::Mode::Wrap,
        };
        let want = r::pad(&xd, &xs, &begin, &end, m);
        assert_eq!(y.shape(), &[10, 125, 12]);
        check_close(
            &format!("pad {k} {mode:?}"),
            &y.to_f32_vec().unwrap(),
            &want,
            EXACT_F32,
        )
        .unwrap();
    }
    // Errors, not panics.
    let e = gather::slice(&x, &[7, 0, 0], &[1, 1, 1], &[1, 1, 1]).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = gather::pad(&x, &[-8, 0, 0], &[0, 0, 0], PadMode::Edge).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = gather::concat(&[&x, &xt], 0).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
}

/// Reflect and wrap pads map out-of-range coordinates back by a remainder of a negative
/// number. The kernel once used i32 `%` for that; on some lavapipe hosts it returned the
/// remainder of the u32 bit pattern (-1 % 6 = 3), which put the wrong row or column in the
/// border (ONNX test_reflect_pad and test_wrap_pad: 13 and 7 of 126 elements off, exit 0).
/// Here every mode that wraps runs at awkward sizes: the ONNX cases' shape and pads, pads
/// equal to and larger than the axis (several periods before and after), negative pads
/// (crops) on either side, a length-1 axis, and i32 data moved bit-exactly.
#[test]
fn pad_reflect_wrap_match_reference_at_awkward_pads() {
    let dev = device_or_skip!();
    // (shape, begin, end)
    let cases: &[(&[usize], &[isize], &[isize])] = &[
        (&[1, 3, 4, 5], &[0, 0, 1, 1], &[0, 0, 1, 1]),
        (&[3, 4, 5], &[3, 4, 2], &[3, 4, 2]),
        (&[3, 4, 5], &[2, 3, 4], &[2, 3, 4]),
        (&[3, 7], &[13, 17], &[11, 19]),
        (&[6, 5], &[-2, 4], &[5, -3]),
        (&[5, 6], &[9, -1], &[-4, 11]),
        (&[1, 6], &[0, 5], &[0, 5]),
        (&[7], &[-3], &[20]),
        (&[2, 3, 127], &[1, 2, 126], &[1, 0, 129]),
    ];
    for (mode, m) in [
        (PadMode::Reflect, r::Mode::Reflect),
        (PadMode::Wrap, r::Mode::Wrap),
    ] {
        for (k, &(xs, begin, end)) in cases.iter().enumerate() {
            // Reflect of a length-1 axis repeats its one element; reflect pads may exceed
            // the axis here (the kernel is periodic; ONNX import rejects them earlier).
            let data = random(numel(xs), 100 + k as u64);
            let x = Tensor::from_f32(&dev, &data, xs).unwrap();
            let y = gather::pad(&x, begin, end, mode).unwrap();
            let want = r::pad(&to_f64(&data), xs, begin, end, m);
            assert_eq!(
                y.shape(),
                gather::pad_shape(xs, begin, end).unwrap().as_slice()
            );
            check_close(
                &format!("pad {mode:?} {xs:?} {begin:?} {end:?}"),
                &y.to_f32_vec().unwrap(),
                &want,
                EXACT_F32,
            )
            .unwrap();
            // The same through i32 data, as the ONNX cases bind it.
            let idata: Vec<i32> = (0..numel(xs) as i32).map(|v| v * 7 - 50).collect();
            let xi = Tensor::from_i32(&dev, &idata, xs).unwrap();
            let yi = gather::pad(&xi, begin, end, mode).unwrap();
            let fd: Vec<f64> = idata.iter().map(|&v| v as f64).collect();
            let wi: Vec<i32> = r::pad(&fd, xs, begin, end, m)
                .iter()
                .map(|&v| v as i32)
                .collect();
            assert_eq!(yi.dtype(), DType::I32);
            assert_eq!(
                yi.to_i32_vec().unwrap(),
                wi,
                "pad {mode:?} i32 {xs:?} {begin:?} {end:?}"
            );
        }
    }
}

/// The index kernels never apply `/` or `%` to i32 operands: WGSL defines them for negative
/// dividends, but the driver does not always agree (see
/// `pad_reflect_wrap_match_reference_at_awkward_pads`, which only fails on such a driver).
/// This guard fails on every machine if signed division or remainder comes back.
#[test]
fn index_kernels_use_no_signed_division_or_remainder() {
    use naga::{BinaryOperator, Expression, ScalarKind};
    let src = include_str!("../shaders/gather.wgsl");
    let module = naga::front::wgsl::parse_str(src).unwrap();
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap();
    let mut bad = Vec::new();
    let mut scan = |name: &str, f: &naga::Function, fi: &naga::valid::FunctionInfo| {
        for (h, e) in f.expressions.iter() {
            if let Expression::Binary {
                op: op @ (BinaryOperator::Divide | BinaryOperator::Modulo),
                left,
                ..
            } = *e
            {
                let kind = fi[left].ty.inner_with(&module.types).scalar_kind();
                if kind == Some(ScalarKind::Sint) {
                    bad.push(format!("{name}: {op:?} of i32 at {h:?}"));
                }
            }
        }
    };
    for (h, f) in module.functions.iter() {
        scan(f.name.as_deref().unwrap_or("?"), f, &info[h]);
    }
    for (i, ep) in module.entry_points.iter().enumerate() {
        scan(&ep.name, &ep.function, info.get_entry_point(i));
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

fn run_graph(dev: &Device, g: &Graph, fusion: bool, inputs: &[Tensor]) -> Vec<Tensor> {
    let exe = g
        .compile_with(
            dev,
            CompileOptions {
                fusion,
                memory_planning: true,
                ..CompileOptions::DEFAULT
            },
        )
        .unwrap();
    let refs: Vec<&Tensor> = inputs.iter().collect();
    exe.run(&refs).unwrap()
}

/// An embedding-style graph: i32 ids -> gather rows -> slice view -> concat -> pad -> cast
/// mask arithmetic; fused and unfused against the graph reference.
#[test]
fn onnx_block_graph_fused_and_unfused_match_reference() {
    let dev = device_or_skip!();
    let (vocab, d, b, s) = (257usize, 24usize, 2usize, 13usize);
    let mut g = Graph::new();
    let ids = g.input_typed("ids", &[b, s], DType::I32).unwrap();
    let mask = g.input_typed("mask", &[b, s], DType::I32).unwrap();
    let table = g
        .constant("table", random(vocab * d, 1), &[vocab, d])
        .unwrap();
    let emb = g.gather(table, ids, 0).unwrap(); // [b, s, d]
    let half = g.slice(emb, &[0, 1, 0], &[1, 2, 1], &[b, 6, d]).unwrap(); // strided view
    let rev = g
        .slice(emb, &[b - 1, s - 1, 0], &[-1, -2, 1], &[b, 6, d])
        .unwrap();
    let cat = g.concat(&[half, rev], 1).unwrap(); // [b, 12, d]
    let padded = g
        .pad(cat, &[0, 1, 2], &[0, 0, -1], PadMode::Reflect)
        .unwrap(); // [b, 13, d + 1]
    let mf = g.cast(mask, DType::F32).unwrap();
    let mf = g.reshape(mf, &[b, s, 1]).unwrap();
    let y = g.mul(padded, mf).unwrap();
    let y = g.add_scalar(y, 0.5).unwrap();
    let idx_c = g.constant_i32("rows", vec![3, -1, 0], &[3]).unwrap();
    let picked = g.gather(y, idx_c, 1).unwrap(); // [b, 3, d + 1]
    let back = g.cast(mask, DType::F32).unwrap();
    let back = g.cast(back, DType::I32).unwrap(); // i32 output
    g.output(picked).unwrap();
    g.output(back).unwrap();

    let idv = ints(b * s, 9, 0, vocab as i32 - 1);
    let mut mv = vec![1i32; b * s];
    for v in mv.iter_mut().skip(b * s - 4) {
        *v = 0;
    }
    let inputs = vec![
        Tensor::from_i32(&dev, &idv, &[b, s]).unwrap(),
        Tensor::from_i32(&dev, &mv, &[b, s]).unwrap(),
    ];
    let as_f64 = |v: &[i32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let want = flopwatt_reference::graph::eval(&g, &[as_f64(&idv), as_f64(&mv)]);
    // Fused, the positive-step slice is a strided view (no dispatch); the reversed one copies.
    let exe = g.compile(&dev).unwrap();
    assert!(exe.explain().contains("view(slice)"), "{}", exe.explain());
    for fusion in [true, false] {
        let outs = run_graph(&dev, &g, fusion, &inputs);
        assert_eq!(outs[0].shape(), &[b, 3, d + 1]);
        check_close(
            &format!("graph fusion {fusion}"),
            &outs[0].to_f32_vec().unwrap(),
            &want[0],
            EXACT_F32,
        )
        .unwrap();
        assert_eq!(outs[1].dtype(), DType::I32);
        assert_eq!(outs[1].to_i32_vec().unwrap(), mv);
    }
}

#[test]
fn pooling_and_conv_transpose_graph_ops_match_reference() {
    let dev = device_or_skip!();
    let xs = [2usize, 3, 13, 11];
    let mut g = Graph::new();
    let x = g.input("x", &xs).unwrap();
    let mut outs = vec![];
    for (kind, ceil) in [
        (PoolKind::Max, true),
        (PoolKind::Avg, true),
        (PoolKind::AvgCountPad, true),
        (PoolKind::AvgCountPad, false),
    ] {
        let p = Pool2dParams {
            kind,
            kernel: [3, 3],
            stride: [2, 3],
            padding: [1, 0, 0, 0],
            dilation: [1, 1],
            ceil_mode: ceil,
        };
        outs.push(g.pool2d(x, p).unwrap());
    }
    outs.push(g.global_avg_pool(x).unwrap());
    let w = g
        .constant("w", random(3 * 2 * 3 * 3, 4), &[3, 2, 3, 3])
        .unwrap();
    let bias = g.constant("b", random(2, 5), &[2]).unwrap();
    let ct = g
        .conv_transpose2d(
            x,
            w,
            Some(bias),
            ConvTranspose2dParams {
                stride: [2, 2],
                padding: [1, 0, 0, 1],
                output_padding: [1, 0],
                ..Default::default()
            },
        )
        .unwrap();
    outs.push(ct);
    for o in &outs {
        g.output(*o).unwrap();
    }
    // ceil_mode keeps the partial last windows: rows ceil(11/2)+1 = 7 (floor: 6), columns
    // ceil(8/3)+1 = 4 (floor: 3).
    assert_eq!(g.shape(outs[0]), &[2, 3, 7, 4]);
    assert_eq!(g.shape(outs[3]), &[2, 3, 6, 3]);
    let xd = random(numel(&xs), 11);
    let want = flopwatt_reference::graph::eval(&g, &[to_f64(&xd)]);
    let input = vec![Tensor::from_f32(&dev, &xd, &xs).unwrap()];
    for fusion in [true, false] {
        let got = run_graph(&dev, &g, fusion, &input);
        for (k, t) in got.iter().enumerate() {
            let v = t.to_f32_vec().unwrap();
            if k == got.len() - 1 {
                let e = reference::nmse(&v, &want[k]);
                assert!(e < NMSE_F32, "conv_transpose nmse {e}");
            } else {
                // A window sums a handful of values: a short f32 chain.
                check_close(
                    &format!("pool output {k}"),
                    &v,
                    &want[k],
                    TRANSCENDENTAL_F32,
                )
                .unwrap();
            }
        }
    }
    // Typed errors from the builder.
    let e = g
        .pool2d(
            x,
            Pool2dParams {
                kernel: [15, 1],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let ids = g.input_typed("i", &[3], DType::I32).unwrap();
    let e = g.gather(ids, x, 0).unwrap_err();
    assert!(matches!(e, Error::UnsupportedDType { .. }), "{e}");
    let e = g.concat(&[x, ids], 0).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
}

/// BERT-style attention: scores / c + mask[B, 1, 1, S] -> softmax -> @ v fuses into one
/// masked attention dispatch; fused and unfused match the reference.
#[test]
fn masked_attention_pattern_fuses() {
    let dev = device_or_skip!();
    let (b, h, s, d) = (2usize, 3usize, 13usize, 32usize);
    let mut g = Graph::new();
    let q = g.input("q", &[b, h, s, d]).unwrap();
    let k = g.input("k", &[b, h, s, d]).unwrap();
    let v = g.input("v", &[b, h, s, d]).unwrap();
    let m = g.input("m", &[b, 1, 1, s]).unwrap();
    let kt = g.transpose(k, 2, 3).unwrap();
    let sc = g.matmul(q, kt).unwrap();
    let c = g.scalar(5.656854);
    let sc = g.div(sc, c).unwrap();
    let sc = g.add(m, sc).unwrap();
    let p = g.softmax(sc, -1).unwrap();
    let y = g.matmul(p, v).unwrap();
    g.output(y).unwrap();
    let mut mv = vec![0f32; b * s];
    for x in mv.iter_mut().skip(b * s - 5) {
        *x = -3.4e38;
    }
    let data = [
        random(b * h * s * d, 1),
        random(b * h * s * d, 2),
        random(b * h * s * d, 3),
        mv,
    ];
    let inputs: Vec<Tensor> = data
        .iter()
        .zip([[b, h, s, d], [b, h, s, d], [b, h, s, d], [b, 1, 1, s]])
        .map(|(x, sh)| Tensor::from_f32(&dev, x, &sh).unwrap())
        .collect();
    let want =
        flopwatt_reference::graph::eval(&g, &data.iter().map(|x| to_f64(x)).collect::<Vec<_>>());
    for fusion in [true, false] {
        let exe = g
            .compile_with(
                &dev,
                CompileOptions {
                    fusion,
                    memory_planning: true,
                    ..CompileOptions::DEFAULT
                },
            )
            .unwrap();
        if fusion {
            assert!(
                exe.explain().contains("attention(mask)"),
                "{}",
                exe.explain()
            );
        }
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let got = exe.run(&refs).unwrap()[0].to_f32_vec().unwrap();
        let e = reference::nmse(&got, &want[0]);
        assert!(e < NMSE_F32, "fusion {fusion}: nmse {e}");
    }
}
