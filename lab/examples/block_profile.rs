//! Per-dispatch GPU time of the transformer-block workload, fused (with and without the
//! stacked q/k/v matmul) and unfused, as medians of interleaved profiled runs (so background
//! load hits all alike).
//!
//! `cargo run --release --example block_profile [reps]`

#[path = "common/mod.rs"]
mod common;
use common::{cpu_secs, median};
use flopwatt::Compile;

use flopwatt::graph::models::transformer_block;
use flopwatt::{CompileOptions, Device, Tensor};

fn main() -> flopwatt::Result<()> {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let dev = Device::new()?;
    let (g, data) = transformer_block(512, 8, 256, 4)?;
    let x = Tensor::from_f32(&dev, &data[0], &[256, 512])?;
    let modes = ["fused", "fused, no stacked matmul", "unfused"];
    let mut exes = Vec::new();
    for (fusion, horizontal) in [(true, true), (true, false), (false, false)] {
        exes.push(g.compile_with(
            &dev,
            CompileOptions {
                fusion,
                memory_planning: fusion,
                stacked_matmuls: Some(horizontal),
                ..CompileOptions::DEFAULT
            },
        )?);
    }
    for e in &exes {
        e.run(&[&x])?;
    }
    let mut per: Vec<Vec<Vec<f64>>> = vec![Vec::new(); 3];
    let mut totals: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut names: Vec<Vec<String>> = vec![Vec::new(); 3];
    for _ in 0..reps {
        for (i, e) in exes.iter().enumerate() {
            let c0 = cpu_secs();
            let (_, p) = e.run_profiled(&[&x])?;
            cpu[i].push((cpu_secs() - c0) * 1e3);
            if per[i].is_empty() {
                per[i] = vec![Vec::new(); p.dispatches.len()];
                names[i] = p
                    .dispatches
                    .iter()
                    .map(|d| format!("{} [{}]", d.kernel, d.covers.join(",")))
                    .collect();
            }
            for (k, d) in p.dispatches.iter().enumerate() {
                per[i][k].push(d.gpu_ns / 1e6);
            }
            totals[i].push(p.gpu_ns() / 1e6);
        }
    }
    for (i, mode) in modes.iter().enumerate() {
        println!(
            "{mode}: median GPU total {:.2} ms",
            median(totals[i].clone())
        );
        for (k, v) in per[i].iter().enumerate() {
            println!("  {:8.3} ms  {}", median(v.clone()), names[i][k]);
        }
    }
    let u = median(totals[2].clone());
    for (i, mode) in modes[..2].iter().enumerate() {
        let f = median(totals[i].clone());
        println!(
            "{mode}: speedup over unfused (GPU time medians) {:.2}x, (process CPU ms per run, medians: {:.0} vs {:.0}) {:.2}x",
            u / f,
            median(cpu[i].clone()),
            median(cpu[2].clone()),
            median(cpu[2].clone()) / median(cpu[i].clone())
        );
    }
    Ok(())
}
