//! Every CPU register block of the storage and subgroup matmul kernels on the transformer
//! block's shapes and a square one, interleaved (so background load hits all alike): median
//! and minimum GPU ms. This is how `CPU_SG_BLOCKS` and the rules in `ops::matmul::config`
//! were chosen.
//!
//! `cargo run --release --example matmul_blocks [reps]`

#[path = "common/mod.rs"]
mod common;
use common::{cpu_secs, median};

use flopwatt::ops::matmul::MatmulVariant::{CpuRegister, CpuSubgroup};
use flopwatt::ops::matmul::{cpu_blocks, encode_matmul_config, Epilogue, KernelConfig};
use flopwatt::{Device, Recorder, Tensor};
use flopwatt_reference::random;

fn main() -> flopwatt::Result<()> {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let dev = Device::new()?;
    let mut kernels = Vec::new();
    for v in [CpuRegister, CpuSubgroup] {
        if v.available_on(&dev) {
            kernels.extend(cpu_blocks(v).into_iter().map(|b| (v, b)));
        }
    }
    for (m, k, n) in [
        (256, 512, 512),
        (256, 512, 2048),
        (256, 2048, 512),
        (1024, 1024, 1024),
    ] {
        let a = Tensor::from_f32(&dev, &random(m * k, 1), &[m, k])?;
        let b = Tensor::from_f32(&dev, &random(k * n, 2), &[k, n])?;
        let mut times = vec![Vec::new(); kernels.len()];
        let mut cpu = vec![Vec::new(); kernels.len()];
        for rep in 0..=reps {
            for (i, &(v, (tm, tn))) in kernels.iter().enumerate() {
                // The rules' workgroup width: enough invocations along N to cover it.
                let wg_x = n.div_ceil(tn as usize).next_power_of_two().clamp(8, 64) as u32;
                let cfg = KernelConfig {
                    tm,
                    tn,
                    wg_x,
                    wg_y: 1,
                    k_split: 1,
                };
                let mut rec = Recorder::new(&dev);
                let y = encode_matmul_config(
                    &mut rec,
                    &a,
                    &b,
                    &Epilogue::default(),
                    Some(v),
                    Some(cfg),
                )?;
                rec.keep_alive(y);
                let c0 = cpu_secs();
                let p = rec.submit(true)?.expect("timed submit returns a profile");
                if rep > 0 {
                    times[i].push(p.gpu_ns() / 1e6);
                    cpu[i].push((cpu_secs() - c0) * 1e3);
                }
            }
        }
        println!("[{m}, {k}] x [{k}, {n}]");
        let flops = 2.0 * (m * n * k) as f64;
        for (((v, (tm, tn)), t), c) in kernels.iter().zip(times).zip(cpu) {
            let min = t.iter().copied().fold(f64::INFINITY, f64::min);
            let med = median(t);
            println!(
                "  {:>13} {tm:>3}x{tn:<3} median {med:8.2} ms {:6.1} GFLOP/s  min {:8.2} ms  CPU {:6.1} ms",
                v.name(),
                flops / med / 1e6,
                min,
                median(c)
            );
        }
    }
    Ok(())
}
