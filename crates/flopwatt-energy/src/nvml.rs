//! NVIDIA power through NVML, loaded at run time.
//!
//! `libnvidia-ml.so.1` (Linux) or `nvml.dll` (Windows) is opened with `libloading`, so the
//! binary links against nothing from NVIDIA and runs unchanged on machines without the driver.
//! The device is the one at the adapter's PCI bus id, else the first whose name matches the
//! adapter's, else index 0. Volta and later have a total-energy counter
//! (`nvmlDeviceGetTotalEnergyConsumption`, mJ since the driver loaded); on older boards the
//! power (`nvmlDeviceGetPowerUsage`, mW) is sampled and integrated instead.

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CStr, CString};
use std::sync::Arc;

use super::sampler::{Sampler, DEFAULT_INTERVAL};
use super::{normalize_pci, power_err, Clock, PowerSource, Reading, SourceKind};
use flopwatt_ir::error::Result;

const NAME: &str = "nvml";
const NVML_SUCCESS: c_int = 0;
const NAME_BUFFER: usize = 96;

type Ret = c_int;
type DevPtr = *mut c_void;

/// The library names tried on this platform, in order.
pub fn default_library_names() -> Vec<String> {
    if cfg!(windows) {
        vec![
            "nvml.dll".into(),
            r"C:\Program Files\NVIDIA Corporation\NVSMI\nvml.dll".into(),
        ]
    } else if cfg!(target_os = "macos") {
        Vec::new()
    } else {
        vec!["libnvidia-ml.so.1".into(), "libnvidia-ml.so".into()]
    }
}

/// The NVML entry points flopwatt uses, copied out of the loaded library (which they keep alive).
struct Api {
    shutdown: unsafe extern "C" fn() -> Ret,
    count: unsafe extern "C" fn(*mut c_uint) -> Ret,
    by_index: unsafe extern "C" fn(c_uint, *mut DevPtr) -> Ret,
    /// Missing on drivers older than the `_v2` API (2017): matching falls back to the name.
    by_pci: Option<unsafe extern "C" fn(*const c_char, *mut DevPtr) -> Ret>,
    name: unsafe extern "C" fn(DevPtr, *mut c_char, c_uint) -> Ret,
    /// Missing on drivers before R384: power is sampled instead.
    energy: Option<unsafe extern "C" fn(DevPtr, *mut c_ulonglong) -> Ret>,
    power: unsafe extern "C" fn(DevPtr, *mut c_uint) -> Ret,
    error_string: unsafe extern "C" fn(Ret) -> *const c_char,
    _lib: libloading::Library,
}

// SAFETY: NVML is documented thread-safe; the struct holds only function pointers into a library
// that stays loaded as long as the struct lives.
unsafe impl Send for Api {}
// SAFETY: as above.
unsafe impl Sync for Api {}

impl Drop for Api {
    fn drop(&mut self) {
        // SAFETY: matched with the successful nvmlInit_v2 in `Api::load`.
        unsafe {
            (self.shutdown)();
        }
    }
}

impl Api {
    /// Loads the first library of `names` that opens and initialises NVML.
    fn load(names: &[String]) -> Result<Api> {
        if names.is_empty() {
            return Err(power_err(NAME, "no NVML library on this platform"));
        }
        let mut tried = Vec::new();
        for n in names {
            // SAFETY: loading NVML runs its initialisers, which have no preconditions.
            match unsafe { libloading::Library::new(n) } {
                Ok(lib) => return Self::from_library(lib, n),
                Err(e) => tried.push(format!("{n}: {e}")),
            }
        }
        Err(power_err(
            NAME,
            format!("library not found ({})", tried.join("; ")),
        ))
    }

    fn from_library(lib: libloading::Library, file: &str) -> Result<Api> {
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the type matches the NVML header (nvml.h) for this symbol.
                *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                    .map_err(|e| power_err(NAME, format!("{file}: missing {}: {e}", $name)))?
            };
        }
        macro_rules! sym_opt {
            ($name:literal) => {
                // SAFETY: as in sym!.
                unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                    .ok()
                    .map(|s| *s)
            };
        }
        let init: unsafe extern "C" fn() -> Ret = sym!("nvmlInit_v2");
        let api = Api {
            shutdown: sym!("nvmlShutdown"),
            count: sym!("nvmlDeviceGetCount_v2"),
            by_index: sym!("nvmlDeviceGetHandleByIndex_v2"),
            by_pci: sym_opt!("nvmlDeviceGetHandleByPciBusId_v2"),
            name: sym!("nvmlDeviceGetName"),
            energy: sym_opt!("nvmlDeviceGetTotalEnergyConsumption"),
            power: sym!("nvmlDeviceGetPowerUsage"),
            error_string: sym!("nvmlErrorString"),
            _lib: lib,
        };
        // SAFETY: no preconditions; paired with nvmlShutdown in Drop only when it succeeds.
        let r = unsafe { init() };
        if r != NVML_SUCCESS {
            let msg = api.message(r);
            // Do not run Drop (shutdown) for an init that failed.
            std::mem::forget(api);
            return Err(power_err(NAME, format!("nvmlInit_v2 failed: {msg}")));
        }
        Ok(api)
    }

    fn message(&self, r: Ret) -> String {
        // SAFETY: nvmlErrorString returns a static NUL-terminated string for any code.
        let p = unsafe { (self.error_string)(r) };
        if p.is_null() {
            format!("NVML error {r}")
        } else {
            // SAFETY: non-null, NUL-terminated, static.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    }

    fn check(&self, what: &str, r: Ret) -> Result<()> {
        if r == NVML_SUCCESS {
            Ok(())
        } else {
            Err(power_err(NAME, format!("{what}: {}", self.message(r))))
        }
    }

    fn device_name(&self, dev: Dev) -> Result<String> {
        let mut buf = [0 as c_char; NAME_BUFFER];
        // SAFETY: buf has NAME_BUFFER bytes, as passed.
        self.check("nvmlDeviceGetName", unsafe {
            (self.name)(dev.0, buf.as_mut_ptr(), NAME_BUFFER as c_uint)
        })?;
        // SAFETY: NVML NUL-terminates within the buffer on success.
        Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned())
    }

    fn energy_mj(&self, dev: Dev) -> Result<u64> {
        let energy = self.energy.ok_or_else(|| {
            power_err(
                NAME,
                "nvmlDeviceGetTotalEnergyConsumption: not in this driver",
            )
        })?;
        let mut mj: c_ulonglong = 0;
        // SAFETY: valid handle and out pointer.
        self.check("nvmlDeviceGetTotalEnergyConsumption", unsafe {
            energy(dev.0, &mut mj)
        })?;
        Ok(mj)
    }

    fn power_watts(&self, dev: Dev) -> Result<f64> {
        let mut mw: c_uint = 0;
        // SAFETY: valid handle and out pointer.
        self.check("nvmlDeviceGetPowerUsage", unsafe {
            (self.power)(dev.0, &mut mw)
        })?;
        Ok(f64::from(mw) * 1e-3)
    }

    /// The device at `pci`, else the first whose name matches `adapter_name`, else index 0.
    fn pick(&self, adapter_name: &str, pci: &str) -> Result<(Dev, String)> {
        let id = normalize_pci(pci).and_then(|p| CString::new(p).ok());
        if let (Some(id), Some(by_pci)) = (id, self.by_pci) {
            let mut d: DevPtr = std::ptr::null_mut();
            // SAFETY: NUL-terminated id and out pointer.
            if unsafe { by_pci(id.as_ptr(), &mut d) } == NVML_SUCCESS {
                let dev = Dev(d);
                return Ok((dev, self.device_name(dev)?));
            }
        }
        let mut n: c_uint = 0;
        // SAFETY: out pointer.
        self.check("nvmlDeviceGetCount_v2", unsafe { (self.count)(&mut n) })?;
        if n == 0 {
            return Err(power_err(NAME, "NVML sees no device"));
        }
        let want = adapter_name.to_ascii_lowercase();
        let mut first = None;
        for i in 0..n {
            let mut d: DevPtr = std::ptr::null_mut();
            // SAFETY: index below the count, out pointer.
            if unsafe { (self.by_index)(i, &mut d) } != NVML_SUCCESS {
                continue;
            }
            let dev = Dev(d);
            let name = self.device_name(dev).unwrap_or_default();
            let lower = name.to_ascii_lowercase();
            if !want.is_empty()
                && !lower.is_empty()
                && (lower.contains(&want) || want.contains(&lower))
            {
                return Ok((dev, name));
            }
            if first.is_none() {
                first = Some((dev, name));
            }
        }
        first.ok_or_else(|| power_err(NAME, "no NVML device handle could be opened"))
    }
}

/// An NVML device handle.
#[derive(Clone, Copy)]
struct Dev(DevPtr);
// SAFETY: NVML handles are plain identifiers, valid from any thread while NVML is initialised.
unsafe impl Send for Dev {}

enum Mode {
    Counter { base_mj: u64, clock: Arc<dyn Clock> },
    Sampled(Sampler),
}

/// One NVIDIA device's energy.
pub struct NvmlSource {
    api: Arc<Api>,
    dev: Dev,
    device_name: String,
    mode: Mode,
}

impl NvmlSource {
    /// Loads NVML from the first of `libs` that opens, picks the device and takes the baseline.
    pub fn open(
        libs: &[String],
        adapter_name: &str,
        pci_bus_id: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let api = Arc::new(Api::load(libs)?);
        let (dev, device_name) = api.pick(adapter_name, pci_bus_id)?;
        let mode = match api.energy_mj(dev) {
            Ok(base_mj) => Mode::Counter { base_mj, clock },
            Err(counter_err) => {
                let a = api.clone();
                let sampler =
                    Sampler::start(NAME, DEFAULT_INTERVAL, clock, move || a.power_watts(dev))
                        .map_err(|e| {
                            power_err(
                                NAME,
                                format!(
                                    "no energy counter ({counter_err}) and no power reading ({e})"
                                ),
                            )
                        })?;
                Mode::Sampled(sampler)
            }
        };
        Ok(NvmlSource {
            api,
            dev,
            device_name,
            mode,
        })
    }
}

impl PowerSource for NvmlSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Nvml
    }

    fn describe(&self) -> String {
        let how = match self.mode {
            Mode::Counter { .. } => "total energy counter",
            Mode::Sampled(_) => "power usage, sampled",
        };
        format!("nvml ({}, {how})", self.device_name)
    }

    fn measured(&self) -> bool {
        true
    }

    fn read(&mut self) -> Result<Reading> {
        match &self.mode {
            Mode::Counter { base_mj, clock } => {
                let mj = self.api.energy_mj(self.dev)?;
                let at = clock.now();
                Ok(Reading {
                    joules: mj.saturating_sub(*base_mj) as f64 * 1e-3,
                    at,
                })
            }
            Mode::Sampled(s) => s.read(),
        }
    }
}
