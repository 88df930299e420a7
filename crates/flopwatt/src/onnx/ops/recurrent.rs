//! `LSTM` and `GRU` unrolled over the sequence (its length is known once shapes are bound):
//! one matmul of the whole input sequence per direction, then per step a matmul of the
//! hidden state and the gate arithmetic as elementwise ops.
//!
//! Supported: `direction` forward, reverse and bidirectional; the default activations;
//! GRU's `linear_before_reset`; optional `B`, `initial_h`, `initial_c`; `sequence_lens`
//! absent or a constant with every sequence full; outputs `Y`, `Y_h` (and LSTM's `Y_c`).
//! Peepholes, `clip`, other activations, `input_forget` and `layout = 1` are node errors
//! naming the attribute.

use super::node_err;
use crate::error::Result;
use crate::graph::{Graph, ValueId};
use crate::onnx::to_graph::LowerCtx;
use crate::onnx::Node;
use crate::ops::Activation;

/// Which recurrent cell.
#[derive(Clone, Copy, PartialEq)]
enum Cell {
    Lstm,
    Gru,
}

impl Cell {
    /// Gates per cell: LSTM i, o, f, c; GRU z, r, h.
    fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// The default activations of one direction.
    fn default_activations(self) -> &'static [&'static str] {
        match self {
            Cell::Lstm => &["Sigmoid", "Tanh", "Tanh"],
            Cell::Gru => &["Sigmoid", "Tanh"],
        }
    }
}

pub(crate) fn lstm(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    recurrent(cx, n, Cell::Lstm)
}

pub(crate) fn gru(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    recurrent(cx, n, Cell::Gru)
}

/// Checks the attributes and optional inputs outside what is supported.
fn check_supported(
    cx: &LowerCtx<'_>,
    n: &Node,
    cell: Cell,
    dirs: usize,
    seq: usize,
    batch: usize,
) -> std::result::Result<(), String> {
    if n.attributes.contains_key("clip") {
        return Err("attribute `clip` is not supported".into());
    }
    if n.attr_int("layout").unwrap_or(0) != 0 {
        return Err("attribute `layout` = 1 (batch first) is not supported".into());
    }
    if n.attr_int("input_forget").unwrap_or(0) != 0 {
        return Err("attribute `input_forget` is not supported".into());
    }
    if let Some(super::super::Attr::Strings(acts)) = n.attributes.get("activations") {
        let want: Vec<&str> = (0..dirs)
            .flat_map(|_| cell.default_activations().iter().copied())
            .collect();
        if !acts.iter().map(String::as_str).eq(want.iter().copied()) {
            return Err(format!(
                "attribute `activations` {acts:?} is not supported (only the default {want:?})"
            ));
        }
    }
    if n.attributes.contains_key("activation_alpha") || n.attributes.contains_key("activation_beta")
    {
        return Err("attributes `activation_alpha`/`activation_beta` are not supported".into());
    }
    if cell == Cell::Lstm && n.input(7).is_some() {
        return Err("input `P` (peepholes) is not supported".into());
    }
    if n.input(4).is_some() {
        match cx.const_ints(n, 4) {
            Some(lens) if lens.len() == batch && lens.iter().all(|&l| l == seq as i64) => {}
            Some(lens) => {
                return Err(format!(
                    "input `sequence_lens` {lens:?}: only full sequences ({seq} each) are supported"
                ))
            }
            None => {
                return Err("input `sequence_lens` must be a constant (every sequence full)".into())
            }
        }
    }
    Ok(())
}

/// Rows `[at, at + len)` of axis `axis` of `x`.
fn take(g: &mut Graph, x: ValueId, axis: usize, at: usize, len: usize) -> Result<ValueId> {
    let s = g.shape(x).to_vec();
    let mut starts = vec![0; s.len()];
    let mut counts = s.clone();
    starts[axis] = at;
    counts[axis] = len;
    g.slice(x, &starts, &vec![1; s.len()], &counts)
}

fn sigmoid(g: &mut Graph, x: ValueId) -> Result<ValueId> {
    g.activation(x, Activation::Sigmoid)
}

fn tanh(g: &mut Graph, x: ValueId) -> Result<ValueId> {
    g.activation(x, Activation::Tanh)
}

/// Gate `i` (columns `[i * hidden, (i + 1) * hidden)`) of a `[batch, gates * hidden]` value.
fn gate(g: &mut Graph, v: ValueId, i: usize, hidden: usize) -> Result<ValueId> {
    take(g, v, 1, i * hidden, hidden)
}

/// One LSTM step (gates i, o, f, c in ONNX's order) from the input's share `xt` of every
/// gate; returns the new (h, c).
fn lstm_step(
    g: &mut Graph,
    xt: ValueId,
    h: ValueId,
    c: ValueId,
    rt: ValueId,
    rb: Option<ValueId>,
    hidden: usize,
) -> Result<(ValueId, ValueId)> {
    let mut hr = g.matmul(h, rt)?;
    if let Some(rb) = rb {
        hr = g.add(hr, rb)?;
    }
    let all = g.add(xt, hr)?;
    let (i, o, f, cc) = (
        gate(g, all, 0, hidden)?,
        gate(g, all, 1, hidden)?,
        gate(g, all, 2, hidden)?,
        gate(g, all, 3, hidden)?,
    );
    let (i, o, f, cc) = (sigmoid(g, i)?, sigmoid(g, o)?, sigmoid(g, f)?, tanh(g, cc)?);
    let fc = g.mul(f, c)?;
    let ic = g.mul(i, cc)?;
    let c = g.add(fc, ic)?;
    let tc = tanh(g, c)?;
    Ok((g.mul(o, tc)?, c))
}

/// One GRU step (gates z, r, h in ONNX's order) from the input's share `xt` of every gate;
/// `lbr` applies the reset gate after the recurrent product (`linear_before_reset`).
fn gru_step(
    g: &mut Graph,
    xt: ValueId,
    h: ValueId,
    rt: ValueId,
    rb: Option<ValueId>,
    hidden: usize,
    lbr: bool,
) -> Result<ValueId> {
    let rh_w = take(g, rt, 1, 0, 2 * hidden)?;
    let hh_w = take(g, rt, 1, 2 * hidden, hidden)?;
    let mut hzr = g.matmul(h, rh_w)?;
    if let Some(rb) = rb {
        let rbzr = take(g, rb, 0, 0, 2 * hidden)?;
        hzr = g.add(hzr, rbzr)?;
    }
    let xzr = take(g, xt, 1, 0, 2 * hidden)?;
    let zr = g.add(xzr, hzr)?;
    let zr = sigmoid(g, zr)?;
    let (z, rr) = (gate(g, zr, 0, hidden)?, gate(g, zr, 1, hidden)?);
    let rbh = match rb {
        Some(rb) => Some(take(g, rb, 0, 2 * hidden, hidden)?),
        None => None,
    };
    let xh = gate(g, xt, 2, hidden)?;
    let hpart = if lbr {
        let mut m = g.matmul(h, hh_w)?;
        if let Some(rbh) = rbh {
            m = g.add(m, rbh)?;
        }
        g.mul(rr, m)?
    } else {
        let rh = g.mul(rr, h)?;
        let mut m = g.matmul(rh, hh_w)?;
        if let Some(rbh) = rbh {
            m = g.add(m, rbh)?;
        }
        m
    };
    let pre = g.add(xh, hpart)?;
    let cand = tanh(g, pre)?;
    // h = (1 - z) * cand + z * h = cand + z * (h - cand).
    let diff = g.sub(h, cand)?;
    let zd = g.mul(z, diff)?;
    g.add(cand, zd)
}

fn recurrent(cx: &mut LowerCtx<'_>, n: &Node, cell: Cell) -> Result<Vec<ValueId>> {
    let err = node_err(n, cx.opset);
    let x = cx.input(n, 0)?;
    let w = cx.input(n, 1)?;
    let r = cx.input(n, 2)?;
    let b = cx.opt_input(n, 3)?;
    let h0 = cx.opt_input(n, 5)?;
    let c0 = match cell {
        Cell::Lstm => cx.opt_input(n, 6)?,
        Cell::Gru => None,
    };
    let dirs = match n.attr_str("direction").unwrap_or("forward") {
        "forward" | "reverse" => 1,
        "bidirectional" => 2,
        d => {
            return Err(err(format!(
                "attribute `direction` `{d}` is not one of forward, reverse, bidirectional"
            )))
        }
    };
    let reverse = n.attr_str("direction") == Some("reverse");
    let lbr = cell == Cell::Gru && n.attr_int("linear_before_reset").unwrap_or(0) != 0;
    let g = &mut cx.g;
    let (xs, ws, rs) = (
        g.shape(x).to_vec(),
        g.shape(w).to_vec(),
        g.shape(r).to_vec(),
    );
    let gates = cell.gates();
    let [seq, batch, input] = xs[..] else {
        return Err(err(format!("X must be [seq, batch, input], got {xs:?}")));
    };
    let hidden = match n.attr_int("hidden_size") {
        Some(h) if h > 0 => h as usize,
        _ => rs.get(2).copied().unwrap_or(0),
    };
    if ws != [dirs, gates * hidden, input]
        || rs != [dirs, gates * hidden, hidden]
        || seq == 0
        || batch == 0
        || hidden == 0
    {
        return Err(err(format!(
            "W {ws:?} and R {rs:?} must be [{dirs}, {}, {input}] and [{dirs}, {}, {hidden}] for X {xs:?}",
            gates * hidden,
            gates * hidden
        )));
    }
    let state = [dirs, batch, hidden];
    for (name, v) in [("B", b), ("initial_h", h0), ("initial_c", c0)] {
        let want = if name == "B" {
            vec![dirs, 2 * gates * hidden]
        } else {
            state.to_vec()
        };
        if let Some(v) = v {
            if g.shape(v) != want.as_slice() {
                return Err(err(format!("{name} {:?} must be {want:?}", g.shape(v))));
            }
        }
    }
    check_supported(cx, n, cell, dirs, seq, batch).map_err(&err)?;
    let g = &mut cx.g;
    let x2 = g.reshape(x, &[seq * batch, input])?;
    let gh = gates * hidden;
    let mut ys = Vec::new();
    let mut hs = Vec::new();
    let mut cs = Vec::new();
    for d in 0..dirs {
        // Weights of this direction, transposed to [in, gates * hidden].
        let wd = take(g, w, 0, d, 1)?;
        let wd = g.reshape(wd, &[gh, input])?;
        let wt = g.transpose(wd, 0, 1)?;
        let rd = take(g, r, 0, d, 1)?;
        let rd = g.reshape(rd, &[gh, hidden])?;
        let rt = g.transpose(rd, 0, 1)?;
        let (wb, rb) = match b {
            Some(b) => {
                let bd = take(g, b, 0, d, 1)?;
                let bd = g.reshape(bd, &[2 * gh])?;
                (Some(take(g, bd, 0, 0, gh)?), Some(take(g, bd, 0, gh, gh)?))
            }
            None => (None, None),
        };
        // The input's share of every gate at every step, in one matmul.
        let mut xw = g.matmul(x2, wt)?;
        if let Some(wb) = wb {
            xw = g.add(xw, wb)?;
        }
        let init = |g: &mut Graph, v: Option<ValueId>| -> Result<ValueId> {
            match v {
                Some(v) => {
                    let s = take(g, v, 0, d, 1)?;
                    g.reshape(s, &[batch, hidden])
                }
                None => {
                    let z = g.scalar(0.0);
                    g.broadcast_to(z, &[batch, hidden])
                }
            }
        };
        let mut h = init(g, h0)?;
        let mut c = match cell {
            Cell::Lstm => init(g, c0)?,
            Cell::Gru => h,
        };
        let backwards = reverse || d == 1;
        let mut steps = vec![None; seq];
        for k in 0..seq {
            let t = if backwards { seq - 1 - k } else { k };
            let xt = take(g, xw, 0, t * batch, batch)?;
            match cell {
                Cell::Lstm => (h, c) = lstm_step(g, xt, h, c, rt, rb, hidden)?,
                Cell::Gru => h = gru_step(g, xt, h, rt, rb, hidden, lbr)?,
            }
            steps[t] = Some(g.reshape(h, &[1, 1, batch, hidden])?);
        }
        let steps: Vec<ValueId> = steps.into_iter().flatten().collect();
        ys.push(g.concat(&steps, 0)?);
        hs.push(g.reshape(h, &[1, batch, hidden])?);
        if cell == Cell::Lstm {
            cs.push(g.reshape(c, &[1, batch, hidden])?);
        }
    }
    let y = g.concat(&ys, 1)?;
    let yh = g.concat(&hs, 0)?;
    let mut outs = vec![y, yh];
    if cell == Cell::Lstm {
        outs.push(g.concat(&cs, 0)?);
    }
    Ok(outs)
}
