//! Synthetic data and a batching, shuffling loader for the training examples, tests and
//! bench workloads, plus the small models they train. Host-side and seeded: the same seed
//! gives the same data, batches and initial weights.

use crate::error::{Error, Result};
use crate::graph::{Conv2dAttrs, Graph, ValueId};

use crate::autodiff::{self, Reduction, Target};

/// Row-major samples and targets, split into shuffled mini-batches.
pub struct DataLoader {
    x: Vec<f32>,
    y: Vec<f32>,
    x_row: usize,
    y_row: usize,
    batch: usize,
    order: Vec<usize>,
    rng: fastrand::Rng,
}

impl DataLoader {
    /// `x` holds `n` samples of `x_row` values, `y` `n` targets of `y_row` values.
    pub fn new(
        x: Vec<f32>,
        y: Vec<f32>,
        x_row: usize,
        y_row: usize,
        batch: usize,
        seed: u64,
    ) -> Result<Self> {
        let n = x.len().checked_div(x_row).unwrap_or(0);
        if batch == 0 || x_row == 0 || x.len() != n * x_row || y.len() != n * y_row || n < batch {
            return Err(Error::invalid(
                "data_loader",
                format!(
                    "{} x values of {x_row} per sample and {} y values of {y_row} per sample do not make >= {batch} samples",
                    x.len(),
                    y.len()
                ),
            ));
        }
        Ok(DataLoader {
            x,
            y,
            x_row,
            y_row,
            batch,
            order: (0..n).collect(),
            rng: fastrand::Rng::with_seed(seed),
        })
    }

    /// Samples.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether there are no samples (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Full batches per epoch (a last partial batch is dropped: the compiled graph has a fixed
    /// batch size).
    pub fn batches(&self) -> usize {
        self.len() / self.batch
    }

    /// All samples and targets, in the original order.
    pub fn all(&self) -> (&[f32], &[f32]) {
        (&self.x, &self.y)
    }

    /// Shuffles and returns the epoch's batches as (x, y) row-major copies.
    pub fn epoch(&mut self) -> Vec<(Vec<f32>, Vec<f32>)> {
        self.rng.shuffle(&mut self.order);
        self.order
            .chunks_exact(self.batch)
            .map(|idx| self.rows(idx))
            .collect()
    }

    /// This rank's batches of the epoch in data-parallel training over `size` ranks: the
    /// samples are shuffled as [`DataLoader::epoch`] shuffles them (same seed, same order),
    /// each global batch of `batch * size` samples is cut into `size` consecutive shards of
    /// `batch`, and rank `rank` gets shard `rank`. So the ranks' shards of one step,
    /// concatenated in rank order, are the batch of a one-process loader of batch
    /// `batch * size`; a last partial global batch is dropped.
    pub fn epoch_shard(&mut self, rank: usize, size: usize) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
        let global = self.batch * size;
        if rank >= size || self.len() < global {
            return Err(Error::invalid(
                "data_loader",
                format!(
                    "rank {rank} of {size} ranks with shards of {}: needs rank < ranks and >= {global} samples, have {}",
                    self.batch,
                    self.len()
                ),
            ));
        }
        self.rng.shuffle(&mut self.order);
        Ok(self
            .order
            .chunks_exact(global)
            .map(|idx| self.rows(&idx[rank * self.batch..(rank + 1) * self.batch]))
            .collect())
    }

    /// Copies the samples and targets of `idx`, in that order.
    fn rows(&self, idx: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let mut bx = Vec::with_capacity(idx.len() * self.x_row);
        let mut by = Vec::with_capacity(idx.len() * self.y_row);
        for &i in idx {
            bx.extend_from_slice(&self.x[i * self.x_row..(i + 1) * self.x_row]);
            by.extend_from_slice(&self.y[i * self.y_row..(i + 1) * self.y_row]);
        }
        (bx, by)
    }
}

/// PyTorch's default `Linear` initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
pub fn linear_init(fan_in: usize, n: usize, rng: &mut fastrand::Rng) -> Vec<f32> {
    let b = 1.0 / (fan_in as f32).sqrt();
    (0..n).map(|_| (rng.f32() * 2.0 - 1.0) * b).collect()
}

/// A standard-normal sample (Box-Muller).
pub fn normal(rng: &mut fastrand::Rng) -> f32 {
    let u1 = rng.f64().max(1e-300);
    let u2 = rng.f64();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Regression data from a fixed random target network y = W2 relu(W1 x + b1) + b2 + noise,
/// with x ~ N(0, 1); returns (x [n, d_in], y [n, d_out]).
pub fn synthetic_regression(
    n: usize,
    d_in: usize,
    hidden: usize,
    d_out: usize,
    noise: f32,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    // A teacher with unit-variance-preserving weights, so targets are O(1).
    let w1: Vec<f32> = (0..d_in * hidden)
        .map(|_| normal(&mut rng) * (2.0 / d_in as f32).sqrt())
        .collect();
    let b1: Vec<f32> = (0..hidden).map(|_| 0.1 * normal(&mut rng)).collect();
    let w2: Vec<f32> = (0..hidden * d_out)
        .map(|_| normal(&mut rng) * (1.0 / hidden as f32).sqrt())
        .collect();
    let b2: Vec<f32> = (0..d_out).map(|_| 0.1 * normal(&mut rng)).collect();
    let x: Vec<f32> = (0..n * d_in).map(|_| normal(&mut rng)).collect();
    let mut y = vec![0.0f32; n * d_out];
    for i in 0..n {
        let h: Vec<f32> = (0..hidden)
            .map(|j| {
                let s: f32 = b1[j]
                    + (0..d_in)
                        .map(|k| x[i * d_in + k] * w1[k * hidden + j])
                        .sum::<f32>();
                s.max(0.0)
            })
            .collect();
        for o in 0..d_out {
            let s: f32 = b2[o] + (0..hidden).map(|j| h[j] * w2[j * d_out + o]).sum::<f32>();
            y[i * d_out + o] = s + noise * normal(&mut rng);
        }
    }
    (x, y)
}

/// A model graph ready for [`super::Trainer`]: the scalar loss, the parameter inputs with
/// initial values, and the batch inputs in declaration order.
#[derive(Clone, Debug)]
pub struct Model {
    /// The forward graph with the loss marked as output 0.
    pub graph: Graph,
    /// The loss (shape []).
    pub loss: ValueId,
    /// The model's prediction (logits or regression output).
    pub prediction: ValueId,
    /// Parameters and their initial values.
    pub params: Vec<(ValueId, Vec<f32>)>,
}

/// Linear(d_in, hidden) -> ReLU -> Linear(hidden, d_out) with an MSE loss (mean), batch
/// `batch`; inputs x [batch, d_in], then the parameters, then y [batch, d_out].
pub fn mlp_regression(
    batch: usize,
    d_in: usize,
    hidden: usize,
    d_out: usize,
    seed: u64,
) -> Result<Model> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut g = Graph::new();
    let x = g.input("x", &[batch, d_in])?;
    let w1 = g.input("w1", &[d_in, hidden])?;
    let b1 = g.input("b1", &[hidden])?;
    let w2 = g.input("w2", &[hidden, d_out])?;
    let b2 = g.input("b2", &[d_out])?;
    let y = g.input("y", &[batch, d_out])?;
    let h = g.matmul(x, w1)?;
    let h = g.add(h, b1)?;
    let h = g.relu(h)?;
    let p = g.matmul(h, w2)?;
    let p = g.add(p, b2)?;
    let loss = autodiff::mse(&mut g, p, y, Reduction::Mean)?;
    g.output(loss)?;
    let params = vec![
        (w1, linear_init(d_in, d_in * hidden, &mut rng)),
        (b1, linear_init(d_in, hidden, &mut rng)),
        (w2, linear_init(hidden, hidden * d_out, &mut rng)),
        (b2, linear_init(hidden, d_out, &mut rng)),
    ];
    Ok(Model {
        graph: g,
        loss,
        prediction: p,
        params,
    })
}

/// Conv(c_in -> c1, 3x3, pad 1) -> ReLU -> Conv(c1 -> c2, 3x3, stride 2, pad 1) -> ReLU ->
/// global mean over H, W -> Linear(c2, classes), cross-entropy with class-index targets
/// (mean); inputs x [batch, c_in, hw, hw], the parameters, then the class ids \[batch\] as f32.
pub fn cnn_classifier(
    batch: usize,
    c_in: usize,
    hw: usize,
    c1: usize,
    c2: usize,
    classes: usize,
    seed: u64,
) -> Result<Model> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut g = Graph::new();
    let x = g.input("x", &[batch, c_in, hw, hw])?;
    let k1 = g.input("conv1.w", &[c1, c_in, 3, 3])?;
    let b1 = g.input("conv1.b", &[c1])?;
    let k2 = g.input("conv2.w", &[c2, c1, 3, 3])?;
    let b2 = g.input("conv2.b", &[c2])?;
    let w = g.input("fc.w", &[c2, classes])?;
    let b = g.input("fc.b", &[classes])?;
    let t = g.input("labels", &[batch])?;
    let pad1 = Conv2dAttrs {
        padding: [1; 4],
        ..Default::default()
    };
    let h = g.conv2d(x, k1, Some(b1), pad1)?;
    let h = g.relu(h)?;
    let h = g.conv2d(
        h,
        k2,
        Some(b2),
        Conv2dAttrs {
            stride: [2, 2],
            ..pad1
        },
    )?;
    let h = g.relu(h)?;
    let f = g.reduce(h, crate::graph::ReduceKind::Mean, Some(&[2, 3]), false)?;
    let logits = g.matmul(f, w)?;
    let logits = g.add(logits, b)?;
    let loss =
        autodiff::cross_entropy_with_logits(&mut g, logits, Target::Classes(t), Reduction::Mean)?;
    g.output(loss)?;
    let params = vec![
        (k1, linear_init(c_in * 9, c1 * c_in * 9, &mut rng)),
        (b1, linear_init(c_in * 9, c1, &mut rng)),
        (k2, linear_init(c1 * 9, c2 * c1 * 9, &mut rng)),
        (b2, linear_init(c1 * 9, c2, &mut rng)),
        (w, linear_init(c2, c2 * classes, &mut rng)),
        (b, linear_init(c2, classes, &mut rng)),
    ];
    Ok(Model {
        graph: g,
        loss,
        prediction: logits,
        params,
    })
}

/// Synthetic images for [`cnn_classifier`]: class k is a texture with random phase,
/// amplitude and noise (k % 4: horizontal stripes, vertical stripes, checkerboard, flat
/// bright; k / 4 flips the sign of odd channels), so that it survives global average pooling
/// and a small CNN can learn it; returns (x [n, c, hw, hw], labels \[n\] as f32).
pub fn synthetic_images(
    n: usize,
    c: usize,
    hw: usize,
    classes: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut x = Vec::with_capacity(n * c * hw * hw);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let k = rng.usize(0..classes);
        y.push(k as f32);
        let (py, px) = (rng.usize(0..2), rng.usize(0..2));
        let amp = 0.75 + 0.5 * rng.f32();
        for ch in 0..c {
            let sign = if (k / 4) % 2 == 1 && ch % 2 == 1 {
                -1.0
            } else {
                1.0
            };
            for r in 0..hw {
                for col in 0..hw {
                    let (ry, cx) = ((r + py) % 2, (col + px) % 2);
                    let v = match k % 4 {
                        0 => ry as f32 * 2.0 - 1.0,
                        1 => cx as f32 * 2.0 - 1.0,
                        2 => ((ry + cx) % 2) as f32 * 2.0 - 1.0,
                        _ => 0.5,
                    };
                    x.push(sign * amp * v + 0.5 * normal(&mut rng));
                }
            }
        }
    }
    (x, y)
}
