//! [`MpiWorld`]: the runtime's communicator over `MPI_COMM_WORLD`, every collective issued
//! non-blocking and polled against a timeout so that a lost rank ends the job, not hangs it.

use std::thread::ThreadId;
use std::time::{Duration, Instant};

use flopwatt::dist::{check_root, Communicator};
use flopwatt::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::{Threading, Universe};
use mpi::topology::Communicator as _;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;

/// `MPI_COMM_WORLD` of an initialised MPI; MPI is finalised when it is dropped.
///
/// MPI is initialised `FUNNELED`: only the thread that created the world may call it, which
/// each call checks (an error, not undefined behaviour, from any other thread).
pub struct MpiWorld {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    timeout: Duration,
    thread: ThreadId,
    // Dropped last: finalises MPI.
    _universe: Universe,
}

// SAFETY: the MPI handles are only used from `thread` (checked by `on_thread` before every
// MPI call), which is what the FUNNELED threading level allows.
unsafe impl Send for MpiWorld {}
// SAFETY: as for Send; no MPI call is made through a shared reference from another thread.
unsafe impl Sync for MpiWorld {}

impl std::fmt::Debug for MpiWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiWorld")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl MpiWorld {
    /// Initialises MPI (once per process) with a collective timeout.
    pub fn init(timeout: Duration) -> Result<Self> {
        let (universe, _level) =
            mpi::initialize_with_threading(Threading::Funneled).ok_or_else(|| {
                Error::invalid(
                    "mpi",
                    "MPI is already initialised in this process (create one MpiWorld and share it)",
                )
            })?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(MpiWorld {
            world,
            rank,
            size,
            timeout,
            thread: std::thread::current().id(),
            _universe: universe,
        })
    }

    /// The collective timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Ends every rank of the job with `code` after printing `message` (MPI_Abort).
    pub fn abort(&self, message: &str, code: i32) -> ! {
        eprintln!(
            "flopwatt-mpi: rank {} of {}: {message}",
            self.rank, self.size
        );
        self.world.abort(code)
    }

    fn on_thread(&self, what: &str) -> Result<()> {
        if std::thread::current().id() == self.thread {
            Ok(())
        } else {
            Err(Error::invalid(
                "mpi",
                format!("{what} called from a thread other than the one that initialised MPI"),
            ))
        }
    }

    /// Polls `req` until it completes; past the timeout, aborts the whole job.
    fn finish<'a, D: ?Sized, S: mpi::request::Scope<'a>>(
        &self,
        what: &str,
        mut req: mpi::request::Request<'a, D, S>,
    ) {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            match req.test() {
                Ok(_) => return,
                Err(r) => req = r,
            }
            if start.elapsed() > self.timeout {
                self.abort(
                    &format!(
                        "{what} did not complete within {:.0} s: another rank failed, hung or is \
                         slower than the timeout (FLOPWATT_MPI_TIMEOUT); aborting the job",
                        self.timeout.as_secs_f64()
                    ),
                    3,
                );
            }
            // Spin briefly (collectives of a step take microseconds), then stop burning a core.
            spins += 1;
            if spins < 1000 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    fn count(&self, n: usize) -> Result<Count> {
        Count::try_from(n).map_err(|_| {
            Error::invalid(
                "mpi",
                format!("{n} elements in one MPI call exceed its count type; split the data"),
            )
        })
    }
}

impl Communicator for MpiWorld {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_reduce_sum(&self, data: &mut [f32]) -> Result<()> {
        self.on_thread("all_reduce_sum")?;
        self.count(data.len())?;
        let send = data.to_vec();
        mpi::request::scope(|scope| {
            let req = self.world.immediate_all_reduce_into(
                scope,
                &send[..],
                &mut data[..],
                SystemOperation::sum(),
            );
            self.finish("all-reduce", req);
        });
        Ok(())
    }

    fn broadcast(&self, data: &mut [f32], root: usize) -> Result<()> {
        self.on_thread("broadcast")?;
        check_root(root, self.size)?;
        self.count(data.len())?;
        let proc = self.world.process_at_rank(root as i32);
        mpi::request::scope(|scope| {
            let req = proc.immediate_broadcast_into(scope, &mut data[..]);
            self.finish("broadcast", req);
        });
        Ok(())
    }

    fn broadcast_bytes(&self, data: &mut Vec<u8>, root: usize) -> Result<()> {
        self.on_thread("broadcast_bytes")?;
        check_root(root, self.size)?;
        let proc = self.world.process_at_rank(root as i32);
        let mut len = data.len() as u64;
        mpi::request::scope(|scope| {
            let req = proc.immediate_broadcast_into(scope, &mut len);
            self.finish("broadcast (length)", req);
        });
        data.resize(len as usize, 0);
        self.count(data.len())?;
        mpi::request::scope(|scope| {
            let req = proc.immediate_broadcast_into(scope, &mut data[..]);
            self.finish("broadcast", req);
        });
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        self.on_thread("barrier")?;
        let req = self.world.immediate_barrier();
        self.finish("barrier", req);
        Ok(())
    }

    fn gather_bytes(&self, data: &[u8], root: usize) -> Result<Option<Vec<Vec<u8>>>> {
        self.on_thread("gather_bytes")?;
        check_root(root, self.size)?;
        let proc = self.world.process_at_rank(root as i32);
        let len = self.count(data.len())?;
        if self.rank != root {
            mpi::request::scope(|scope| {
                let req = proc.immediate_gather_into(scope, &len);
                self.finish("gather (lengths)", req);
            });
            mpi::request::scope(|scope| {
                let req = proc.immediate_gather_varcount_into(scope, data);
                self.finish("gather", req);
            });
            return Ok(None);
        }
        let mut counts: Vec<Count> = vec![0; self.size];
        mpi::request::scope(|scope| {
            let req = proc.immediate_gather_into_root(scope, &len, &mut counts[..]);
            self.finish("gather (lengths)", req);
        });
        let displs: Vec<Count> = counts
            .iter()
            .scan(0, |at, &c| {
                let d = *at;
                *at += c;
                Some(d)
            })
            .collect();
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        self.count(total)?;
        let mut buf = vec![0u8; total];
        {
            let mut part = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            mpi::request::scope(|scope| {
                let req = proc.immediate_gather_varcount_into_root(scope, data, &mut part);
                self.finish("gather", req);
            });
        }
        Ok(Some(
            counts
                .iter()
                .zip(&displs)
                .map(|(&c, &d)| buf[d as usize..(d + c) as usize].to_vec())
                .collect(),
        ))
    }
}
