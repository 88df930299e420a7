//! The training examples (`train_mlp`, `train_cnn` of the runtime) data-parallel: one rank
//! per GPU, each training on its shard of every global batch, gradients averaged over the
//! ranks before each update, the loss printed being the mean over the ranks.
//!
//! ```text
//! cargo build --release -p flopwatt-mpi --features mpi --example train
//! mpirun -np 2 target/release/examples/train mlp --mpi      # or: srun -n 2 ...
//! ```
//!
//! `train <mlp|cnn> [--mpi] [epochs]`: `--mpi` is implied when an MPI launcher started the
//! process; without either it trains in one process. Every rank says which adapter it
//! opened; rank 0 prints the loss per epoch and one summary line
//! `ranks=N epochs=E initial_loss=X final_loss=Y seconds=S joules=J`, where joules is the sum
//! of every rank's device energy over the training loop (`n/a` unless every rank has a
//! sensor; an estimate is printed on its own line, never as `joules=`).

use std::time::Instant;

use flopwatt::dist::{agree, open_rank_device, Communicator};
use flopwatt::energy;
use flopwatt::optim::data::{
    cnn_classifier, mlp_regression, synthetic_images, synthetic_regression, DataLoader, Model,
};
use flopwatt::optim::{Optimizer, Trainer};
use flopwatt::{CompileOptions, DeviceOptions, Error, Tensor};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> flopwatt::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let use_mpi = args.iter().any(|a| a == "--mpi");
    let rest: Vec<&String> = args.iter().filter(|a| *a != "--mpi").collect();
    let which = rest.first().map(|s| s.as_str()).unwrap_or("mlp");
    let comm = flopwatt_mpi::world(use_mpi)?;
    let (rank, size) = (comm.rank(), comm.size());
    let (dev, line) = agree(
        comm.as_ref(),
        DeviceOptions::from_env().and_then(|o| open_rank_device(&o, rank)),
    )?;
    eprintln!("{line}");
    // Per-rank batch; the global batch of a step is `batch * ranks`.
    let (model, mut loader, x_shape, y_shape, opt, default_epochs) = match which {
        "mlp" => {
            let (x, y) = synthetic_regression(1024, 10, 20, 10, 0.05, 7);
            let b = 64 / size.clamp(1, 64);
            let opt = Optimizer::Sgd {
                lr: 0.01,
                momentum: 0.9,
                nesterov: false,
                weight_decay: 0.0,
            };
            (
                mlp_regression(b, 10, 20, 10, 3)?,
                DataLoader::new(x, y, 10, 10, b, 11)?,
                vec![b, 10],
                vec![b, 10],
                opt,
                20,
            )
        }
        "cnn" => {
            let (x, y) = synthetic_images(512, 3, 16, 8, 5);
            let b = 32 / size.clamp(1, 32);
            (
                cnn_classifier(b, 3, 16, 16, 32, 8, 2)?,
                DataLoader::new(x, y, 3 * 16 * 16, 1, b, 9)?,
                vec![b, 3, 16, 16],
                vec![b],
                Optimizer::adam(3e-3),
                5,
            )
        }
        other => {
            return Err(Error::invalid(
                "train",
                format!("unknown model `{other}`: use mlp or cnn"),
            ))
        }
    };
    let epochs: usize = rest
        .get(1)
        .map(|e| {
            e.parse()
                .map_err(|_| Error::invalid("train", format!("epochs `{e}` is not a whole number")))
        })
        .transpose()?
        .unwrap_or(default_epochs);
    let Model {
        graph,
        loss,
        params,
        ..
    } = model;
    let trainer = Trainer::new(&dev, &graph, loss, &params, opt, CompileOptions::default());
    let mut trainer = agree(comm.as_ref(), trainer)?.with_communicator(comm.clone())?;
    let mut source = energy::detect(dev.summary(), None);
    let e0 = source.read()?;
    let start = Instant::now();
    let (mut initial, mut last) = (f64::NAN, f64::NAN);
    for epoch in 1..=epochs {
        let batches = loader.epoch_shard(rank, size)?;
        let mut sum = 0.0f64;
        for (bx, by) in &batches {
            let bx = Tensor::from_f32(&dev, bx, &x_shape)?;
            let by = Tensor::from_f32(&dev, by, &y_shape)?;
            let l = trainer.step_loss(&[&bx, &by])? as f64;
            if initial.is_nan() {
                initial = l;
            }
            sum += l;
        }
        last = sum / batches.len() as f64;
        if rank == 0 {
            println!("epoch {epoch:>3}  loss {last:.6} (mean over {size} ranks)");
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let joules = source.read()?.joules - e0.joules;
    report(comm.as_ref(), source.as_ref(), joules, seconds)?
        .into_iter()
        .for_each(|line| println!("{line}"));
    if rank == 0 {
        println!(
            "per step: {} dispatches, {} submits",
            trainer.dispatches_per_step(),
            trainer.submits_per_step()
        );
    }
    let summary = energy_summary(comm.as_ref(), source.as_ref(), joules)?;
    if rank == 0 {
        println!(
            "ranks={size} epochs={epochs} initial_loss={initial:.6} final_loss={last:.6} seconds={seconds:.3} joules={summary}"
        );
    }
    Ok(())
}

/// Rank 0 gets one line per rank: its energy source and what it measured.
fn report(
    comm: &dyn Communicator,
    source: &dyn energy::PowerSource,
    joules: f64,
    seconds: f64,
) -> flopwatt::Result<Vec<String>> {
    let line = format!(
        "rank {}: {:.3} J over {seconds:.3} s ({}, {})",
        comm.rank(),
        joules,
        source.kind(),
        source.describe()
    );
    Ok(comm
        .gather_bytes(line.as_bytes(), 0)?
        .unwrap_or_default()
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect())
}

/// The job's joules: the sum over ranks when every rank measured them; `n/a` otherwise
/// (rank 0 then prints the estimated total, labelled, when every rank has a figure).
fn energy_summary(
    comm: &dyn Communicator,
    source: &dyn energy::PowerSource,
    joules: f64,
) -> flopwatt::Result<String> {
    let has = !matches!(source.kind(), energy::SourceKind::None);
    // [joules, ranks with a figure, ranks with a measurement]
    let mut v = [
        joules as f32,
        f32::from(u8::from(has)),
        f32::from(u8::from(source.measured())),
    ];
    comm.all_reduce_sum(&mut v)?;
    let n = comm.size() as f32;
    Ok(if v[2] == n {
        format!("{:.3}", v[0])
    } else {
        if v[1] == n && comm.rank() == 0 {
            println!(
                "energy: not every rank has a sensor; the estimated total would be ~{:.1} J (not a measurement)",
                v[0]
            );
        }
        "n/a".to_string()
    })
}
