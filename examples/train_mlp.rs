//! The classic example: Linear(10, 20) -> ReLU -> Linear(20, 10), MSE loss, SGD with learning
//! rate 0.01, 100 epochs of shuffled batches of 64, on synthetic regression data (a fixed random
//! target network plus noise). Parameters, gradients and optimiser state stay on the device;
//! one training step is one submit.
//!
//! `cargo run --release --example train_mlp [epochs [lr]]`
//!
//! Prints the mean training loss per epoch, then exactly one line
//! `epochs=N initial_loss=X final_loss=Y seconds=S joules=J`, where the losses are the MSE
//! over the whole data set before and after training, seconds is the training loop's wall
//! time, and joules is measured by the adapter's power sensor over that loop, or `n/a` when
//! there is none (a TDP-table estimate is printed on its own line, never as `joules=`).

use std::time::Instant;

use flopwatt::energy;
use flopwatt::optim::data::{mlp_regression, synthetic_regression, DataLoader};
use flopwatt::optim::{Optimizer, Trainer};
use flopwatt::{CompileOptions, Device, Tensor};

const SAMPLES: usize = 1024;
const BATCH: usize = 64;
const D_IN: usize = 10;
const HIDDEN: usize = 20;
const D_OUT: usize = 10;

fn main() -> flopwatt::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let epochs: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100);
    let lr: f32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0.01);
    let dev = Device::new()?;
    let (x, y) = synthetic_regression(SAMPLES, D_IN, 32, D_OUT, 0.05, 7);
    let mut loader = DataLoader::new(x, y, D_IN, D_OUT, BATCH, 11)?;
    let model = mlp_regression(BATCH, D_IN, HIDDEN, D_OUT, 3)?;
    let mut trainer = Trainer::new(
        &dev,
        &model.graph,
        model.loss,
        &model.params,
        Optimizer::sgd(lr),
        CompileOptions::default(),
    )?;
    // Whole-data-set loss with the trainer's current parameters (no upload of the weights).
    let full = mlp_regression(SAMPLES, D_IN, HIDDEN, D_OUT, 3)?;
    let eval = full.graph.compile(&dev)?;
    let (ax, ay) = loader.all();
    let tx = Tensor::from_f32(&dev, ax, &[SAMPLES, D_IN])?;
    let ty = Tensor::from_f32(&dev, ay, &[SAMPLES, D_OUT])?;
    let full_loss = |tr: &Trainer| -> flopwatt::Result<f32> {
        let p = tr.params();
        let out = eval.run(&[&tx, &p[0], &p[1], &p[2], &p[3], &ty])?;
        Ok(out[0].to_f32_vec()?[0])
    };
    let initial = full_loss(&trainer)?;
    let mut source = energy::detect(dev.summary(), None);
    let e0 = source.read()?;
    let start = Instant::now();
    for epoch in 1..=epochs {
        let mut sum = 0.0f64;
        let batches = loader.epoch();
        for (bx, by) in &batches {
            let bx = Tensor::from_f32(&dev, bx, &[BATCH, D_IN])?;
            let by = Tensor::from_f32(&dev, by, &[BATCH, D_OUT])?;
            sum += trainer.step_loss(&[&bx, &by])? as f64;
        }
        println!("epoch {epoch:>3}  loss {:.6}", sum / batches.len() as f64);
    }
    let seconds = start.elapsed().as_secs_f64();
    let e1 = source.read()?;
    let final_loss = full_loss(&trainer)?;
    println!(
        "per step: {} dispatches, {} submit (batch {BATCH}); energy source: {}",
        trainer.dispatches_per_step(),
        trainer.submits_per_step(),
        source.describe()
    );
    let joules = if source.measured() {
        format!("{:.3}", e1.joules - e0.joules)
    } else {
        if matches!(
            source.kind(),
            energy::SourceKind::Estimate | energy::SourceKind::Fixed
        ) {
            println!(
                "energy: no sensor; the {} figure would be ~{:.1} J (not a measurement)",
                source.kind(),
                e1.joules - e0.joules
            );
        }
        "n/a".to_string()
    };
    println!(
        "epochs={epochs} initial_loss={initial:.6} final_loss={final_loss:.6} seconds={seconds:.3} joules={joules}"
    );
    Ok(())
}
