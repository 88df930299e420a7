//! Elementwise vocabulary: unary and binary ops and the [`Expr`] trees that fusion builds.
//!
//! Pure data: the runtime compiles an [`Expr`] to WGSL, the reference evaluates it in f64.

use super::Activation;
use crate::dtype::DType;

/// Unary elementwise ops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// -x.
    Neg,
    /// |x|.
    Abs,
    /// e^x.
    Exp,
    /// Natural log (NaN below 0, -inf at 0).
    Log,
    /// Square root (NaN below 0; sqrt(-0) = -0).
    Sqrt,
    /// 1 / sqrt(x).
    Rsqrt,
    /// 1 / x.
    Reciprocal,
    /// The error function.
    Erf,
    /// `ln(1 + e^x)`, computed without overflow (ONNX Softplus).
    Softplus,
    /// An activation shared with the matmul/conv epilogues (relu, leaky relu, gelu, silu, ...).
    Act(Activation),
    /// ONNX HardSigmoid: clamp(alpha * x + beta, 0, 1).
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// clamp(x, min, max) in numpy order (min first, so min > max gives max).
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
}

/// Binary elementwise ops (numpy broadcasting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// a + b.
    Add,
    /// a - b.
    Sub,
    /// a * b.
    Mul,
    /// a / b.
    Div,
    /// a^b with C semantics.
    Pow,
    /// NaN-propagating maximum.
    Max,
    /// NaN-propagating minimum.
    Min,
    /// a == b as 0/1.
    Eq,
    /// a != b as 0/1.
    Ne,
    /// a < b as 0/1.
    Lt,
    /// a <= b as 0/1.
    Le,
    /// a > b as 0/1.
    Gt,
    /// a >= b as 0/1.
    Ge,
}

impl BinaryOp {
    /// Every binary op, for tests and variant lists.
    pub const ALL: [BinaryOp; 13] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
    ];

    /// Whether the result is one correctly rounded f32 operation (or exact), as opposed to a
    /// few-ulp one (division and pow are not correctly rounded on every GPU).
    pub fn is_exact(self) -> bool {
        !matches!(self, BinaryOp::Div | BinaryOp::Pow)
    }

    /// Whether the op is a comparison (0/1 result).
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
        )
    }
}

impl UnaryOp {
    /// One of every unary op (with sample parameters), for tests and variant lists.
    pub fn samples() -> Vec<UnaryOp> {
        vec![
            UnaryOp::Neg,
            UnaryOp::Abs,
            UnaryOp::Exp,
            UnaryOp::Log,
            UnaryOp::Sqrt,
            UnaryOp::Rsqrt,
            UnaryOp::Reciprocal,
            UnaryOp::Erf,
            UnaryOp::Softplus,
            UnaryOp::Act(Activation::Relu),
            UnaryOp::Act(Activation::LeakyRelu(0.1)),
            UnaryOp::Act(Activation::Gelu),
            UnaryOp::Act(Activation::GeluTanh),
            UnaryOp::Act(Activation::Silu),
            UnaryOp::Act(Activation::Sigmoid),
            UnaryOp::Act(Activation::Tanh),
            UnaryOp::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            UnaryOp::Clip {
                min: -0.5,
                max: 0.25,
            },
        ]
    }

    /// Whether the result is exact or one correctly rounded f32 operation.
    pub fn is_exact(self) -> bool {
        matches!(
            self,
            UnaryOp::Neg
                | UnaryOp::Abs
                | UnaryOp::Clip { .. }
                | UnaryOp::Act(Activation::Relu)
                | UnaryOp::Act(Activation::None)
        )
    }
}

/// An elementwise expression over broadcast inputs: pure data, no device.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// The i-th input tensor (broadcast to the common shape).
    Input(usize),
    /// A constant.
    Const(f32),
    /// A unary op.
    Unary(UnaryOp, Box<Expr>),
    /// A binary op.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `where(cond, a, b)`: a where cond != 0, else b.
    Where(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Rounds the value to a dtype (i32: truncate and saturate; f16: nearest). At the root it
    /// also sets the output dtype.
    Cast(DType, Box<Expr>),
}

impl Expr {
    /// `Input(i)`.
    pub fn input(i: usize) -> Expr {
        Expr::Input(i)
    }

    /// A unary op applied to `self`.
    pub fn unary(self, op: UnaryOp) -> Expr {
        Expr::Unary(op, Box::new(self))
    }

    /// A binary op of two expressions.
    pub fn binary(op: BinaryOp, a: Expr, b: Expr) -> Expr {
        Expr::Binary(op, Box::new(a), Box::new(b))
    }

    /// `where(cond, a, b)`.
    pub fn where_(cond: Expr, a: Expr, b: Expr) -> Expr {
        Expr::Where(Box::new(cond), Box::new(a), Box::new(b))
    }

    /// A cast of `self`.
    pub fn cast(self, dtype: DType) -> Expr {
        Expr::Cast(dtype, Box::new(self))
    }

    /// Ops per element (unary, binary and where nodes; casts and leaves are free).
    pub fn op_count(&self) -> u64 {
        match self {
            Expr::Input(_) | Expr::Const(_) => 0,
            Expr::Unary(_, a) => 1 + a.op_count(),
            Expr::Binary(_, a, b) => 1 + a.op_count() + b.op_count(),
            Expr::Where(c, a, b) => 1 + c.op_count() + a.op_count() + b.op_count(),
            Expr::Cast(_, a) => a.op_count(),
        }
    }

    /// Tree depth (a leaf is 0).
    pub fn depth(&self) -> usize {
        match self {
            Expr::Input(_) | Expr::Const(_) => 0,
            Expr::Unary(_, a) | Expr::Cast(_, a) => 1 + a.depth(),
            Expr::Binary(_, a, b) => 1 + a.depth().max(b.depth()),
            Expr::Where(c, a, b) => 1 + c.depth().max(a.depth()).max(b.depth()),
        }
    }

    /// Sorted, deduplicated input indices the tree reads.
    pub fn inputs_used(&self) -> Vec<usize> {
        fn walk(e: &Expr, out: &mut Vec<usize>) {
            match e {
                Expr::Input(i) => out.push(*i),
                Expr::Const(_) => {}
                Expr::Unary(_, a) | Expr::Cast(_, a) => walk(a, out),
                Expr::Binary(_, a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::Where(c, a, b) => {
                    walk(c, out);
                    walk(a, out);
                    walk(b, out);
                }
            }
        }
        let mut v = Vec::new();
        walk(self, &mut v);
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether any node casts to f16 (the kernel then needs the f16 extension).
    pub fn uses_f16_cast(&self) -> bool {
        match self {
            Expr::Input(_) | Expr::Const(_) => false,
            Expr::Cast(d, a) => *d == DType::F16 || a.uses_f16_cast(),
            Expr::Unary(_, a) => a.uses_f16_cast(),
            Expr::Binary(_, a, b) => a.uses_f16_cast() || b.uses_f16_cast(),
            Expr::Where(c, a, b) => c.uses_f16_cast() || a.uses_f16_cast() || b.uses_f16_cast(),
        }
    }

    /// The output dtype given the dtypes of the inputs (see the module docs).
    pub fn out_dtype(&self, input_dtypes: &[DType]) -> DType {
        if let Expr::Cast(d, _) = self {
            return *d;
        }
        let used = self.inputs_used();
        if !used.is_empty()
            && used
                .iter()
                .all(|&i| input_dtypes.get(i) == Some(&DType::F16))
        {
            DType::F16
        } else {
            DType::F32
        }
    }
}

macro_rules! expr_binop {
    ($tr:ident, $f:ident, $op:expr) => {
        impl std::ops::$tr for Expr {
            type Output = Expr;
            fn $f(self, rhs: Expr) -> Expr {
                Expr::binary($op, self, rhs)
            }
        }
    };
}
expr_binop!(Add, add, BinaryOp::Add);
expr_binop!(Sub, sub, BinaryOp::Sub);
expr_binop!(Mul, mul, BinaryOp::Mul);
expr_binop!(Div, div, BinaryOp::Div);
impl std::ops::Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        self.unary(UnaryOp::Neg)
    }
}
