//! matmul on the real adapter against the f64 reference: every variant forced, awkward sizes,
//! broadcast batches, transposed views, every epilogue switch, f16 storage, typed errors.

mod common;

use flopwatt::ops::matmul::{self, encode_matmul, matmul_with, Epilogue, MatmulVariant};
use flopwatt::ops::Activation;
use flopwatt::{DType, Device, Error, Recorder, Tensor};
use flopwatt_reference::{self as reference, matmul as refm, NMSE_F16, NMSE_F32};

/// Host data of a logical row-major `[.., rows, cols]`, uploaded either as is or stored as
/// `[.., cols, rows]` and viewed through `transpose` (a strided view, no copy).
struct Operand {
    logical: Vec<f64>,
    tensor: Tensor,
}

fn upload(dev: &Device, shape: &[usize], seed: u64, transposed: bool, dtype: DType) -> Operand {
    let n: usize = shape.iter().product();
    let r = shape.len();
    let data = reference::random(n, seed);
    // f16 rounds the inputs; the reference uses the rounded values.
    let data: Vec<f32> = match dtype {
        DType::F16 => data
            .iter()
            .map(|&x| half::f16::from_f32(x).to_f32())
            .collect(),
        _ => data,
    };
    let upload = |d: &[f32], s: &[usize]| match dtype {
        DType::F16 => {
            let h: Vec<half::f16> = d.iter().map(|&x| half::f16::from_f32(x)).collect();
            Tensor::from_f16(dev, &h, s).unwrap()
        }
        _ => Tensor::from_f32(dev, d, s).unwrap(),
    };
    if !transposed {
        return Operand {
            logical: data.iter().map(|&x| x as f64).collect(),
            tensor: upload(&data, shape),
        };
    }
    let (rows, cols) = (shape[r - 2], shape[r - 1]);
    let mut stored_shape = shape.to_vec();
    stored_shape.swap(r - 2, r - 1);
    // stored[.., j, i] = logical[.., i, j]
    let mut stored = vec![0f32; n];
    for bch in 0..n / (rows * cols) {
        for i in 0..rows {
            for j in 0..cols {
                stored[bch * rows * cols + j * rows + i] = data[bch * rows * cols + i * cols + j];
            }
        }
    }
    let t = upload(&stored, &stored_shape)
        .transpose(r - 2, r - 1)
        .unwrap();
    assert_eq!(t.shape(), shape);
    Operand {
        logical: data.iter().map(|&x| x as f64).collect(),
        tensor: t,
    }
}

#[derive(Clone, Copy, Default)]
struct Case<'a> {
    a: &'a [usize],
    b: &'a [usize],
    ta: bool,
    tb: bool,
    f16: bool,
    alpha: Option<f32>,
    bias: bool,
    activation: Activation,
    residual: Option<&'a [usize]>,
}

async fn run(dev: &Device, case: Case<'_>, variant: Option<MatmulVariant>, seed: u64) {
    let dtype = if case.f16 { DType::F16 } else { DType::F32 };
    let a = upload(dev, case.a, seed, case.ta, dtype);
    let b = upload(dev, case.b, seed + 1, case.tb, dtype);
    let (mut want, shape) = refm::matmul(&a.logical, case.a, &b.logical, case.b);
    let n = shape[shape.len() - 1];
    let bias = case.bias.then(|| upload(dev, &[n], seed + 2, false, dtype));
    let res = case
        .residual
        .map(|s| (upload(dev, s, seed + 3, false, dtype), s));
    let alpha = case.alpha.unwrap_or(1.0);
    refm::epilogue(
        &mut want,
        &shape,
        alpha as f64,
        bias.as_ref().map(|o| &o.logical[..]),
        case.activation,
        res.as_ref().map(|(o, s)| (&o.logical[..], *s)),
    );
    let epi = Epilogue {
        alpha,
        bias: bias.as_ref().map(|o| &o.tensor),
        activation: case.activation,
        residual: res.as_ref().map(|(o, _)| &o.tensor),
    };
    let b_batches: usize = case.b[..case.b.len() - 2].iter().product();
    if variant == Some(MatmulVariant::CpuTexture) && b_batches > 1 {
        // One B matrix per texture: a batch of them is a typed error, not a wrong answer.
        let e = matmul_with(&a.tensor, &b.tensor, &epi, variant).unwrap_err();
        assert!(e.to_string().contains("cpu_texture"), "{e}");
        return;
    }
    let out = matmul_with(&a.tensor, &b.tensor, &epi, variant).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.shape(), &shape[..]);
    assert_eq!(out.dtype(), dtype);
    let got = out.to_f32_vec_async().await.unwrap();
    let tol = if case.f16 { NMSE_F16 } else { NMSE_F32 };
    let what = format!(
        "matmul {:?}{} x {:?}{} {:?} f16={} bias={} act={:?} res={:?} alpha={alpha}",
        case.a,
        if case.ta { "^T" } else { "" },
        case.b,
        if case.tb { "^T" } else { "" },
        variant,
        case.f16,
        case.bias,
        case.activation,
        case.residual
    );
    reference::check_nmse(&what, &got, &want, tol).unwrap_or_else(|e| panic!("{e}"));
}

/// Variants that can compute an [m, k] x [k, n] product (Gemv only for skinny shapes),
/// plus the automatic choice.
fn variants(dev: &Device, m: usize, n: usize) -> Vec<Option<MatmulVariant>> {
    let mut v = vec![
        None,
        Some(MatmulVariant::CpuRegister),
        Some(MatmulVariant::CpuTexture),
        Some(MatmulVariant::GpuTiled),
    ];
    if MatmulVariant::CpuSubgroup.available_on(dev) {
        v.push(Some(MatmulVariant::CpuSubgroup));
    }
    if m == 1 || n == 1 {
        v.push(Some(MatmulVariant::Gemv));
    }
    v
}

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 257, 127),
    (127, 1, 64),
    (1, 1, 300),
    (2, 3, 5),
    (33, 65, 17),
    (64, 64, 64),
    (127, 257, 131),
    (256, 256, 256),
];

gpu_test! {
async fn awkward_sizes_every_variant(dev) {
    for (i, &(m, n, k)) in SHAPES.iter().enumerate() {
        for v in variants(&dev, m, n) {
            let case = Case {
                a: &[m, k],
                b: &[k, n],
                ..Default::default()
            };
            run(&dev, case, v, 100 + i as u64).await;
        }
    }
}
}

gpu_test! {
async fn large_1024ish(dev) {
    if common::BROWSER {
        return;
    }
    for v in [
        None,
        Some(MatmulVariant::CpuRegister),
        Some(MatmulVariant::GpuTiled),
    ] {
        let case = Case {
            a: &[1024, 1027],
            b: &[1027, 1000],
            ..Default::default()
        };
        run(&dev, case, v, 7).await;
    }
    // A large skinny product through the GEMV kernel.
    let case = Case {
        a: &[1, 4099],
        b: &[4099, 1031],
        ..Default::default()
    };
    run(&dev, case, Some(MatmulVariant::Gemv), 8).await;
}
}

/// `0.5 * [m, k] x [k, n] + bias`, ReLU, `+ residual`: operands (A and B plain or transposed
/// views) and the reference, for the tests that force one kernel configuration after another.
struct EpilogueProduct {
    a: Operand,
    b: Operand,
    bias: Operand,
    res: Operand,
    want: Vec<f64>,
}

impl EpilogueProduct {
    fn new(dev: &Device, [m, n, k]: [usize; 3], ta: bool, tb: bool, seed: u64) -> Self {
        let a = upload(dev, &[m, k], seed, ta, DType::F32);
        let b = upload(dev, &[k, n], seed + 1, tb, DType::F32);
        let bias = upload(dev, &[n], seed + 2, false, DType::F32);
        let res = upload(dev, &[m, n], seed + 3, false, DType::F32);
        let (mut want, shape) = refm::matmul(&a.logical, &[m, k], &b.logical, &[k, n]);
        refm::epilogue(
            &mut want,
            &shape,
            0.5,
            Some(&bias.logical),
            Activation::Relu,
            Some((&res.logical, &[m, n])),
        );
        EpilogueProduct {
            a,
            b,
            bias,
            res,
            want,
        }
    }

    /// Runs the product on `variant` forced to `cfg` and checks it against the reference.
    async fn check(
        &self,
        dev: &Device,
        variant: MatmulVariant,
        cfg: matmul::KernelConfig,
        what: &str,
    ) {
        let epi = Epilogue {
            alpha: 0.5,
            bias: Some(&self.bias.tensor),
            activation: Activation::Relu,
            residual: Some(&self.res.tensor),
        };
        let mut rec = Recorder::new(dev);
        let out = matmul::encode_matmul_config(
            &mut rec,
            &self.a.tensor,
            &self.b.tensor,
            &epi,
            Some(variant),
            Some(cfg),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        rec.submit_async(false).await.unwrap();
        let got = out.to_f32_vec_async().await.unwrap();
        reference::check_nmse(what, &got, &self.want, NMSE_F32).unwrap_or_else(|e| panic!("{e}"));
    }
}

gpu_test! {
/// Every CPU register block of the storage and subgroup kernels, forced, at sizes that leave
/// partial blocks on both sides and partial workgroups, with a bias and residual epilogue:
/// N = 45 takes the scalar epilogue, N = 48 the vec4 one.
async fn every_cpu_block(dev) {
    // The browser takes the vec4 epilogue and one workgroup width only (see common::BROWSER).
    let widths: &[usize] = if common::BROWSER { &[48] } else { &[45, 48] };
    for &n in widths {
        every_cpu_block_at(&dev, n).await;
    }
}
}

async fn every_cpu_block_at(dev: &Device, n: usize) {
    let product = EpilogueProduct::new(dev, [67, n, 131], false, false, 31);
    for variant in [MatmulVariant::CpuRegister, MatmulVariant::CpuSubgroup] {
        if !variant.available_on(dev) {
            continue;
        }
        for (tm, tn) in matmul::cpu_blocks(variant) {
            let wg_widths: &[u32] = if common::BROWSER { &[64] } else { &[8, 64] };
            for &wg_x in wg_widths {
                let cfg = matmul::KernelConfig {
                    tm,
                    tn,
                    wg_x,
                    wg_y: 1,
                    k_split: 1,
                };
                let what = format!("{variant:?} {tm}x{tn} wg {wg_x} n {n}");
                product.check(dev, variant, cfg, &what).await;
            }
        }
    }
}

gpu_test! {
/// Every tile of the shared-memory GPU kernel (the rules' four and the tuner's), forced, with
/// A and B plain or transposed (the vec4 loads along K and N and the scalar ones), K with and
/// without a partial slice, N with and without the vec4 epilogue, bias, ReLU and residual.
async fn every_gpu_tile(dev) {
    let tiles: &[(u32, u32, u32, u32, u32)] = &[
        (8, 8, 16, 16, 8),
        (4, 4, 16, 16, 16),
        (4, 4, 16, 4, 16),
        (4, 4, 4, 16, 16),
        (8, 4, 16, 16, 8),
        (4, 8, 16, 16, 8),
    ];
    let shapes: &[(usize, usize, usize)] = if common::BROWSER {
        &[(131, 132, 36)]
    } else {
        &[(131, 132, 36), (67, 45, 37), (5, 130, 20)]
    };
    // The browser takes the two rule tiles of square shapes and the plain and x . W^T
    // layouts (see common::BROWSER).
    let tiles = if common::BROWSER { &tiles[..2] } else { tiles };
    let layouts: &[(bool, bool)] = if common::BROWSER {
        &[(false, false), (false, true)]
    } else {
        &[(false, false), (true, true), (false, true)]
    };
    for (si, &(m, n, k)) in shapes.iter().enumerate() {
        for &(ta, tb) in layouts {
            let seed = 40 + 10 * si as u64 + 2 * ta as u64 + tb as u64;
            let product = EpilogueProduct::new(&dev, [m, n, k], ta, tb, seed);
            for &(tm, tn, wg_x, wg_y, k_split) in tiles {
                let cfg = matmul::KernelConfig {
                    tm,
                    tn,
                    wg_x,
                    wg_y,
                    k_split,
                };
                let what = format!("gpu tile {cfg:?} [{m}, {k}] (T {ta}) x [{k}, {n}] (T {tb})");
                product.check(&dev, MatmulVariant::GpuTiled, cfg, &what).await;
            }
        }
    }
}
}

gpu_test! {
async fn broadcast_batches(dev) {
    let cases: &[(&[usize], &[usize])] = &[
        (&[3, 1, 33, 17], &[4, 17, 65]),
        (&[2, 5, 8, 16], &[2, 5, 16, 12]),
        (&[5, 7, 3], &[3, 9]),
        (&[1, 9], &[3, 9, 13]),
        (&[3, 1, 1, 40], &[4, 40, 20]),
        (&[2, 1, 7, 1], &[1, 3, 1, 6]),
    ];
    for (i, &(a, b)) in cases.iter().enumerate() {
        let (m, n) = (a[a.len() - 2], b[b.len() - 1]);
        for v in variants(&dev, m, n) {
            run(
                &dev,
                Case {
                    a,
                    b,
                    ..Default::default()
                },
                v,
                200 + i as u64,
            ).await;
        }
    }
}
}

gpu_test! {
async fn transposed_views(dev) {
    let shapes: &[(usize, usize, usize)] = &[
        (33, 65, 17),
        (64, 32, 48),
        (1, 40, 24),
        (40, 1, 24),
        (5, 8, 3),
    ];
    for (i, &(m, n, k)) in shapes.iter().enumerate() {
        for (ta, tb) in [(true, false), (false, true), (true, true)] {
            for v in variants(&dev, m, n) {
                let case = Case {
                    a: &[m, k],
                    b: &[k, n],
                    ta,
                    tb,
                    ..Default::default()
                };
                run(&dev, case, v, 300 + i as u64).await;
            }
        }
    }
    // Batched transposed views.
    for v in variants(&dev, 2, 2) {
        let case = Case {
            a: &[3, 20, 12],
            b: &[3, 12, 16],
            ta: true,
            tb: true,
            ..Default::default()
        };
        run(&dev, case, v, 399).await;
    }
}
}

gpu_test! {
async fn epilogues(dev) {
    let acts = [
        Activation::None,
        Activation::Relu,
        Activation::LeakyRelu(0.1),
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
        Activation::Sigmoid,
        Activation::Tanh,
    ];
    for (i, act) in acts.into_iter().enumerate() {
        let case = Case {
            a: &[33, 17],
            b: &[17, 65],
            bias: true,
            activation: act,
            ..Default::default()
        };
        for v in variants(&dev, 33, 65) {
            run(&dev, case, v, 400 + i as u64).await;
        }
    }
    let residuals: &[&[usize]] = &[&[2, 33, 65], &[33, 65], &[65], &[33, 1], &[2, 1, 1]];
    for (i, &res) in residuals.iter().enumerate() {
        let case = Case {
            a: &[2, 33, 17],
            b: &[17, 65],
            alpha: Some(-0.75),
            bias: true,
            activation: Activation::Silu,
            residual: Some(res),
            ..Default::default()
        };
        for v in variants(&dev, 33, 65) {
            run(&dev, case, v, 450 + i as u64).await;
        }
    }
    // Skinny products get the epilogue too.
    for (m, n) in [(1, 70), (70, 1)] {
        let case = Case {
            a: &[m, 31],
            b: &[31, n],
            alpha: Some(2.5),
            bias: true,
            activation: Activation::Gelu,
            residual: Some(&[m, n]),
            ..Default::default()
        };
        for v in variants(&dev, m, n) {
            run(&dev, case, v, 470 + m as u64).await;
        }
    }
}
}

gpu_test! {
async fn f16_storage(dev) {
    if !dev.has_f16() {
        eprintln!("SKIPPED: adapter has no SHADER_F16");
        return;
    }
    for (i, &(m, n, k)) in [
        (1, 257, 127),
        (127, 1, 64),
        (33, 65, 17),
        (127, 257, 131),
        (64, 64, 64),
    ]
    .iter()
    .enumerate()
    {
        for v in variants(&dev, m, n) {
            let case = Case {
                a: &[m, k],
                b: &[k, n],
                f16: true,
                ..Default::default()
            };
            run(&dev, case, v, 500 + i as u64).await;
        }
    }
    let case = Case {
        a: &[2, 33, 16],
        b: &[16, 64],
        tb: true,
        f16: true,
        bias: true,
        activation: Activation::Relu,
        residual: Some(&[64]),
        ..Default::default()
    };
    for v in variants(&dev, 33, 64) {
        run(&dev, case, v, 550).await;
    }
}
}

gpu_test! {
async fn recorder_batches_several_products(dev) {
    let a = upload(&dev, &[20, 30], 1, false, DType::F32);
    let b = upload(&dev, &[30, 40], 2, false, DType::F32);
    let mut rec = Recorder::new(&dev);
    let c1 = encode_matmul(&mut rec, &a.tensor, &b.tensor, &Epilogue::default(), None).unwrap();
    let epi = Epilogue {
        alpha: 2.0,
        ..Default::default()
    };
    let c2 = encode_matmul(&mut rec, &a.tensor, &b.tensor, &epi, None).unwrap();
    assert_eq!(rec.len(), 2);
    let want_flops = 2 * 20 * 30 * 40;
    assert_eq!(rec.dispatches()[0].cost.flops, want_flops);
    assert_eq!(rec.dispatches()[1].cost.flops, want_flops + 20 * 40);
    rec.submit(false).unwrap();
    let (want, _) = refm::matmul(&a.logical, &[20, 30], &b.logical, &[30, 40]);
    reference::check_nmse("c1", &c1.to_f32_vec_async().await.unwrap(), &want, NMSE_F32).unwrap();
    let want2: Vec<f64> = want.iter().map(|x| 2.0 * x).collect();
    reference::check_nmse("c2", &c2.to_f32_vec_async().await.unwrap(), &want2, NMSE_F32).unwrap();
    // The convenience form agrees.
    let c3 = matmul::matmul(&a.tensor, &b.tensor).unwrap();
    reference::check_nmse("c3", &c3.to_f32_vec_async().await.unwrap(), &want, NMSE_F32).unwrap();
}
}

gpu_test! {
async fn typed_errors(dev) {
    let t =
        |s: &[usize]| Tensor::from_f32(&dev, &reference::random(s.iter().product(), 9), s).unwrap();
    let shape_err = |r: flopwatt::Result<Tensor>| match r {
        Err(Error::Shape {
            op: "matmul",
            message,
        }) => message,
        other => panic!("expected a matmul shape error, got {other:?}"),
    };
    let msg = shape_err(matmul::matmul(&t(&[3, 4]), &t(&[5, 6])));
    assert_eq!(msg, "inner dims differ, [3, 4] x [5, 6]");
    shape_err(matmul::matmul(&t(&[4]), &t(&[4, 5])));
    shape_err(matmul::matmul(&t(&[2, 3, 4]), &t(&[3, 4, 5])));
    let (a, b) = (t(&[3, 4]), t(&[4, 5]));
    let bad_bias = t(&[4]);
    shape_err(matmul_with(
        &a,
        &b,
        &Epilogue {
            bias: Some(&bad_bias),
            ..Default::default()
        },
        None,
    ));
    let bad_res = t(&[2, 5]);
    shape_err(matmul_with(
        &a,
        &b,
        &Epilogue {
            residual: Some(&bad_res),
            ..Default::default()
        },
        None,
    ));
    let ai = Tensor::from_i32(&dev, &[1; 12], &[3, 4]).unwrap();
    assert!(matches!(
        matmul::matmul(&ai, &b),
        Err(Error::UnsupportedDType { op: "matmul", .. })
    ));
    if dev.has_f16() {
        let bh = Tensor::from_f16(&dev, &[half::f16::ONE; 20], &[4, 5]).unwrap();
        assert!(matches!(
            matmul::matmul(&a, &bh),
            Err(Error::UnsupportedDType { op: "matmul", .. })
        ));
    }
    assert!(matches!(
        matmul_with(&a, &b, &Epilogue::default(), Some(MatmulVariant::Gemv)),
        Err(Error::InvalidArgument { op: "matmul", .. })
    ));
}
}

/// B packed once (as a compiled graph does with constant weights) gives the product of B
/// itself, for plain and transposed B at awkward sizes, with an epilogue; a batch of B
/// matrices is refused.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn prepacked_b() {
    use flopwatt::ops::matmul::{encode_matmul_prepacked, pack_b};
    let dev = device_or_skip!();
    for (i, &(m, n, k, tb)) in [
        (131, 67, 29, false),
        (256, 5, 130, true),
        (129, 257, 1, false),
    ]
    .iter()
    .enumerate()
    {
        let seed = 700 + i as u64;
        let a = upload(&dev, &[m, k], seed, false, DType::F32);
        let b = upload(&dev, &[k, n], seed + 1, tb, DType::F32);
        let bias = upload(&dev, &[n], seed + 2, false, DType::F32);
        let (mut want, shape) = refm::matmul(&a.logical, &[m, k], &b.logical, &[k, n]);
        refm::epilogue(
            &mut want,
            &shape,
            1.0,
            Some(&bias.logical),
            Activation::Gelu,
            None,
        );
        let packed = pack_b(&b.tensor).unwrap();
        let epi = Epilogue {
            bias: Some(&bias.tensor),
            activation: Activation::Gelu,
            ..Default::default()
        };
        let mut rec = Recorder::new(&dev);
        let out = encode_matmul_prepacked(&mut rec, &a.tensor, &b.tensor, &packed, &epi).unwrap();
        // No pack dispatch in the run where the texture kernel is chosen.
        assert!(rec.dispatches().iter().all(|d| d.kernel != "matmul.pack_b"));
        rec.submit(false).unwrap();
        let got = out.to_f32_vec().unwrap();
        reference::check_nmse(
            &format!("prepacked {m}x{n}x{k} tb={tb}"),
            &got,
            &want,
            NMSE_F32,
        )
        .unwrap();
    }
    let batched = upload(&dev, &[2, 5, 7], 790, false, DType::F32);
    assert!(pack_b(&batched.tensor).is_err());
}
