//! AMD GPU power through the amdgpu hwmon interface, integrated over time.
//!
//! The amdgpu driver registers `class/hwmon/hwmonN` with `name` = `amdgpu`; its
//! `power1_average` (most GPUs) or `power1_input` (RDNA3 and later) holds the board power in
//! microwatts. There is no energy counter, so a [`super::sampler`] thread integrates it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::sampler::{Sampler, DEFAULT_INTERVAL};
use super::{
    normalize_pci, power_err, read_sys, read_sys_u64, Clock, PowerSource, Reading, SourceKind,
    SysRoot,
};
use crate::error::Result;

const NAME: &str = "hwmon";

/// Board power of one amdgpu device, integrated by a sampling thread.
pub struct HwmonSource {
    file: PathBuf,
    sampler: Sampler,
}

/// The amdgpu hwmon directory for the adapter at `pci_bus_id` (or the first amdgpu when the id
/// is empty or matches none), and its power file.
pub fn find_amdgpu(root: &SysRoot, pci_bus_id: &str) -> Result<PathBuf> {
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
            (read_sys(NAME, &p.join("name")).ok()? == "amdgpu").then_some((n, p))
        })
        .collect();
    // hwmon10 after hwmon9: numeric, not lexical, order.
    cards.sort();
    if cards.is_empty() {
        return Err(power_err(
            NAME,
            format!("no amdgpu device in {}", dir.display()),
        ));
    }
    let want = normalize_pci(pci_bus_id);
    let chosen = cards
        .iter()
        .find(|(_, p)| want.is_some() && pci_of(p) == want)
        .unwrap_or(&cards[0])
        .1
        .clone();
    for file in ["power1_average", "power1_input"] {
        let f = chosen.join(file);
        if f.exists() {
            return Ok(f);
        }
    }
    Err(power_err(
        NAME,
        format!(
            "{} has neither power1_average nor power1_input",
            chosen.display()
        ),
    ))
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
        Ok(HwmonSource { file, sampler })
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
        format!("hwmon (amdgpu {card}/{file}, sampled)")
    }

    fn measured(&self) -> bool {
        true
    }

    fn read(&mut self) -> Result<Reading> {
        self.sampler.read()
    }
}
