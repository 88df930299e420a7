//! A small CNN trained with Adam on synthetic images: conv 3x3 -> ReLU -> conv 3x3 stride 2
//! -> ReLU -> global mean -> Linear, cross-entropy with class-index targets. Shows conv2d
//! backward (input and weight gradients) at work; prints the loss and accuracy per epoch, the
//! per-dispatch profile of one training step, and the same summary line as `train_mlp`.
//!
//! `cargo run --release --example train_cnn [epochs [batch]]`

use flopwatt::Compile;
use std::time::Instant;

use flopwatt::energy;
use flopwatt::exec::Recorder;
use flopwatt::optim::data::{cnn_classifier, synthetic_images, DataLoader};
use flopwatt::optim::{Optimizer, Trainer};
use flopwatt::{CompileOptions, Device, Tensor};

const SAMPLES: usize = 512;
const C: usize = 3;
const HW: usize = 16;
const CLASSES: usize = 8;

fn main() -> flopwatt::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let epochs = args.first().copied().unwrap_or(10);
    let batch = args.get(1).copied().unwrap_or(32);
    let dev = Device::new()?;
    let (x, y) = synthetic_images(SAMPLES, C, HW, CLASSES, 5);
    let mut loader = DataLoader::new(x, y, C * HW * HW, 1, batch, 9)?;
    let model = cnn_classifier(batch, C, HW, 16, 32, CLASSES, 2)?;
    let mut trainer = Trainer::new(
        &dev,
        &model.graph,
        model.loss,
        &model.params,
        Optimizer::adam(3e-3),
        CompileOptions::default(),
    )?;
    // Evaluation: loss and logits over the whole set with the trainer's parameters.
    let full = cnn_classifier(SAMPLES, C, HW, 16, 32, CLASSES, 2)?;
    let mut eg = full.graph.clone();
    eg.set_outputs(&[full.loss, full.prediction])?;
    let eval = eg.compile(&dev)?;
    let (ax, ay) = loader.all();
    let labels = ay.to_vec();
    let tx = Tensor::from_f32(&dev, ax, &[SAMPLES, C, HW, HW])?;
    let ty = Tensor::from_f32(&dev, ay, &[SAMPLES])?;
    let evaluate = |tr: &Trainer| -> flopwatt::Result<(f32, f64)> {
        let mut ins: Vec<&Tensor> = vec![&tx];
        ins.extend(tr.params());
        ins.push(&ty);
        let out = eval.run(&ins)?;
        let logits = out[1].to_f32_vec()?;
        let correct = logits
            .chunks(CLASSES)
            .zip(&labels)
            .filter(|(row, &l)| {
                let arg = (0..CLASSES)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(0);
                arg == l as usize
            })
            .count();
        Ok((out[0].to_f32_vec()?[0], correct as f64 / SAMPLES as f64))
    };
    let (initial, acc0) = evaluate(&trainer)?;
    println!("before: loss {initial:.4} accuracy {:.1}%", 100.0 * acc0);
    let mut source = energy::detect(dev.summary(), None);
    let e0 = source.read()?;
    let start = Instant::now();
    for epoch in 1..=epochs {
        let mut sum = 0.0f64;
        let batches = loader.epoch();
        for (bx, by) in &batches {
            let bx = Tensor::from_f32(&dev, bx, &[batch, C, HW, HW])?;
            let by = Tensor::from_f32(&dev, by, &[batch])?;
            sum += trainer.step_loss(&[&bx, &by])? as f64;
        }
        let (_, acc) = evaluate(&trainer)?;
        println!(
            "epoch {epoch:>3}  loss {:.4}  accuracy {:.1}%",
            sum / batches.len() as f64,
            100.0 * acc
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    let e1 = source.read()?;
    let (final_loss, acc) = evaluate(&trainer)?;
    // One more step, timed per dispatch.
    let batches = loader.epoch();
    let (bx, by) = &batches[0];
    let bx = Tensor::from_f32(&dev, bx, &[batch, C, HW, HW])?;
    let by = Tensor::from_f32(&dev, by, &[batch])?;
    let mut rec = Recorder::new(&dev);
    trainer.encode_step(&mut rec, &[&bx, &by])?;
    if let Some(p) = rec.submit(true)? {
        println!("{}", p.table());
    }
    println!(
        "per step: {} dispatches, {} submit (batch {batch}); accuracy {:.1}%; energy source: {}",
        trainer.dispatches_per_step(),
        trainer.submits_per_step(),
        100.0 * acc,
        source.describe()
    );
    let joules = if source.measured() {
        format!("{:.3}", e1.joules - e0.joules)
    } else {
        "n/a".to_string()
    };
    println!(
        "epochs={epochs} initial_loss={initial:.6} final_loss={final_loss:.6} seconds={seconds:.3} joules={joules}"
    );
    Ok(())
}
