//! The op vocabulary: what each graph node computes, as plain data with its attributes.

mod activation;
mod elementwise;
mod eval;
mod params;

pub use activation::Activation;
pub use elementwise::{BinaryOp, Expr, UnaryOp};
pub use eval::{binary_f64, erf, unary_f64};
pub use params::{
    pool_out_len, Conv1dParams, Conv2dParams, ConvTranspose2dParams, PadMode, Pool2dParams,
    PoolKind, ResizeMode,
};
