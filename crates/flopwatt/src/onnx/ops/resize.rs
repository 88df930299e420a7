//! `Resize` of the H and W axes of an NCHW value: nearest (asymmetric, floor) and bilinear
//! (half-pixel), from constant scales or sizes.

use super::node_err;
use crate::error::Result;
use crate::graph::ValueId;
use crate::onnx::to_graph::LowerCtx;
use crate::onnx::{Node, TensorValue};
use crate::ops::resize::ResizeMode;

/// The output shape from the constant scales (input 2) or sizes (input 3).
fn out_shape(cx: &LowerCtx<'_>, n: &Node, xs: &[usize]) -> Result<Vec<usize>> {
    let err = node_err(n, cx.opset);
    let scales = cx
        .init(n, 2)
        .map(TensorValue::to_f64_vec)
        .filter(|v| !v.is_empty());
    let sizes = cx
        .init(n, 3)
        .map(TensorValue::to_i64_vec)
        .filter(|v| !v.is_empty());
    let out: Vec<usize> = match (&scales, &sizes) {
        (_, Some(s)) if s.len() == 4 => s.iter().map(|&v| v.max(0) as usize).collect(),
        (Some(s), None) if s.len() == 4 => xs
            .iter()
            .zip(s)
            .map(|(&d, &f)| (d as f64 * f).floor() as usize)
            .collect(),
        _ => return Err(err("scales or sizes must be a constant of 4 values".into())),
    };
    if out[0] != xs[0] || out[1] != xs[1] {
        return Err(err(format!(
            "only H and W may be resized ({xs:?} -> {out:?})"
        )));
    }
    if let Some(s) = &scales {
        // The kernels map coordinates with in/out; ONNX uses the given scale, equal only
        // when the scale is exactly out/in.
        for a in 2..4 {
            if (s[a] * xs[a] as f64 - out[a] as f64).abs() > 1e-9 {
                return Err(err(format!(
                    "scale {} does not map {} to a whole size",
                    s[a], xs[a]
                )));
            }
        }
    }
    if n.attr_str("keep_aspect_ratio_policy")
        .is_some_and(|p| p != "stretch")
        && sizes.is_some()
    {
        return Err(err(
            "keep_aspect_ratio_policy other than stretch is not supported".into(),
        ));
    }
    Ok(out)
}

/// The kernel for the mode and coordinate transformation, where flopwatt has one.
fn mode(n: &Node, out: &[usize]) -> std::result::Result<ResizeMode, String> {
    let mode = n.attr_str("mode").unwrap_or("nearest");
    let ctm = n
        .attr_str("coordinate_transformation_mode")
        .unwrap_or("half_pixel");
    match mode {
        "nearest"
            if ctm == "asymmetric"
                && n.attr_str("nearest_mode").unwrap_or("round_prefer_floor") == "floor" =>
        {
            Ok(ResizeMode::Nearest)
        }
        "linear"
            if n.attr_int("antialias").unwrap_or(0) == 0
                && (ctm == "half_pixel"
                    || (ctm == "pytorch_half_pixel" && out[2] > 1 && out[3] > 1)) =>
        {
            Ok(ResizeMode::Linear)
        }
        _ => Err(format!(
            "mode {mode} with coordinate_transformation_mode {ctm} is not supported \
             (nearest: asymmetric + floor; linear: half_pixel, no antialias)"
        )),
    }
}

pub(crate) fn resize(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let err = node_err(n, cx.opset);
    let x = cx.input(n, 0)?;
    let xs = cx.g.shape(x).to_vec();
    if xs.len() != 4 {
        return Err(err(format!(
            "only NCHW resize is supported, input is {xs:?}"
        )));
    }
    if n.attr_ints("axes").is_some() {
        return Err(err("the axes attribute is not supported".into()));
    }
    let out = out_shape(cx, n, &xs)?;
    let m = mode(n, &out).map_err(&err)?;
    Ok(vec![cx.g.resize2d(x, [out[2], out[3]], m)?])
}
