//! Constant power: the user's `--watts`, or a TDP estimate when nothing can be measured.
//!
//! Both report `measured() == false` and their kind says which they are, so a report can never
//! pass a constant off as a measurement. The TDP table is deliberately conservative (board
//! power at full load, rounded up): an estimate that overstates power understates GFLOP/W.

use std::sync::Arc;
use std::time::Instant;

use super::{power_err, AdapterKey, Clock, PowerSource, Reading, SourceKind};
use flopwatt_ir::error::Result;

/// A source whose power is a constant: joules = watts x time since open.
pub struct FixedSource {
    kind: SourceKind,
    watts: f64,
    note: String,
    clock: Arc<dyn Clock>,
    origin: Instant,
}

impl FixedSource {
    /// The user's constant (`--watts W`); it must be a finite number above 0.
    pub fn user(watts: f64, clock: Arc<dyn Clock>) -> Result<Self> {
        if !(watts.is_finite() && watts > 0.0) {
            return Err(power_err(
                "fixed",
                format!("--watts must be a positive number of watts, got {watts}"),
            ));
        }
        Ok(Self::new(
            SourceKind::Fixed,
            watts,
            "given with --watts".into(),
            clock,
        ))
    }

    /// The TDP estimate for `adapter`, with `why` no sensor was used.
    pub fn estimate(adapter: &AdapterKey, why: String, clock: Arc<dyn Clock>) -> Self {
        let (watts, entry) = tdp_estimate(adapter);
        Self::new(
            SourceKind::Estimate,
            watts,
            format!("{entry}; no sensor: {why}"),
            clock,
        )
    }

    fn new(kind: SourceKind, watts: f64, note: String, clock: Arc<dyn Clock>) -> Self {
        let origin = clock.now();
        FixedSource {
            kind,
            watts,
            note,
            clock,
            origin,
        }
    }

    /// The constant power in watts.
    pub fn watts(&self) -> f64 {
        self.watts
    }
}

impl PowerSource for FixedSource {
    fn kind(&self) -> SourceKind {
        self.kind
    }

    fn describe(&self) -> String {
        format!("{} ({} W, {})", self.kind, self.watts, self.note)
    }

    fn measured(&self) -> bool {
        false
    }

    fn read(&mut self) -> Result<Reading> {
        let at = self.clock.now();
        Ok(Reading {
            joules: self.watts * at.saturating_duration_since(self.origin).as_secs_f64(),
            at,
        })
    }
}

/// Board power (W) by name fragment, checked in order (longer names first where one contains
/// another). Figures are vendors' TDP / total board power.
const TDP_TABLE: &[(&str, f64)] = &[
    ("h200", 700.0),
    ("h100", 700.0),
    ("gh200", 1000.0),
    ("b200", 1000.0),
    ("a100", 400.0),
    ("l40", 350.0),
    ("a10", 150.0),
    ("t4", 70.0),
    ("v100", 300.0),
    ("rtx 5090", 575.0),
    ("rtx 4090", 450.0),
    ("rtx 4080", 320.0),
    ("rtx 4070", 200.0),
    ("rtx 3090", 350.0),
    ("rtx 3080", 320.0),
    ("rtx 3070", 220.0),
    ("rtx 3060", 170.0),
    ("mi300", 750.0),
    ("mi250", 560.0),
    ("rx 7900", 355.0),
    ("rx 6900", 300.0),
    ("rx 6800", 250.0),
    ("arc a770", 225.0),
    ("arc a750", 225.0),
    ("apple m", 40.0),
];

/// The TDP estimate for an adapter: watts and which table entry gave it.
///
/// Name fragments first, then the device type: discrete GPU 250 W, integrated GPU 30 W,
/// CPU adapters (lavapipe and friends) 65 W (a desktop CPU package; a VM slice draws less, so
/// this overstates), anything else 250 W.
pub fn tdp_estimate(adapter: &AdapterKey) -> (f64, String) {
    let name = adapter.name.to_ascii_lowercase();
    if !adapter.cpu {
        if let Some((frag, w)) = TDP_TABLE
            .iter()
            .find(|(frag, _)| contains_word(&name, frag))
        {
            return (*w, format!("TDP table entry \"{frag}\""));
        }
    }
    let (w, what) = match (adapter.cpu, adapter.device_type.as_str()) {
        (true, _) | (_, "Cpu") => (65.0, "CPU adapter default"),
        (_, "IntegratedGpu") => (30.0, "integrated GPU default"),
        (_, "DiscreteGpu") => (250.0, "discrete GPU default"),
        _ => (250.0, "unknown device default"),
    };
    (w, format!("TDP estimate, {what}"))
}

/// `frag` occurs in `name` not glued to a preceding letter or digit and, if it ends in a digit,
/// not followed by another digit ("a10" must not match "a100", "t4" must not match "rtx 4090").
fn contains_word(name: &str, frag: &str) -> bool {
    let bytes = name.as_bytes();
    let mut start = 0;
    while let Some(pos) = name[start..].find(frag) {
        let i = start + pos;
        let end = i + frag.len();
        let before_ok = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let after_ok = end >= bytes.len()
            || !(frag.ends_with(|c: char| c.is_ascii_digit()) && bytes[end].is_ascii_digit());
        if before_ok && after_ok {
            return true;
        }
        start = i + 1;
    }
    false
}

/// A source with nothing to read: every read fails with the reason (for callers that want to
/// run without energy figures, e.g. a `--no-energy` flag).
pub struct NoSource {
    reason: String,
}

impl NoSource {
    /// A source that reports `reason` on every read.
    pub fn new(reason: impl Into<String>) -> Self {
        NoSource {
            reason: reason.into(),
        }
    }
}

impl PowerSource for NoSource {
    fn kind(&self) -> SourceKind {
        SourceKind::None
    }

    fn describe(&self) -> String {
        format!("none ({})", self.reason)
    }

    fn measured(&self) -> bool {
        false
    }

    fn read(&mut self) -> Result<Reading> {
        Err(power_err("none", &self.reason))
    }
}
