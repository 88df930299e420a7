//! RAPL package energy through Linux powercap.
//!
//! Each CPU package is a top-level zone `class/powercap/intel-rapl:N` whose `name` is
//! `package-N` (AMD CPUs use the same `intel-rapl` driver name). Its `energy_uj` counts
//! microjoules and wraps to 0 after `max_energy_range_uj`; subzones (`intel-rapl:N:M`: core,
//! uncore, dram) are parts of the package and are not added again.

use std::path::PathBuf;
use std::sync::Arc;

use super::{power_err, read_sys, read_sys_u64, Clock, PowerSource, Reading, SourceKind, SysRoot};
use flopwatt_ir::error::Result;

const NAME: &str = "rapl";

/// The smallest wrap range counted: what a 1 kW package (more than any CPU package draws)
/// uses in 50 ms, the meter's read interval. A smaller range can wrap several times between
/// two reads, and whole wraps would be lost.
pub const MIN_RANGE_UJ: u64 = 50_000_000;

/// Turns successive raw reads of a wrapping counter into increments.
///
/// The counter counts modulo `max` (`max_energy_range_uj`), as the kernel's RAPL driver and
/// tools such as Zeus and scaphandre treat it; a read lower than the last one means it wrapped
/// once. Two wraps between reads cannot be told apart from one,
/// so reads must come more often than `max` takes to fill (minutes for RAPL packages).
#[derive(Clone, Debug)]
pub struct WrapCounter {
    max: u64,
    last: u64,
}

impl WrapCounter {
    /// Starts from a first (baseline) read.
    pub fn new(first: u64, max: u64) -> Self {
        WrapCounter { max, last: first }
    }

    /// The increment since the previous read.
    pub fn update(&mut self, raw: u64) -> u64 {
        let delta = if raw >= self.last {
            raw - self.last
        } else {
            // Wrapped: from `last` up to `max` (= 0 again), then on to `raw`.
            self.max.saturating_sub(self.last) + raw
        };
        self.last = raw;
        delta
    }
}

#[derive(Debug)]
struct Zone {
    name: String,
    energy: PathBuf,
    counter: WrapCounter,
}

/// Sum of the RAPL package counters.
pub struct RaplSource {
    zones: Vec<Zone>,
    total_uj: u128,
    clock: Arc<dyn Clock>,
}

impl RaplSource {
    /// Finds the package zones under `root/class/powercap` and takes the baseline read.
    pub fn open(root: &SysRoot, clock: Arc<dyn Clock>) -> Result<Self> {
        let dir = root.join("class/powercap");
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| power_err(NAME, format!("{} {}", dir.display(), io_words(&e))))?;
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            // Top-level zones only: `intel-rapl:0`, not `intel-rapl:0:0` (a part of package 0).
            let Some(index) = file.strip_prefix("intel-rapl:") else {
                continue;
            };
            if index.contains(':') {
                continue;
            }
            let zone_dir = entry.path();
            let name = read_sys(NAME, &zone_dir.join("name")).unwrap_or_default();
            if name.starts_with("package") {
                found.push((name, zone_dir));
            }
        }
        if found.is_empty() {
            return Err(power_err(
                NAME,
                format!(
                    "no package zone (intel-rapl:N named package-N) in {}",
                    dir.display()
                ),
            ));
        }
        found.sort();
        let mut zones = Vec::with_capacity(found.len());
        for (name, zone_dir) in found {
            let energy = zone_dir.join("energy_uj");
            let max = read_sys_u64(NAME, &zone_dir.join("max_energy_range_uj"))?;
            if max < MIN_RANGE_UJ {
                return Err(power_err(
                    NAME,
                    format!(
                        "{name}: max_energy_range_uj {max} wraps too often to count (a package \
                         can fill it between two reads); need at least {MIN_RANGE_UJ}"
                    ),
                ));
            }
            let first = read_sys_u64(NAME, &energy)?;
            zones.push(Zone {
                name,
                energy,
                counter: WrapCounter::new(first, max),
            });
        }
        Ok(RaplSource {
            zones,
            total_uj: 0,
            clock,
        })
    }

    /// The zone names summed, e.g. `["package-0", "package-1"]`.
    pub fn zones(&self) -> Vec<String> {
        self.zones.iter().map(|z| z.name.clone()).collect()
    }
}

fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "missing".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

impl PowerSource for RaplSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Rapl
    }

    fn describe(&self) -> String {
        format!("rapl (powercap {})", self.zones().join(" + "))
    }

    fn measured(&self) -> bool {
        true
    }

    fn read(&mut self) -> Result<Reading> {
        // Read every zone before committing any, so a failure leaves the counters consistent.
        let raws = self
            .zones
            .iter()
            .map(|z| read_sys_u64(NAME, &z.energy))
            .collect::<Result<Vec<u64>>>()?;
        for (z, &raw) in self.zones.iter().zip(&raws) {
            if raw > z.counter.max {
                return Err(power_err(
                    NAME,
                    format!(
                        "{}: energy_uj {raw} is above max_energy_range_uj {}",
                        z.name, z.counter.max
                    ),
                ));
            }
        }
        let at = self.clock.now();
        for (z, raw) in self.zones.iter_mut().zip(raws) {
            self.total_uj += u128::from(z.counter.update(raw));
        }
        Ok(Reading {
            joules: self.total_uj as f64 * 1e-6,
            at,
        })
    }
}
