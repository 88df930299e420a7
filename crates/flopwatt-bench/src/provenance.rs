//! Where, when and how a result file was made: flopwatt version and commit, UTC time, host,
//! device and driver, timing tier, power source and the command line. The same flat fields
//! lead every CSV row and make the `provenance` object of the JSON document.

use serde::{Deserialize, Serialize};

#[cfg(not(target_arch = "wasm32"))]
use flopwatt::device::AdapterSummary;

/// The provenance of one result file. Every field is a scalar so that CSV rows can carry it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    /// flopwatt's version (`CARGO_PKG_VERSION`).
    pub flopwatt_version: String,
    /// The git commit flopwatt was built from; empty when not built from a checkout.
    pub git_commit: String,
    /// When the file was made, UTC, RFC 3339 (`2026-12-06T11:10:00Z`).
    pub created_utc: String,
    /// CPU model of the host.
    pub host_cpu: String,
    /// Logical CPU cores of the host.
    pub host_cores: u64,
    /// Host memory, bytes (0 when unknown).
    pub host_memory_bytes: u64,
    /// Operating system (name and release).
    pub host_os: String,
    /// Kernel release.
    pub host_kernel: String,
    /// One-minute load average when the run started (empty when unknown): a load above the
    /// core count means other work competed for the machine.
    pub host_load_1m: Option<f64>,
    /// Adapter name.
    pub device_name: String,
    /// Backend (vulkan, metal, dx12, gl).
    pub device_backend: String,
    /// Driver name and version.
    pub device_driver: String,
    /// Timing tier of the GPU times (`timestamp-inside-passes`, ..., `wall-clock`).
    pub timing: String,
    /// Power source (`nvml`, `rapl`, `hwmon`, `fixed`, `estimate`, `none`).
    pub power_source: String,
    /// Whether the energy figures are sensor readings.
    pub power_measured: bool,
    /// The command line that made the file.
    pub command_line: String,
    /// Spread above which a row is flagged `noisy`, percent.
    pub noisy_threshold_pct: f64,
}

impl Provenance {
    /// The provenance of a run on `device` made now by this process.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn collect(
        device: &AdapterSummary,
        timing: &str,
        power_source: &str,
        power_measured: bool,
    ) -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Provenance {
            flopwatt_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("FLOPWATT_GIT_COMMIT")
                .unwrap_or_default()
                .to_string(),
            created_utc: rfc3339_utc(secs),
            host_cpu: host::cpu_model(),
            host_cores: std::thread::available_parallelism()
                .map(|n| n.get() as u64)
                .unwrap_or(0),
            host_memory_bytes: host::memory_bytes(),
            host_os: host::os(),
            host_kernel: host::kernel(),
            host_load_1m: host::load_1m(),
            device_name: device.name.clone(),
            device_backend: device.backend.clone(),
            device_driver: format!("{} {}", device.driver, device.driver_info)
                .trim()
                .to_string(),
            timing: timing.to_string(),
            power_source: power_source.to_string(),
            power_measured,
            command_line: command_line(std::env::args()),
            noisy_threshold_pct: crate::NOISY_SPREAD_PCT,
        }
    }

    /// Whether the host was busier than its cores when the run started.
    pub fn host_loaded(&self) -> bool {
        matches!(self.host_load_1m, Some(l) if self.host_cores > 0 && l > self.host_cores as f64)
    }
}

/// The arguments as one shell-like line (arguments with spaces or quotes are quoted).
pub fn command_line(args: impl IntoIterator<Item = String>) -> String {
    args.into_iter()
        .map(|a| {
            if !a.is_empty() && !a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seconds since the Unix epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date (H. Hinnant's algorithm): eras of 400 years from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Host facts from the operating system; "unknown" (or 0) where it does not say.
#[cfg(not(target_arch = "wasm32"))]
mod host {
    fn read(path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    fn sysctl(name: &str) -> Option<String> {
        let out = std::process::Command::new("sysctl")
            .args(["-n", name])
            .output()
            .ok()?;
        let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    }

    pub fn cpu_model() -> String {
        read("/proc/cpuinfo")
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .or_else(|| sysctl("machdep.cpu.brand_string"))
            .or_else(|| std::env::var("PROCESSOR_IDENTIFIER").ok())
            .unwrap_or_else(|| format!("unknown {}", std::env::consts::ARCH))
    }

    pub fn memory_bytes() -> u64 {
        read("/proc/meminfo")
            .and_then(|t| {
                let l = t.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kib: u64 = l.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib * 1024)
            })
            .or_else(|| sysctl("hw.memsize").and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    }

    pub fn os() -> String {
        read("/etc/os-release")
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .or_else(|| sysctl("kern.osproductversion").map(|v| format!("macOS {v}")))
            .unwrap_or_else(|| std::env::consts::OS.to_string())
    }

    pub fn kernel() -> String {
        read("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .or_else(|| sysctl("kern.osrelease"))
            .unwrap_or_default()
    }

    pub fn load_1m() -> Option<f64> {
        read("/proc/loadavg")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_796_555_400), "2026-12-06T11:10:00Z");
        assert_eq!(rfc3339_utc(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn command_line_quotes_what_a_shell_would_split() {
        let args = ["flopwatt", "bench", "--filter", "a b", "it's"].map(String::from);
        assert_eq!(
            command_line(args),
            r"flopwatt bench --filter 'a b' 'it'\''s'"
        );
    }
}
