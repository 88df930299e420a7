//! The `flopwatt` command line: `info`, `bench`, `compare`, `peak`, `run`, `tune`.
// Native only: the browser build's entry points are in `flopwatt::web`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

use std::process::ExitCode;
use std::time::Duration;

mod files;

use clap::{Parser, Subcommand};
use flopwatt::device::{enumerate_adapters, DeviceOptions};
use flopwatt::{energy, Device, Error};
use flopwatt_bench::provenance::Provenance;
use flopwatt_bench::report::{BenchReport, PowerInfo};
use flopwatt_bench::{self as bench, BenchOptions, Suite};

mod compare_cmd;
#[cfg(feature = "mpi")]
mod fleet;
mod output;
mod progress;
mod run_cmd;

/// The exit codes, shown under `--help`.
const EXIT_CODES: &str = "Exit codes:
  0  success
  1  error: bad input, no usable device, a failed check (the message says what to do)
  2  usage error: unknown option or bad value
  3  regression: `bench --baseline` found a workload slower beyond the noise, or
     `compare --fail-on-regression PCT` found one more than PCT percent slower";

#[derive(Parser)]
#[command(
    name = "flopwatt",
    version,
    about = "GPU compute speed and compute per watt, on any vendor through WebGPU",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List adapters: name, backend, driver, features, limits, and the power source.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the benchmark workloads and report time, GFLOP/s, GB/s, watts and GFLOP/J.
    #[command(after_help = EXIT_CODES)]
    Bench(BenchArgs),
    /// Compare result files of `bench --json`: a table per workload, an HTML report.
    #[command(after_help = EXIT_CODES)]
    Compare(compare_cmd::CompareArgs),
    /// Measure the device's ceilings: FMA throughput and copy bandwidth.
    Peak {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run an ONNX model on .npy inputs: write each output to DIR/<name>.npy, check it
    /// against expected files, or time N inferences (wall, GPU, energy).
    Run(run_cmd::RunArgs),
    /// Time the matmul kernel candidates on this adapter and store the fastest per shape
    /// class in the tune file, which later runs consult before the built-in rules.
    Tune(TuneArgs),
}

#[derive(clap::Args)]
struct TuneArgs {
    /// Shapes to tune as MxNxK (repeatable); default: squares 128-2048 and transformer shapes.
    #[arg(long = "shape", value_name = "MxNxK")]
    shapes: Vec<String>,
    /// Leave out the 2048 products of the default set (about 4x faster).
    #[arg(long)]
    quick: bool,
    /// Timed runs per candidate (median; after one warm-up run).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// The tune file (default: FLOPWATT_TUNE_FILE, else the user's cache directory).
    #[arg(long, value_name = "PATH")]
    file: Option<String>,
    /// Print the timings but write nothing.
    #[arg(long)]
    dry_run: bool,
}

/// The workload sets of `bench --suite`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SuiteArg {
    /// Every family once (a few minutes on a CPU adapter).
    Quick,
    /// Every workload id, fused and unfused.
    Standard,
    /// Standard plus size sweeps.
    Full,
}

impl From<SuiteArg> for Suite {
    fn from(s: SuiteArg) -> Suite {
        match s {
            SuiteArg::Quick => Suite::Quick,
            SuiteArg::Standard => Suite::Standard,
            SuiteArg::Full => Suite::Full,
        }
    }
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Workload set.
    #[arg(long, value_enum, default_value_t = SuiteArg::Quick)]
    suite: SuiteArg,
    /// Keep only workloads whose id contains TEXT (repeatable).
    #[arg(long, value_name = "TEXT")]
    filter: Vec<String>,
    /// List the selected workloads (id, variant, suite, FLOPs, bytes) instead of running them.
    #[arg(long)]
    list: bool,
    /// Write the results as JSON (schema flopwatt-bench/2, with provenance; `-`: stdout).
    #[arg(long, value_name = "PATH")]
    json: Option<String>,
    /// Write the results as CSV: the JSON's names, provenance on every row (`-`: stdout).
    #[arg(long, value_name = "PATH")]
    csv: Option<String>,
    /// Write a roofline chart as SVG (`-`: stdout).
    #[arg(long, value_name = "PATH")]
    svg: Option<String>,
    /// Compare with an earlier --json output; a regression beyond the noise exits with 3.
    #[arg(long, value_name = "PATH")]
    baseline: Option<String>,
    /// Power draw to assume when the device has no readable sensor (reported as fixed, not measured).
    #[arg(long, value_name = "W", allow_hyphen_values = true)]
    watts: Option<f64>,
    /// Skip the fused variants (compare with --baseline of a fused run).
    #[arg(long)]
    no_fusion: bool,
    /// Minimum timed seconds per workload.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 1.0,
        allow_hyphen_values = true
    )]
    min_time: f64,
    /// Skip the ceiling measurement (no % of peak, no roofline ceilings).
    #[arg(long)]
    no_peak: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ok = |()| ExitCode::SUCCESS;
    let result = match cli.command {
        Command::Info { json } => info(json).map(ok),
        Command::Bench(args) => run_bench(args),
        Command::Compare(args) => compare_cmd::run(args),
        Command::Peak { json } => peak(json).map(ok),
        Command::Run(args) => run_cmd::run(args).map(ok),
        Command::Tune(args) => tune(args).map(ok),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn info(json: bool) -> flopwatt::Result<()> {
    let opts = DeviceOptions::from_env()?;
    let adapters = enumerate_adapters(&opts)?;
    if adapters.is_empty() {
        // Same message as opening a device, so both say what to do.
        return Device::with_options(&opts).map(|_| ());
    }
    if json {
        let list: Vec<_> = adapters
            .iter()
            .map(|a| {
                let mut v = serde_json::to_value(a).expect("adapter serialises");
                v["power_source"] = energy::describe_choice(a).into();
                v
            })
            .collect();
        let v = serde_json::json!({ "adapters": list });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        return Ok(());
    }
    for (i, a) in adapters.iter().enumerate() {
        let f = &a.features;
        let l = &a.limits;
        println!(
            "adapter {i}{}: {}",
            if i == 0 { " (default)" } else { "" },
            a.name
        );
        println!("  backend:      {}", a.backend);
        println!("  driver:       {} {}", a.driver, a.driver_info);
        println!(
            "  device type:  {} (kernel variants: {:?})",
            a.device_type, a.class
        );
        println!(
            "  timestamps:   query {}, inside encoders {}, inside passes {} -> timing tier {}",
            yn(f.timestamp_query),
            yn(f.timestamp_inside_encoders),
            yn(f.timestamp_inside_passes),
            f.timing_tier.label()
        );
        println!(
            "  shader f16:   {}   subgroups: {} (size {}..{})",
            yn(f.shader_f16),
            yn(f.subgroup),
            l.min_subgroup_size,
            l.max_subgroup_size
        );
        println!(
            "  limits:       buffer {} MiB, storage binding {} MiB, {} storage buffers/stage",
            l.max_buffer_size >> 20,
            l.max_storage_buffer_binding_size >> 20,
            l.max_storage_buffers_per_shader_stage
        );
        println!(
            "                workgroup: {} invocations, {} KiB shared, {} groups/dim",
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_storage_size >> 10,
            l.max_compute_workgroups_per_dimension
        );
        println!("  power source: {}", energy::describe_choice(a));
    }
    Ok(())
}

fn yn(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn peak(json: bool) -> flopwatt::Result<()> {
    let dev = Device::new()?;
    let spin = progress::spinner("measuring FMA throughput, bandwidth and dispatch latency");
    let p = flopwatt::peak::measure(&dev);
    spin.finish_and_clear();
    let p = p?;
    if json {
        // The ceilings' fields at the top (as before), with the device and provenance.
        let power = energy::detect(dev.summary(), None);
        let prov = provenance(&dev, power.as_ref());
        let mut v = serde_json::to_value(&p).expect("peak serialises");
        v["schema"] = "flopwatt-peak/1".into();
        v["provenance"] = serde_json::to_value(&prov).expect("provenance serialises");
        v["device"] = serde_json::to_value(dev.summary()).expect("adapter serialises");
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        println!("device: {} ({})", dev.summary().name, dev.summary().backend);
        println!("  fma f32 scalar: {:>10.2} GFLOP/s", p.fma_f32_gflops);
        println!("  fma f32 vec4:   {:>10.2} GFLOP/s", p.fma_vec4_f32_gflops);
        match p.fma_vec4_f16_gflops {
            Some(h) => println!("  fma f16 vec4:   {h:>10.2} GFLOP/s"),
            None => println!("  fma f16 vec4:   n/a (no SHADER_F16)"),
        }
        println!(
            "  copy (r+w):     {:>10.2} GB/s over {} MiB",
            p.copy_gbps,
            p.copy_bytes >> 20
        );
        println!("  upload (h->d):  {:>10.2} GB/s", p.upload_gbps);
        println!(
            "  dispatch:       {:>10.1} us round trip, {:.1} us batched",
            p.dispatch_roundtrip_us, p.dispatch_batched_us
        );
        println!("  timing:         {}", p.timing);
    }
    Ok(())
}

fn parse_shape(s: &str) -> flopwatt::Result<[usize; 3]> {
    let dims: Vec<usize> = s
        .split('x')
        .map(|d| d.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            Error::invalid(
                "tune",
                format!("--shape `{s}`: expected MxNxK, e.g. 256x512x2048"),
            )
        })?;
    match dims[..] {
        [m, n, k] if m > 0 && n > 0 && k > 0 => Ok([m, n, k]),
        _ => Err(Error::invalid(
            "tune",
            format!("--shape `{s}`: expected three positive sizes MxNxK"),
        )),
    }
}

fn tune(args: TuneArgs) -> flopwatt::Result<()> {
    use flopwatt::tune;
    let mut shapes: Vec<[usize; 3]> = args
        .shapes
        .iter()
        .map(|s| parse_shape(s))
        .collect::<flopwatt::Result<_>>()?;
    if shapes.is_empty() {
        shapes = vec![
            [128, 128, 128],
            [256, 256, 256],
            [512, 512, 512],
            [1024, 1024, 1024],
            [256, 512, 512],
            [256, 2048, 512],
            [256, 512, 2048],
            [1, 1024, 1024],
            [1024, 1, 1024],
        ];
        if !args.quick {
            shapes.push([2048, 2048, 2048]);
        }
    }
    // A dry run writes nothing, so it needs no cache directory.
    let path = match &args.file {
        Some(p) => Some(std::path::PathBuf::from(p)),
        None => tune::default_path(),
    };
    if path.is_none() && !args.dry_run {
        return Err(Error::invalid(
            "tune",
            "no cache directory found; name the tune file with --file or FLOPWATT_TUNE_FILE",
        ));
    }
    let mut tuned = Vec::new();
    let dev = Device::new()?;
    let key = tune::adapter_key(&dev);
    println!("adapter: {key}");
    println!("timing: {}", dev.timing_tier().label());
    let bar = progress::bar(shapes.len() as u64);
    for [m, n, k] in shapes {
        bar.set_message(format!("matmul {m}x{n}x{k}"));
        let t = tune::tune_matmul(&dev, m, n, k, args.reps).inspect_err(|_| bar.abandon())?;
        // The table goes to standard output between redraws of the bar (standard error).
        bar.suspend(|| {
            println!("matmul [{m}, {k}] x [{k}, {n}]:");
            for (v, c, r) in &t.timings {
                let what = format!(
                    "{} {}x{} wg {}x{} k {}",
                    v.name(),
                    c.tm,
                    c.tn,
                    c.wg_x,
                    c.wg_y,
                    c.k_split
                );
                match r {
                    Ok(g) => println!("  {what:<36} {g:>9.2} GFLOP/s"),
                    Err(e) => println!("  {what:<36} failed: {e}"),
                }
            }
            let b = &t.best;
            println!(
                "  -> {} {}x{} wg {}x{}: {:.2} GFLOP/s (rules: {:.2}, {:.2}x)",
                b.variant,
                b.tm,
                b.tn,
                b.wg_x,
                b.wg_y,
                b.gflops,
                b.rule_gflops,
                b.gflops / b.rule_gflops
            );
        });
        tuned.push(t.best);
        bar.inc(1);
    }
    bar.finish_and_clear();
    match path {
        Some(path) if !args.dry_run => {
            if let Some(w) = tune::TuneFile::merge_into(&path, &key, &tuned)? {
                eprintln!("warning: {w}");
            }
            println!("wrote {}", path.display());
        }
        Some(path) => println!("dry run: {} not written", path.display()),
        None => println!("dry run: nothing written"),
    }
    Ok(())
}

/// The longest `bench --min-time` accepted, in seconds (one day).
const MAX_MIN_TIME_S: f64 = 86_400.0;

/// Where a result comes from: this host, `dev` and its power source, now.
fn provenance(dev: &Device, power: &dyn energy::PowerSource) -> Provenance {
    Provenance::collect(
        dev.summary(),
        dev.timing_tier().label(),
        power.kind().as_str(),
        power.measured(),
    )
}

/// The report's power section; idle power as measured before the first workload (each
/// workload re-measures it).
fn power_info(power: &dyn energy::PowerSource, results: &[bench::BenchResult]) -> PowerInfo {
    PowerInfo {
        source: power.kind().as_str().to_string(),
        measured: power.measured(),
        idle_watts: results.iter().find_map(|r| r.idle_watts),
        description: power.describe(),
    }
}

/// The error for a filter that selects nothing: names the suites that have a match.
fn no_match(suite: Suite, opts: &BenchOptions) -> Error {
    let filters = opts.filters.join("`, `");
    let elsewhere: Vec<String> = Suite::ALL
        .into_iter()
        .filter(|s| *s > suite)
        .filter_map(|s| {
            let ids: Vec<String> = bench::select(&BenchOptions {
                suite: s,
                ..opts.clone()
            })
            .into_iter()
            .filter(|w| w.suite == s)
            .map(|w| w.id)
            .collect();
            (!ids.is_empty()).then(|| format!("--suite {} has {}", s.name(), ids.join(", ")))
        })
        .collect();
    let hint = if elsewhere.is_empty() {
        "`flopwatt bench --list --suite full` lists every workload".to_string()
    } else {
        elsewhere.join("; ")
    };
    Error::invalid(
        "bench",
        format!(
            "no workload in suite `{}` matches --filter `{filters}`: {hint}",
            suite.name()
        ),
    )
}

/// `bench --list`: each selected workload's id, variant, suite, FLOPs and bytes (building
/// its inputs on the device counts them; nothing is run).
fn list_workloads(selected: &[bench::Workload]) -> flopwatt::Result<()> {
    let dev = Device::new()?;
    let bar = progress::bar(selected.len() as u64);
    let mut lines = vec![format!(
        "{:<24} {:<8} {:<9} {:>16} {:>14} {:>10}",
        "id", "variant", "suite", "FLOPs", "bytes", "FLOP/byte"
    )];
    for w in selected {
        bar.set_message(w.id.clone());
        let p = (w.prepare)(&dev).inspect_err(|_| bar.abandon())?;
        let (f, b) = (p.flops(), p.bytes());
        lines.push(format!(
            "{:<24} {:<8} {:<9} {:>16} {:>14} {:>10.2}",
            w.id,
            w.variant.unwrap_or("-"),
            w.suite.name(),
            f,
            b,
            if b > 0 { f as f64 / b as f64 } else { 0.0 }
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!("{}", lines.join("\n"));
    Ok(())
}

fn run_bench(args: BenchArgs) -> flopwatt::Result<ExitCode> {
    #[cfg(feature = "mpi")]
    if fleet::launched() {
        return fleet::run_bench(&args).map(|()| ExitCode::SUCCESS);
    }
    let suite: Suite = args.suite.into();
    check_bench_args(&args)?;
    let outputs = [
        ("--json", args.json.as_deref()),
        ("--csv", args.csv.as_deref()),
        ("--svg", args.svg.as_deref()),
    ];
    // With a result on standard output, the human table goes to standard error.
    let to_stderr = outputs
        .iter()
        .any(|(_, p)| p.is_some_and(output::is_stdout));
    let say = |s: &str| {
        if to_stderr {
            eprint!("{s}")
        } else {
            print!("{s}")
        }
    };
    let baseline = match &args.baseline {
        Some(p) => Some(compare_cmd::read_report(p)?),
        None => None,
    };
    let opts = BenchOptions {
        suite,
        filters: args.filter.clone(),
        min_time: Duration::from_secs_f64(args.min_time),
        no_fusion: args.no_fusion,
        ..BenchOptions::default()
    };
    let selected = bench::select(&opts);
    if selected.is_empty() {
        return Err(no_match(suite, &opts));
    }
    if args.list {
        return list_workloads(&selected).map(|()| ExitCode::SUCCESS);
    }
    let dev = Device::new()?;
    let summary = dev.summary().clone();
    eprintln!(
        "flopwatt bench: {} ({}), {} workloads, timing {}",
        summary.name,
        summary.backend,
        selected.len(),
        dev.timing_tier().label()
    );
    let mut power = energy::detect(&summary, args.watts);
    // Measured before the run: the load other programs put on the machine.
    let provenance = provenance(&dev, power.as_ref());
    if let Some(m) = baseline
        .as_ref()
        .and_then(|old| old.device_differs(&summary))
    {
        eprintln!(
            "warning: the baseline was measured on another device ({m}); its ratios compare devices, not code"
        );
    }
    let peak = if args.no_peak {
        None
    } else {
        let spin = progress::spinner("measuring device ceilings (flopwatt peak)");
        let p = flopwatt::peak::measure(&dev);
        spin.finish_and_clear();
        Some(p?)
    };
    let results = run_selected(&dev, &selected, &opts, power.as_mut(), peak.as_ref())?;
    let power_info = power_info(power.as_ref(), &results);
    let rep = BenchReport::new(provenance, &summary, power_info, peak.as_ref(), results);
    say(&rep.table());
    if let Some(p) = &peak {
        say(&format!(
            "ceilings: {:.2} GFLOP/s f32, {:.2} GB/s copy (flopwatt peak)\n",
            p.f32_gflops, p.copy_gbps
        ));
    }
    for w in rep.noise_warnings() {
        eprintln!("warning: {w}");
    }
    let code = match &baseline {
        Some(old) => baseline_verdict(old, &rep, &args, &summary, &say),
        None => ExitCode::SUCCESS,
    };
    write_bench_outputs(&args, &rep, peak.as_ref(), &summary)?;
    Ok(code)
}

/// Checks `bench`'s numeric options and that every result file can be written, before any
/// measurement.
fn check_bench_args(args: &BenchArgs) -> flopwatt::Result<()> {
    if let Some(w) = args.watts {
        if !(w.is_finite() && w > 0.0) {
            return Err(Error::invalid(
                "bench",
                format!("--watts must be a positive number of watts, got {w}"),
            ));
        }
    }
    // A day is far beyond any useful window, and keeps the Duration arithmetic in range.
    if !(args.min_time.is_finite() && (0.0..=MAX_MIN_TIME_S).contains(&args.min_time)) {
        return Err(Error::invalid(
            "bench",
            format!(
                "--min-time must be between 0 and {MAX_MIN_TIME_S} seconds, got {}",
                args.min_time
            ),
        ));
    }
    let outputs = [
        ("--json", args.json.as_deref()),
        ("--csv", args.csv.as_deref()),
        ("--svg", args.svg.as_deref()),
    ];
    output::one_stdout(&outputs)?;
    for (flag, p) in outputs {
        if let Some(p) = p {
            output::check_writable(flag, p)?;
        }
    }
    Ok(())
}

/// Runs the selected workloads in order, with a progress bar.
fn run_selected(
    dev: &Device,
    selected: &[bench::Workload],
    opts: &BenchOptions,
    power: &mut dyn energy::PowerSource,
    peak: Option<&flopwatt::peak::Peak>,
) -> flopwatt::Result<Vec<bench::BenchResult>> {
    let bar = progress::bar(selected.len() as u64);
    let mut results = Vec::new();
    for w in selected {
        bar.set_message(format!(
            "{}{}",
            w.id,
            w.variant.map(|v| format!(" ({v})")).unwrap_or_default()
        ));
        let r = bench::run_workload(dev, w, opts, power, peak.map(|p| p.f32_gflops));
        match r {
            Ok(r) => results.push(r),
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(results)
}

/// Prints the comparison with `old`; exit code 3 when a row regressed.
fn baseline_verdict(
    old: &BenchReport,
    rep: &BenchReport,
    args: &BenchArgs,
    summary: &flopwatt::device::AdapterSummary,
    say: &dyn Fn(&str),
) -> ExitCode {
    let rows = bench::compare::compare(old, rep);
    let name = args.baseline.as_deref().unwrap_or("");
    match old.device_differs(summary) {
        Some(m) => say(&format!(
            "\nagainst baseline {name} (WARNING: another device: {m}):\n"
        )),
        None => say(&format!("\nagainst baseline {name}:\n")),
    }
    say(&bench::compare::comparison_table(&rows));
    let slower: Vec<&str> = rows
        .iter()
        .filter(|r| r.regression)
        .map(|r| r.id.as_str())
        .collect();
    if slower.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "regression against {name}: {} (exit code {})",
        slower.join(", "),
        compare_cmd::EXIT_REGRESSION
    );
    ExitCode::from(compare_cmd::EXIT_REGRESSION)
}

/// Writes the result files, whole (a failed run leaves none behind).
fn write_bench_outputs(
    args: &BenchArgs,
    rep: &BenchReport,
    peak: Option<&flopwatt::peak::Peak>,
    summary: &flopwatt::device::AdapterSummary,
) -> flopwatt::Result<()> {
    if let Some(p) = &args.json {
        output::write_atomic(p, &rep.to_json())?;
    }
    if let Some(p) = &args.csv {
        output::write_atomic(p, &rep.to_csv()?)?;
    }
    if let Some(p) = &args.svg {
        let (gf, bw) = peak
            .map(|p| (p.f32_gflops, p.copy_gbps))
            .unwrap_or((0.0, 0.0));
        let svg = bench::roofline::svg(&summary.name, gf, bw, &rep.results)?;
        output::write_atomic(p, &svg)?;
    }
    Ok(())
}
