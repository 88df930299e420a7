//! Data-parallel training over two MPI ranks against one process: a few steps of the MLP
//! (SGD with momentum) and of the CNN (Adam) on two ranks, each with its shard of the global
//! batch, must give the parameters and losses of one process training on the two shards
//! concatenated, and identical parameters on both ranks. Also: a rank that fails stops every
//! rank with an error naming it, and a collective that a rank never joins aborts the job.
//!
//! The test launches its own binary under `mpirun -np 2`, selecting the `rank_main` test
//! with `FLOPWATT_MPI_CHILD` saying what to do; rank 0 writes what it gathered to a file that
//! the parent then compares with a one-process run. Without `mpirun` on the PATH the tests
//! say so and pass, unless `FLOPWATT_REQUIRE_MPI` is set (CI sets it).
#![cfg(all(feature = "mpi", not(target_arch = "wasm32")))]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flopwatt::dist::{open_rank_device, Communicator, SingleProcess};
use flopwatt::optim::data::{
    cnn_classifier, mlp_regression, synthetic_images, synthetic_regression, DataLoader, Model,
};
use flopwatt::optim::{Optimizer, Trainer};
use flopwatt::{CompileOptions, Device, DeviceOptions, Tensor};
use flopwatt_mpi::MpiWorld;

const RANKS: usize = 2;
const STEPS: usize = 3;

/// A model, its data and optimiser, at a given per-process batch.
struct Case {
    model: Model,
    loader: DataLoader,
    x_shape: Vec<usize>,
    y_shape: Vec<usize>,
    opt: Optimizer,
}

/// `global` is the batch of one step over all ranks; each of `ranks` ranks gets a shard of
/// `global / ranks`. `init_seed` varies the initial weights (rank 0's must win).
fn case(name: &str, global: usize, ranks: usize, init_seed: u64) -> Case {
    let b = global / ranks;
    match name {
        "mlp" => {
            let (x, y) = synthetic_regression(64, 10, 20, 10, 0.05, 7);
            Case {
                model: mlp_regression(b, 10, 20, 10, init_seed).unwrap(),
                loader: DataLoader::new(x, y, 10, 10, b, 11).unwrap(),
                x_shape: vec![b, 10],
                y_shape: vec![b, 10],
                opt: Optimizer::Sgd {
                    lr: 0.05,
                    momentum: 0.9,
                    nesterov: false,
                    weight_decay: 0.0,
                },
            }
        }
        "cnn" => {
            let (x, y) = synthetic_images(32, 2, 8, 4, 5);
            Case {
                model: cnn_classifier(b, 2, 8, 6, 8, 4, init_seed).unwrap(),
                loader: DataLoader::new(x, y, 2 * 8 * 8, 1, b, 9).unwrap(),
                x_shape: vec![b, 2, 8, 8],
                y_shape: vec![b],
                opt: Optimizer::adam(0.01),
            }
        }
        other => panic!("unknown case {other}"),
    }
}

const GLOBAL_BATCH: usize = 8;

/// Trains `STEPS` steps of `name` as rank `comm.rank()` of `comm.size()`; returns the losses
/// the trainer reported and the final parameters.
fn train(
    name: &str,
    dev: &Device,
    comm: Arc<dyn Communicator>,
    init_seed: u64,
) -> flopwatt::Result<(Vec<f32>, Vec<Vec<f32>>)> {
    let (rank, size) = (comm.rank(), comm.size());
    let mut c = case(name, GLOBAL_BATCH, size, init_seed);
    let mut tr = Trainer::new(
        dev,
        &c.model.graph,
        c.model.loss,
        &c.model.params,
        c.opt,
        CompileOptions::default(),
    )?
    .with_communicator(comm)?;
    let batches = c.loader.epoch_shard(rank, size)?;
    let mut losses = Vec::new();
    for (bx, by) in batches.iter().take(STEPS) {
        let bx = Tensor::from_f32(dev, bx, &c.x_shape)?;
        let by = Tensor::from_f32(dev, by, &c.y_shape)?;
        losses.push(tr.step_loss(&[&bx, &by])?);
    }
    Ok((losses, tr.param_values()?))
}

fn encode(losses: &[f32], params: &[Vec<f32>]) -> Vec<u8> {
    let mut s = String::new();
    for row in std::iter::once(losses).chain(params.iter().map(Vec::as_slice)) {
        let line: Vec<String> = row.iter().map(|v| v.to_bits().to_string()).collect();
        s.push_str(&line.join(" "));
        s.push('\n');
    }
    s.into_bytes()
}

fn decode(bytes: &[u8]) -> Vec<Vec<f32>> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(|b| f32::from_bits(b.parse().unwrap()))
                .collect()
        })
        .collect()
}

/// The body of every rank when launched by the parent tests; a no-op otherwise.
#[test]
fn rank_main() {
    let Ok(what) = std::env::var("FLOPWATT_MPI_CHILD") else {
        return;
    };
    let world = Arc::new(MpiWorld::init(flopwatt_mpi::timeout_from_env().unwrap()).unwrap());
    let rank = world.rank();
    let (dev, line) = open_rank_device(&DeviceOptions::from_env().unwrap(), rank).unwrap();
    eprintln!("{line}");
    match what.as_str() {
        "mlp" | "cnn" => {
            // Rank 1 starts from other weights: the broadcast from rank 0 must replace them.
            let (losses, params) = train(&what, &dev, world.clone(), 3 + rank as u64).unwrap();
            let all = world.gather_bytes(&encode(&losses, &params), 0).unwrap();
            if let Some(all) = all {
                let out = std::env::var("FLOPWATT_MPI_OUT").unwrap();
                std::fs::write(out, all.concat()).unwrap();
            }
        }
        "fail" => {
            // Rank 1 feeds a batch of the wrong size: its step fails, every rank must stop.
            let c = case("mlp", GLOBAL_BATCH, RANKS, 3);
            let mut tr = Trainer::new(
                &dev,
                &c.model.graph,
                c.model.loss,
                &c.model.params,
                c.opt,
                CompileOptions::default(),
            )
            .unwrap()
            .with_communicator(world.clone())
            .unwrap();
            let rows = if rank == 1 { 3 } else { GLOBAL_BATCH / RANKS };
            let bx = Tensor::from_f32(&dev, &vec![0.5; rows * 10], &[rows, 10]).unwrap();
            let by = Tensor::from_f32(&dev, &vec![0.5; rows * 10], &[rows, 10]).unwrap();
            match tr.step_loss(&[&bx, &by]) {
                Ok(_) => println!("rank {rank}: step succeeded"),
                Err(e) => {
                    println!("rank {rank} error: {e}");
                    std::process::exit(1);
                }
            }
        }
        "hang" => {
            // Rank 1 never joins the barrier: rank 0 must abort the job after the timeout.
            if rank == 1 {
                std::thread::sleep(Duration::from_secs(60));
            }
            world.barrier().unwrap();
        }
        other => panic!("unknown FLOPWATT_MPI_CHILD {other}"),
    }
}

fn mpirun() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("mpirun"))
        .find(|p| p.is_file())
}

/// Runs this test binary's `rank_main` on `RANKS` ranks; returns (success, stdout + stderr),
/// or `None` when mpirun is missing and not required.
fn launch(child: &str, out: &Path, timeout_secs: &str) -> Option<(bool, String)> {
    let Some(mpirun) = mpirun() else {
        assert!(
            std::env::var_os("FLOPWATT_REQUIRE_MPI").is_none(),
            "FLOPWATT_REQUIRE_MPI is set but mpirun is not on the PATH"
        );
        eprintln!("SKIPPED: no mpirun on the PATH (apt-get install openmpi-bin)");
        return None;
    };
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(mpirun);
    cmd.args(["-np", &RANKS.to_string(), "--oversubscribe"])
        .arg(&exe)
        .args(["--exact", "rank_main", "--nocapture", "--test-threads=1"])
        .env("FLOPWATT_MPI_CHILD", child)
        .env("FLOPWATT_MPI_OUT", out)
        .env("FLOPWATT_MPI_TIMEOUT", timeout_secs)
        // Containers and CI run as root; Open MPI refuses that unless told twice.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = cmd.spawn().expect("start mpirun");
    // The test itself must not hang either: the job gets a generous bound, then is killed.
    let start = Instant::now();
    while proc.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(300) {
            proc.kill().unwrap();
            panic!("mpirun {child} did not finish within 300 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = proc.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    Some((o.status.success(), text))
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("flopwatt-mpi-{}-{name}", std::process::id()))
}

fn close(a: f32, b: f32) -> bool {
    // f32 sums in another order (two half-batch means, then their mean): rounding only.
    (a - b).abs() <= 1e-5 + 1e-4 * b.abs()
}

fn data_parallel_equals_concatenated(name: &str) {
    let out = tmp(name);
    let Some((ok, text)) = launch(name, &out, "120") else {
        return;
    };
    assert!(ok, "mpirun {name} failed:\n{text}");
    eprintln!("{text}");
    let got = decode(&std::fs::read(&out).unwrap());
    let _ = std::fs::remove_file(&out);
    let dev = Device::new().expect("a device (lavapipe in CI)");
    let (losses, params) = train(name, &dev, Arc::new(SingleProcess), 3).unwrap();
    let rows = 1 + params.len();
    assert_eq!(got.len(), RANKS * rows, "rank 0 gathered every rank");
    for r in 0..RANKS {
        let g = &got[r * rows..(r + 1) * rows];
        assert_eq!(g[0].len(), STEPS);
        for (s, (a, b)) in g[0].iter().zip(&losses).enumerate() {
            assert!(
                close(*a, *b),
                "{name} rank {r} step {s}: loss {a} vs one process {b}"
            );
        }
        for (i, (pa, pb)) in g[1..].iter().zip(&params).enumerate() {
            assert_eq!(pa.len(), pb.len());
            for (j, (a, b)) in pa.iter().zip(pb).enumerate() {
                assert!(
                    close(*a, *b),
                    "{name} rank {r} parameter {i}[{j}]: {a} vs one process {b}"
                );
            }
        }
        // Every rank applied the same averaged update to the same broadcast weights.
        assert_eq!(
            g[1..],
            got[1..rows],
            "rank {r}'s parameters differ from rank 0's"
        );
    }
}

#[test]
fn mlp_on_two_ranks_equals_one_process_on_the_concatenated_batch() {
    data_parallel_equals_concatenated("mlp");
}

#[test]
fn cnn_on_two_ranks_equals_one_process_on_the_concatenated_batch() {
    data_parallel_equals_concatenated("cnn");
}

#[test]
fn a_failing_rank_stops_every_rank_with_its_number() {
    let Some((ok, text)) = launch("fail", &tmp("fail"), "120") else {
        return;
    };
    assert!(!ok, "the job must fail:\n{text}");
    assert!(
        text.contains("rank 1 of 2 failed: run: input `x` expects [4, 10] f32, got [3, 10]"),
        "rank 1 names itself:\n{text}"
    );
    assert!(
        text.contains("rank 1 of 2 failed (its own error is printed by it); rank 0 stops too"),
        "rank 0 names rank 1:\n{text}"
    );
}

#[test]
fn a_collective_a_rank_never_joins_aborts_after_the_timeout() {
    let start = Instant::now();
    let Some((ok, text)) = launch("hang", &tmp("hang"), "2") else {
        return;
    };
    assert!(!ok, "the job must fail:\n{text}");
    assert!(
        text.contains("rank 0 of 2: barrier did not complete within 2 s"),
        "{text}"
    );
    assert!(start.elapsed() < Duration::from_secs(50), "aborted late");
}
