//! Builds a small model (a pre-LN transformer block: layernorm, attention, MLP with gelu),
//! compiles it with and without fusion, runs it, and prints EXPLAIN and the profile table.
//!
//! `cargo run --release --example graph [d heads seq mlp_mult]`

use flopwatt::graph::models::transformer_block;
use flopwatt::Compile;
use flopwatt::{CompileOptions, Device, Tensor};

fn main() -> flopwatt::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (d, heads, seq, mult) = match args[..] {
        [d, h, s, m] => (d, h, s, m),
        _ => (64, 4, 33, 4),
    };
    let dev = Device::new()?;
    let (g, data) = transformer_block(d, heads, seq, mult)?;
    let x = Tensor::from_f32(&dev, &data[0], &[seq, d])?;
    for fusion in [false, true] {
        let exe = g.compile_with(
            &dev,
            CompileOptions {
                fusion,
                memory_planning: true,
                ..CompileOptions::DEFAULT
            },
        )?;
        println!("{}", exe.explain());
        exe.run(&[&x])?; // warm-up: first dispatch of each pipeline JIT-compiles on lavapipe
        let (outs, profile) = exe.run_profiled(&[&x])?;
        let y = outs[0].to_f32_vec()?;
        println!("{}", profile.table());
        println!(
            "fusion {}: {} dispatches, GPU time {:.3} ms, y[0..4] = {:?}\n",
            if fusion { "on" } else { "off" },
            exe.dispatch_count(),
            profile.gpu_ns() / 1e6,
            &y[..4]
        );
    }
    Ok(())
}
