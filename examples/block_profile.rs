//! Per-dispatch GPU time of the transformer-block workload, fused (with and without the
//! stacked q/k/v matmul) and unfused, as medians of interleaved profiled runs (so background
//! load hits all alike).
//!
//! `cargo run --release --example block_profile [reps]`

use flopwatt::graph::models::transformer_block;
use flopwatt::{CompileOptions, Device, Tensor};

/// Process CPU seconds (user + system) from /proc/self/stat; 0 where there is none. On a
/// shared, loaded machine lavapipe's CPU time per run ranks the modes more steadily than
/// wall or GPU time.
fn cpu_secs() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

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
        flopwatt::fuse::set_horizontal(Some(horizontal));
        exes.push(g.compile_with(
            &dev,
            CompileOptions {
                fusion,
                memory_planning: fusion,
            },
        )?);
    }
    flopwatt::fuse::set_horizontal(None);
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
