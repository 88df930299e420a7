//! Activations: shared by elementwise ops and the epilogues of matmul and conv.

/// An activation applied elementwise, shared by elementwise ops and the epilogues of matmul
/// and conv (so fused and unfused paths evaluate the same WGSL expression).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// x if x > 0 else alpha * x.
    LeakyRelu(f32),
    /// x * Phi(x) with the erf form.
    Gelu,
    /// The tanh approximation of gelu.
    GeluTanh,
    /// x * sigmoid(x).
    Silu,
    /// 1 / (1 + exp(-x)).
    Sigmoid,
    /// tanh(x).
    Tanh,
}

impl Activation {
    /// The f64 meaning, for the reference.
    pub fn apply_f64(self, x: f64) -> f64 {
        match self {
            Activation::None => x,
            // NaN propagates (f64::max would drop it).
            Activation::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Activation::LeakyRelu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a as f64 * x
                }
            }
            Activation::Gelu => 0.5 * x * (1.0 + super::erf(x / std::f64::consts::SQRT_2)),
            Activation::GeluTanh if x == f64::NEG_INFINITY => 0.0,
            Activation::GeluTanh => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
            Activation::Silu if x == f64::NEG_INFINITY => 0.0,
            Activation::Silu => x / (1.0 + (-x).exp()),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Tanh => x.tanh(),
        }
    }
}
