//! Elementwise ops and the fused-elementwise generator.
//!
//! Every elementwise op is an [`Expr`] tree compiled to ONE generated WGSL kernel
//! ([`ElementwiseKernel`]): `add(a, b)` is the tree `Binary(Add, Input(0), Input(1))`, and a
//! fused chain like `relu(x * 2 + 1)` is just a deeper tree. Fused and unfused paths share
//! this one code path, so they cannot disagree on semantics.
//!
//! Semantics (the f64 meaning is `crate::reference::elementwise::eval_f64`):
//! - Arithmetic is f32 whatever the storage dtype (f16 inputs are widened), except on
//!   integers: `+ - *`, negation, `abs`, `max`, `min`, `where` and comparisons of i32
//!   operands, and `cast(i32, a / b)` of them, compute exactly in i32; an overflow or a
//!   division by zero makes the run an error, as does an integer result stored into an f32
//!   output that cannot hold it exactly (`docs/decisions.md#integer-arithmetic`). Elsewhere
//!   i32 operands convert to f32 (exact for |x| <= 2^24; larger integers round).
//! - Output dtype: the dtype of a root [`Expr::Cast`]; otherwise f16 when every input used is
//!   f16, else f32. So `add` of two i32 tensors gives f32; wrap the tree in `Cast(I32, ..)`
//!   to get i32 back.
//! - Comparisons (`eq`, `ne`, `lt`, `le`, `gt`, `ge`) give 0/1 in the float output dtype (f32
//!   0.0/1.0): masks compose with arithmetic (`x * (x > 0)`) and stay inside one f32 tree.
//!   `where_(cond, a, b)` takes `a` where `cond != 0`, for f32, f16 or i32 conds (so an
//!   i32 0/1 mask works too). A NaN cond counts as true (NaN != 0).
//! - NaN and infinities propagate as IEEE 754 says, also through `max`, `min`, `relu` and
//!   `clip`, which WGSL leaves implementation-defined: the kernels test for NaN explicitly.
//!   Comparisons with NaN are false except `ne`. `pow` follows C (`pow(x, 0) = 1`,
//!   `pow(1, y) = 1`, negative bases with integer exponents keep their sign, otherwise NaN).
//! - `gelu(-inf)`, `gelu_tanh(-inf)` and `silu(-inf)` are 0 (their limit), not the NaN of
//!   `-inf * 0` that the shared `activation.wgsl` forms give (matmul/conv epilogues still do).
//!   Casting NaN or out-of-range values to f16 is implementation-defined in WGSL. Casting to i32 truncates toward zero, saturates and
//!   maps NaN to 0 (Rust `as`).
//! - Float controls: naga's SPIR-V does not declare `SignedZeroInfNanPreserve`, so Vulkan
//!   drivers may assume no NaN/Inf when they fold what they can prove at compile time.
//!   Seen on lavapipe: `x / ((a < a) * y)` gives 0, not NaN/inf (`a < a` folds to 0, then
//!   `0 * y` to 0, then the division by that zero). Values known only at run time (every
//!   input and constant: constants come from a uniform) keep IEEE NaN/Inf, which the tests
//!   check; the NaN tests of max/min/relu/clip use bit tests that no fold can remove.
//!
//! Indexing: inputs are read through their strides and offsets (transposes and broadcasts
//! need no copy). Dimensions are first coalesced (size-1 dims dropped, dims merged where every
//! input is contiguous across them); when that leaves one dense dimension for every input the
//! kernel is the fast path (plain linear index, four vec4s per invocation). How a kernel stays
//! inside `n` depends on the adapter class ([`Bounds`]): CPU adapters clamp, GPUs branch.

use std::fmt::Write as _;

use crate::device::AdapterClass;
use crate::error::{Error, Result};
use crate::exec::{grid_1d, Cost, Recorder};
use crate::ops::{run_once, same_device, wgsl_f32, Activation, ActivationWgsl, ACTIVATION_WGSL};
use crate::tensor::{broadcast_shapes, broadcast_strides, DType, Tensor};
pub use flopwatt_ir::op::{BinaryOp, Expr, UnaryOp};

/// The highest rank the strided kernel indexes (after coalescing dims).
pub const MAX_RANK: usize = 8;
/// The most distinct inputs one kernel reads (one storage binding each, plus the output).
pub const MAX_INPUTS: usize = 7;
/// Invocations per workgroup: 256 suits lavapipe (8 lanes per AVX2 vector) and GPUs alike.
const WG: u32 = 256;
/// vec4s per invocation on the vec4 path (`base + k * WG`, so a workgroup still touches
/// one contiguous block): fewer, fuller workgroups stream fastest on lavapipe
/// (`docs/decisions.md#elementwise-vec4-items`). The linear layout keeps one element per
/// invocation, the strided one four ([`STRIDED_ITEMS`]).
const VEC4_ITEMS: u32 = 4;

/// Elements (vec4s on the vec4 layout) each invocation computes, `base + k * WG` for k below it.
fn items_per_invocation(layout: Layout) -> u32 {
    match layout {
        Layout::Vec4 => VEC4_ITEMS,
        Layout::Linear => 1,
        Layout::Strided { .. } => STRIDED_ITEMS,
    }
}

/// Elements per invocation on the strided layout: fewer workgroups for the same work
/// (`docs/decisions.md#elementwise-strided-items`). The linear layout keeps one, which keeps
/// the 2-D grid split reachable in tests (it is the rare case: unpadded buffers).
const STRIDED_ITEMS: u32 = 4;

/// WGSL spelling of the IR's elementwise vocabulary.
trait OpWgsl {
    /// The WGSL expression of the op applied to the operand expressions.
    fn wgsl_of(self, operands: &[&str]) -> String;
}

impl OpWgsl for BinaryOp {
    fn wgsl_of(self, operands: &[&str]) -> String {
        let (a, b) = (operands[0], operands[1]);
        let cmp = |o: &str| format!("select(0.0, 1.0, {a} {o} {b})");
        match self {
            BinaryOp::Add => format!("{a} + {b}"),
            BinaryOp::Sub => format!("{a} - {b}"),
            BinaryOp::Mul => format!("{a} * {b}"),
            BinaryOp::Div => format!("{a} / {b}"),
            BinaryOp::Pow => format!("ew_pow({a}, {b})"),
            BinaryOp::Max => format!("ew_max({a}, {b})"),
            BinaryOp::Min => format!("ew_min({a}, {b})"),
            BinaryOp::Eq => cmp("=="),
            // Not `!=`: drivers may compile it as an ordered compare, false for NaN.
            BinaryOp::Ne => format!("select(1.0, 0.0, {a} == {b})"),
            BinaryOp::Lt => cmp("<"),
            BinaryOp::Le => cmp("<="),
            BinaryOp::Gt => cmp(">"),
            BinaryOp::Ge => cmp(">="),
        }
    }
}

impl OpWgsl for UnaryOp {
    fn wgsl_of(self, operands: &[&str]) -> String {
        let x = operands[0];
        match self {
            UnaryOp::Neg => format!("-({x})"),
            UnaryOp::Abs => format!("abs({x})"),
            // Domain edges made explicit (see elementwise_common.wgsl): adapters differ there.
            UnaryOp::Exp => format!("ew_exp({x})"),
            UnaryOp::Log => format!("ew_log({x})"),
            UnaryOp::Sqrt => format!("ew_sqrt({x})"),
            UnaryOp::Rsqrt => format!("ew_rsqrt({x})"),
            UnaryOp::Reciprocal => format!("1.0 / {x}"),
            UnaryOp::Erf => format!("act_erf({x})"),
            UnaryOp::Softplus => format!("ew_softplus({x})"),
            // The shared Activation::Relu is `max(x, 0)`, whose NaN result WGSL leaves open.
            UnaryOp::Act(Activation::Relu) => format!("ew_relu({x})"),
            // x * g(x) forms are -inf * 0 = NaN at -inf; the limit is 0.
            UnaryOp::Act(a @ (Activation::Gelu | Activation::GeluTanh | Activation::Silu)) => {
                format!("ew_neg_inf_to_zero({x}, {})", a.wgsl(x))
            }
            UnaryOp::Act(a) => a.wgsl(x),
            UnaryOp::HardSigmoid { alpha, beta } => {
                format!(
                    "ew_hard_sigmoid({x}, {}, {})",
                    wgsl_f32(alpha),
                    wgsl_f32(beta)
                )
            }
            UnaryOp::Clip { min, max } => {
                format!("ew_clip({x}, {}, {})", wgsl_f32(min), wgsl_f32(max))
            }
        }
    }
}

/// Whether a generated expression's value is an i32 (exact integer arithmetic) or an f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
}

/// A WGSL expression and its kind.
type Typed = (String, Kind);

/// `v` as an f32 expression.
fn as_f32((v, k): &Typed) -> String {
    match k {
        Kind::Int => format!("f32({v})"),
        Kind::Float => v.clone(),
    }
}

/// What [`emit`] works with: the body being written, the constants, how inputs read, and
/// whether integer subtrees compute in i32 (the elementwise kernels) or in f32 (the
/// expression functions of other kernels, which have no error flag).
struct Emitter<'a> {
    body: String,
    next: usize,
    consts: &'a mut Vec<f32>,
    arg: &'a dyn Fn(usize) -> Typed,
    ints: bool,
    /// Set when the expression uses the `bad` error pointer (a checked integer op).
    checked: bool,
}

impl Emitter<'_> {
    /// Writes one `let` per node of `e`; returns the name holding the node's value.
    ///
    /// Integers compute exactly or fail (`docs/decisions.md#integer-arithmetic`): where
    /// `ints` is on, `+ - *`, negation and `abs` of integer operands run in i32 with an
    /// overflow test that sets `*bad`, `max`/`min`/`where` of integers select i32s,
    /// comparisons compare i32s, and `cast(i32, a / b)` of integers is an exact truncating
    /// division (division by zero sets `*bad`). Everything else is f32, integers converting
    /// where a float op reads them.
    fn emit(&mut self, e: &Expr) -> Typed {
        let (value, kind) = match e {
            Expr::Input(i) => return (self.arg)(*i),
            // Constants live in the params uniform, not the source: naga would fold builtins
            // of literals at compile time (and reject log(-2.0)), and a chain with other
            // constants reuses the same pipeline.
            Expr::Const(c) => {
                let k = self.consts.len();
                self.consts.push(*c);
                return (format!("p.c[{}][{}]", k / 4, k % 4), Kind::Float);
            }
            Expr::Unary(op, a) => {
                let a = self.emit(a);
                match (op, a.1) {
                    (UnaryOp::Neg, Kind::Int) => self.int_call("ew_neg_i32", &[&a.0]),
                    (UnaryOp::Abs, Kind::Int) => self.int_call("ew_abs_i32", &[&a.0]),
                    _ => (op.wgsl_of(&[&as_f32(&a)]), Kind::Float),
                }
            }
            Expr::Binary(op, a, b) => {
                let a = self.emit(a);
                let b = self.emit(b);
                if a.1 == Kind::Int && b.1 == Kind::Int {
                    self.int_binary(*op, &a.0, &b.0)
                } else {
                    (op.wgsl_of(&[&as_f32(&a), &as_f32(&b)]), Kind::Float)
                }
            }
            Expr::Where(c, a, b) => {
                let c = self.emit(c);
                let a = self.emit(a);
                let b = self.emit(b);
                // `c == 0.0` is false for NaN, so a NaN cond picks `a` like `c != 0`
                // should (lavapipe compiles `!=` as an ordered compare).
                let zero = match c.1 {
                    Kind::Int => format!("{} == 0i", c.0),
                    Kind::Float => format!("{} == 0.0", c.0),
                };
                if a.1 == Kind::Int && b.1 == Kind::Int {
                    (format!("select({}, {}, {zero})", a.0, b.0), Kind::Int)
                } else {
                    let (a, b) = (as_f32(&a), as_f32(&b));
                    (format!("select({a}, {b}, {zero})"), Kind::Float)
                }
            }
            Expr::Cast(d, a) => match d {
                DType::F32 => {
                    let a = self.emit(a);
                    (as_f32(&a), Kind::Float)
                }
                DType::F16 => {
                    let a = self.emit(a);
                    (format!("f32(f16({}))", as_f32(&a)), Kind::Float)
                }
                DType::I32 if !self.ints => {
                    let a = self.emit(a);
                    (format!("f32(ew_to_i32({}))", as_f32(&a)), Kind::Float)
                }
                DType::I32 => self.cast_i32(a),
            },
        };
        let name = format!("t{}", self.next);
        self.next += 1;
        let _ = writeln!(self.body, "    let {name} = {value};");
        (name, kind)
    }

    /// A checked i32 helper of elementwise_common.wgsl applied to `args` and `bad`.
    fn int_call(&mut self, f: &str, args: &[&str]) -> (String, Kind) {
        self.checked = true;
        (format!("{f}({}, bad)", args.join(", ")), Kind::Int)
    }

    /// A binary op of two i32 operands.
    fn int_binary(&mut self, op: BinaryOp, a: &str, b: &str) -> (String, Kind) {
        let cmp = |o: &str| (format!("select(0.0, 1.0, {a} {o} {b})"), Kind::Float);
        match op {
            BinaryOp::Add => self.int_call("ew_add_i32", &[a, b]),
            BinaryOp::Sub => self.int_call("ew_sub_i32", &[a, b]),
            BinaryOp::Mul => self.int_call("ew_mul_i32", &[a, b]),
            BinaryOp::Max => (format!("max({a}, {b})"), Kind::Int),
            BinaryOp::Min => (format!("min({a}, {b})"), Kind::Int),
            BinaryOp::Eq => cmp("=="),
            BinaryOp::Ne => (format!("select(1.0, 0.0, {a} == {b})"), Kind::Float),
            BinaryOp::Lt => cmp("<"),
            BinaryOp::Le => cmp("<="),
            BinaryOp::Gt => cmp(">"),
            BinaryOp::Ge => cmp(">="),
            // True division and powers are f32 (a quotient is not an integer); a cast of a
            // quotient to i32 is an exact integer division (`cast_i32`).
            BinaryOp::Div | BinaryOp::Pow => (
                op.wgsl_of(&[&format!("f32({a})"), &format!("f32({b})")]),
                Kind::Float,
            ),
        }
    }

    /// `cast(i32, a)`: integers pass, `x / y` of integers divides exactly (truncating, as
    /// the cast of the true quotient would), floats truncate and saturate.
    fn cast_i32(&mut self, a: &Expr) -> (String, Kind) {
        if let Expr::Binary(BinaryOp::Div, x, y) = a {
            let x = self.emit(x);
            let y = self.emit(y);
            if x.1 == Kind::Int && y.1 == Kind::Int {
                return self.int_call("ew_div_i32", &[&x.0, &y.0]);
            }
            let q = BinaryOp::Div.wgsl_of(&[&as_f32(&x), &as_f32(&y)]);
            return (format!("ew_to_i32({q})"), Kind::Int);
        }
        let a = self.emit(a);
        match a.1 {
            Kind::Int => a,
            Kind::Float => (format!("ew_to_i32({})", a.0), Kind::Int),
        }
    }
}

/// Messages of the error codes the integer helpers of elementwise_common.wgsl set.
fn int_error(code: u32) -> String {
    match code {
        1 => "an integer result overflows i32: flopwatt computes integers exactly in 32 bits \
              and refuses results outside -2^31..2^31-1"
            .into(),
        2 => "integer division by zero".into(),
        _ => "an integer result is not exactly representable in this op's f32 output; cast \
              the expression to i32 to keep it exact"
            .into(),
    }
}

/// How a kernel indexes its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Every input dense and the same shape as the output: input index = output index.
    Linear,
    /// Like `Linear`, with vec4 loads and stores (the last vec4 may run past n; see
    /// `choose_layout`).
    Vec4,
    /// Inputs read through strides and offsets over `rank` coalesced dimensions.
    Strided {
        /// Coalesced rank (1..=MAX_RANK).
        rank: usize,
    },
}

/// How a generated kernel keeps its invocations inside the `n` elements (or vec4s); chosen
/// per adapter class by [`Bounds::for_class`].
///
/// Both forms compute every element exactly once in value; they differ in what invocations
/// past the end do. On lavapipe the clamp is the cheapest, close to a plain copy
/// (`docs/decisions.md#elementwise-bounds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bounds {
    /// `if (i < n) { .. }` around each element: the portable form, and the cheap one where
    /// lanes branch independently (GPUs).
    Guard,
    /// `i = min(i, n - 1)` and no control flow: invocations past the end recompute and rewrite
    /// the last element with the same bits. lavapipe runs 8 invocations as one SIMD program and
    /// scalarises every storage access lane by lane under the execution mask; any `if` or
    /// `return` adds mask bookkeeping to each of those accesses, and the clamp removes it.
    /// Sound only when the output aliases no input: in-place kernels
    /// ([`encode_fused_in_place`], [`ElementwiseKernel::generate_aliased`]) always take
    /// `Guard`, since a surplus invocation would re-read an element already overwritten.
    Clamp,
}

impl Bounds {
    /// `Clamp` for CPU adapters (lavapipe, SwiftShader, WARP: SIMD over invocations with
    /// masks), `Guard` for GPUs.
    pub fn for_class(class: AdapterClass) -> Bounds {
        match class {
            AdapterClass::Cpu => Bounds::Clamp,
            AdapterClass::Gpu => Bounds::Guard,
        }
    }
}

/// One generated elementwise kernel: (expression, input dtypes, output dtype, layout) ->
/// WGSL source. Inputs the expression does not use get no binding.
#[derive(Clone, Debug)]
pub struct ElementwiseKernel {
    /// Kernel name for profiles, e.g. `elementwise.vec4`.
    pub name: String,
    /// Complete WGSL source (validated by naga when the pipeline is built).
    pub source: String,
    /// Indices of the inputs bound, in binding order.
    pub bound_inputs: Vec<usize>,
    /// Output dtype.
    pub out_dtype: DType,
    /// Indexing scheme.
    pub layout: Layout,
    /// Ops per output element.
    pub flops_per_element: u64,
    /// The tree's constants, in the order the params uniform carries them (after the
    /// layout's fields).
    pub consts: Vec<f32>,
    /// Whether the kernel binds an error flag after the output (integer arithmetic that can
    /// overflow or divide by zero), before the params uniform.
    pub checked: bool,
}

/// The helpers every kernel shares (elementwise_common.wgsl; also the prelude of other
/// generated kernels that evaluate an [`Expr`], e.g. `ops::reduce_fused`).
pub(crate) fn helpers() -> &'static str {
    crate::shaders::ELEMENTWISE_COMMON
}

/// WGSL `fn {name}({arg}{i}: f32, ...) -> f32` evaluating `expr`, one parameter per index in
/// `args` (in that order; they must cover `expr.inputs_used()`). Constants are appended to
/// `consts` and read from the kernel's `p.c` uniform array, as in the elementwise kernels, so
/// other generated kernels (`ops::reduce_fused`) share this one expression compiler.
pub(crate) fn expr_function(
    expr: &Expr,
    name: &str,
    args: &[usize],
    consts: &mut Vec<f32>,
) -> String {
    let mut em = Emitter {
        body: String::new(),
        next: 0,
        consts,
        arg: &|i| (format!("x{i}"), Kind::Float),
        ints: false,
        checked: false,
    };
    let root = em.emit(expr);
    let params: Vec<String> = args.iter().map(|i| format!("x{i}: f32")).collect();
    format!(
        "fn {name}({}) -> f32 {{\n{}    return {};\n}}\n",
        params.join(", "),
        em.body,
        as_f32(&root)
    )
}

/// Whether `expr` needs the f16 extension (an f16 cast anywhere in the tree).
pub(crate) fn expr_uses_f16(expr: &Expr) -> bool {
    expr.uses_f16_cast()
}

/// `ew_store`: the expression's value (of `root` kind) as the output dtype `d`, with the
/// error pointer where the kernel is `checked`. An integer stored as f32 must be exact:
/// otherwise a later cast back to i32 would silently give another integer.
fn store_fn(root: Kind, d: DType, checked: bool) -> String {
    let (ty, body) = match (root, d) {
        (Kind::Float, DType::F32) => ("f32", "x"),
        (Kind::Float, DType::F16) => ("f32", "f16(x)"),
        (Kind::Float, DType::I32) => ("f32", "ew_to_i32(x)"),
        (Kind::Int, DType::F32) => ("i32", "ew_i32_to_f32(x, bad)"),
        (Kind::Int, DType::F16) => ("i32", "f16(f32(x))"),
        (Kind::Int, DType::I32) => ("i32", "x"),
    };
    let bad = if checked {
        ", bad: ptr<function, u32>"
    } else {
        ""
    };
    format!(
        "fn ew_store(x: {ty}{bad}) -> {} {{ return {body}; }}\n",
        d.wgsl()
    )
}

impl ElementwiseKernel {
    /// Generates the kernel for `expr` over inputs of `input_dtypes`.
    ///
    /// Errors: an `Input(i)` past the inputs, more than [`MAX_INPUTS`] used inputs, a rank
    /// over [`MAX_RANK`], `Vec4` with a dtype that has no vec4 storage form.
    pub fn generate(expr: &Expr, input_dtypes: &[DType], layout: Layout) -> Result<Self> {
        Self::generate_splat(expr, input_dtypes, layout, &[])
    }

    /// Like [`generate`](Self::generate), with the inputs in `splat` read as one element
    /// (at their offset) broadcast to every output element: a scalar operand keeps a dense
    /// kernel on the linear/vec4 fast path instead of the strided one.
    pub fn generate_splat(
        expr: &Expr,
        input_dtypes: &[DType],
        layout: Layout,
        splat: &[usize],
    ) -> Result<Self> {
        Self::generate_for(expr, input_dtypes, layout, splat, AdapterClass::Gpu)
    }

    /// Like [`generate_splat`](Self::generate_splat), in the bounds form that suits
    /// `class` (see [`Bounds`]): `Gpu` guards each element with `if (i < n)`, `Cpu` clamps
    /// the index to `n - 1` and has no control flow at all.
    pub fn generate_for(
        expr: &Expr,
        input_dtypes: &[DType],
        layout: Layout,
        splat: &[usize],
        class: AdapterClass,
    ) -> Result<Self> {
        Self::generate_impl(expr, input_dtypes, layout, splat, None, class)
    }

    /// Like [`generate_splat`](Self::generate_splat); with `alias = Some(a)` input `a` has no
    /// binding of its own and is read from the output buffer, which it must share (the
    /// in-place form: a buffer cannot be bound read-only and read-write in one dispatch).
    /// Each invocation reads element `i` of `a` before writing element `i`, so this is exact
    /// when `a` is dense with the output's shape and dtype (see [`encode_fused_in_place`]).
    /// In-place kernels always take [`Bounds::Guard`]: a clamped surplus invocation would
    /// re-read an element already overwritten.
    pub fn generate_aliased(
        expr: &Expr,
        input_dtypes: &[DType],
        layout: Layout,
        splat: &[usize],
        alias: Option<usize>,
    ) -> Result<Self> {
        Self::generate_impl(expr, input_dtypes, layout, splat, alias, AdapterClass::Gpu)
    }

    fn generate_impl(
        expr: &Expr,
        input_dtypes: &[DType],
        layout: Layout,
        splat: &[usize],
        alias: Option<usize>,
        class: AdapterClass,
    ) -> Result<Self> {
        let bounds = if alias.is_some() {
            Bounds::Guard
        } else {
            Bounds::for_class(class)
        };
        let used = expr.inputs_used();
        check_generate(&used, input_dtypes, layout)?;
        let out_dtype = expr.out_dtype(input_dtypes);
        let f16 = out_dtype == DType::F16
            || used.iter().any(|&i| input_dtypes[i] == DType::F16)
            || expr.uses_f16_cast();
        let mut ops = Operands {
            used: &used,
            alias,
            splat,
            dense: matches!(layout, Layout::Linear | Layout::Vec4),
            dtypes: input_dtypes,
            checked: false,
        };

        let mut s = String::with_capacity(8192);
        if f16 {
            s.push_str("enable f16;\n");
        }
        s.push_str(ACTIVATION_WGSL);
        s.push_str(helpers());
        let consts = ops.declarations(&mut s, expr, input_dtypes, out_dtype, layout);
        let items = items_per_invocation(layout);
        let body = ops.element_body(layout, out_dtype);
        ops.main_entry(&mut s, items, &body, bounds);

        let lname = match layout {
            Layout::Linear => "linear".to_string(),
            Layout::Vec4 => "vec4".to_string(),
            Layout::Strided { rank } => format!("strided{rank}"),
        };
        let checked = ops.checked;
        Ok(ElementwiseKernel {
            name: format!("elementwise.{lname}"),
            source: s,
            bound_inputs: used,
            out_dtype,
            layout,
            flops_per_element: expr.op_count(),
            consts,
            checked,
        })
    }
}

/// Errors where a kernel cannot read `used` of `input_dtypes` in `layout`: an input past
/// the inputs, more than [`MAX_INPUTS`] of them, a rank outside 1..=[`MAX_RANK`].
fn check_generate(used: &[usize], input_dtypes: &[DType], layout: Layout) -> Result<()> {
    if let Some(&bad) = used.iter().find(|&&i| i >= input_dtypes.len()) {
        return Err(Error::invalid(
            "elementwise",
            format!(
                "expression reads input {bad} but {} inputs were given",
                input_dtypes.len()
            ),
        ));
    }
    if used.len() > MAX_INPUTS {
        return Err(Error::invalid(
            "elementwise",
            format!(
                "expression reads {} inputs; at most {MAX_INPUTS} per kernel",
                used.len()
            ),
        ));
    }
    if let Layout::Strided { rank } = layout {
        if rank == 0 || rank > MAX_RANK {
            return Err(Error::shape(
                "elementwise",
                format!("rank {rank} after coalescing; supported 1..={MAX_RANK}"),
            ));
        }
    }
    Ok(())
}

/// How a generated elementwise kernel reads its inputs.
struct Operands<'a> {
    /// The inputs the expression reads, in order.
    used: &'a [usize],
    /// The input read from the output buffer (the in-place form), if any.
    alias: Option<usize>,
    /// Inputs read as one element broadcast to all (dense layouts only).
    splat: &'a [usize],
    /// A linear or vec4 layout.
    dense: bool,
    /// The dtype of every input.
    dtypes: &'a [DType],
    /// Whether the kernel binds the error flag (checked integer arithmetic).
    checked: bool,
}

impl Operands<'_> {
    /// The buffer input `i` is read from.
    fn src(&self, i: usize) -> String {
        if self.alias == Some(i) {
            "out".to_string()
        } else {
            format!("in{i}")
        }
    }

    /// Whether input `i` is read as an i32 (integer arithmetic stays exact).
    fn int(&self, i: usize) -> bool {
        self.dtypes[i] == DType::I32
    }

    /// Input `i`'s element `raw` as the expression reads it: i32 as is, the rest as f32.
    fn read(&self, i: usize, raw: String) -> String {
        if self.int(i) {
            raw
        } else {
            format!("f32({raw})")
        }
    }

    fn is_splat(&self, i: usize) -> bool {
        self.dense && self.splat.contains(&i)
    }

    /// `f(i)` for each used input, comma-separated.
    fn args(&self, f: &dyn Fn(usize) -> String) -> String {
        self.used
            .iter()
            .map(|&i| f(i))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The bindings (used inputs in order, then the output, then the params), the params
    /// struct and `ew_expr`, the expression as a function of the used inputs (as f32).
    /// Returns the constants the params carry.
    fn declarations(
        &mut self,
        s: &mut String,
        expr: &Expr,
        input_dtypes: &[DType],
        out_dtype: DType,
        layout: Layout,
    ) -> Vec<f32> {
        let used = self.used;
        let vec4 = layout == Layout::Vec4;
        let elem = |d: DType| {
            if vec4 {
                format!("vec4<{}>", d.wgsl())
            } else {
                d.wgsl().to_string()
            }
        };
        for (b, &i) in used.iter().filter(|&&i| self.alias != Some(i)).enumerate() {
            let ty = if self.is_splat(i) {
                input_dtypes[i].wgsl().to_string()
            } else {
                elem(input_dtypes[i])
            };
            let _ = writeln!(
                s,
                "@group(0) @binding({b}) var<storage, read> in{i}: array<{ty}>;"
            );
        }
        let nb = used.len() - usize::from(self.alias.is_some_and(|a| used.contains(&a)));
        let _ = writeln!(
            s,
            "@group(0) @binding({nb}) var<storage, read_write> out: array<{}>;",
            elem(out_dtype)
        );
        let kind = |i: usize| {
            if self.int(i) {
                Kind::Int
            } else {
                Kind::Float
            }
        };
        let mut consts = Vec::new();
        let mut em = Emitter {
            body: String::new(),
            next: 0,
            consts: &mut consts,
            arg: &|i| (format!("x{i}"), kind(i)),
            ints: true,
            checked: false,
        };
        let root = em.emit(expr);
        let (body, checked) = (em.body, em.checked);
        // An integer result stored as f32 is checked to be exact (see `store_fn`).
        self.checked = checked || (root.1 == Kind::Int && out_dtype == DType::F32);
        let mut params: Vec<String> = used
            .iter()
            .map(|&i| format!("x{i}: {}", if self.int(i) { "i32" } else { "f32" }))
            .collect();
        let mut nb = nb;
        if self.checked {
            params.push("bad: ptr<function, u32>".into());
            nb += 1;
            let _ = writeln!(
                s,
                "@group(0) @binding({nb}) var<storage, read_write> ew_err: array<atomic<u32>, 2>;"
            );
        }
        s.push_str(&store_fn(root.1, out_dtype, self.checked));
        s.push_str("struct Params {\n    n: u32,\n    _p0: u32,\n    _p1: u32,\n    _p2: u32,\n");
        s.push_str("    offs: array<vec4<u32>, 2>,\n");
        if let Layout::Strided { .. } = layout {
            s.push_str("    shape: array<vec4<u32>, 2>,\n");
            for &i in used {
                let _ = writeln!(s, "    st{i}: array<vec4<u32>, 2>,");
            }
        }
        if !consts.is_empty() {
            let _ = writeln!(s, "    c: array<vec4<f32>, {}>,", consts.len().div_ceil(4));
        }
        s.push_str("}\n");
        let _ = writeln!(s, "@group(0) @binding({}) var<uniform> p: Params;", nb + 1);

        let ty = match root.1 {
            Kind::Int => "i32",
            Kind::Float => "f32",
        };
        let _ = write!(
            s,
            "fn ew_expr({}) -> {ty} {{\n{body}    return {};\n}}\n",
            params.join(", "),
            root.0
        );
        consts
    }

    /// The body for one element (or one vec4) at index `i`.
    fn element_body(&self, layout: Layout, out_dtype: DType) -> String {
        let used = self.used;
        let mut b = String::new();
        let bad = if self.checked { ", &bad" } else { "" };
        if self.checked {
            b.push_str("        var bad = 0u;\n");
        }
        match layout {
            Layout::Linear => {
                let _ = writeln!(
                    b,
                    "        out[i] = ew_store(ew_expr({}{bad}){bad});",
                    self.args(&|i| if self.is_splat(i) {
                        format!("sp{i}")
                    } else {
                        self.read(i, format!("{}[i]", self.src(i)))
                    })
                );
            }
            Layout::Vec4 => {
                // p.n counts vec4s here.
                for &i in used {
                    if !self.is_splat(i) {
                        let _ = writeln!(b, "        let v{i} = {}[i];", self.src(i));
                    }
                }
                let lanes: Vec<String> = ["x", "y", "z", "w"]
                    .iter()
                    .map(|c| {
                        let a = self.args(&|i| {
                            if self.is_splat(i) {
                                format!("sp{i}")
                            } else {
                                self.read(i, format!("v{i}.{c}"))
                            }
                        });
                        format!("ew_store(ew_expr({a}{bad}){bad})")
                    })
                    .collect();
                let _ = writeln!(
                    b,
                    "        out[i] = vec4<{}>({});",
                    out_dtype.wgsl(),
                    lanes.join(", ")
                );
            }
            Layout::Strided { rank } => {
                b.push_str("        var rem = i;\n");
                for (k, &i) in used.iter().enumerate() {
                    let _ = writeln!(b, "        var o{i} = p.offs[{}][{}];", k / 4, k % 4);
                }
                for d in (0..rank).rev() {
                    let (q, r) = (d / 4, d % 4);
                    if d == 0 {
                        b.push_str("        let c0 = rem;\n");
                    } else {
                        let _ = writeln!(
                            b,
                            "        let c{d} = rem % p.shape[{q}][{r}];\n        rem = rem / p.shape[{q}][{r}];"
                        );
                    }
                    for &i in used {
                        let _ = writeln!(b, "        o{i} = o{i} + c{d} * p.st{i}[{q}][{r}];");
                    }
                }
                let _ = writeln!(
                    b,
                    "        out[i] = ew_store(ew_expr({}{bad}){bad});",
                    self.args(&|i| self.read(i, format!("{}[o{i}]", self.src(i))))
                );
            }
        }
        if self.checked {
            // One flag per dispatch, read back after the run (`Recorder::check_flag`).
            b.push_str(
                "        if (bad != 0u) {\n            atomicStore(&ew_err[1], bad);\n            \
                 atomicStore(&ew_err[0], 1u);\n        }\n",
            );
        }
        b
    }

    /// The entry point: `items` elements (or vec4s) per invocation, each running `body`.
    fn main_entry(&self, s: &mut String, items: u32, body: &str, bounds: Bounds) {
        let _ = writeln!(s, "const WG: u32 = {}u;", WG);
        s.push_str(
            "@compute @workgroup_size(WG)\nfn main(@builtin(workgroup_id) wid: vec3<u32>, \
             @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {\n",
        );
        let _ = writeln!(
            s,
            "    let base = (wid.y * nwg.x + wid.x) * (WG * {items}u) + lid;"
        );
        // Splatted operands: one load per invocation, not one per element.
        for (k, &i) in self.used.iter().enumerate() {
            if self.is_splat(i) {
                let _ = writeln!(
                    s,
                    "    let sp{i} = {};",
                    self.read(i, format!("{}[p.offs[{}][{}]]", self.src(i), k / 4, k % 4))
                );
            }
        }
        // Unrolled (a WGSL loop gets naga's loop-bounding counter, and lavapipe a real loop),
        // and never an early `return`: lavapipe tracks a returned lane with extra mask work
        // in every later instruction (8-9% of chain-16m, see `Bounds`).
        for k in 0..items {
            match bounds {
                Bounds::Guard => {
                    let _ = writeln!(s, "    {{\n        let i = base + {k}u * WG;");
                    s.push_str("        if (i < p.n) {\n");
                    for line in body.lines() {
                        let _ = writeln!(s, "    {line}");
                    }
                    s.push_str("        }\n    }\n");
                }
                Bounds::Clamp => {
                    let _ = writeln!(
                        s,
                        "    {{\n        let i = min(base + {k}u * WG, p.n - 1u);"
                    );
                    s.push_str(body);
                    s.push_str("    }\n");
                }
            }
        }
        s.push_str("}\n");
    }
}

/// Coalesced view of the iteration space: shape and, per input, strides and offset.
struct Plan {
    shape: Vec<usize>,
    strides: Vec<Vec<usize>>,
    offsets: Vec<usize>,
}

/// Drops size-1 dims and merges dims across which every input is contiguous, so the common
/// dense case becomes rank 1 and broadcast/transposed cases index as few dims as possible.
fn coalesce(shape: &[usize], strides: &[Vec<usize>], offsets: Vec<usize>) -> Plan {
    let keep: Vec<usize> = (0..shape.len()).filter(|&d| shape[d] != 1).collect();
    let mut out_shape: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for &d in &keep {
        let mergeable = !out_shape.is_empty()
            && strides.iter().enumerate().all(|(k, st)| {
                // previous (outer) stride == this stride * this size
                *out_strides[k].last().unwrap_or(&0) == st[d] * shape[d]
            });
        if mergeable {
            let last = out_shape.len() - 1;
            out_shape[last] *= shape[d];
            for (k, st) in strides.iter().enumerate() {
                out_strides[k][last] = st[d];
            }
        } else {
            out_shape.push(shape[d]);
            for (k, st) in strides.iter().enumerate() {
                out_strides[k].push(st[d]);
            }
        }
    }
    if out_shape.is_empty() {
        out_shape.push(1);
        for s in &mut out_strides {
            s.push(1);
        }
    }
    Plan {
        shape: out_shape,
        strides: out_strides,
        offsets,
    }
}

/// Picks the layout for a coalesced plan of `n` elements.
///
/// vec4 cuts the index math and widens every load and store. It is the better form on
/// lavapipe (`docs/decisions.md#elementwise-vec4`) and the usual one on GPUs, so it is not
/// chosen per adapter class. When n % 4 != 0 the last vec4 runs past n: its extra
/// lanes read whatever follows in the input buffers and write past the end of the fresh
/// output tensor, which no one reads; `encode_fused_with` checks that every buffer really
/// extends to the next multiple of 4 elements (pooled buffers come in >= 256-byte classes).
fn choose_layout(plan: &Plan, n: usize, splat: &[bool]) -> Layout {
    let dense = plan.shape.len() == 1
        && plan
            .strides
            .iter()
            .zip(&plan.offsets)
            .zip(splat)
            .all(|((s, &o), &sp)| sp || ((s[0] == 1 || n == 1) && o == 0));
    if dense {
        Layout::Vec4
    } else {
        Layout::Strided {
            rank: plan.shape.len(),
        }
    }
}

/// Records the fused kernel for `expr` over `inputs` (broadcast to their common shape) and
/// returns the output tensor (contiguous).
pub fn encode_fused(rec: &mut Recorder, inputs: &[&Tensor], expr: &Expr) -> Result<Tensor> {
    encode_fused_with(rec, inputs, expr, None)
}

/// [`encode_fused`] with the layout forced (for benchmarks and layout-equivalence tests):
/// `Linear`/`Vec4` need dense same-shape inputs (one-element inputs excepted); `Strided`'s
/// rank is taken from the coalesced plan whatever rank is given. `None` chooses as usual.
pub fn encode_fused_with(
    rec: &mut Recorder,
    inputs: &[&Tensor],
    expr: &Expr,
    layout: Option<Layout>,
) -> Result<Tensor> {
    encode_fused_impl(rec, inputs, expr, layout, None, None)
}

/// [`encode_fused_with`] with the adapter class whose kernel variant to use (see [`Bounds`])
/// forced too, so that tests check both variants on any adapter. `None`: the device's class.
pub fn encode_fused_variant(
    rec: &mut Recorder,
    inputs: &[&Tensor],
    expr: &Expr,
    layout: Option<Layout>,
    class: Option<AdapterClass>,
) -> Result<Tensor> {
    encode_fused_impl(rec, inputs, expr, layout, None, class)
}

/// [`encode_fused`] writing its output into the buffer of `inputs[alias]` (the memory
/// planner's in-place elementwise) and returning that tensor. Only when the caller knows
/// nothing reads `inputs[alias]` afterwards. Exact because each invocation reads element `i`
/// of the aliased input before writing element `i`, and nothing else reads that buffer in the
/// dispatch; so it is taken only when the input is dense (contiguous, offset 0) with the
/// output's shape and dtype, is read by the expression, and no other input shares its
/// buffer. Otherwise this is plain [`encode_fused`] (a fresh output).
///
/// It also relies on every element being read and written by exactly one invocation: a bounds
/// form that lets out-of-range invocations recompute a clamped element would re-read an
/// element already overwritten, so in-place kernels must keep the `if (i < n)` guard.
pub fn encode_fused_in_place(
    rec: &mut Recorder,
    inputs: &[&Tensor],
    expr: &Expr,
    alias: usize,
) -> Result<Tensor> {
    encode_fused_impl(rec, inputs, expr, None, Some(alias), None)
}

fn encode_fused_impl(
    rec: &mut Recorder,
    inputs: &[&Tensor],
    expr: &Expr,
    layout: Option<Layout>,
    alias: Option<usize>,
    class: Option<AdapterClass>,
) -> Result<Tensor> {
    let device = rec.device().clone();
    let class = class.unwrap_or_else(|| device.class());
    same_device("elementwise", &device, inputs)?;
    if inputs.is_empty() {
        return Err(Error::invalid("elementwise", "no input tensors"));
    }
    let used = expr.inputs_used();
    if let Some(&bad) = used.iter().find(|&&i| i >= inputs.len()) {
        return Err(Error::invalid(
            "elementwise",
            format!(
                "expression reads input {bad} but {} inputs were given",
                inputs.len()
            ),
        ));
    }
    let shape = output_shape(inputs)?;
    let dtypes: Vec<DType> = inputs.iter().map(|t| t.dtype()).collect();
    if (expr.uses_f16_cast() || expr.out_dtype(&dtypes) == DType::F16) && !device.has_f16() {
        return Err(Error::MissingFeature {
            what: "an f16 cast in an elementwise expression".into(),
            feature: "SHADER_F16",
            adapter: device.summary().name.clone(),
        });
    }
    let n = crate::tensor::numel(&shape);
    let out_dtype = expr.out_dtype(&dtypes);
    let alias = alias.filter(|&a| can_alias(inputs, &used, a, &shape, out_dtype));
    let out = match alias {
        Some(a) => inputs[a].clone(),
        None => Tensor::empty(&device, &shape, out_dtype)?,
    };
    if n == 0 {
        return Ok(out);
    }
    let strides: Vec<Vec<usize>> = used
        .iter()
        .map(|&i| {
            broadcast_strides(inputs[i].shape(), inputs[i].strides(), &shape)
                .expect("shape was broadcast from this input")
        })
        .collect();
    let offsets = used.iter().map(|&i| inputs[i].offset()).collect();
    let plan = coalesce(&shape, &strides, offsets);
    if plan.shape.len() > MAX_RANK {
        return Err(Error::shape(
            "elementwise",
            format!(
                "output shape {shape:?} indexes {} dims after coalescing; at most {MAX_RANK}",
                plan.shape.len()
            ),
        ));
    }
    // Inputs of one element (scalars, or broadcast from shape [1, 1]) are splatted.
    let splat: Vec<bool> = used.iter().map(|&i| inputs[i].numel() == 1).collect();
    let splat_idx: Vec<usize> = used
        .iter()
        .zip(&splat)
        .filter(|(_, &sp)| sp)
        .map(|(&i, _)| i)
        .collect();
    let mut chosen = choose_layout(&plan, n, &splat);
    if chosen == Layout::Vec4 && !n.is_multiple_of(4) {
        let padded = n.next_multiple_of(4) as u64;
        let fits = |t: &Tensor| t.buffer().size() >= padded * t.dtype().size() as u64;
        let all_fit = fits(&out)
            && used
                .iter()
                .zip(&splat)
                .all(|(&i, &sp)| sp || fits(inputs[i]));
        if !all_fit {
            chosen = Layout::Linear;
        }
    }
    let mut layout = forced_layout(layout, chosen, plan.shape.len())?;
    let mut kernel =
        ElementwiseKernel::generate_impl(expr, &dtypes, layout, &splat_idx, alias, class)?;
    if kernel.checked && layout == Layout::Vec4 && !n.is_multiple_of(4) {
        // The last vec4's lanes past n compute on whatever follows the inputs, and a checked
        // kernel would report their overflows or divisions by zero.
        layout = Layout::Linear;
        kernel = ElementwiseKernel::generate_impl(expr, &dtypes, layout, &splat_idx, alias, class)?;
    }
    let pipeline = device.own_pipeline(&kernel.name, &kernel.source, "main")?;

    let items = if layout == Layout::Vec4 {
        n.div_ceil(4)
    } else {
        n
    };
    let params = pack_params(items, &plan, layout, &kernel.consts);
    let flag = kernel.checked.then(|| rec.check_flag(int_error));
    let bufs: Vec<&wgpu::Buffer> = used
        .iter()
        .filter(|&&i| alias != Some(i))
        .map(|&i| inputs[i].buffer())
        .chain(std::iter::once(out.buffer()))
        .chain(flag.as_ref())
        .collect();
    let read_bytes: u64 = used.iter().map(|&i| inputs[i].distinct_bytes()).sum();
    let cost = Cost {
        flops: kernel.flops_per_element * n as u64,
        bytes: read_bytes + (n * out_dtype.size()) as u64,
    };
    let per_group = WG as u64 * items_per_invocation(layout) as u64;
    let groups = grid_1d(&device, (items as u64).div_ceil(per_group))?;
    rec.dispatch(
        &kernel.name,
        &pipeline,
        &bufs,
        Some(bytemuck::cast_slice(&params)),
        groups,
        cost,
    )?;
    Ok(out)
}

/// The broadcast shape of all `inputs`. Every input takes part, read or not, so the shape
/// never depends on which leaves a rewritten tree happens to keep.
fn output_shape(inputs: &[&Tensor]) -> Result<Vec<usize>> {
    let mut shape: Vec<usize> = Vec::new();
    for t in inputs {
        shape = broadcast_shapes(&shape, t.shape()).ok_or_else(|| {
            let shapes: Vec<_> = inputs.iter().map(|t| t.shape().to_vec()).collect();
            Error::shape(
                "elementwise",
                format!("cannot broadcast input shapes {shapes:?}"),
            )
        })?;
    }
    Ok(shape)
}

/// Whether the output may take the buffer of `inputs[a]` (see [`encode_fused_in_place`]):
/// read by the expression, dense with the output's shape and dtype, more than one element,
/// and no other read input shares its buffer.
fn can_alias(inputs: &[&Tensor], used: &[usize], a: usize, shape: &[usize], out: DType) -> bool {
    inputs.get(a).is_some_and(|t| {
        used.contains(&a)
            && t.numel() > 1
            && t.shape() == shape
            && t.dtype() == out
            && t.is_contiguous()
            && used
                .iter()
                .all(|&i| i == a || inputs[i].buffer() != t.buffer())
    })
}

/// The layout to run: `chosen` unless the caller forced one (`forced`; a forced strided
/// layout takes the plan's `rank`); errors where the forced layout does not fit.
fn forced_layout(forced: Option<Layout>, chosen: Layout, rank: usize) -> Result<Layout> {
    Ok(match (forced, chosen) {
        (None, c) => c,
        (Some(Layout::Strided { .. }), _) => Layout::Strided { rank },
        (Some(Layout::Linear), Layout::Linear | Layout::Vec4) => Layout::Linear,
        (Some(Layout::Vec4), Layout::Vec4) => Layout::Vec4,
        (Some(want), got) => {
            return Err(Error::invalid(
                "elementwise",
                format!("layout {want:?} does not fit these inputs (they need {got:?})"),
            ))
        }
    })
}

/// The kernel's params: the item count, the offsets, the coalesced shape and strides
/// (strided layout only), then the expression constants.
fn pack_params(items: usize, plan: &Plan, layout: Layout, consts: &[f32]) -> Vec<u32> {
    let mut params: Vec<u32> = vec![items as u32, 0, 0, 0];
    let mut offs = [0u32; 8];
    for (k, &o) in plan.offsets.iter().enumerate() {
        offs[k] = o as u32;
    }
    params.extend_from_slice(&offs);
    if let Layout::Strided { .. } = layout {
        let mut sh = [1u32; MAX_RANK];
        for (d, &v) in plan.shape.iter().enumerate() {
            sh[d] = v as u32;
        }
        params.extend_from_slice(&sh);
        for st in &plan.strides {
            let mut a = [0u32; MAX_RANK];
            for (d, &v) in st.iter().enumerate() {
                a[d] = v as u32;
            }
            params.extend_from_slice(&a);
        }
    }
    params.extend(consts.iter().map(|c| c.to_bits()));
    params
}

/// Evaluates `expr` over `inputs` (broadcast) in one kernel, one submit.
pub fn fused(inputs: &[&Tensor], expr: &Expr) -> Result<Tensor> {
    let first = inputs
        .first()
        .ok_or_else(|| Error::invalid("elementwise", "no input tensors"))?;
    let dev = first.device().clone();
    run_once(&dev, |rec| encode_fused(rec, inputs, expr))
}

/// Records a unary op.
pub fn encode_unary(rec: &mut Recorder, x: &Tensor, op: UnaryOp) -> Result<Tensor> {
    encode_fused(rec, &[x], &Expr::input(0).unary(op))
}

/// A unary op.
pub fn unary(x: &Tensor, op: UnaryOp) -> Result<Tensor> {
    fused(&[x], &Expr::input(0).unary(op))
}

/// Records a binary op with numpy broadcasting.
pub fn encode_binary(rec: &mut Recorder, a: &Tensor, b: &Tensor, op: BinaryOp) -> Result<Tensor> {
    encode_fused(
        rec,
        &[a, b],
        &Expr::binary(op, Expr::input(0), Expr::input(1)),
    )
}

/// A binary op with numpy broadcasting.
pub fn binary(a: &Tensor, b: &Tensor, op: BinaryOp) -> Result<Tensor> {
    fused(&[a, b], &Expr::binary(op, Expr::input(0), Expr::input(1)))
}

fn where_expr() -> Expr {
    Expr::where_(Expr::input(0), Expr::input(1), Expr::input(2))
}

/// Records `where(cond, a, b)` (broadcasting all three).
pub fn encode_where(rec: &mut Recorder, cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    encode_fused(rec, &[cond, a, b], &where_expr())
}

/// `where(cond, a, b)`: `a` where `cond != 0`, else `b` (cond f32, f16 or i32).
pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    fused(&[cond, a, b], &where_expr())
}

/// Records a cast.
pub fn encode_cast(rec: &mut Recorder, x: &Tensor, dtype: DType) -> Result<Tensor> {
    encode_fused(rec, &[x], &Expr::input(0).cast(dtype))
}

/// Casts between f32, f16 (with SHADER_F16) and i32 (float -> i32 truncates, saturates,
/// NaN -> 0).
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    fused(&[x], &Expr::input(0).cast(dtype))
}

macro_rules! binary_fns {
    ($($name:ident, $enc:ident, $op:ident, $doc:literal;)*) => {$(
        #[doc = $doc]
        pub fn $name(a: &Tensor, b: &Tensor) -> Result<Tensor> {
            binary(a, b, BinaryOp::$op)
        }
        #[doc = concat!("Records ", $doc)]
        pub fn $enc(rec: &mut Recorder, a: &Tensor, b: &Tensor) -> Result<Tensor> {
            encode_binary(rec, a, b, BinaryOp::$op)
        }
    )*};
}

binary_fns! {
    add, encode_add, Add, "`a + b` with broadcasting.";
    sub, encode_sub, Sub, "`a - b` with broadcasting.";
    mul, encode_mul, Mul, "`a * b` with broadcasting.";
    div, encode_div, Div, "`a / b` with broadcasting.";
    pow, encode_pow, Pow, "`a ^ b` (C semantics) with broadcasting.";
    maximum, encode_maximum, Max, "NaN-propagating elementwise maximum.";
    minimum, encode_minimum, Min, "NaN-propagating elementwise minimum.";
    eq, encode_eq, Eq, "`a == b` as 0/1 in the float output dtype.";
    ne, encode_ne, Ne, "`a != b` as 0/1 in the float output dtype.";
    lt, encode_lt, Lt, "`a < b` as 0/1 in the float output dtype.";
    le, encode_le, Le, "`a <= b` as 0/1 in the float output dtype.";
    gt, encode_gt, Gt, "`a > b` as 0/1 in the float output dtype.";
    ge, encode_ge, Ge, "`a >= b` as 0/1 in the float output dtype.";
}

macro_rules! unary_fns {
    ($($name:ident, $op:expr, $doc:literal;)*) => {$(
        #[doc = $doc]
        pub fn $name(x: &Tensor) -> Result<Tensor> {
            unary(x, $op)
        }
    )*};
}

unary_fns! {
    neg, UnaryOp::Neg, "`-x`.";
    abs, UnaryOp::Abs, "`|x|`.";
    exp, UnaryOp::Exp, "`e^x`.";
    log, UnaryOp::Log, "Natural logarithm.";
    sqrt, UnaryOp::Sqrt, "Square root.";
    rsqrt, UnaryOp::Rsqrt, "`1 / sqrt(x)`.";
    reciprocal, UnaryOp::Reciprocal, "`1 / x`.";
    erf, UnaryOp::Erf, "The error function.";
    softplus, UnaryOp::Softplus, "`ln(1 + e^x)`.";
    relu, UnaryOp::Act(Activation::Relu), "`max(x, 0)`, NaN-propagating.";
    gelu, UnaryOp::Act(Activation::Gelu), "gelu, erf form.";
    gelu_tanh, UnaryOp::Act(Activation::GeluTanh), "gelu, tanh approximation.";
    silu, UnaryOp::Act(Activation::Silu), "`x * sigmoid(x)`.";
    sigmoid, UnaryOp::Act(Activation::Sigmoid), "`1 / (1 + e^-x)`.";
    tanh, UnaryOp::Act(Activation::Tanh), "tanh.";
}

/// Leaky relu: `x` if `x > 0` else `alpha * x`.
pub fn leaky_relu(x: &Tensor, alpha: f32) -> Result<Tensor> {
    unary(x, UnaryOp::Act(Activation::LeakyRelu(alpha)))
}

/// ONNX HardSigmoid: `clamp(alpha * x + beta, 0, 1)`.
pub fn hard_sigmoid(x: &Tensor, alpha: f32, beta: f32) -> Result<Tensor> {
    unary(x, UnaryOp::HardSigmoid { alpha, beta })
}

/// `clamp(x, min, max)`, NaN-propagating.
pub fn clip(x: &Tensor, min: f32, max: f32) -> Result<Tensor> {
    unary(x, UnaryOp::Clip { min, max })
}

fn chain_b() -> Expr {
    Expr::input(0) * Expr::input(1) + Expr::Const(1.0)
}

/// A representative set of generated kernels (every op at least once, every layout, every
/// storage dtype) for the naga unit test.
pub fn all_variants() -> Vec<(String, String)> {
    let mut v = Vec::new();
    let mut push = |tag: String, e: &Expr, dt: &[DType], layout: Layout| {
        let k = ElementwiseKernel::generate(e, dt, layout).expect("variant generates");
        v.push((format!("{}:{tag}", k.name), k.source));
    };
    let f = [DType::F32, DType::F32, DType::F32];
    for (i, op) in UnaryOp::samples().into_iter().enumerate() {
        push(
            format!("unary{i}"),
            &Expr::input(0).unary(op),
            &f,
            Layout::Linear,
        );
    }
    for op in BinaryOp::ALL {
        let e = Expr::binary(op, Expr::input(0), Expr::input(1));
        push(format!("{op:?}"), &e, &f, Layout::Strided { rank: 3 });
    }
    let chain = (Expr::input(0) * Expr::Const(2.0) + Expr::Const(1.0))
        .unary(UnaryOp::Act(Activation::Relu));
    for layout in [
        Layout::Linear,
        Layout::Vec4,
        Layout::Strided { rank: 1 },
        Layout::Strided { rank: MAX_RANK },
    ] {
        push("chain".into(), &chain, &f, layout);
    }
    push(
        "where".into(),
        &where_expr(),
        &[DType::I32, DType::F32, DType::F32],
        Layout::Vec4,
    );
    for (from, to) in [
        (DType::F32, DType::I32),
        (DType::I32, DType::F32),
        (DType::F32, DType::F16),
        (DType::F16, DType::F32),
        (DType::F16, DType::I32),
        (DType::I32, DType::F16),
    ] {
        for layout in [Layout::Linear, Layout::Vec4, Layout::Strided { rank: 2 }] {
            push(
                format!("cast-{from}-{to}"),
                &Expr::input(0).cast(to),
                &[from],
                layout,
            );
        }
    }
    let f16 = [DType::F16, DType::F16];
    push(
        "f16-add".into(),
        &(Expr::input(0) + Expr::input(1)),
        &f16,
        Layout::Vec4,
    );
    // Inputs the tree skips get no binding.
    push(
        "skip-input".into(),
        &Expr::input(2).unary(UnaryOp::Exp),
        &f,
        Layout::Linear,
    );
    for layout in [Layout::Linear, Layout::Vec4, Layout::Strided { rank: 2 }] {
        let k =
            ElementwiseKernel::generate_aliased(&chain_b(), &[DType::F32; 2], layout, &[], Some(0))
                .expect("in place");
        v.push((format!("{}:in-place", k.name), k.source));
    }
    let k = ElementwiseKernel::generate_splat(&chain_b(), &[DType::F32; 2], Layout::Vec4, &[1])
        .expect("splat");
    v.push((format!("{}:splat", k.name), k.source));
    // The CPU variant (clamped indices) of every layout, with a splat and an f16 cast.
    let cast = chain_b().cast(DType::F16);
    for layout in [Layout::Linear, Layout::Vec4, Layout::Strided { rank: 3 }] {
        for (tag, e, sp) in [("chain", &chain, &[][..]), ("splat-f16", &cast, &[1][..])] {
            let k = ElementwiseKernel::generate_for(
                e,
                &[DType::F32, DType::F16],
                layout,
                sp,
                AdapterClass::Cpu,
            )
            .expect("cpu variant");
            v.push((format!("{}:cpu-{tag}", k.name), k.source));
        }
    }
    let k = ElementwiseKernel::generate_splat(&chain_b(), &[DType::F32; 2], Layout::Linear, &[1])
        .expect("splat");
    v.push((format!("{}:splat", k.name), k.source));
    // Integer arithmetic: every checked op, stored as i32 and (checked) as f32, each layout,
    // splatted, in place and clamped.
    let (a, b) = (Expr::input(0), Expr::input(1));
    let int_tree = Expr::where_(
        Expr::binary(BinaryOp::Lt, a.clone(), b.clone()),
        (a.clone() * b.clone() - a.clone().unary(UnaryOp::Neg)).unary(UnaryOp::Abs),
        Expr::binary(
            BinaryOp::Max,
            a.clone() + b.clone(),
            (a.clone() / b.clone()).cast(DType::I32),
        ),
    );
    let i = [DType::I32, DType::I32];
    for (tag, e) in [
        ("int-i32", int_tree.clone().cast(DType::I32)),
        ("int-f32", int_tree),
    ] {
        for layout in [Layout::Linear, Layout::Vec4, Layout::Strided { rank: 2 }] {
            for (splat, alias, class) in [
                (&[][..], None, AdapterClass::Gpu),
                (&[1][..], None, AdapterClass::Cpu),
                (&[][..], Some(0), AdapterClass::Gpu),
            ] {
                // In place needs the output's dtype: only the i32 form.
                if alias.is_some() && tag == "int-f32" {
                    continue;
                }
                let k = ElementwiseKernel::generate_impl(&e, &i, layout, splat, alias, class)
                    .expect("int variant");
                assert!(k.checked, "{tag}");
                v.push((format!("{}:{tag}", k.name), k.source));
            }
        }
    }
    v
}
