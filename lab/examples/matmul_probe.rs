//! Times matmul kernel configurations side by side (GPU timestamps, medians).
//! `cargo run --release --example matmul_probe -- 1024 [reps] [tm,tn,wg]`
//!
//! Besides wall-clock GFLOP/s it prints GFLOP per process CPU-second times 2 (the cores of the
//! CI machine): on a shared, loaded machine that ranks kernels more steadily than wall time.

#[path = "common/mod.rs"]
mod common;
use common::cpu_secs;
use flopwatt::ops::matmul::{encode_matmul_config, Epilogue, KernelConfig, MatmulVariant};
use flopwatt::{Device, Recorder, Tensor};
use flopwatt_reference as reference;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let only: Option<String> = args.get(3).cloned();
    let dev = Device::new().expect("device");
    let a = Tensor::from_f32(&dev, &reference::random(n * n, 1), &[n, n]).unwrap();
    let b = Tensor::from_f32(&dev, &reference::random(n * n, 2), &[n, n]).unwrap();
    // PROBE_TB=1: B as a transposed view (K-contiguous), as in x . W^T.
    let b = if std::env::var("PROBE_TB").is_ok() {
        b.transpose(0, 1).unwrap()
    } else {
        b
    };
    let a = if std::env::var("PROBE_TA").is_ok() {
        a.transpose(0, 1).unwrap()
    } else {
        a
    };
    let tex = std::env::var("PROBE_TEX").is_ok();
    let cpu = |tm, tn, wg| {
        (
            if tex {
                MatmulVariant::CpuTexture
            } else {
                MatmulVariant::CpuRegister
            },
            KernelConfig {
                tm,
                tn,
                wg_x: wg,
                wg_y: 1,
                k_split: 1,
            },
        )
    };
    let mut cfgs = vec![
        cpu(32, 16, 64),
        cpu(16, 16, 64),
        (
            MatmulVariant::GpuTiled,
            KernelConfig {
                tm: 4,
                tn: 4,
                wg_x: 16,
                wg_y: 16,
                k_split: 16,
            },
        ),
    ];
    if let Some(o) = &only {
        let v: Vec<u32> = o.split(',').map(|x| x.parse().unwrap()).collect();
        cfgs = vec![cpu(v[0], v[1], v[2])];
    }
    let mut results = vec![Vec::new(); cfgs.len()];
    for round in 0..reps + 1 {
        for (i, (v, c)) in cfgs.iter().enumerate() {
            let mut rec = Recorder::new(&dev);
            encode_matmul_config(&mut rec, &a, &b, &Epilogue::default(), Some(*v), Some(*c))
                .unwrap();
            let t0 = cpu_secs();
            let prof = rec.submit(true).unwrap().unwrap();
            let cpu = cpu_secs() - t0;
            if round > 0 {
                // GFLOP per CPU-second times 2 cores: what an idle 2-core machine would give.
                // Every dispatch of the product (the texture variant packs B first).
                let f = prof.flops() as f64;
                results[i].push((f / prof.gpu_ns(), f / cpu * 2.0 / 1e9));
            }
        }
    }
    for (i, (v, c)) in cfgs.iter().enumerate() {
        let r = &mut results[i];
        if r.is_empty() {
            continue;
        }
        let mut w: Vec<f64> = r.iter().map(|x| x.0).collect();
        let mut cp: Vec<f64> = r.iter().map(|x| x.1).collect();
        w.sort_by(|x, y| x.partial_cmp(y).unwrap());
        cp.sort_by(|x, y| x.partial_cmp(y).unwrap());
        println!("{n} {:?} {}x{} wg={}: wall median {:.1} GFLOP/s (max {:.1}); per-CPU-time x2 median {:.1}", v, c.tm, c.tn, c.wg_x, w[w.len() / 2], w[w.len() - 1], cp[cp.len() / 2]);
    }
}
