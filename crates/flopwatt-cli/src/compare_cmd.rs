//! `flopwatt compare A.json B.json ...`: result files side by side, optionally as an HTML
//! page, and a regression gate for CI.

use std::process::ExitCode;

use flopwatt::Error;
use flopwatt_bench::compare::{compare_files, files_table, regressions};
use flopwatt_bench::report::BenchReport;

use crate::output;

/// Exit code when a comparison finds a regression (documented in `--help`).
pub const EXIT_REGRESSION: u8 = 3;

/// Arguments of `flopwatt compare`.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// Result files of `flopwatt bench --json` (two or more); the first is the reference.
    #[arg(required = true, num_args = 2.., value_name = "FILE.json")]
    pub files: Vec<String>,
    /// Exit with code 3 when a workload of a later file is more than PCT percent slower
    /// (median time) than in the first file.
    #[arg(long, value_name = "PCT", allow_hyphen_values = true)]
    pub fail_on_regression: Option<f64>,
    /// Write a self-contained HTML page: the table, the roofline of every device and
    /// GFLOP-per-joule bars (`-`: standard output).
    #[arg(long, value_name = "PATH")]
    pub html: Option<String>,
}

/// Reads one result file.
pub fn read_report(path: &str) -> flopwatt::Result<BenchReport> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_string(),
        source: e,
    })?;
    BenchReport::from_json(path, &text)
}

/// Runs the comparison; the exit code says whether the regression gate passed.
pub fn run(args: CompareArgs) -> flopwatt::Result<ExitCode> {
    if args.files.len() < 2 {
        return Err(Error::invalid(
            "compare",
            "give two or more result files (flopwatt bench --json FILE)",
        ));
    }
    if let Some(p) = args.fail_on_regression {
        if !(p.is_finite() && p >= 0.0) {
            return Err(Error::invalid(
                "compare",
                format!("--fail-on-regression takes a percentage >= 0, got {p}"),
            ));
        }
    }
    if let Some(h) = &args.html {
        output::check_writable("--html", h)?;
    }
    let reports = args
        .files
        .iter()
        .map(|f| read_report(f))
        .collect::<flopwatt::Result<Vec<_>>>()?;
    let rows = compare_files(&reports);
    // The page may go to standard output; the text then goes to standard error.
    let to_stderr = args.html.as_deref().is_some_and(output::is_stdout);
    let say = |s: &str| {
        if to_stderr {
            eprint!("{s}")
        } else {
            print!("{s}")
        }
    };
    for (i, (f, r)) in args.files.iter().zip(&reports).enumerate() {
        let p = &r.provenance;
        say(&format!(
            "[{}] {f}: {}, {} {}\n",
            i + 1,
            r.device_label(),
            p.created_utc,
            p.timing
        ));
        for w in r.noise_warnings() {
            say(&format!("    warning: {w}\n"));
        }
    }
    say("\n");
    say(&files_table(&args.files, &rows));
    if let Some(h) = &args.html {
        let page = flopwatt_bench::html::page(&args.files, &reports, &rows)?;
        output::write_atomic(h, &page)?;
    }
    if let Some(pct) = args.fail_on_regression {
        let found = regressions(&rows, pct);
        if !found.is_empty() {
            for r in &found {
                eprintln!(
                    "regression: {} is {:.1}% slower in {} than in {} (limit {pct}%)",
                    r.workload, r.slower_pct, args.files[r.file], args.files[0]
                );
            }
            return Ok(ExitCode::from(EXIT_REGRESSION));
        }
    }
    Ok(ExitCode::SUCCESS)
}
