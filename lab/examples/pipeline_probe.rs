//! What a matmul costs the host around its kernel: the first use of each pipeline in a fresh
//! process (wall and process-CPU ms: WGSL composition, naga, the driver's compile or its disk
//! cache), then recording an already-compiled product (the minimum of 5 runs of 100 records,
//! nothing submitted). The numbers in `docs/decisions.md#matmul-pipeline-source` come from
//! this kind of run; run it in a fresh process for the first-use figures.
//!
//! `cargo run --release -p flopwatt-lab --example pipeline_probe`

#[path = "common/mod.rs"]
mod common;
use common::cpu_secs;

use flopwatt::ops::matmul::MatmulVariant::{self, CpuRegister};
use flopwatt::ops::matmul::{encode_matmul, matmul_with, Epilogue};
use flopwatt::ops::Activation;
use flopwatt::{Device, Recorder, Tensor};
use std::time::Instant;

fn ones(dev: &Device, shape: &[usize]) -> flopwatt::Result<Tensor> {
    Tensor::from_f32(dev, &vec![0.5; shape.iter().product()], shape)
}

/// Wall and CPU ms of one `matmul_with` plus its readback.
fn first_use(
    dev: &Device,
    (m, n, k): (usize, usize, usize),
    epi: &Epilogue,
    variant: Option<MatmulVariant>,
) -> flopwatt::Result<String> {
    let (a, b) = (ones(dev, &[m, k])?, ones(dev, &[k, n])?);
    let (cpu0, t0) = (cpu_secs(), Instant::now());
    matmul_with(&a, &b, epi, variant)?.to_f32_vec()?;
    Ok(format!(
        "{:.0} ms wall / {:.0} ms CPU",
        t0.elapsed().as_secs_f64() * 1e3,
        (cpu_secs() - cpu0) * 1e3
    ))
}

/// What is measured, the product's (m, n, k), its epilogue, and a forced variant.
type Case<'a> = (
    &'a str,
    (usize, usize, usize),
    &'a Epilogue<'a>,
    Option<MatmulVariant>,
);

fn main() -> flopwatt::Result<()> {
    let dev = Device::new()?;
    let none = Epilogue::default();
    let gelu = Epilogue {
        activation: Activation::Gelu,
        ..Default::default()
    };
    let cases: [Case; 5] = [
        ("first matmul, 64x64x64", (64, 64, 64), &none, None),
        ("the same again", (64, 64, 64), &none, None),
        ("another pipeline (gelu)", (64, 64, 64), &gelu, None),
        (
            "cpu_register 32x16",
            (128, 64, 64),
            &none,
            Some(CpuRegister),
        ),
        ("gemv", (1, 64, 64), &none, None),
    ];
    for (what, shape, epi, variant) in cases {
        println!("{what}: {}", first_use(&dev, shape, epi, variant)?);
    }
    for (m, n, k) in [(64, 64, 64), (16, 384, 384)] {
        let (a, b) = (ones(&dev, &[m, k])?, ones(&dev, &[k, n])?);
        let mut best = f64::MAX;
        for _ in 0..=5 {
            let mut rec = Recorder::new(&dev);
            let t = Instant::now();
            for _ in 0..100 {
                encode_matmul(&mut rec, &a, &b, &none, None)?;
            }
            best = best.min(t.elapsed().as_secs_f64() * 1e6 / 100.0);
        }
        println!("record {m}x{n}x{k}: {best:.1} us per product (min of 5 x 100)");
    }
    println!("pipelines: {}", dev.pipeline_count());
    Ok(())
}
