//! Graph executor benchmarks: `mlp-epilogue` (relu(x W + b), x [2048, 1024], W [1024, 1024])
//! and `transformer-block` (pre-LN, d 512, 8 heads, seq 256, MLP 4x, gelu), each fused and
//! unfused. Before criterion runs, it prints dispatch counts, the planner's peak bytes with
//! and without liveness planning, the pool bytes measured on a fresh device, and interleaved
//! medians of wall time per run (record + submit + wait), so the ratio is measured side by
//! side under the same background load.

use flopwatt::Compile;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use flopwatt::graph::models::{mlp_epilogue, transformer_block};
use flopwatt::graph::Graph;
use flopwatt::pool::size_class;
use flopwatt::{CompileOptions, Device, Executable, Tensor};

/// Interleaved repetitions per mode for the side-by-side medians.
const REPS: usize = 11;

const MODES: [(&str, CompileOptions); 2] = [
    (
        "fused",
        CompileOptions {
            fusion: true,
            memory_planning: true,
            ..CompileOptions::DEFAULT
        },
    ),
    (
        "unfused",
        CompileOptions {
            fusion: false,
            memory_planning: false,
            ..CompileOptions::DEFAULT
        },
    ),
];

fn inputs(dev: &Device, g: &Graph, data: &[Vec<f32>]) -> Vec<Tensor> {
    g.inputs()
        .iter()
        .zip(data)
        .map(|(v, d)| Tensor::from_f32(dev, d, g.shape(*v)).expect("upload"))
        .collect()
}

/// Pool bytes a compiled graph adds beyond its constants (and compile-time prepared
/// weights), its inputs and the dummy inputs of the compile-time dry run, on a fresh device.
fn measured_peak(g: &Graph, data: &[Vec<f32>], opts: CompileOptions) -> u64 {
    let dev = Device::new().expect("device");
    let ins = inputs(&dev, g, data);
    let refs: Vec<&Tensor> = ins.iter().collect();
    let base = dev.allocated_bytes();
    let exe = g.compile_with(&dev, opts).expect("compile");
    drop(exe.run(&refs).expect("run"));
    // The dry run's dummy inputs stay in the pool (a run's outputs may reuse them).
    let dummies: u64 = ins.iter().map(|t| size_class((t.numel() * 4) as u64)).sum();
    (dev.allocated_bytes() - base).saturating_sub(exe.constant_bytes() + dummies)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

fn report(id: &str, g: &Graph, data: &[Vec<f32>], exes: &[(&str, Executable)], refs: &[&Tensor]) {
    for (name, exe) in exes {
        let p = exe.plan();
        eprintln!(
            "{id}/{name}: {} dispatches; planner peak {:.2} MiB planned vs {:.2} MiB unplanned ({:.0}%)",
            exe.dispatch_count(),
            mib(p.peak_planned),
            mib(p.peak_unplanned),
            100.0 * p.peak_planned as f64 / p.peak_unplanned as f64
        );
    }
    for planning in [true, false] {
        let opts = CompileOptions {
            fusion: true,
            memory_planning: planning,
            ..CompileOptions::DEFAULT
        };
        eprintln!(
            "{id}/fused: measured pool bytes beyond constants+inputs, planning {}: {:.2} MiB",
            if planning { "on" } else { "off" },
            mib(measured_peak(g, data, opts))
        );
    }
    // Warm-up, then interleaved wall-clock medians.
    for (_, exe) in exes {
        drop(exe.run(refs).expect("run"));
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); exes.len()];
    for _ in 0..REPS {
        for (i, (_, exe)) in exes.iter().enumerate() {
            let t = Instant::now();
            drop(exe.run(refs).expect("run"));
            times[i].push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let med: Vec<f64> = times
        .into_iter()
        .map(|mut v| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        })
        .collect();
    eprintln!(
        "{id}: interleaved medians of {REPS}: fused {:.1} ms, unfused {:.1} ms, speedup {:.2}x",
        med[0],
        med[1],
        med[1] / med[0]
    );
}

fn bench(c: &mut Criterion) {
    let dev = match Device::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIPPED graph benches: {e}");
            return;
        }
    };
    let workloads = [
        (
            "mlp-epilogue",
            mlp_epilogue(2048, 1024, 1024).expect("graph"),
        ),
        (
            "transformer-block",
            transformer_block(512, 8, 256, 4).expect("graph"),
        ),
    ];
    for (id, (g, data)) in &workloads {
        let ins = inputs(&dev, g, data);
        let refs: Vec<&Tensor> = ins.iter().collect();
        let exes: Vec<(&str, Executable)> = MODES
            .iter()
            .map(|(n, o)| (*n, g.compile_with(&dev, *o).expect("compile")))
            .collect();
        report(id, g, data, &exes, &refs);
        let mut group = c.benchmark_group(*id);
        group.sample_size(10);
        group.measurement_time(std::time::Duration::from_secs(4));
        for (name, exe) in &exes {
            group.bench_function(*name, |b| b.iter(|| drop(exe.run(&refs).expect("run"))));
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
