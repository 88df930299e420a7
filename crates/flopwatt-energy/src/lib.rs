//! Power sources and the energy method.
//!
//! # Sources
//!
//! One [`PowerSource`] is chosen per adapter by [`detect`]:
//!
//! | adapter | source | what it reads |
//! | --- | --- | --- |
//! | NVIDIA (PCI vendor `0x10de`) | [`SourceKind::Nvml`] | `nvmlDeviceGetTotalEnergyConsumption` (mJ); where that counter is missing, `nvmlDeviceGetPowerUsage` (mW) sampled and integrated |
//! | AMD (`0x1002`) | [`SourceKind::Hwmon`] | `/sys/class/hwmon/hwmon*/{power1_average,power1_input}` of the `amdgpu` device (µW), sampled and integrated |
//! | Intel discrete GPUs (`0x8086`, not integrated) | [`SourceKind::Hwmon`] | `energy1_input` (µJ counter) of the `i915` / `xe` hwmon device |
//! | CPU adapters (lavapipe), Intel integrated GPUs (`0x8086`) | [`SourceKind::Rapl`] | powercap `intel-rapl:N/energy_uj` of every `package-N` zone (AMD CPUs expose it too) |
//! | anything else | [`SourceKind::Fixed`] / [`SourceKind::Estimate`] | the user's `--watts`, or a TDP table entry |
//!
//! NVML is loaded at run time (`libnvidia-ml.so.1` / `nvml.dll`), so the binary has no link
//! dependency on the NVIDIA driver. Sysfs is read under `FLOPWATT_SYSFS_ROOT` (default `/sys`);
//! the variable is read once, in [`detect`], and passed down as a [`SysRoot`] so that tests can
//! point each source at their own fake tree without fighting over a process-wide variable.
//!
//! A sensor that exists but cannot be read (RAPL is root-only on most kernels since 2020) does
//! not fail detection: [`detect`] falls back to the estimate and the estimate's
//! [`PowerSource::describe`] says why. Fixed and estimated figures are always labelled
//! (`measured: false`); they are never presented as measurements.
//!
//! # Method ([`measure`])
//!
//! Energy counters update every 1-100 ms, so a sub-millisecond dispatch cannot be measured on its
//! own. As Zeus and MLPerf Power do, [`measure`]:
//!
//! 1. reads the source across a short idle window (default 0.5 s) to get `idle_watts`;
//! 2. repeats the workload until at least `min_window` (default 1 s) has passed, reading the
//!    cumulative counter just before the first run and just after the last. Counters move in
//!    steps (NVML every 20-100 ms), so both edges are aligned to a step: the start reading is
//!    taken just after the counter moves (polled every 1 ms, at most 250 ms), and at the end the
//!    workload keeps running until the counter moves once more. The edge error is then one run
//!    rather than one counter period;
//! 3. reports the gross figures over the window: `avg_watts = dE / dt`,
//!    `joules_per_run = dE / runs`, and GFLOP/W as GFLOP/s / `avg_watts` (which equals GFLOP/J).
//!    `idle_watts` is reported alongside; [`EnergyResult::net_joules_per_run`] subtracts it for
//!    those who want the energy the workload added on top of idle.
//!
//! # Attribution ([`attribute`])
//!
//! A run's energy is split over its dispatches in proportion to their GPU time (the
//! runtime's run profile). That is a model, not a measurement: it assumes every
//! dispatch draws the same power while it runs, and it spreads the idle floor and the gaps
//! between dispatches in the same proportion. Where the profile has no per-dispatch times
//! (all zero) the energy is split evenly.
#![warn(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use flopwatt_ir::error::{Error, Result};

pub mod fixed;
pub mod hwmon;
pub mod meter;
#[cfg(not(target_arch = "wasm32"))]
pub mod nvml;
pub mod rapl;
pub mod sampler;

pub use fixed::{tdp_estimate, FixedSource, NoSource};
pub use hwmon::HwmonSource;
pub use meter::{
    measure, measure_status, measure_with_clock, EnergyConfig, EnergyResult, EnergyStatus,
};
#[cfg(not(target_arch = "wasm32"))]
pub use nvml::NvmlSource;
pub use rapl::{RaplSource, WrapCounter};
pub use sampler::Integrator;

/// PCI vendor id of NVIDIA.
pub const VENDOR_NVIDIA: u32 = 0x10de;
/// PCI vendor id of AMD.
pub const VENDOR_AMD: u32 = 0x1002;
/// PCI vendor id of Intel.
pub const VENDOR_INTEL: u32 = 0x8086;

/// Which kind of power source produced a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// NVIDIA Management Library (energy counter or sampled power).
    Nvml,
    /// Linux powercap RAPL package energy counters.
    Rapl,
    /// Linux hwmon power of an amdgpu device, integrated over time.
    Hwmon,
    /// A constant given by the user (`--watts`): not a measurement.
    Fixed,
    /// A TDP table entry: not a measurement.
    Estimate,
    /// No figure at all.
    None,
}

impl SourceKind {
    /// The lowercase name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Nvml => "nvml",
            SourceKind::Rapl => "rapl",
            SourceKind::Hwmon => "hwmon",
            SourceKind::Fixed => "fixed",
            SourceKind::Estimate => "estimate",
            SourceKind::None => "none",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One read of a source: cumulative energy since the source was opened, and when.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    /// Joules since the source was opened (the open is the baseline).
    pub joules: f64,
    /// When the reading was taken, on the source's [`Clock`].
    pub at: Instant,
}

/// Something that reports cumulative energy.
pub trait PowerSource: Send {
    /// The kind of source.
    fn kind(&self) -> SourceKind;
    /// One line for people, e.g. `rapl (powercap package-0)`; estimates say why no sensor was used.
    fn describe(&self) -> String;
    /// True when figures come from a sensor, false for constants and estimates.
    fn measured(&self) -> bool;
    /// Cumulative joules since the source was opened, with a timestamp.
    fn read(&mut self) -> Result<Reading>;
}

/// Time as the energy method sees it; injectable so that tests are deterministic.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits for `d` (the idle window).
    fn sleep(&self, d: Duration);
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// The shared system clock as a trait object.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// The directory that stands for `/sys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysRoot(pub PathBuf);

impl SysRoot {
    /// `FLOPWATT_SYSFS_ROOT`, or `/sys`. Read only at the top (detect), never inside a source.
    pub fn from_env() -> Self {
        match std::env::var_os("FLOPWATT_SYSFS_ROOT") {
            Some(p) if !p.is_empty() => SysRoot(PathBuf::from(p)),
            _ => SysRoot(PathBuf::from("/sys")),
        }
    }

    /// A path under the root, e.g. `join("class/powercap")`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.0.join(rel)
    }
}

/// The facts about an adapter that choose its power source (a subset of the runtime's `AdapterSummary`,
/// so tests and tools can build one without opening a device).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterKey {
    /// Adapter name, e.g. `NVIDIA H200` or `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// PCI vendor id.
    pub vendor: u32,
    /// wgpu device type, as `AdapterSummary::device_type` spells it (`DiscreteGpu`, `Cpu`, ...).
    pub device_type: String,
    /// Whether the adapter runs on the CPU (lavapipe, SwiftShader, WARP): its power is the
    /// CPU package's.
    pub cpu: bool,
    /// PCI bus id (`0000:01:00.0`) where the backend reports it, else empty.
    pub pci_bus_id: String,
}

/// Where a source looks for things; tests replace every field.
#[derive(Clone)]
pub struct Probe {
    /// Stands for `/sys`.
    pub sysfs: SysRoot,
    /// NVML library names to try, in order.
    pub nvml_libs: Vec<String>,
    /// The clock readings are stamped with.
    pub clock: Arc<dyn Clock>,
}

impl Probe {
    /// The real system: `FLOPWATT_SYSFS_ROOT` or `/sys`, the platform's NVML, the system clock.
    pub fn system() -> Self {
        Probe {
            sysfs: SysRoot::from_env(),
            #[cfg(not(target_arch = "wasm32"))]
            nvml_libs: nvml::default_library_names(),
            #[cfg(target_arch = "wasm32")]
            nvml_libs: Vec::new(),
            clock: system_clock(),
        }
    }

    /// A probe of a fake sysfs tree with no NVML (for tests).
    pub fn fake(root: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Probe {
            sysfs: SysRoot(root.into()),
            nvml_libs: Vec::new(),
            clock,
        }
    }
}

/// The sensor an adapter should have, before trying to open it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sensor {
    /// NVML.
    Nvml,
    /// RAPL package energy.
    Rapl,
    /// amdgpu hwmon power.
    Hwmon,
    /// i915 / xe hwmon energy counter (Intel discrete GPUs).
    HwmonIntel,
    /// No sensor for this adapter.
    None,
}

/// The sensor the rules give this adapter.
pub fn sensor_for(adapter: &AdapterKey) -> Sensor {
    if adapter.cpu {
        // The "GPU" is the CPU package: RAPL sees exactly the silicon doing the work.
        return Sensor::Rapl;
    }
    match vendor_of(adapter) {
        VENDOR_NVIDIA => Sensor::Nvml,
        VENDOR_AMD => Sensor::Hwmon,
        // An integrated GPU shares the package (and its power budget) with the cores.
        VENDOR_INTEL if adapter.device_type == "IntegratedGpu" => Sensor::Rapl,
        VENDOR_INTEL => Sensor::HwmonIntel,
        _ => Sensor::None,
    }
}

/// The PCI vendor, or where the backend reports none (some GL drivers give 0) the vendor the
/// adapter's name implies.
fn vendor_of(adapter: &AdapterKey) -> u32 {
    if adapter.vendor != 0 {
        return adapter.vendor;
    }
    let name = adapter.name.to_ascii_lowercase();
    if name.contains("nvidia") || name.contains("geforce") || name.contains("quadro") {
        VENDOR_NVIDIA
    } else if name.contains("radeon") || name.starts_with("amd") {
        VENDOR_AMD
    } else if name.starts_with("intel") {
        VENDOR_INTEL
    } else {
        0
    }
}

/// Opens the power source for `adapter`; never fails. Order: the adapter's sensor, then the
/// user's `watts`, then the TDP estimate, whose description records why no sensor was used.
pub fn detect(adapter: impl Into<AdapterKey>, watts: Option<f64>) -> Box<dyn PowerSource> {
    detect_with(&adapter.into(), watts, &Probe::system())
}

/// [`detect`] with explicit paths and clock (what tests call).
pub fn detect_with(
    adapter: &AdapterKey,
    watts: Option<f64>,
    probe: &Probe,
) -> Box<dyn PowerSource> {
    let sensor = sensor_for(adapter);
    let why = match open_sensor(sensor, adapter, probe) {
        Ok(s) => return s,
        Err(why) => why,
    };
    if let Some(w) = watts {
        match FixedSource::user(w, probe.clock.clone()) {
            Ok(s) => return Box::new(s),
            Err(e) => {
                let why = format!("{why}; {e}");
                return Box::new(FixedSource::estimate(adapter, why, probe.clock.clone()));
            }
        }
    }
    Box::new(FixedSource::estimate(adapter, why, probe.clock.clone()))
}

/// Opens `sensor` and takes one reading to prove it works; the error is the reason for the
/// fallback, in words.
fn open_sensor(
    sensor: Sensor,
    adapter: &AdapterKey,
    probe: &Probe,
) -> std::result::Result<Box<dyn PowerSource>, String> {
    let mut src: Box<dyn PowerSource> = match sensor {
        Sensor::None => {
            return Err(format!(
                "no sensor for vendor 0x{:04x} {}",
                adapter.vendor, adapter.device_type
            ))
        }
        Sensor::Rapl => {
            Box::new(RaplSource::open(&probe.sysfs, probe.clock.clone()).map_err(|e| reason(&e))?)
        }
        Sensor::Hwmon => Box::new(
            HwmonSource::open(&probe.sysfs, &adapter.pci_bus_id, probe.clock.clone())
                .map_err(|e| reason(&e))?,
        ),
        Sensor::HwmonIntel => Box::new(
            HwmonSource::open_intel(&probe.sysfs, &adapter.pci_bus_id, probe.clock.clone())
                .map_err(|e| reason(&e))?,
        ),
        #[cfg(target_arch = "wasm32")]
        Sensor::Nvml => return Err("nvml cannot be loaded in the browser".into()),
        #[cfg(not(target_arch = "wasm32"))]
        Sensor::Nvml => Box::new(
            NvmlSource::open(
                &probe.nvml_libs,
                &adapter.name,
                &adapter.pci_bus_id,
                probe.clock.clone(),
            )
            .map_err(|e| reason(&e))?,
        ),
    };
    src.read().map_err(|e| reason(&e))?;
    Ok(src)
}

fn reason(e: &Error) -> String {
    match e {
        Error::Power {
            source_name,
            message,
        } => format!("{source_name} {message}"),
        other => other.to_string(),
    }
}

/// One line for `flopwatt info`, e.g. `rapl (powercap package-0): measured` or
/// `estimate (65 W, CPU default; no sensor: rapl /sys/class/powercap missing): not measured`.
pub fn describe_choice(adapter: impl Into<AdapterKey>) -> String {
    choice_line(detect(adapter, None).as_ref())
}

/// The `describe_choice` line of an opened source.
pub fn choice_line(src: &dyn PowerSource) -> String {
    let tail = if src.measured() {
        "measured"
    } else {
        "not measured"
    };
    format!("{}: {tail}", src.describe())
}

/// Splits `joules_per_run` over the run's dispatches (`gpu_ns`: each one's GPU time) in proportion to their GPU time
/// (evenly where no dispatch has a time). The parts sum to `joules_per_run`.
pub fn attribute(joules_per_run: f64, gpu_ns: &[f64]) -> Vec<f64> {
    let n = gpu_ns.len();
    if n == 0 {
        return Vec::new();
    }
    // A negative or NaN time (a broken timestamp) counts as no time rather than poisoning the sum.
    let times: Vec<f64> = gpu_ns
        .iter()
        .map(|&t| if t.is_finite() && t > 0.0 { t } else { 0.0 })
        .collect();
    let total: f64 = times.iter().sum();
    if total > 0.0 {
        times.iter().map(|t| joules_per_run * t / total).collect()
    } else {
        vec![joules_per_run / n as f64; n]
    }
}

/// Shorthand for an [`Error::Power`].
pub(crate) fn power_err(source_name: &str, message: impl fmt::Display) -> Error {
    Error::Power {
        source_name: source_name.to_string(),
        message: message.to_string(),
    }
}

/// Reads a small sysfs file as trimmed text, naming the path and the cause on failure
/// (permission denied is spelled out because RAPL needs root on most kernels).
pub(crate) fn read_sys(source_name: &str, path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(power_err(
            source_name,
            format!(
                "{}: permission denied (reading it needs root, or a udev rule / chmod that makes it readable)",
                path.display()
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(power_err(source_name, format!("{} missing", path.display())))
        }
        Err(e) => Err(power_err(source_name, format!("{}: {e}", path.display()))),
    }
}

/// Reads a sysfs file holding one unsigned integer.
pub(crate) fn read_sys_u64(source_name: &str, path: &Path) -> Result<u64> {
    let s = read_sys(source_name, path)?;
    s.parse::<u64>().map_err(|_| {
        power_err(
            source_name,
            format!("{}: not an unsigned integer: {s:?}", path.display()),
        )
    })
}

/// Puts PCI addresses in one form (`0000:01:00.0`, lowercase, 4-digit domain) so that
/// Vulkan's, NVML's (8-digit domain) and sysfs's spellings compare equal.
pub fn normalize_pci(id: &str) -> Option<String> {
    let id = id.trim().to_ascii_lowercase();
    let (domain, rest) = match id.rsplitn(3, ':').collect::<Vec<_>>().as_slice() {
        [devfn, bus, domain] => (
            u32::from_str_radix(domain, 16).ok()?,
            format!("{bus}:{devfn}"),
        ),
        [devfn, bus] => (0, format!("{bus}:{devfn}")),
        _ => return None,
    };
    let (bus, devfn) = rest.split_once(':')?;
    let (dev, func) = devfn.split_once('.')?;
    let bus = u32::from_str_radix(bus, 16).ok()?;
    let dev = u32::from_str_radix(dev, 16).ok()?;
    let func = u32::from_str_radix(func, 16).ok()?;
    Some(format!("{domain:04x}:{bus:02x}:{dev:02x}.{func:x}"))
}
