//! Training end to end: the MLP example shortened (its loss falls), the CNN example's model
//! (its loss falls with Adam), and the step's dispatch and submit counts.
// Native only (sync API); the browser runs the gpu_test! binaries.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::optim::data::{
    cnn_classifier, mlp_regression, synthetic_images, synthetic_regression, DataLoader,
};
use flopwatt::optim::{Optimizer, Trainer};
use flopwatt::{CompileOptions, Tensor};

#[test]
fn mlp_loss_falls_and_one_submit_per_step() {
    let dev = device_or_skip!();
    let (batch, n) = (64, 256);
    let (x, y) = synthetic_regression(n, 10, 20, 10, 0.05, 7);
    let mut loader = DataLoader::new(x, y, 10, 10, batch, 11).unwrap();
    let m = mlp_regression(batch, 10, 20, 10, 3).unwrap();
    let opt = Optimizer::Sgd {
        lr: 0.01,
        momentum: 0.9,
        nesterov: false,
        weight_decay: 0.0,
    };
    let mut tr = Trainer::new(
        &dev,
        &m.graph,
        m.loss,
        &m.params,
        opt,
        CompileOptions::default(),
    )
    .unwrap();
    let mut epoch_loss = Vec::new();
    for _ in 0..12 {
        let mut s = 0.0;
        let batches = loader.epoch();
        for (bx, by) in &batches {
            let bx = Tensor::from_f32(&dev, bx, &[batch, 10]).unwrap();
            let by = Tensor::from_f32(&dev, by, &[batch, 10]).unwrap();
            s += tr.step_loss(&[&bx, &by]).unwrap();
        }
        epoch_loss.push(s / batches.len() as f32);
    }
    let (first, last) = (epoch_loss[0], *epoch_loss.last().unwrap());
    assert!(
        last < 0.5 * first,
        "loss did not fall enough: {epoch_loss:?}"
    );
    assert!(epoch_loss.iter().all(|l| l.is_finite()));
    assert_eq!(tr.steps(), 12 * 4);
    assert_eq!(tr.submits_per_step(), 1);
    // Forward + backward + 4 in-place updates, all in one command buffer.
    let exe = tr.executable().dispatch_count();
    assert_eq!(tr.dispatches_per_step(), exe + 4);
    println!("{}", tr.executable().explain());
    println!(
        "MLP batch {batch}: {} dispatches per step ({} forward+backward, 4 updates), 1 submit",
        tr.dispatches_per_step(),
        exe
    );
}

#[test]
fn cnn_loss_falls_with_adam() {
    let dev = device_or_skip!();
    let (batch, n, c, hw, classes) = (16, 64, 2, 8, 4);
    let (x, y) = synthetic_images(n, c, hw, classes, 5);
    let mut loader = DataLoader::new(x, y, c * hw * hw, 1, batch, 9).unwrap();
    let m = cnn_classifier(batch, c, hw, 6, 8, classes, 2).unwrap();
    let mut tr = Trainer::new(
        &dev,
        &m.graph,
        m.loss,
        &m.params,
        Optimizer::adam(0.01),
        CompileOptions::default(),
    )
    .unwrap();
    let mut epoch_loss = Vec::new();
    for _ in 0..8 {
        let mut s = 0.0;
        let batches = loader.epoch();
        for (bx, by) in &batches {
            let bx = Tensor::from_f32(&dev, bx, &[batch, c, hw, hw]).unwrap();
            let by = Tensor::from_f32(&dev, by, &[batch]).unwrap();
            s += tr.step_loss(&[&bx, &by]).unwrap();
        }
        epoch_loss.push(s / batches.len() as f32);
    }
    // Cross-entropy starts near ln(4) = 1.39.
    assert!(
        epoch_loss[0] > 0.8 && *epoch_loss.last().unwrap() < 0.6 * epoch_loss[0],
        "CNN loss did not fall: {epoch_loss:?}"
    );
}

/// Runs the `train_mlp` example itself, shortened (cargo builds examples before running
/// tests), and checks its summary line.
#[test]
fn train_mlp_example_prints_the_summary_line() {
    let _dev = device_or_skip!();
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir
        .join("examples")
        .join(format!("train_mlp{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        eprintln!(
            "SKIPPED: {} not built (run `cargo test --all-targets`)",
            bin.display()
        );
        return;
    }
    let out = std::process::Command::new(&bin)
        .args(["5", "0.01", "0.9"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    let fields: Vec<(&str, &str)> = last
        .split(' ')
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    let keys: Vec<&str> = fields.iter().map(|f| f.0).collect();
    assert_eq!(
        keys,
        ["epochs", "initial_loss", "final_loss", "seconds", "joules"],
        "{last}"
    );
    let initial: f64 = fields[1].1.parse().unwrap();
    let fin: f64 = fields[2].1.parse().unwrap();
    assert_eq!(fields[0].1, "5");
    assert!(fin < 0.5 * initial, "{last}");
    assert!(
        fields[4].1 == "n/a" || fields[4].1.parse::<f64>().is_ok(),
        "{last}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("epoch ")).count(),
        5
    );
}
