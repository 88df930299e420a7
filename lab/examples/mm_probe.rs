//! Why horizontal fusion stacks B instead of concatenating it: one [256, 512] A times
//! three [512, 512] B as three matmuls, as one [512, 1536] concatenated B, and as one
//! batched product over a stacked [3, 512, 512] B (bias as a stacked residual), timed side by
//! side (interleaved; median and minimum GPU ms, the minimum being the least disturbed by
//! other load on a shared machine).
//!
//! `cargo run --release --example mm_probe [reps]`

use flopwatt::ops::matmul::{encode_matmul, Epilogue};
use flopwatt::{Device, Recorder, Tensor};
use flopwatt_reference::random;

fn main() -> flopwatt::Result<()> {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(16);
    let dev = Device::new()?;
    let t = |shape: &[usize], seed| {
        let n = flopwatt::tensor::numel(shape);
        Tensor::from_f32(&dev, &random(n, seed), shape)
    };
    let a = t(&[256, 512], 1)?;
    let b = t(&[512, 512], 2)?;
    let wide = t(&[512, 1536], 3)?;
    let stacked = t(&[3, 512, 512], 4)?;
    let bias = t(&[3, 1, 512], 5)?;
    let a1 = a.reshape(&[1, 256, 512])?;
    let none = Epilogue::default();
    let with_bias = Epilogue {
        residual: Some(&bias),
        ..none
    };
    type Case<'a> = (&'a str, usize, &'a Tensor, &'a Tensor, Epilogue<'a>);
    let cases: [Case; 4] = [
        ("3 x [512, 512]", 3, &a, &b, none),
        ("[512, 1536] concatenated", 1, &a, &wide, none),
        ("[3, 512, 512] stacked", 1, &a1, &stacked, none),
        ("stacked + bias", 1, &a1, &stacked, with_bias),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for rep in 0..=reps {
        for (i, (_, count, x, w, epi)) in cases.iter().enumerate() {
            let mut rec = Recorder::new(&dev);
            for _ in 0..*count {
                let y = encode_matmul(&mut rec, x, w, epi, None)?;
                rec.keep_alive(y);
            }
            let p = rec.submit(true)?.expect("timed submit returns a profile");
            if rep > 0 {
                times[i].push(p.gpu_ns() / 1e6);
            }
        }
    }
    for ((name, ..), mut v) in cases.iter().zip(times) {
        v.sort_by(|x, y| x.total_cmp(y));
        println!(
            "{name:>26}: median {:7.2} ms, min {:7.2} ms",
            v[v.len() / 2],
            v[0]
        );
    }
    Ok(())
}
