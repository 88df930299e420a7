//! Several processes, one device each: the [`Communicator`] that data-parallel training and
//! fleet benchmarks talk through, its one-process implementation, and the choice of adapter
//! from a process's local rank. The runtime knows no transport; MPI lives in `flopwatt-mpi`.

#[cfg(not(target_arch = "wasm32"))]
use crate::device::{enumerate_adapters, Device, DeviceOptions};
use crate::error::{Error, Result};

/// Collective operations among the processes (ranks) of one job. Every rank must make the
/// same calls in the same order; an implementation that cannot complete a call within its
/// stated timeout ends the whole job with a message rather than hang.
pub trait Communicator: Send + Sync {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Element-wise sum of `data` over all ranks, in place on every rank.
    fn all_reduce_sum(&self, data: &mut [f32]) -> Result<()>;
    /// Copies `root`'s `data` into every rank's `data` (same length everywhere).
    fn broadcast(&self, data: &mut [f32], root: usize) -> Result<()>;
    /// Copies `root`'s bytes to every rank (the length travels too).
    fn broadcast_bytes(&self, data: &mut Vec<u8>, root: usize) -> Result<()>;
    /// Returns once every rank has called it.
    fn barrier(&self) -> Result<()>;
    /// Every rank's bytes, in rank order, on `root` (`None` on the others).
    fn gather_bytes(&self, data: &[u8], root: usize) -> Result<Option<Vec<Vec<u8>>>>;
}

/// The job of one process: rank 0 of 1, every collective a copy or nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, _data: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn broadcast(&self, _data: &mut [f32], root: usize) -> Result<()> {
        check_root(root, 1)
    }
    fn broadcast_bytes(&self, _data: &mut Vec<u8>, root: usize) -> Result<()> {
        check_root(root, 1)
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    fn gather_bytes(&self, data: &[u8], root: usize) -> Result<Option<Vec<Vec<u8>>>> {
        check_root(root, 1)?;
        Ok(Some(vec![data.to_vec()]))
    }
}

/// An error unless `root` is a rank of a job of `size` ranks.
pub fn check_root(root: usize, size: usize) -> Result<()> {
    if root < size {
        Ok(())
    } else {
        Err(Error::invalid(
            "communicator",
            format!("root rank {root} does not exist in a job of {size} ranks"),
        ))
    }
}

/// Every rank says whether it failed; every rank learns which did (ascending).
pub fn failed_ranks(comm: &dyn Communicator, failed: bool) -> Result<Vec<usize>> {
    let mut flags = vec![0.0f32; comm.size()];
    flags[comm.rank()] = if failed { 1.0 } else { 0.0 };
    comm.all_reduce_sum(&mut flags)?;
    Ok(flags
        .iter()
        .enumerate()
        .filter(|(_, f)| **f > 0.5)
        .map(|(r, _)| r)
        .collect())
}

/// Makes a local result collective: if any rank's `local` is an error, every rank returns an
/// error naming the ranks that failed (the failed rank's own error text included on it), so
/// that no rank goes on to a collective the failed one will never join.
pub fn agree<T>(comm: &dyn Communicator, local: Result<T>) -> Result<T> {
    let failed = failed_ranks(comm, local.is_err())?;
    let (me, size) = (comm.rank(), comm.size());
    match local {
        Err(e) if size > 1 => Err(Error::invalid(
            "rank",
            format!("rank {me} of {size} failed: {e}"),
        )),
        Err(e) => Err(e),
        Ok(_) if !failed.is_empty() => Err(Error::invalid(
            "rank",
            format!(
                "rank {} of {size} failed (its own error is printed by it); rank {me} stops too",
                failed
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Ok(v) => Ok(v),
    }
}

/// Floats per all-reduce call in [`all_reduce_bucketed`]: many small tensors share one call,
/// and a huge model is not staged twice in one message (4 MiB).
pub const BUCKET_FLOATS: usize = 1 << 20;

/// [`Communicator::all_reduce_sum`] over `data` in calls of at most `bucket` floats.
pub fn all_reduce_bucketed(comm: &dyn Communicator, data: &mut [f32], bucket: usize) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    for chunk in data.chunks_mut(bucket.max(1)) {
        comm.all_reduce_sum(chunk)?;
    }
    Ok(())
}

/// This process's index among the ranks on its machine, as the launcher set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalRank {
    /// The local rank.
    pub index: usize,
    /// The environment variable it came from.
    pub variable: &'static str,
}

/// Launchers' local-rank variables, most specific first: Open MPI, Slurm, MPICH/Hydra.
pub const LOCAL_RANK_VARS: [&str; 3] = [
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "SLURM_LOCALID",
    "MPI_LOCALRANKID",
];

/// Variables that mark a process started by an MPI launcher (`mpirun`, `srun`, Hydra).
pub const LAUNCH_VARS: [&str; 4] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMIX_RANK",
    "PMI_RANK",
    "SLURM_STEP_ID",
];

/// The local rank from [`LOCAL_RANK_VARS`], if a launcher set one (an unparsable value is an
/// error, not rank 0).
pub fn local_rank_from_env() -> Result<Option<LocalRank>> {
    for variable in LOCAL_RANK_VARS {
        if let Ok(v) = std::env::var(variable) {
            let index = v.trim().parse::<usize>().map_err(|_| {
                Error::invalid(
                    "local_rank",
                    format!("{variable}=`{v}` is not a rank number; unset it or fix the launcher"),
                )
            })?;
            return Ok(Some(LocalRank { index, variable }));
        }
    }
    Ok(None)
}

/// Whether this process looks started by an MPI launcher ([`LAUNCH_VARS`]).
pub fn launched_by_mpi() -> bool {
    LAUNCH_VARS.iter().any(|v| std::env::var_os(v).is_some())
}

/// Opens the device for this rank: the adapter named by `WGPU_ADAPTER_NAME` when set (an
/// explicit choice wins), else the adapter at index `local rank % adapters visible`, so that
/// the ranks on one machine spread over its GPUs. Returns the device and a line saying which
/// adapter was chosen and why.
#[cfg(not(target_arch = "wasm32"))]
pub fn open_rank_device(opts: &DeviceOptions, rank: usize) -> Result<(Device, String)> {
    if let Some(name) = &opts.adapter_name {
        let dev = Device::with_options(opts)?;
        let line = format!(
            "rank {rank}: adapter {} ({}) chosen by WGPU_ADAPTER_NAME=`{name}`",
            dev.summary().name,
            dev.summary().backend
        );
        return Ok((dev, line));
    }
    let Some(local) = local_rank_from_env()? else {
        let dev = Device::with_options(opts)?;
        let line = format!(
            "rank {rank}: adapter {} ({}), the default (no local-rank variable set)",
            dev.summary().name,
            dev.summary().backend
        );
        return Ok((dev, line));
    };
    // The same GPU is often listed twice (Vulkan and GL): share out the adapters of the
    // preferred backend only, so two ranks never land on one GPU through two APIs.
    let adapters = enumerate_adapters(opts)?;
    let Some(first) = adapters.first() else {
        return Device::with_options(opts).map(|d| (d, String::new()));
    };
    let same: Vec<usize> = (0..adapters.len())
        .filter(|&i| adapters[i].backend == first.backend)
        .collect();
    let pick = local.index % same.len();
    let dev = Device::with_adapter_index(opts, same[pick])?;
    let line = format!(
        "rank {rank}: adapter {pick} of {} ({} backend), {}, from {}={}",
        same.len(),
        dev.summary().backend,
        dev.summary().name,
        local.variable,
        local.index
    );
    Ok((dev, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_process_collectives_are_identities() {
        let c = SingleProcess;
        let mut v = vec![1.0, 2.0];
        c.all_reduce_sum(&mut v).unwrap();
        all_reduce_bucketed(&c, &mut v, 1).unwrap();
        c.broadcast(&mut v, 0).unwrap();
        assert_eq!(v, [1.0, 2.0]);
        assert_eq!(
            c.gather_bytes(b"ab", 0).unwrap(),
            Some(vec![b"ab".to_vec()])
        );
        assert!(c.broadcast(&mut v, 1).is_err());
        assert_eq!(failed_ranks(&c, true).unwrap(), [0]);
        assert_eq!(agree(&c, Ok(3)).unwrap(), 3);
    }
}
