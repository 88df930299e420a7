//! Power sources and energy measurement: the `flopwatt-energy` crate, plus the split of a
//! run's energy over its dispatches.

pub use flopwatt_energy::*;

use crate::profile::RunProfile;

/// Splits `joules_per_run` over the run's dispatches in proportion to their GPU time
/// (evenly where no dispatch has a time). The parts sum to `joules_per_run`.
pub fn attribute(joules_per_run: f64, profile: &RunProfile) -> Vec<f64> {
    let times: Vec<f64> = profile.dispatches.iter().map(|d| d.gpu_ns).collect();
    flopwatt_energy::attribute(joules_per_run, &times)
}
