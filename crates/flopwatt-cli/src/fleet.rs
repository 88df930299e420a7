//! The fleet benchmark: `mpirun -np N flopwatt bench ...` (or `srun`) runs the suite on every
//! rank at once, one GPU per rank, with a barrier before each workload so the ranks run it
//! together; rank 0 gathers every rank's report and writes one fleet report (schema
//! `flopwatt-fleet/1`): each rank's rows with its device and host, plus per-workload totals
//! (sum of GFLOP/s, sum of watts, fleet GFLOP/J, joules) and the spread between ranks.
//! Each rank measures its own device's energy; a total with any estimated rank is labelled
//! an estimate.

use std::time::Duration;

use flopwatt::device::DeviceOptions;
use flopwatt::dist::{agree, open_rank_device, Communicator};
use flopwatt::{energy, Error};
use flopwatt_bench::report::BenchReport;
use flopwatt_bench::{self as bench, BenchOptions, Suite};
use flopwatt_mpi::MpiWorld;

use crate::output;
use crate::{power_info, provenance, BenchArgs};

/// Schema of the fleet report.
pub const SCHEMA: &str = "flopwatt-fleet/1";

/// Whether this `flopwatt bench` was started by an MPI launcher (then it runs as a fleet).
pub fn launched() -> bool {
    flopwatt::dist::launched_by_mpi()
}

/// `flopwatt bench` as one rank of a fleet.
pub fn run_bench(args: &BenchArgs) -> flopwatt::Result<()> {
    let world = MpiWorld::init(flopwatt_mpi::timeout_from_env()?)?;
    let comm: &dyn Communicator = &world;
    let rank = comm.rank();
    let opts = agree(comm, options(args, rank == 0))?;
    let selected = bench::select(&opts);
    let (dev, line) = agree(
        comm,
        DeviceOptions::from_env().and_then(|o| open_rank_device(&o, rank)),
    )?;
    eprintln!("{line}");
    let peak = if args.no_peak {
        None
    } else {
        Some(agree(comm, flopwatt::peak::measure(&dev))?)
    };
    let summary = dev.summary().clone();
    let mut power = energy::detect(&summary, args.watts);
    // Each rank's own host, device and load, measured before its run.
    let provenance = provenance(&dev, power.as_ref());
    let mut results = Vec::new();
    for (i, w) in selected.iter().enumerate() {
        // The ranks start each workload together: fleet watts are drawn at the same time.
        comm.barrier()?;
        if rank == 0 {
            eprintln!(
                "[{}/{}] {}{} on {} ranks",
                i + 1,
                selected.len(),
                w.id,
                w.variant.map(|v| format!(" ({v})")).unwrap_or_default(),
                comm.size()
            );
        }
        let r = bench::run_workload(
            &dev,
            w,
            &opts,
            power.as_mut(),
            peak.as_ref().map(|p| p.f32_gflops),
        );
        results.push(agree(comm, r)?);
    }
    let power_info = power_info(power.as_ref(), &results);
    let rep = BenchReport::new(provenance, &summary, power_info, peak.as_ref(), results);
    // One message per rank: its host on the first line, then its report.
    let mine = format!("{}\n{}", hostname(), rep.to_json());
    let gathered = comm.gather_bytes(mine.as_bytes(), 0)?;
    let written = match gathered {
        Some(all) => finish(args, &all),
        None => Ok(()),
    };
    agree(comm, written)
}

/// The bench options from the arguments (checked on every rank; the output files by rank 0,
/// the one that writes them).
fn options(args: &BenchArgs, writer: bool) -> flopwatt::Result<BenchOptions> {
    let suite: Suite = args.suite.into();
    if let Some(w) = args.watts {
        if !(w.is_finite() && w > 0.0) {
            return Err(Error::invalid(
                "bench",
                format!("--watts must be a positive number of watts, got {w}"),
            ));
        }
    }
    if !(args.min_time.is_finite() && args.min_time >= 0.0) {
        return Err(Error::invalid(
            "bench",
            format!("--min-time must be >= 0 seconds, got {}", args.min_time),
        ));
    }
    if args.csv.is_some() || args.svg.is_some() || args.baseline.is_some() {
        return Err(Error::invalid(
            "bench",
            "a fleet bench (under mpirun/srun) writes --json only; --csv, --svg and --baseline \
             are for one device",
        ));
    }
    if writer {
        if let Some(p) = &args.json {
            output::check_writable("--json", p)?;
        }
    }
    let opts = BenchOptions {
        suite,
        filters: args.filter.clone(),
        min_time: Duration::from_secs_f64(args.min_time),
        no_fusion: args.no_fusion,
        ..BenchOptions::default()
    };
    if bench::select(&opts).is_empty() {
        return Err(Error::invalid(
            "bench",
            format!(
                "no workload in suite `{}` matches the filter {:?}",
                suite.name(),
                args.filter
            ),
        ));
    }
    Ok(opts)
}

/// Rank 0: parses every rank's message, prints the fleet table, writes the JSON.
fn finish(args: &BenchArgs, all: &[Vec<u8>]) -> flopwatt::Result<()> {
    let mut ranks = Vec::with_capacity(all.len());
    for (r, bytes) in all.iter().enumerate() {
        let text = String::from_utf8_lossy(bytes);
        let (host, json) = text.split_once('\n').unwrap_or(("unknown", &text));
        let rep = BenchReport::from_json(&format!("rank {r}'s report"), json)?;
        ranks.push(RankReport {
            host: host.to_string(),
            report: rep,
        });
    }
    let totals = totals(&ranks);
    print!("{}", table(&ranks, &totals));
    if let Some(p) = &args.json {
        output::write_atomic(p, &to_json(&ranks, &totals))?;
    }
    Ok(())
}

/// One rank's report and the machine it ran on.
pub struct RankReport {
    /// Host name.
    pub host: String,
    /// The rank's own bench report.
    pub report: BenchReport,
}

/// A workload over the fleet.
#[derive(Debug, PartialEq)]
pub struct Total {
    /// Workload id.
    pub id: String,
    /// Variant (`fused` / `unfused`), if any.
    pub variant: Option<String>,
    /// Ranks that ran it.
    pub ranks: usize,
    /// Sum of the ranks' GFLOP/s.
    pub gflops: f64,
    /// Slowest rank's GFLOP/s.
    pub gflops_min: f64,
    /// Fastest rank's GFLOP/s.
    pub gflops_max: f64,
    /// (fastest - slowest) / mean, percent.
    pub spread_pct: f64,
    /// Sum of the ranks' average watts (`None` unless every rank has an energy figure).
    pub watts: Option<f64>,
    /// Sum of the ranks' joules per run.
    pub joules_per_run: Option<f64>,
    /// Fleet GFLOP per joule: summed GFLOP/s over summed watts.
    pub gflop_per_joule: Option<f64>,
    /// Whether any rank's energy figure is an estimate (so is the total).
    pub estimate: bool,
}

/// Per-workload totals, in rank 0's workload order.
pub fn totals(ranks: &[RankReport]) -> Vec<Total> {
    let Some(first) = ranks.first() else {
        return Vec::new();
    };
    first
        .report
        .results
        .iter()
        .map(|r0| {
            let rows: Vec<&bench::BenchResult> = ranks
                .iter()
                .filter_map(|r| {
                    r.report
                        .results
                        .iter()
                        .find(|x| x.id == r0.id && x.variant == r0.variant)
                })
                .collect();
            let g: Vec<f64> = rows.iter().map(|x| x.gflops).collect();
            let sum: f64 = g.iter().sum();
            let (lo, hi) = g
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(*v), h.max(*v)));
            let mean = sum / g.len() as f64;
            let all = |f: fn(&bench::BenchResult) -> Option<f64>| -> Option<f64> {
                rows.iter().map(|x| f(x)).sum::<Option<f64>>()
            };
            let watts = all(|x| x.avg_watts);
            Total {
                id: r0.id.clone(),
                variant: r0.variant.clone(),
                ranks: rows.len(),
                gflops: sum,
                gflops_min: lo,
                gflops_max: hi,
                spread_pct: if mean > 0.0 {
                    100.0 * (hi - lo) / mean
                } else {
                    0.0
                },
                watts,
                joules_per_run: all(|x| x.joules_per_run),
                gflop_per_joule: watts.filter(|w| *w > 0.0).map(|w| sum / w),
                estimate: rows.iter().any(|x| x.energy_measured == Some(false)),
            }
        })
        .collect()
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

/// The fleet table: one line per rank (device, host), then the totals per workload.
pub fn table(ranks: &[RankReport], totals: &[Total]) -> String {
    let mut s = format!("fleet of {} ranks\n", ranks.len());
    for (r, x) in ranks.iter().enumerate() {
        let name = x.report.device["name"].as_str().unwrap_or("?");
        s.push_str(&format!(
            "  rank {r}: {name} on {} (power: {})\n",
            x.host, x.report.power.description
        ));
    }
    s.push_str(&format!(
        "{:<28} {:>5} {:>12} {:>12} {:>8} {:>10} {:>10}\n",
        "workload", "ranks", "GFLOP/s sum", "min..max", "spread", "W sum", "GFLOP/J"
    ));
    for t in totals {
        let id = match &t.variant {
            Some(v) => format!("{} ({v})", t.id),
            None => t.id.clone(),
        };
        s.push_str(&format!(
            "{:<28} {:>5} {:>12.2} {:>12} {:>7.1}% {:>10} {:>10}{}\n",
            id,
            t.ranks,
            t.gflops,
            format!("{:.2}..{:.2}", t.gflops_min, t.gflops_max),
            t.spread_pct,
            opt(t.watts, 1),
            opt(t.gflop_per_joule, 4),
            if t.estimate && t.watts.is_some() {
                " (estimate)"
            } else {
                ""
            }
        ));
    }
    s
}

/// The fleet report as pretty JSON (schema [`SCHEMA`]).
pub fn to_json(ranks: &[RankReport], totals: &[Total]) -> String {
    let per_rank: Vec<_> = ranks
        .iter()
        .enumerate()
        .map(|(r, x)| {
            serde_json::json!({
                "rank": r,
                "host": x.host,
                "report": serde_json::to_value(&x.report).expect("report serialises"),
            })
        })
        .collect();
    let totals: Vec<_> = totals
        .iter()
        .map(|t| {
            serde_json::json!({
                "id": t.id,
                "variant": t.variant,
                "ranks": t.ranks,
                "gflops_sum": t.gflops,
                "gflops_min": t.gflops_min,
                "gflops_max": t.gflops_max,
                "spread_pct": t.spread_pct,
                "watts_sum": t.watts,
                "joules_per_run_sum": t.joules_per_run,
                "gflop_per_joule": t.gflop_per_joule,
                "energy": match (t.watts, t.estimate) {
                    (None, _) => serde_json::Value::Null,
                    (Some(_), true) => "estimate".into(),
                    (Some(_), false) => "measured".into(),
                },
            })
        })
        .collect();
    let v = serde_json::json!({
        "schema": SCHEMA,
        "ranks": ranks.len(),
        "per_rank": per_rank,
        "totals": totals,
    });
    serde_json::to_string_pretty(&v).expect("json")
}

/// This machine's name (Linux: the kernel's; else `HOSTNAME`), or `unknown`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}
