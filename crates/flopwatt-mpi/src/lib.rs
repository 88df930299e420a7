//! flopwatt over MPI: one process (rank) per GPU, launched by `mpirun` or Slurm's `srun`.
//!
//! With the `mpi` feature, `MpiWorld` implements the runtime's
//! [`flopwatt::dist::Communicator`] over `MPI_COMM_WORLD` (rsmpi over the system's MPI), so a
//! [`flopwatt::optim::Trainer`] given it trains data-parallel and the CLI's fleet bench
//! gathers every rank's results. Without the feature the crate holds only [`world`], which
//! answers with the one-process communicator or says how to build with MPI.

use std::sync::Arc;

use flopwatt::dist::{launched_by_mpi, Communicator, SingleProcess};
use flopwatt::{Error, Result};

#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
mod world;
#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
pub use world::MpiWorld;

/// Seconds a collective may wait for the other ranks before the job is aborted, unless
/// `FLOPWATT_MPI_TIMEOUT` says otherwise: long enough for a rank on a slower GPU to finish a
/// benchmark workload, short enough that a lost rank ends the job the same hour.
pub const DEFAULT_TIMEOUT_SECS: f64 = 600.0;

/// The collective timeout from `FLOPWATT_MPI_TIMEOUT` (seconds), else [`DEFAULT_TIMEOUT_SECS`].
pub fn timeout_from_env() -> Result<std::time::Duration> {
    match std::env::var("FLOPWATT_MPI_TIMEOUT") {
        Err(_) => Ok(std::time::Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS)),
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => Ok(std::time::Duration::from_secs_f64(s)),
            _ => Err(Error::invalid(
                "mpi",
                format!("FLOPWATT_MPI_TIMEOUT=`{v}` is not a positive number of seconds"),
            )),
        },
    }
}

/// Whether this build can talk MPI (the `mpi` feature).
pub const AVAILABLE: bool = cfg!(all(feature = "mpi", not(target_arch = "wasm32")));

/// The communicator for this process: MPI's world when `use_mpi` is set or the process was
/// started by an MPI launcher (and this build has MPI), else the one-process communicator.
/// Asking for MPI in a build without it is an error saying how to build it; so is an MPI
/// launch of a build without it with more than one rank (each rank would train alone).
pub fn world(use_mpi: bool) -> Result<Arc<dyn Communicator>> {
    let launched = launched_by_mpi();
    if !(use_mpi || launched) {
        return Ok(Arc::new(SingleProcess));
    }
    #[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
    {
        Ok(Arc::new(MpiWorld::init(timeout_from_env()?)?))
    }
    #[cfg(not(all(feature = "mpi", not(target_arch = "wasm32"))))]
    {
        let ranks = std::env::var("OMPI_COMM_WORLD_SIZE")
            .or_else(|_| std::env::var("PMI_SIZE"))
            .or_else(|_| std::env::var("SLURM_NTASKS"))
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok());
        if !use_mpi && ranks.is_some_and(|n| n <= 1) {
            return Ok(Arc::new(SingleProcess));
        }
        Err(Error::invalid(
            "mpi",
            "this build has no MPI support: rebuild with `--features mpi` (needs an MPI \
             implementation and libclang, e.g. `apt-get install libopenmpi-dev libclang-dev`)",
        ))
    }
}
