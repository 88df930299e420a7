//! Ready-made graphs for benchmarks, examples and tests (pure data, seeded weights).

use super::{Graph, ValueId};
use crate::error::Result;
use crate::ops::Activation;
use crate::reference::random;
use crate::tensor::numel;

/// Seeded weights scaled by 1/sqrt(fan_in) so activations stay O(1) through the block.
fn weight(g: &mut Graph, name: &str, shape: &[usize], seed: u64) -> Result<ValueId> {
    let fan_in = shape[0] as f32;
    let data = random(numel(shape), seed)
        .into_iter()
        .map(|v| v / fan_in.sqrt())
        .collect();
    g.constant(name, data, shape)
}

/// `relu(x W + b)` with x [m, k] (input), W [k, n], b \[n\] (constants): the `mlp-epilogue`
/// workload. Returns the graph and seeded data for its one input.
pub fn mlp_epilogue(m: usize, k: usize, n: usize) -> Result<(Graph, Vec<Vec<f32>>)> {
    let mut g = Graph::new();
    let x = g.input("x", &[m, k])?;
    let w = weight(&mut g, "W", &[k, n], 1)?;
    let b = g.constant("b", random(n, 2), &[n])?;
    let y = g.matmul(x, w)?;
    let y = g.add(y, b)?;
    let y = g.activation(y, Activation::Relu)?;
    g.output(y)?;
    Ok((g, vec![random(m * k, 3)]))
}

/// A pre-LN transformer block on x [seq, d] (the `transformer-block` workload):
/// `x1 = x + Wo·attn(LN1(x))`, `y = x1 + W2·gelu(W1·LN2(x1) + b1) + b2`, attention with
/// `heads` heads written out as matmul -> scale -> softmax -> matmul (the attention fuser
/// recognises it). Returns the graph and seeded data for its one input.
pub fn transformer_block(
    d: usize,
    heads: usize,
    seq: usize,
    mlp_mult: usize,
) -> Result<(Graph, Vec<Vec<f32>>)> {
    let dh = d / heads;
    let mut g = Graph::new();
    let x = g.input("x", &[seq, d])?;
    let mut seed = 10;
    let mut w = |g: &mut Graph, name: &str, shape: &[usize]| {
        seed += 1;
        weight(g, name, shape, seed)
    };
    let ln1g = g.constant("ln1.gamma", vec![1.0; d], &[d])?;
    let ln1b = g.constant("ln1.beta", vec![0.0; d], &[d])?;
    let h = g.layer_norm(x, 1, Some(ln1g), Some(ln1b), 1e-5)?;
    let h = g.name(h, "ln1");
    let mut proj = |g: &mut Graph, name: &str| -> Result<ValueId> {
        let wm = w(g, &format!("W{name}"), &[d, d])?;
        let b = w(g, &format!("b{name}"), &[d])?;
        let p = g.matmul(h, wm)?;
        let p = g.add(p, b)?;
        let p = g.reshape(p, &[1, seq, heads, dh])?;
        g.transpose(p, 1, 2) // [1, heads, seq, dh]
    };
    let q = proj(&mut g, "q")?;
    let k = proj(&mut g, "k")?;
    let v = proj(&mut g, "v")?;
    let kt = g.transpose(k, 2, 3)?;
    let s = g.matmul(q, kt)?;
    let s = g.scale(s, 1.0 / (dh as f32).sqrt())?;
    let p = g.softmax(s, -1)?;
    let a = g.matmul(p, v)?; // [1, heads, seq, dh]
    let a = g.transpose(a, 1, 2)?;
    let a = g.reshape(a, &[seq, d])?;
    let wo = w(&mut g, "Wo", &[d, d])?;
    let bo = w(&mut g, "bo", &[d])?;
    let o = g.matmul(a, wo)?;
    let o = g.add(o, bo)?;
    let x1 = g.add(o, x)?;
    let x1 = g.name(x1, "residual1");
    let ln2g = g.constant("ln2.gamma", vec![1.0; d], &[d])?;
    let ln2b = g.constant("ln2.beta", vec![0.0; d], &[d])?;
    let h2 = g.layer_norm(x1, 1, Some(ln2g), Some(ln2b), 1e-5)?;
    let h2 = g.name(h2, "ln2");
    let w1 = w(&mut g, "W1", &[d, mlp_mult * d])?;
    let b1 = w(&mut g, "b1", &[mlp_mult * d])?;
    let m = g.matmul(h2, w1)?;
    let m = g.add(m, b1)?;
    let m = g.gelu(m)?;
    let w2 = w(&mut g, "W2", &[mlp_mult * d, d])?;
    let b2 = w(&mut g, "b2", &[d])?;
    let y = g.matmul(m, w2)?;
    let y = g.add(y, b2)?;
    let y = g.add(y, x1)?;
    let y = g.name(y, "block_out");
    g.output(y)?;
    Ok((g, vec![random(seq * d, 4)]))
}
