//! Fused attention (every kernel) against the f64 reference, NMSE_F32.
mod common;

use flopwatt::ops::attention::{self, AttentionKernel, AttentionMask, AttentionParams};
use flopwatt::{Device, Error, Tensor};
use flopwatt_reference::{self as reference, attention as rattn};

/// Reference-side mask: `None` masks the key out, else the additive value.
type RefMask = Box<dyn Fn(usize, usize, usize, usize) -> Option<f64>>;

enum M {
    None,
    Add(Vec<f32>, Vec<usize>),
    Bool(Vec<i32>, Vec<usize>),
}

#[allow(clippy::too_many_arguments)]
async fn check(
    dev: &Device,
    seed: u64,
    dims: [usize; 6],
    causal: bool,
    scale: Option<f32>,
    mask: M,
) {
    // Split-K is the decode kernel: long query runs would only slow the test down.
    let kernels: &[AttentionKernel] = if dims[3] <= 64 { &ALL } else { &ALL[..3] };
    check_kernels(dev, seed, dims, causal, scale, mask, kernels).await
}

const ALL: [AttentionKernel; 4] = [
    AttentionKernel::Streaming,
    AttentionKernel::StreamingSubgroup,
    AttentionKernel::Tiled,
    AttentionKernel::SplitK,
];

#[allow(clippy::too_many_arguments)]
async fn check_kernels(
    dev: &Device,
    seed: u64,
    dims: [usize; 6],
    causal: bool,
    scale: Option<f32>,
    mask: M,
    kernels: &[AttentionKernel],
) {
    let [b, hq, hkv, lq, lk, d] = dims;
    let qd = reference::random(b * hq * lq * d, seed);
    let kd = reference::random(b * hkv * lk * d, seed + 1);
    // Values in a different range from q and k so that a swapped operand shows.
    let vd = reference::random_range(b * hkv * lk * d, seed + 2, -2.0, 3.0);
    let q = Tensor::from_f32(dev, &qd, &[b, hq, lq, d]).unwrap();
    let k = Tensor::from_f32(dev, &kd, &[b, hkv, lk, d]).unwrap();
    let v = Tensor::from_f32(dev, &vd, &[b, hkv, lk, d]).unwrap();
    let bstr = |shape: &[usize]| {
        // Reference-side broadcast of a mask of `shape` to [b, hq, lq, lk].
        let s = flopwatt::tensor::broadcast_strides(
            shape,
            &flopwatt::tensor::contiguous_strides(shape),
            &[b, hq, lq, lk],
        )
        .unwrap();
        move |bi: usize, h: usize, i: usize, j: usize| bi * s[0] + h * s[1] + i * s[2] + j * s[3]
    };
    let (mt, refmask): (Option<AttentionMask>, RefMask) = match &mask {
        M::None => (None, Box::new(|_, _, _, _| Some(0.0))),
        M::Add(m, s) => {
            let idx = bstr(s);
            let m = m.clone();
            (
                Some(AttentionMask::Additive(
                    Tensor::from_f32(dev, &m, s).unwrap(),
                )),
                Box::new(move |bi, h, i, j| {
                    let x = m[idx(bi, h, i, j)];
                    if x == f32::NEG_INFINITY {
                        None
                    } else {
                        Some(x as f64)
                    }
                }),
            )
        }
        M::Bool(m, s) => {
            let idx = bstr(s);
            let m = m.clone();
            (
                Some(AttentionMask::Boolean(
                    Tensor::from_i32(dev, &m, s).unwrap(),
                )),
                Box::new(move |bi, h, i, j| (m[idx(bi, h, i, j)] != 0).then_some(0.0)),
            )
        }
    };
    let sc = scale.map_or(1.0 / (d as f64).sqrt(), |s| s as f64);
    let want = rattn::attention(&qd, &kd, &vd, dims, sc, causal, &*refmask);
    for &kernel in kernels {
        let p = AttentionParams {
            causal,
            scale,
            mask: mt.clone(),
            kernel,
        };
        let got = attention::attention(&q, &k, &v, &p).unwrap();
        assert_eq!(got.shape(), &[b, hq, lq, d]);
        let g = got.to_f32_vec_async().await.unwrap();
        assert!(
            g.iter().all(|x| x.is_finite()),
            "{kernel:?} {dims:?}: non-finite output"
        );
        reference::check_nmse(
            &format!("attention {kernel:?} {dims:?} causal={causal}"),
            &g,
            &want,
            reference::NMSE_F32,
        )
        .unwrap();
    }
}

gpu_test! {
async fn attention_plain_at_awkward_shapes(dev) {
    // [b, hq, hkv, lq, lk, d]
    check(&dev, 1, [1, 1, 1, 1, 1, 8], false, None, M::None).await;
    check(&dev, 2, [2, 3, 3, 37, 37, 24], false, None, M::None).await;
    check(&dev, 3, [1, 2, 2, 1000, 1000, 64], false, None, M::None).await;
    check(&dev, 4, [1, 2, 2, 65, 129, 128], false, Some(0.3), M::None).await;
    check(&dev, 5, [2, 1, 1, 37, 1, 5], false, None, M::None).await;
    check(&dev, 6, [1, 1, 1, 3, 17, 200], false, None, M::None).await;
}
}

gpu_test! {
async fn attention_grouped_query_heads(dev) {
    check(&dev, 10, [2, 8, 2, 37, 53, 64], false, None, M::None).await;
    check(&dev, 11, [1, 6, 1, 1, 257, 24], true, None, M::None).await;
}
}

gpu_test! {
async fn attention_causal_with_different_lengths(dev) {
    check(&dev, 20, [1, 2, 2, 1000, 1000, 64], true, None, M::None).await;
    check(&dev, 21, [1, 2, 2, 37, 100, 8], true, None, M::None).await;
    // More queries than keys: rows past the last key attend to every key.
    check(&dev, 22, [2, 1, 1, 100, 37, 24], true, Some(2.0), M::None).await;
}
}

gpu_test! {
async fn attention_additive_and_boolean_masks(dev) {
    let (lq, lk) = (37, 70);
    // Additive [lq, lk] broadcast over batch and heads, with some -inf.
    let mut add = reference::random_range(lq * lk, 30, -3.0, 1.0);
    for (i, x) in add.iter_mut().enumerate() {
        if i % 7 == 3 {
            *x = f32::NEG_INFINITY;
        }
    }
    check(
        &dev,
        31,
        [2, 2, 2, lq, lk, 64],
        false,
        None,
        M::Add(add.clone(), vec![lq, lk]),
    ).await;
    check(
        &dev,
        32,
        [2, 2, 1, lq, lk, 24],
        true,
        None,
        M::Add(add, vec![lq, lk]),
    ).await;
    // Key padding mask [b, 1, 1, lk]: batch 1 masks every key, so its rows must be zeros.
    let mut keep = vec![0i32; 2 * lk];
    for (j, x) in keep[..lk].iter_mut().enumerate() {
        *x = (j % 3 != 0) as i32 * (j as i32 + 1);
    }
    check(
        &dev,
        33,
        [2, 3, 3, lq, lk, 128],
        false,
        None,
        M::Bool(keep.clone(), vec![2, 1, 1, lk]),
    ).await;
    check(
        &dev,
        34,
        [2, 3, 3, lq, lk, 8],
        true,
        None,
        M::Bool(keep, vec![2, 1, 1, lk]),
    ).await;
}
}

gpu_test! {
async fn fully_masked_rows_are_zero_not_nan(dev) {
    let (lq, lk, d) = (5, 9, 8);
    let q = Tensor::from_f32(&dev, &reference::random(lq * d, 1), &[1, 1, lq, d]).unwrap();
    let k = Tensor::from_f32(&dev, &reference::random(lk * d, 2), &[1, 1, lk, d]).unwrap();
    let m = Tensor::from_f32(&dev, &vec![f32::NEG_INFINITY; lk], &[lk]).unwrap();
    for kernel in [
        AttentionKernel::Streaming,
        AttentionKernel::StreamingSubgroup,
        AttentionKernel::Tiled,
        AttentionKernel::SplitK,
    ] {
        let p = AttentionParams {
            mask: Some(AttentionMask::Additive(m.clone())),
            kernel,
            ..Default::default()
        };
        let o = attention::attention(&q, &k, &k, &p)
            .unwrap()
            .to_f32_vec_async().await
            .unwrap();
        assert!(o.iter().all(|&x| x == 0.0), "{kernel:?}: {o:?}");
    }
}
}

gpu_test! {
/// A NaN in q makes its row NaN; a NaN in k makes NaN every row that does not mask that key
/// out (with a causal mask, the rows at or after it), and the other rows stay right: the
/// reference's softmax. Every kernel, including split-K's combine.
async fn nan_scores_make_their_rows_nan(dev) {
    let (lq, lk, d) = (5, 40, 8);
    let mut qd = reference::random(lq * d, 1);
    qd[d + 3] = f32::NAN; // row 1
    let mut kd = reference::random(lk * d, 2);
    let nan_key = 3;
    kd[nan_key * d] = f32::NAN;
    let vd = reference::random(lk * d, 4);
    let clean_k = reference::random(lk * d, 2);
    let q = Tensor::from_f32(&dev, &qd, &[1, 1, lq, d]).unwrap();
    let q_clean = Tensor::from_f32(&dev, &reference::random(lq * d, 1), &[1, 1, lq, d]).unwrap();
    let k_nan = Tensor::from_f32(&dev, &kd, &[1, 1, lk, d]).unwrap();
    let k = Tensor::from_f32(&dev, &clean_k, &[1, 1, lk, d]).unwrap();
    let v = Tensor::from_f32(&dev, &vd, &[1, 1, lk, d]).unwrap();
    for kernel in [
        AttentionKernel::Streaming,
        AttentionKernel::StreamingSubgroup,
        AttentionKernel::Tiled,
        AttentionKernel::SplitK,
    ] {
        for causal in [false, true] {
            let p = AttentionParams {
                causal,
                kernel,
                ..Default::default()
            };
            let row_nan = |o: &[f32], i: usize| o[i * d..(i + 1) * d].iter().all(|x| x.is_nan());
            let row_finite =
                |o: &[f32], i: usize| o[i * d..(i + 1) * d].iter().all(|x| x.is_finite());
            let o = attention::attention(&q, &k, &v, &p)
                .unwrap()
                .to_f32_vec_async().await
                .unwrap();
            for i in 0..lq {
                let ok = if i == 1 { row_nan(&o, i) } else { row_finite(&o, i) };
                assert!(ok, "{kernel:?} causal {causal}: NaN in q row 1, row {i}: {o:?}");
            }
            let o = attention::attention(&q_clean, &k_nan, &v, &p)
                .unwrap()
                .to_f32_vec_async().await
                .unwrap();
            for i in 0..lq {
                // Causal rows before the NaN key mask it out.
                let sees = !causal || i >= nan_key;
                let ok = if sees { row_nan(&o, i) } else { row_finite(&o, i) };
                assert!(ok, "{kernel:?} causal {causal}: NaN in key {nan_key}, row {i}: {o:?}");
            }
        }
    }
}
}

gpu_test! {
async fn attention_rejects_bad_inputs(dev) {
    let t =
        |s: &[usize]| Tensor::from_f32(&dev, &reference::random(s.iter().product(), 3), s).unwrap();
    let p = AttentionParams::default();
    let e = attention::attention(&t(&[1, 3, 4, 8]), &t(&[1, 2, 4, 8]), &t(&[1, 2, 4, 8]), &p)
        .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = attention::attention(
        &t(&[1, 1, 4, 300]),
        &t(&[1, 1, 4, 300]),
        &t(&[1, 1, 4, 300]),
        &p,
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    let e = attention::attention(
        &t(&[1, 1, 4, 8]),
        &t(&[1, 1, 4, 16]),
        &t(&[1, 1, 4, 16]),
        &p,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let bad_mask = AttentionParams {
        mask: Some(AttentionMask::Additive(t(&[3, 5]))),
        ..Default::default()
    };
    let e = attention::attention(
        &t(&[1, 1, 4, 8]),
        &t(&[1, 1, 6, 8]),
        &t(&[1, 1, 6, 8]),
        &bad_mask,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
}
}

gpu_test! {
async fn composed_attention_agrees_with_the_reference(dev) {
    // 1000 rows: the first size where the earlier private-array kernel came out wrong.
    for (b, h, l, d) in [(1, 2, 77, 64), (1, 2, 1000, 64), (1, 1, 33, 24)] {
        composed_case(&dev, b, h, l, d).await;
    }
}
}

async fn composed_case(dev: &Device, b: usize, h: usize, l: usize, d: usize) {
    let dev = dev.clone();
    let qd = reference::random(b * h * l * d, 40);
    let kd = reference::random(b * h * l * d, 41);
    let vd = reference::random(b * h * l * d, 42);
    let q = Tensor::from_f32(&dev, &qd, &[b, h, l, d]).unwrap();
    let k = Tensor::from_f32(&dev, &kd, &[b, h, l, d]).unwrap();
    let v = Tensor::from_f32(&dev, &vd, &[b, h, l, d]).unwrap();
    for causal in [false, true] {
        let mut rec = flopwatt::Recorder::new(&dev);
        let (o, sbytes) =
            attention::encode_attention_composed(&mut rec, &q, &k, &v, causal).unwrap();
        rec.submit(false).unwrap();
        assert_eq!(sbytes, (b * h * l * l * 4) as u64);
        let want = rattn::attention(
            &qd,
            &kd,
            &vd,
            [b, h, h, l, l, d],
            1.0 / (d as f64).sqrt(),
            causal,
            &|_, _, _, _| Some(0.0),
        );
        reference::check_nmse(
            &format!("composed attention [{b}, {h}, {l}, {d}] causal={causal}"),
            &o.to_f32_vec_async().await.unwrap(),
            &want,
            reference::NMSE_F32,
        )
        .unwrap();
    }
}

gpu_test! {
/// Head-split views of one [b * l, 3 * h * d] buffer (as a concatenated q/k/v projection
/// leaves them) in, heads-last rows out: no copies on either side, every kernel.
async fn attention_strided_heads_in_heads_last_out(dev) {
    for (seed, b, h, l, d, causal) in [
        (41u64, 1usize, 3usize, 37usize, 24usize, false),
        (42, 2, 2, 19, 5, true),
        (43, 1, 8, 130, 64, false),
    ] {
        let w = 3 * h * d;
        let data = reference::random(b * l * w, seed);
        let all = Tensor::from_f32(&dev, &data, &[b * l, w]).unwrap();
        let split = |part: usize| {
            all.narrow(1, part * h * d, h * d)
                .unwrap()
                .reshape_view(&[b, l, h, d])
                .unwrap()
                .transpose(1, 2)
                .unwrap()
        };
        let (q, k, v) = (split(0), split(1), split(2));
        // Host copies in [b, h, l, d] order for the reference.
        let host = |part: usize| {
            let mut out = Vec::with_capacity(b * h * l * d);
            for bi in 0..b {
                for hi in 0..h {
                    for li in 0..l {
                        let row = (bi * l + li) * w + part * h * d + hi * d;
                        out.extend_from_slice(&data[row..row + d]);
                    }
                }
            }
            out
        };
        let (qd, kd, vd) = (host(0), host(1), host(2));
        let sc = 1.0 / (d as f64).sqrt();
        let want = rattn::attention(
            &qd,
            &kd,
            &vd,
            [b, h, h, l, l, d],
            sc,
            causal,
            &|_, _, _, _| Some(0.0),
        );
        for kernel in [
            AttentionKernel::Streaming,
            AttentionKernel::StreamingSubgroup,
            AttentionKernel::Tiled,
            AttentionKernel::SplitK,
        ] {
            let p = AttentionParams {
                causal,
                kernel,
                ..Default::default()
            };
            let mut rec = flopwatt::Recorder::new(&dev);
            let got = attention::encode_attention_heads_last(&mut rec, &q, &k, &v, &p).unwrap();
            rec.submit(false).unwrap();
            assert_eq!(got.shape(), &[b, h, l, d]);
            // Stored heads-last: the transpose back is dense [b, l, h, d].
            let merged = got.transpose(1, 2).unwrap();
            assert!(merged.is_contiguous(), "{:?}", merged.strides());
            reference::check_nmse(
                &format!("heads-last attention {kernel:?} b{b} h{h} l{l} d{d}"),
                &got.to_f32_vec_async().await.unwrap(),
                &want,
                reference::NMSE_F32,
            )
            .unwrap();
        }
    }
}
}

gpu_test! {
/// Decode (one query row) at key lengths 1, 17, 1000 and head sizes 32/64/80/128, with
/// grouped-query heads and a causal mask: every kernel, split-K included.
async fn decode_rows_against_the_reference(dev) {
    let mut seed = 60;
    for lk in [1usize, 17, 1000] {
        for d in [32usize, 64, 80, 128] {
            seed += 3;
            // The other kernels' decode rows are covered above; compiling them per head
            // size costs seconds on lavapipe.
            let k = [AttentionKernel::SplitK];
            check_kernels(&dev, seed, [1, 4, 2, 1, lk, d], false, None, M::None, &k).await;
        }
        check(&dev, seed + 1, [2, 2, 1, 3, lk, 64], true, None, M::None).await;
    }
}
}

gpu_test! {
/// Head sizes past the streaming kernel's registers: the tiled kernel (fewer keys per block
/// where 16 would not fit the device's workgroup memory) and split-K.
async fn wide_heads_up_to_256(dev) {
    check(&dev, 80, [1, 2, 2, 33, 40, 160], false, None, M::None).await;
    check(&dev, 81, [1, 2, 1, 20, 33, 256], true, None, M::None).await;
    // WebGPU's 16 KiB of workgroup memory holds 8 keys of head_dim 256, 16 of 128.
    assert_eq!(attention::tiled_block_keys(256, 16 << 10).unwrap(), 8);
    assert_eq!(attention::tiled_block_keys(160, 16 << 10).unwrap(), 8);
    assert_eq!(attention::tiled_block_keys(128, 16 << 10).unwrap(), 16);
    assert_eq!(attention::tiled_block_keys(256, 32 << 10).unwrap(), 16);
    assert!(matches!(
        attention::tiled_block_keys(256, 1 << 10),
        Err(Error::InvalidArgument { .. })
    ));
}
}

gpu_test! {
/// Split-K spreads one query row over many lanes (a key chunk each) and combines the
/// partials in a second dispatch.
async fn split_k_dispatch_shape(dev) {
    let (hq, lk, d) = (2usize, 4096usize, 64usize);
    let q = Tensor::from_f32(&dev, &reference::random(hq * d, 1), &[1, hq, 1, d]).unwrap();
    let k = Tensor::from_f32(&dev, &reference::random(hq * lk * d, 2), &[1, hq, lk, d]).unwrap();
    let p = AttentionParams {
        kernel: AttentionKernel::SplitK,
        ..Default::default()
    };
    let mut rec = flopwatt::Recorder::new(&dev);
    attention::encode_attention(&mut rec, &q, &k, &k, &p).unwrap();
    let (splits, chunk) = attention::split_k_plan(lk, hq, d);
    assert_eq!((splits, chunk), (256, 16));
    let grids: Vec<[u32; 3]> = rec.dispatches().iter().map(|x| x.workgroups()).collect();
    assert_eq!(grids.len(), 2, "{grids:?}");
    assert_eq!(grids[0], [4, hq as u32, 1], "256 chunks of one row over 4 workgroups per head");
    assert_eq!(grids[1][0] as usize, (hq * d).div_ceil(64), "{grids:?}");
    rec.submit(false).unwrap();
    // Auto takes split-K for a decode row on either adapter class.
    let mut rec = flopwatt::Recorder::new(&dev);
    attention::encode_attention(&mut rec, &q, &k, &k, &AttentionParams::default()).unwrap();
    assert!(rec.dispatches()[0].kernel.starts_with("attention.split"));
    rec.submit(false).unwrap();
    // Many heads: fewer, longer chunks keep the partials within 64 MiB.
    let (splits, chunk) = attention::split_k_plan(1 << 20, 4096, 256);
    assert!(splits * 4096 * 258 <= 1 << 24 && splits * chunk >= 1 << 20);
}
}
