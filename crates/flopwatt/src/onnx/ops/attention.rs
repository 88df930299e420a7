//! ONNX `Attention` (opset 23): the fused attention op when there is no mask, no past KV and
//! no softcap; otherwise composed from matmul, softmax and elementwise ops.

use super::node_err;
use crate::error::Result;
use crate::graph::{Graph, ValueId};
use crate::onnx::to_graph::LowerCtx;
use crate::onnx::Node;
use crate::ops::elementwise::BinaryOp;
use crate::ops::gather::PadMode;
use crate::ops::Activation;
use crate::tensor::DType;

/// What the composed path needs besides q, k and v ([B, H, S, D] after any KV cache).
struct Scores {
    qs: Vec<usize>,
    ks: Vec<usize>,
    vs: Vec<usize>,
    causal: bool,
    scale: Option<f32>,
    softcap: f32,
    /// Length of the KV cache that precedes this step's keys.
    past: usize,
    /// Which scores go out as the optional fourth output, if it is wanted.
    qk_mode: Option<i64>,
}

pub(crate) fn attention(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let err = node_err(n, cx.opset);
    let mut q = cx.input(n, 0)?;
    let mut k = cx.input(n, 1)?;
    let mut v = cx.input(n, 2)?;
    if n.input(4).is_some() != n.input(5).is_some() {
        return Err(err("past_key and past_value come together".into()));
    }
    let wants_qk = n.outputs.get(3).is_some_and(|o| !o.is_empty());
    let qk_mode = n.attr_int("qk_matmul_output_mode").unwrap_or(0);
    if !(0..=3).contains(&qk_mode) {
        return Err(err(format!("qk_matmul_output_mode {qk_mode} is not 0..3")));
    }
    let g = &mut cx.g;
    let ranks = [g.shape(q).len(), g.shape(k).len(), g.shape(v).len()];
    if ranks != [3, 3, 3] && ranks != [4, 4, 4] {
        return Err(err(format!(
            "q, k and v must all be 3-D or all 4-D, got ranks {ranks:?}"
        )));
    }
    let three = ranks[0] == 3;
    let batch = g.shape(q)[0];
    if three {
        [q, k, v] = split_heads(g, n, cx.opset, [q, k, v])?;
    }
    // A KV cache: the past keys and values ([B, Hkv, past, D]) come before this step's, and
    // the concatenations are the present_key / present_value outputs.
    let mut past = 0;
    if n.input(4).is_some() {
        let pk = cx.input(n, 4)?;
        past = cx.g.shape(pk).get(2).copied().unwrap_or(0);
        let pv = cx.input(n, 5)?;
        k = cx.g.concat(&[pk, k], 2)?;
        v = cx.g.concat(&[pv, v], 2)?;
    }
    let g = &cx.g;
    let (qs, ks, vs) = (
        g.shape(q).to_vec(),
        g.shape(k).to_vec(),
        g.shape(v).to_vec(),
    );
    if qs.len() != 4 || ks.len() != 4 || vs.len() != 4 || qs[3] != ks[3] || ks[2] != vs[2] {
        return Err(err(format!(
            "q {qs:?}, k {ks:?}, v {vs:?} do not form attention"
        )));
    }
    if ks[1] == 0 || !qs[1].is_multiple_of(ks[1]) || vs[1] != ks[1] {
        return Err(err(format!(
            "q heads {} are not a multiple of kv heads {}",
            qs[1], ks[1]
        )));
    }
    let causal = n.attr_int("is_causal").unwrap_or(0) != 0;
    let scale = n.attr_float("scale");
    let softcap = n.attr_float("softcap").unwrap_or(0.0);
    // The fused kernel's causal mask is top-left aligned; with a KV cache ONNX shifts it by
    // the past length, which the composed path applies.
    let fused_ok = !(n.input(3).is_some()
        || n.input(6).is_some()
        || wants_qk
        || (causal && past > 0)
        || softcap != 0.0
        || vs[3] != qs[3]);
    let (y, qk_out) = if fused_ok {
        (cx.g.attention(q, k, v, causal, scale)?, None)
    } else {
        let s = Scores {
            qs,
            ks,
            vs,
            causal,
            scale,
            softcap,
            past,
            qk_mode: wants_qk.then_some(qk_mode),
        };
        composed(cx, n, &s, [q, k, v])?
    };
    let y = if three {
        let s = cx.g.shape(y).to_vec();
        let t = cx.g.transpose(y, 1, 2)?;
        cx.g.reshape(t, &[batch, s[2], s[1] * s[3]])?
    } else {
        y
    };
    let mut outs = vec![y, k, v];
    outs.extend(qk_out);
    Ok(outs)
}

/// 3-D inputs [B, S, H * D] as [B, H, S, D], with q_num_heads and kv_num_heads.
fn split_heads(g: &mut Graph, n: &Node, opset: i64, qkv: [ValueId; 3]) -> Result<[ValueId; 3]> {
    let err = node_err(n, opset);
    let hq = n.attr_int("q_num_heads").unwrap_or(0) as usize;
    let hk = n.attr_int("kv_num_heads").unwrap_or(0) as usize;
    if hq == 0 || hk == 0 {
        return Err(err("3-D inputs need q_num_heads and kv_num_heads".into()));
    }
    let mut split = |t: ValueId, h: usize| -> Result<ValueId> {
        let s = g.shape(t).to_vec();
        if !s[2].is_multiple_of(h) {
            return Err(err(format!(
                "hidden size {} is not a multiple of {h} heads",
                s[2]
            )));
        }
        let r = g.reshape(t, &[s[0], s[1], h, s[2] / h])?;
        g.transpose(r, 1, 2)
    };
    Ok([split(qkv[0], hq)?, split(qkv[1], hk)?, split(qkv[2], hk)?])
}

/// Attention from matmul, softmax and elementwise ops, with grouped heads: q [B, Hkv, G * Sq,
/// D] against k [B, Hkv, Sk, D]. Returns the output and the requested scores, if any.
fn composed(
    cx: &mut LowerCtx<'_>,
    n: &Node,
    a: &Scores,
    [q, k, v]: [ValueId; 3],
) -> Result<(ValueId, Option<ValueId>)> {
    let (b, h, sq, d) = (a.qs[0], a.qs[1], a.qs[2], a.qs[3]);
    let (hk, sk, dv) = (a.ks[1], a.ks[2], a.vs[3]);
    let grp = h / hk;
    let g = &mut cx.g;
    let q5 = g.reshape(q, &[b, hk, grp * sq, d])?;
    let kt = g.transpose(k, 2, 3)?;
    let s = g.matmul(q5, kt)?;
    let s = g.scale(s, a.scale.unwrap_or(1.0 / (d as f32).sqrt()))?;
    let mut s = g.reshape(s, &[b, hk, grp, sq, sk])?;
    if a.softcap > 0.0 {
        let t = g.scale(s, 1.0 / a.softcap)?;
        let t = g.activation(t, Activation::Tanh)?;
        s = g.scale(t, a.softcap)?;
    }
    let s_cap = s;
    if n.input(3).is_some() {
        let m = cx.input(n, 3)?;
        let m = grouped_mask(cx, n, m, [b, h, sq, sk], [b, hk, grp, sq, sk])?;
        s = cx.g.add(s, m)?;
    }
    if n.input(6).is_some() {
        // Keys at or after each batch row's valid length are masked out.
        let lens = cx.input(n, 6)?;
        let g = &mut cx.g;
        let lens = g.cast(lens, DType::F32)?;
        let lens = g.reshape(lens, &[b, 1, 1, 1, 1])?;
        let pos: Vec<f32> = (0..sk).map(|j| j as f32).collect();
        let pos = g.constant(&format!("{}/positions", n.name), pos, &[sk])?;
        let keep = g.binary(pos, lens, BinaryOp::Lt)?;
        let zero = g.scalar(0.0);
        let ninf = g.scalar(f32::NEG_INFINITY);
        let pm = g.where_(keep, zero, ninf)?;
        s = g.add(s, pm)?;
    }
    let g = &mut cx.g;
    if a.causal {
        let data: Vec<f32> = (0..sq * sk)
            .map(|e| {
                if e % sk <= e / sk + a.past {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect();
        let cm = g.constant(&format!("{}/causal", n.name), data, &[sq, sk])?;
        s = g.add(s, cm)?;
    }
    let p5 = g.softmax(s, -1)?;
    let qk_out = match a.qk_mode {
        // Mode 0 and 1: the (softcapped) scaled scores; 2: with the mask; 3: softmax.
        Some(mode) => {
            let pick = match mode {
                0 | 1 => s_cap,
                2 => s,
                _ => p5,
            };
            Some(g.reshape(pick, &[b, h, sq, sk])?)
        }
        None => None,
    };
    let p = g.reshape(p5, &[b, hk, grp * sq, sk])?;
    let o = g.matmul(p, v)?;
    Ok((g.reshape(o, &[b, h, sq, dv])?, qk_out))
}

/// The attention mask (broadcasting to `full`, [B, H, Sq, Sk]) as an additive term of the
/// `grouped` shape [B, Hkv, G, Sq, Sk]: a boolean mask keeps where
/// true; a float mask is added as is.
fn grouped_mask(
    cx: &mut LowerCtx<'_>,
    n: &Node,
    m: ValueId,
    full: [usize; 4],
    grouped: [usize; 5],
) -> Result<ValueId> {
    let opset = cx.opset;
    let sk = full[3];
    let g = &mut cx.g;
    let mut m = if g.dtype(m) == DType::I32 {
        let mf = g.cast(m, DType::F32)?;
        let zero = g.scalar(0.0);
        let ninf = g.scalar(f32::NEG_INFINITY);
        g.where_(mf, zero, ninf)?
    } else {
        m
    };
    // A mask shorter than the keys (a KV cache grown past it) masks the rest out.
    let mut ms = g.shape(m).to_vec();
    let r = ms.len();
    if r > 0 && ms[r - 1] < sk {
        let mut end = vec![0isize; r];
        end[r - 1] = (sk - ms[r - 1]) as isize;
        m = g.pad(m, &vec![0; r], &end, PadMode::Constant(f32::NEG_INFINITY))?;
        ms = g.shape(m).to_vec();
    }
    // The mask broadcasts to [B, H, Sq, Sk]; give it the grouped layout.
    let bshape = crate::tensor::broadcast_shapes(&ms, &full)
        .ok_or_else(|| n.error(opset, format!("mask {ms:?} does not broadcast to {full:?}")))?;
    let mb = g.broadcast_to(m, &bshape)?;
    g.reshape(mb, &grouped)
}
