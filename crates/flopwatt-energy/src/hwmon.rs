//! GPU power and energy through Linux hwmon.
//!
//! - AMD: the amdgpu driver registers `class/hwmon/hwmonN` with `name` = `amdgpu`; its
//!   `power1_average` (most GPUs) or `power1_input` (RDNA3 and later) holds the board power in
//!   microwatts. There is no energy counter, so a [`super::sampler`] thread integrates it.
//! - Intel discrete GPUs (Arc): the i915 and xe drivers register `name` = `i915` / `xe` with
//!   `energy1_input`, a monotonic microjoule counter (the driver extends the hardware's 32-bit
//!   register), read like RAPL but without a wrap.
//!
//! With several cards, the one whose `device` link points at the adapter's PCI address is
//! chosen, else the lowest-numbered.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::sampler::{Sampler, DEFAULT_INTERVAL};
use super::{
    normalize_pci, power_err, read_sys, read_sys_u64, Clock, PowerSource, Reading, SourceKind,
    SysRoot,
};
use flopwatt_ir::error::Result;

const NAME: &str = "hwmon";

enum Mode {
    /// Power in microwatts, integrated by a thread.
    Sampled(Sampler),
    /// Energy counter in microjoules; `base` is the open-time value.
    Counter { base: u64, clock: Arc<dyn Clock> },
}

/// One GPU's hwmon power (sampled) or energy (counter).
pub struct HwmonSource {
    driver: &'static str,
    file: PathBuf,
    mode: Mode,
}

/// The hwmon file of the first `files` entry that exists, in the card named one of `drivers`
/// at `pci_bus_id` (or the lowest-numbered such card when the id is empty or matches none).
pub fn find_card(
    root: &SysRoot,
    pci_bus_id: &str,
    drivers: &[&str],
    files: &[&str],
) -> Result<PathBuf> {
    let dir = root.join("class/hwmon");
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::NotFound {
            "missing".to_string()
        } else {
            e.to_string()
        };
        power_err(NAME, format!("{} {what}", dir.display()))
    })?;
    let mut cards: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let n = e
                .file_name()
                .to_string_lossy()
                .strip_prefix("hwmon")?
                .parse::<u32>()
                .ok()?;
            let p = e.path();
            let name = read_sys(NAME, &p.join("name")).ok()?;
            drivers.contains(&name.as_str()).then_some((n, p))
        })
        .collect();
    // hwmon10 after hwmon9: numeric, not lexical, order.
    cards.sort();
    if cards.is_empty() {
        return Err(power_err(
            NAME,
            format!("no {} device in {}", drivers.join("/"), dir.display()),
        ));
    }
    let want = normalize_pci(pci_bus_id);
    let chosen = cards
        .iter()
        .find(|(_, p)| want.is_some() && pci_of(p) == want)
        .unwrap_or(&cards[0])
        .1
        .clone();
    for file in files {
        let f = chosen.join(file);
        if f.exists() {
            return Ok(f);
        }
    }
    Err(power_err(
        NAME,
        format!("{} has none of {}", chosen.display(), files.join(", ")),
    ))
}

/// The amdgpu power file for the adapter at `pci_bus_id`.
pub fn find_amdgpu(root: &SysRoot, pci_bus_id: &str) -> Result<PathBuf> {
    find_card(
        root,
        pci_bus_id,
        &["amdgpu"],
        &["power1_average", "power1_input"],
    )
}

/// The PCI address the hwmon's `device` link points at (`.../0000:03:00.0`).
fn pci_of(hwmon: &Path) -> Option<String> {
    let target = std::fs::read_link(hwmon.join("device")).ok()?;
    normalize_pci(&target.file_name()?.to_string_lossy())
}

impl HwmonSource {
    /// Finds the amdgpu power file and starts sampling it every [`DEFAULT_INTERVAL`].
    pub fn open(root: &SysRoot, pci_bus_id: &str, clock: Arc<dyn Clock>) -> Result<Self> {
        Self::open_with_interval(root, pci_bus_id, clock, DEFAULT_INTERVAL)
    }

    /// [`HwmonSource::open`] with a chosen sampling interval.
    pub fn open_with_interval(
        root: &SysRoot,
        pci_bus_id: &str,
        clock: Arc<dyn Clock>,
        interval: Duration,
    ) -> Result<Self> {
        let file = find_amdgpu(root, pci_bus_id)?;
        let f = file.clone();
        let sampler = Sampler::start(NAME, interval, clock, move || {
            Ok(read_sys_u64(NAME, &f)? as f64 * 1e-6)
        })?;
        Ok(HwmonSource {
            driver: "amdgpu",
            file,
            mode: Mode::Sampled(sampler),
        })
    }

    /// The energy counter of an Intel discrete GPU (i915 or xe driver); the open is the baseline.
    pub fn open_intel(root: &SysRoot, pci_bus_id: &str, clock: Arc<dyn Clock>) -> Result<Self> {
        let file = find_card(root, pci_bus_id, &["i915", "xe"], &["energy1_input"])?;
        let base = read_sys_u64(NAME, &file)?;
        Ok(HwmonSource {
            driver: "intel",
            file,
            mode: Mode::Counter { base, clock },
        })
    }
}

impl PowerSource for HwmonSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Hwmon
    }

    fn describe(&self) -> String {
        let card = self
            .file
            .parent()
            .and_then(|p| p.file_name())
            .unwrap_or_default()
            .to_string_lossy();
        let file = self.file.file_name().unwrap_or_default().to_string_lossy();
        let how = match self.mode {
            Mode::Sampled(_) => "sampled",
            Mode::Counter { .. } => "energy counter",
        };
        format!("hwmon ({} {card}/{file}, {how})", self.driver)
    }

    fn measured(&self) -> bool {
        true
    }

    fn read(&mut self) -> Result<Reading> {
        match &self.mode {
            Mode::Sampled(s) => s.read(),
            Mode::Counter { base, clock } => {
                let uj = read_sys_u64(NAME, &self.file)?;
                let at = clock.now();
                if uj < *base {
                    return Err(power_err(
                        NAME,
                        format!("{} went backwards (driver reloaded?)", self.file.display()),
                    ));
                }
                Ok(Reading {
                    joules: (uj - base) as f64 * 1e-6,
                    at,
                })
            }
        }
    }
}
