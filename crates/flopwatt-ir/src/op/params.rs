//! Attribute structs of the pad, pool, resize and conv ops.

use super::Activation;

/// How `pad` fills positions outside the input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    /// A constant (converted to the tensor's dtype).
    Constant(f32),
    /// Mirror without repeating the edge (numpy `reflect`).
    Reflect,
    /// Repeat the edge (numpy `edge`).
    Edge,
    /// Wrap around (numpy `wrap`).
    Wrap,
}

/// Pooling reduction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum over the window (padding never wins; NaN propagates).
    #[default]
    Max,
    /// Mean over the window positions inside the input (PyTorch `count_include_pad=False`).
    Avg,
    /// Sum over the window divided by the positions inside the padded frame
    /// (PyTorch `count_include_pad=True`, ONNX `count_include_pad=1`).
    AvgCountPad,
}

/// Parameters of `pool2d`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pool2dParams {
    /// Reduction.
    pub kind: PoolKind,
    /// Window (height, width).
    pub kernel: [usize; 2],
    /// Stride (height, width).
    pub stride: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub padding: [usize; 4],
    /// Dilation (height, width).
    pub dilation: [usize; 2],
    /// Round the output size up (ONNX/PyTorch `ceil_mode`): a last partial window is kept
    /// when it starts inside the input or the leading padding.
    pub ceil_mode: bool,
}

/// Output length of one pooled axis: input `i`, window `k`, stride `s`, padding `lo`/`hi`,
/// dilation `d`; `None` when the window does not fit or a parameter is zero.
pub fn pool_out_len(
    i: usize,
    k: usize,
    s: usize,
    lo: usize,
    hi: usize,
    d: usize,
    ceil: bool,
) -> Option<usize> {
    if k == 0 || s == 0 || d == 0 {
        return None;
    }
    let span = d * (k - 1) + 1;
    let padded = i + lo + hi;
    if padded < span {
        return None;
    }
    let mut o = if ceil {
        (padded - span).div_ceil(s) + 1
    } else {
        (padded - span) / s + 1
    };
    // PyTorch's rule: the last window must start inside the input or the leading padding.
    if ceil && (o - 1) * s >= i + lo {
        o -= 1;
    }
    Some(o)
}

impl Default for Pool2dParams {
    fn default() -> Self {
        Pool2dParams {
            kind: PoolKind::Max,
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0; 4],
            dilation: [1, 1],
            ceil_mode: false,
        }
    }
}

/// Resize interpolation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResizeMode {
    /// Nearest: source index `floor(out * in / out_size)` (PyTorch `nearest`, ONNX
    /// `asymmetric` + `floor`).
    #[default]
    Nearest,
    /// Bilinear with half-pixel centres, edges clamped (PyTorch `align_corners=False`
    /// without antialiasing, ONNX `half_pixel` for upsampling).
    Linear,
}

/// Parameters of `conv2d`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2dParams {
    /// Stride along (height, width).
    pub stride: [usize; 2],
    /// Zero padding: top, left, bottom, right.
    pub padding: [usize; 4],
    /// Dilation along (height, width).
    pub dilation: [usize; 2],
    /// Channel groups (`groups == channels` is depthwise).
    pub groups: usize,
    /// Activation applied after the bias, in the same kernel.
    pub activation: Activation,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: [0; 4],
            dilation: [1, 1],
            groups: 1,
            activation: Activation::None,
        }
    }
}

/// Parameters of `conv1d` (input [N, C, L], weight [Cout, C / groups, K]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv1dParams {
    /// Stride.
    pub stride: usize,
    /// Zero padding: left, right.
    pub padding: [usize; 2],
    /// Dilation.
    pub dilation: usize,
    /// Channel groups.
    pub groups: usize,
    /// Fused activation.
    pub activation: Activation,
}

impl Default for Conv1dParams {
    fn default() -> Self {
        Conv1dParams {
            stride: 1,
            padding: [0; 2],
            dilation: 1,
            groups: 1,
            activation: Activation::None,
        }
    }
}

/// Parameters of `conv_transpose2d` (weight [Cin, Cout / groups, KH, KW]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvTranspose2dParams {
    /// Stride along (height, width).
    pub stride: [usize; 2],
    /// Padding removed from the output: top, left, bottom, right.
    pub padding: [usize; 4],
    /// Extra rows / columns added at the bottom / right of the output (each < its stride
    /// or dilation), to pick one of the input sizes a strided conv maps to the same output.
    pub output_padding: [usize; 2],
    /// Dilation along (height, width).
    pub dilation: [usize; 2],
    /// Channel groups.
    pub groups: usize,
    /// Fused activation.
    pub activation: Activation,
}

impl Default for ConvTranspose2dParams {
    fn default() -> Self {
        ConvTranspose2dParams {
            stride: [1, 1],
            padding: [0; 4],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            activation: Activation::None,
        }
    }
}
