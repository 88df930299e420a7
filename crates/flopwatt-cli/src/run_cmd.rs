//! `flopwatt run`: an ONNX model on `.npy` inputs through the library's
//! [`flopwatt::onnx::Session`]: outputs to `.npy`, `--check` against expected files, and
//! `--repeat` timing (wall and GPU time, energy) with a result file in the bench's schema.

use std::path::{Path, PathBuf};
use std::time::Instant;

use flopwatt::onnx::check;
use flopwatt::onnx::npy::{self, Array};
use flopwatt::onnx::{Session, SessionOptions};
use flopwatt::{energy, CompileOptions, Device, Error};
use flopwatt_bench::report::BenchReport;
use flopwatt_bench::{BenchResult, RunStats};

use crate::{files, output, power_info, provenance};

/// Most timed inferences one `--repeat` takes (and warm-ups `--warmup`): far beyond a useful
/// median, and a bound on how long a mistyped count runs.
const MAX_REPEAT: usize = 100_000;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The .onnx model file.
    model: String,
    /// A model input as NAME=PATH.npy (repeat for each input).
    #[arg(long = "input", value_name = "NAME=PATH")]
    inputs: Vec<String>,
    /// Directory for the outputs (created if missing); without it the outputs are only
    /// listed (and checked, with --check).
    #[arg(long, value_name = "DIR")]
    output_dir: Option<String>,
    /// Print the per-dispatch time/FLOPs/bytes table of the run, and where start-up went
    /// (model load, device, compile with its pipeline builds, first run).
    #[arg(long)]
    profile: bool,
    /// One kernel per op (no fusion), to compare with the fused run.
    #[arg(long)]
    no_fusion: bool,
    /// Compare each output with DIR/<name>.npy (e.g. onnxruntime's, from
    /// tools/onnx_reference.py); print the error per output and fail over --tol.
    #[arg(long, value_name = "DIR")]
    check: Option<String>,
    /// Largest relative L2 error --check accepts.
    #[arg(long, value_name = "TOL", default_value_t = 1e-3)]
    tol: f64,
    /// Also write the intermediate value NAME (repeatable), to find where a port departs.
    #[arg(long = "dump", value_name = "NAME")]
    dumps: Vec<String>,
    /// Also write every node output (after load-time folding).
    #[arg(long)]
    dump_all: bool,
    /// Time N inferences (upload, run, download each) after the warm-ups; report wall and
    /// GPU time per inference, throughput and energy.
    #[arg(long, value_name = "N")]
    repeat: Option<usize>,
    /// Untimed inferences before the timed ones (with --repeat).
    #[arg(long, value_name = "W", default_value_t = 1)]
    warmup: usize,
    /// With --repeat: write the timing as JSON in the bench's schema (flopwatt-bench/2, for
    /// `compare` and `bench --baseline`; `-`: stdout).
    #[arg(long, value_name = "PATH")]
    json: Option<String>,
    /// Power draw to assume when the device has no readable sensor (reported as fixed, not
    /// measured), as in `bench`.
    #[arg(long, value_name = "W", allow_hyphen_values = true)]
    watts: Option<f64>,
}

/// Checks the option values that do not need the model.
fn check_args(a: &RunArgs) -> flopwatt::Result<()> {
    let bad = |m: String| Err(Error::invalid("run", m));
    match a.repeat {
        Some(n) if n == 0 || n > MAX_REPEAT => {
            return bad(format!("--repeat must be 1 to {MAX_REPEAT}, got {n}"))
        }
        None if a.json.is_some() => {
            return bad("--json writes the timing of --repeat N; add --repeat".into())
        }
        _ => {}
    }
    if a.warmup > MAX_REPEAT {
        return bad(format!(
            "--warmup must be at most {MAX_REPEAT}, got {}",
            a.warmup
        ));
    }
    if let Some(w) = a.watts {
        if !(w.is_finite() && w > 0.0) {
            return bad(format!(
                "--watts must be a positive number of watts, got {w}"
            ));
        }
    }
    if !(a.tol.is_finite() && a.tol >= 0.0) {
        return bad(format!(
            "--tol must be a non-negative number, got {}",
            a.tol
        ));
    }
    if a.check.as_deref() == Some("") {
        return bad("--check is empty; name the directory of the expected .npy files".into());
    }
    if let Some(p) = &a.json {
        output::check_writable("--json", p)?;
    }
    Ok(())
}

/// Reads the `--input NAME=PATH` files.
fn read_feeds(specs: &[String]) -> flopwatt::Result<Vec<(String, Array)>> {
    specs
        .iter()
        .map(|spec| {
            let (name, path) = spec.split_once('=').ok_or_else(|| {
                Error::invalid("run", format!("--input `{spec}` is not NAME=PATH.npy"))
            })?;
            let bytes = files::read_capped(Path::new(path), "npy input", files::MAX_NPY_BYTES)?;
            Ok((name.to_string(), npy::from_bytes(&bytes, path)?))
        })
        .collect()
}

/// `flopwatt run`: load, check the feeds, run once (write, list or check the outputs), then
/// time `--repeat` inferences.
pub fn run(a: RunArgs) -> flopwatt::Result<()> {
    let mut laps = Laps::start();
    check_args(&a)?;
    // The device opens on another thread while the files are read: neither waits for the
    // other (about 40 ms of a start-up; docs/host-path.md#start-up). A file's error is
    // reported before the device's.
    let (loaded, dev) = std::thread::scope(|s| {
        let dev = s.spawn(Device::new);
        let loaded = load_files(&a);
        (loaded, dev.join())
    });
    let (model, feeds) = loaded?;
    laps.lap("load");
    let dev = dev.map_err(|_| Error::invalid("device", "opening the device panicked"))??;
    laps.lap("device wait");
    let refs: Vec<(&str, &Array)> = feeds.iter().map(|(n, x)| (n.as_str(), x)).collect();
    let options = SessionOptions {
        compile: CompileOptions {
            fusion: !a.no_fusion,
            memory_planning: true,
            ..CompileOptions::DEFAULT
        },
        dumps: a.dumps.clone(),
        dump_all: a.dump_all,
    };
    let mut session = Session::new(&dev, model, options)?;
    let compiled = session.prepare(&refs)?;
    let names = compiled.output_names().to_vec();
    let declared = compiled.declared_outputs();
    let out_paths = match &a.output_dir {
        Some(d) => Some(files::output_paths(d, &names)?),
        None => None,
    };
    laps.lap("compile");
    let inputs = compiled.upload(&refs)?;
    let trefs: Vec<&flopwatt::Tensor> = inputs.iter().collect();
    let exe = compiled.executable();
    let (outs, profile) = if a.profile {
        let (o, p) = exe.run_profiled(&trefs)?;
        (o, Some(p))
    } else {
        (exe.run(&trefs)?, None)
    };
    let outputs = compiled.download(&outs)?;
    laps.lap("first run");
    if let (Some(dir), Some(paths)) = (&a.output_dir, &out_paths) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        for ((_, arr), path) in outputs.iter().zip(paths) {
            files::write_atomic(path, &npy::to_bytes(arr)?)?;
        }
    } else if a.check.is_none() && a.repeat.is_none() {
        for (name, arr) in outputs.iter().take(declared) {
            println!("{name}: {:?} {}", arr.shape, dtype_name(arr));
        }
    }
    if let Some(dir) = &a.check {
        check_outputs(&outputs.into_vec(), &names, declared, dir, a.tol)?;
    }
    laps.lap("outputs");
    if let Some(p) = profile {
        print!("{}", p.table());
        println!("{}", laps.summary(&dev));
    }
    if let Some(n) = a.repeat {
        time(&a, &mut session, &refs, n)?;
    }
    // The process exits next, and the OS reclaims the device, the compiled model and their
    // buffers faster than their destructors do (lavapipe's teardown took ~70 ms of a MiniLM
    // run): save the pipeline cache, which the device's destructor would, and skip the rest.
    let _ = dev.save_pipeline_cache();
    std::mem::forget((inputs, outs, session, dev));
    Ok(())
}

/// The model and the input arrays.
fn load_files(a: &RunArgs) -> flopwatt::Result<(flopwatt::onnx::Model, Vec<(String, Array)>)> {
    let bytes = files::read_capped(Path::new(&a.model), "model", files::MAX_MODEL_BYTES)?;
    let model = flopwatt::onnx::Model::decode_owned(bytes, &a.model)?;
    Ok((model, read_feeds(&a.inputs)?))
}

/// Wall time of each start-up phase, from the command's start.
struct Laps {
    last: Instant,
    phases: Vec<(&'static str, f64)>,
}

impl Laps {
    fn start() -> Self {
        Laps {
            last: Instant::now(),
            phases: Vec::new(),
        }
    }

    fn lap(&mut self, what: &'static str) {
        let now = Instant::now();
        self.phases
            .push((what, (now - self.last).as_secs_f64() * 1e3));
        self.last = now;
    }

    /// `start-up: load 90 ms, device wait 0 ms, compile 560 ms (13 pipelines, 900 ms of
    /// building), ..`: builds run side by side, so theirs can exceed the compile's time.
    fn summary(&self, dev: &Device) -> String {
        let builds = dev.pipeline_builds();
        let build_ms: f64 = builds.iter().map(|b| b.build_ms).sum();
        let parts: Vec<String> = self
            .phases
            .iter()
            .map(|&(what, ms)| match what {
                "compile" => format!(
                    "{what} {ms:.0} ms ({} pipelines, {build_ms:.0} ms of building)",
                    builds.len()
                ),
                _ => format!("{what} {ms:.0} ms"),
            })
            .collect();
        format!("start-up: {}", parts.join(", "))
    }
}

fn dtype_name(a: &Array) -> &'static str {
    match a.data {
        flopwatt::onnx::Data::F32(_) => "float32",
        flopwatt::onnx::Data::F64(_) => "float64",
        flopwatt::onnx::Data::I64(_) => "int64",
        flopwatt::onnx::Data::I32(_) => "int32",
        flopwatt::onnx::Data::Bool(_) => "bool",
    }
}

/// `--check DIR`: each output against `DIR/<its file name>` (dumped intermediates only where
/// the directory has them); one line per output, and an error naming those over `tol`.
fn check_outputs(
    outputs: &[(String, Array)],
    names: &[String],
    declared: usize,
    dir: &str,
    tol: f64,
) -> flopwatt::Result<()> {
    let paths: Vec<PathBuf> = files::output_paths(dir, names)?;
    let mut failed: Vec<String> = Vec::new();
    for (k, ((name, arr), want)) in outputs.iter().zip(&paths).enumerate() {
        if k >= declared && !want.is_file() {
            continue;
        }
        let want_path = want.display().to_string();
        let bytes = files::read_capped(want, "expected .npy", files::MAX_NPY_BYTES)?;
        let line = match check::compare(arr, &npy::from_bytes(&bytes, &want_path)?) {
            Ok(d) if d.rel_l2 <= tol => format!(
                "ok    {name}: rel L2 {:.2e}, max abs {:.2e}",
                d.rel_l2, d.max_abs
            ),
            Ok(d) => {
                failed.push(name.clone());
                format!(
                    "FAIL  {name}: rel L2 {:.2e}, max abs {:.2e}",
                    d.rel_l2, d.max_abs
                )
            }
            Err(m) => {
                failed.push(name.clone());
                format!("FAIL  {name}: {m}")
            }
        };
        println!("{line}");
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(
        "run --check",
        format!(
            "{} of the outputs differ from {dir} by more than rel L2 {tol:e}: {}",
            failed.len(),
            failed.join(", ")
        ),
    ))
}

/// The row id of a timed model: its file stem and the input shapes, so that runs of other
/// sizes are other rows in `compare`.
fn row_id(model: &str, feeds: &[(&str, &Array)]) -> String {
    let stem = Path::new(model)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| model.to_string());
    let shapes: Vec<String> = feeds
        .iter()
        .map(|(n, a)| {
            let dims: Vec<String> = a.shape.iter().map(|d| d.to_string()).collect();
            format!("{n}={}", dims.join("x"))
        })
        .collect();
    format!("onnx:{stem}:{}", shapes.join(","))
}

/// `--repeat N`: `warmup` untimed inferences, `n` timed ones (wall: upload, run and download;
/// GPU: the dispatches' timestamps), then an energy window as in `bench`.
fn time(
    a: &RunArgs,
    session: &mut Session,
    feeds: &[(&str, &Array)],
    n: usize,
) -> flopwatt::Result<()> {
    let dev = session.device().clone();
    let summary = dev.summary().clone();
    let mut power = energy::detect(&summary, a.watts);
    // Measured before the run: the load other programs put on the machine.
    let prov = provenance(&dev, power.as_ref());
    let c = session.prepare(feeds)?;
    let infer = || -> flopwatt::Result<()> {
        let inputs = c.upload(feeds)?;
        let refs: Vec<&flopwatt::Tensor> = inputs.iter().collect();
        c.download(&c.executable().run(&refs)?).map(|_| ())
    };
    for _ in 0..a.warmup {
        infer()?;
    }
    let (mut wall, mut gpu) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut flops, mut bytes) = (0, 0);
    for _ in 0..n {
        let t = Instant::now();
        let inputs = c.upload(feeds)?;
        let refs: Vec<&flopwatt::Tensor> = inputs.iter().collect();
        let (outs, prof) = c.executable().run_profiled(&refs)?;
        c.download(&outs)?;
        wall.push(t.elapsed().as_secs_f64() * 1e3);
        gpu.push(prof.gpu_ns() / 1e6);
        (flops, bytes) = (prof.flops(), prof.bytes());
    }
    let e = energy::measure(power.as_mut(), &energy::EnergyConfig::default(), infer)?;
    let variant = if a.no_fusion { "unfused" } else { "fused" };
    let r = BenchResult::from_runs(
        &row_id(&a.model, feeds),
        Some(variant),
        &gpu,
        &wall,
        flops,
        bytes,
    )
    // Wall time here includes the upload and the download: the host's whole share.
    .with_dispatches(c.executable().dispatch_count() as u64)
    .with_energy(e.as_ref());
    let to_stderr = a.json.as_deref().is_some_and(output::is_stdout);
    let text = summary_text(a, &dev, power.as_ref(), &r, &wall, &gpu);
    if to_stderr {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    if let Some(p) = &a.json {
        let info = power_info(power.as_ref(), std::slice::from_ref(&r));
        let rep = BenchReport::new(prov, &summary, info, None, vec![r]);
        output::write_atomic(p, &rep.to_json())?;
    }
    Ok(())
}

/// The human summary of a `--repeat` timing.
fn summary_text(
    a: &RunArgs,
    dev: &Device,
    power: &dyn energy::PowerSource,
    r: &BenchResult,
    wall: &[f64],
    gpu: &[f64],
) -> String {
    let (w, g) = (RunStats::of(wall), RunStats::of(gpu));
    let per_s = |ms: f64| if ms > 0.0 { 1e3 / ms } else { 0.0 };
    let mut s = format!(
        "{} on {} ({}), timing {}: {} inferences after {} warm-up, {} dispatches each ({})\n",
        a.model,
        dev.summary().name,
        dev.summary().backend,
        dev.timing_tier().label(),
        wall.len(),
        a.warmup,
        r.dispatches,
        r.variant.as_deref().unwrap_or("fused"),
    );
    s += &format!(
        "  wall ms  median {:>10.3}  min {:>10.3}  max {:>10.3}  ({:.2} inferences/s)\n",
        w.median_ms,
        w.min_ms,
        w.max_ms,
        per_s(w.median_ms)
    );
    s += &format!(
        "  GPU ms   median {:>10.3}  min {:>10.3}  max {:>10.3}  ({:.2} GFLOP/s)\n",
        g.median_ms, g.min_ms, g.max_ms, r.gflops
    );
    let source = format!(
        "{}, {}",
        power.kind().as_str(),
        if power.measured() {
            "measured"
        } else {
            "not measured"
        }
    );
    match (r.joules_per_run, r.avg_watts) {
        (Some(j), Some(watts)) => {
            let per_j = if j > 0.0 { 1.0 / j } else { 0.0 };
            s += &format!(
                "  energy   {j:.4} J per inference, {per_j:.2} inferences/J, {watts:.1} W average (power source {source})\n"
            );
        }
        _ => s += &format!("  energy   not available (power source {source})\n"),
    }
    if w.noisy || g.noisy {
        s += &format!(
            "  warning: the times vary by more than {}% between runs (interquartile range); \
             more --repeat or a quieter machine gives a steadier median\n",
            flopwatt_bench::NOISY_SPREAD_PCT
        );
    }
    s
}
