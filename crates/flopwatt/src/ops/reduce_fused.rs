//! Fused reductions: a reduction that reads its input through a generated elementwise
//! expression (a *prologue*: `sum(x * x)`, `mean(|x - y|)`, `max(exp(x))`), optionally
//! followed, row by row, by a generated elementwise expression that consumes the reduction
//! result and the row (an *epilogue*: `x - mean(x, -1, keepdim)`, `(x - mean(x))^2`,
//! `x * rsqrt(mean(x * x) + eps)`).
//!
//! The expressions are [`Expr`] trees compiled by the elementwise generator
//! ([`crate::ops::elementwise`]'s `expr_function`), so fused and unfused paths evaluate the
//! same WGSL per element; only where the values flow differs. Kernels come from
//! `shaders/reduce_fused_common.wgsl` plus generated bindings and entry points.
//!
//! Indexing: every input is read through its strides and offset, broadcast to the reduction
//! input's shape. Kept dims and reduced dims are coalesced separately (size-1 dims dropped,
//! neighbours merged where every input allows), so each invocation computes its start offsets
//! once and then walks its reduced run with an odometer (additions only, no division per
//! element).
//!
//! Two kernel families, as for plain reductions ([`Strategy`]):
//! - *direct* (CPU adapters): one invocation per output element (and part of its reduced run);
//!   no shared memory, no barriers.
//! - *tree* (GPUs, and rows too few to fill a CPU adapter in row mode): one workgroup per
//!   output element (and part), lanes stride over the run, then a shared-memory tree.
//!
//! Prologue mode splits long runs into parts like `ops::reduce` and finishes the partials with
//! the plain reduction kernels. Row mode (an epilogue) keeps one row per invocation or
//! workgroup: the reduction result stays in a register and is never written.

use std::fmt::Write as _;

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::exec::{grid_1d, Cost, Recorder};
use crate::ops::elementwise::{expr_function, expr_uses_f16, helpers, Expr};
use crate::ops::reduce::{encode_reduce_with, plan_parts, ReduceOp, Strategy};
use crate::ops::{same_device, ACTIVATION_WGSL};
use crate::tensor::{broadcast_strides, numel, DType, Tensor};

/// The most dims of each kind (kept, reduced) after coalescing.
pub const MAX_DIMS: usize = 8;
/// The most distinct tensor inputs one fused reduction reads (one storage binding each, plus
/// the output: the 8 storage bindings every adapter offers).
pub const MAX_INPUTS: usize = 7;
const WG_DIRECT: u32 = 64;
/// vec4s of adjacent outputs per invocation in the kept-dim vec4 kernel (16 columns).
const KW: usize = 4;
const WG_TREE: u32 = 256;
/// Row mode on CPU adapters uses the tree kernel below this many rows (as the norm kernels
/// do): a handful of invocations cannot fill the cores.
const MIN_DIRECT_ROWS: usize = 256;

/// What a fused reduction computes.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedReduce {
    /// Sum, Mean, Max, Min or Prod (arg reductions are not fusable).
    pub op: ReduceOp,
    /// Shape of the reduction's (virtual) input: the inputs broadcast to it.
    pub shape: Vec<usize>,
    /// Reduced axes (non-negative, sorted, distinct).
    pub axes: Vec<usize>,
    /// Keep reduced dims as 1 (prologue mode's output shape).
    pub keepdims: bool,
    /// The reduction's input per element, over the inputs (`Expr::Input(i)`).
    pub pre: Expr,
    /// Row mode: the output per element of `shape`, over the inputs plus
    /// `Expr::Input(inputs.len())`, the reduction result of the element's row. The reduced
    /// axes must then be the trailing ones.
    pub post: Option<Expr>,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Header {
    n_out: u32,
    parts: u32,
    chunk: u32,
    n_red: u32,
    scale: f32,
    nk: u32,
    nr: u32,
    _p0: u32,
}

/// Coalesces one group of dims (kept or reduced, in order) given every input's strides over
/// them: size-1 dims dropped, neighbours merged where every input is contiguous across them.
fn coalesce(
    dims: &[usize],
    shape: &[usize],
    strides: &[Vec<usize>],
) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out: Vec<usize> = Vec::new();
    let mut st: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for &d in dims {
        if shape[d] == 1 {
            continue;
        }
        let merge = !out.is_empty()
            && strides
                .iter()
                .zip(&st)
                .all(|(s, o)| *o.last().expect("non-empty") == s[d] * shape[d]);
        if merge {
            *out.last_mut().expect("non-empty") *= shape[d];
            for (o, s) in st.iter_mut().zip(strides) {
                *o.last_mut().expect("non-empty") = s[d];
            }
        } else {
            out.push(shape[d]);
            for (o, s) in st.iter_mut().zip(strides) {
                o.push(s[d]);
            }
        }
    }
    (out, st)
}

fn arr8(v: &[usize]) -> [u32; 8] {
    let mut a = [0u32; 8];
    for (d, &x) in v.iter().enumerate() {
        a[d] = x as u32;
    }
    a
}

/// A generated kernel: its WGSL, the constants its params carry (after the strides), and the
/// inputs it binds, in binding order.
struct Source {
    text: String,
    consts: Vec<f32>,
    bound: Vec<usize>,
}

/// Generates the kernel for `spec` over `dtypes` inputs with `nr` coalesced reduced dims.
///
/// `vec4` (direct entry only): the innermost reduced dim and every run are multiples of 4,
/// inputs with `wide[i]` are read as vec4 (inner stride 1, offsets and other strides multiples
/// of 4), the others are constant along the inner dim (stride 0) and read once per vec4; row
/// mode stores vec4.
///
/// `kept4` (with `vec4`, prologue mode, direct entry only): the vec4 runs along the innermost
/// *kept* dim instead (a column reduction): each invocation owns [`KW`] vec4s of adjacent
/// outputs and walks the reduced dims once for all of them, so a lane reads 16 * KW
/// contiguous bytes per reduced step, as the plain `cols64` kernel does.
fn generate(
    spec: &FusedReduce,
    dtypes: &[DType],
    nr: usize,
    vec4: Option<&[bool]>,
    kept4: bool,
) -> Result<Source> {
    let reads = Reads::of(spec, dtypes)?;
    let code = op_code(spec.op)?;
    let g = Gen {
        bound: &reads.bound,
        vec4,
        nr,
        step: if vec4.is_some() && !kept4 { 4 } else { 1 },
    };
    let mut consts = Vec::new();
    let mut s = g.preamble(spec, dtypes, &reads, code, kept4, &mut consts)?;
    if kept4 {
        g.kept4_entry(&mut s, &reads.pre);
    } else {
        let row_mode = spec.post.is_some();
        g.direct_entry(&mut s, &reads, row_mode);
        // The tree entry indexes elements; a vec4 kernel is direct only.
        if vec4.is_none() {
            g.tree_entry(&mut s, &reads, row_mode);
        }
    }
    Ok(Source {
        text: s,
        consts,
        bound: reads.bound,
    })
}

/// The inputs a fused reduction's expressions read.
struct Reads {
    /// Read by the prologue (`spec.pre`).
    pre: Vec<usize>,
    /// Read by the epilogue (`spec.post`), the reduction-result slot left out.
    post: Vec<usize>,
    /// Both, sorted: the inputs the kernel binds, in binding order.
    bound: Vec<usize>,
}

impl Reads {
    /// The reads of `spec` over `dtypes` inputs; errors where the kernel cannot bind them (an
    /// input out of range, too many inputs, none, or f16).
    fn of(spec: &FusedReduce, dtypes: &[DType]) -> Result<Reads> {
        let n_in = dtypes.len();
        let pre = spec.pre.inputs_used();
        let post: Vec<usize> = spec
            .post
            .as_ref()
            .map(|e| e.inputs_used().into_iter().filter(|&i| i < n_in).collect())
            .unwrap_or_default();
        let mut bound: Vec<usize> = pre.iter().chain(&post).copied().collect();
        bound.sort_unstable();
        bound.dedup();
        if let Some(&bad) = bound.iter().find(|&&i| i >= n_in) {
            return Err(Error::invalid(
                "reduce_fused",
                format!("expression reads input {bad} but {n_in} inputs were given"),
            ));
        }
        if bound.len() > MAX_INPUTS {
            return Err(Error::invalid(
                "reduce_fused",
                format!("reads {} inputs; at most {MAX_INPUTS}", bound.len()),
            ));
        }
        if bound.is_empty() {
            return Err(Error::invalid(
                "reduce_fused",
                "the expression reads no input",
            ));
        }
        let f16 = expr_uses_f16(&spec.pre) || spec.post.as_ref().is_some_and(expr_uses_f16);
        if f16 || bound.iter().any(|&i| dtypes[i] == DType::F16) {
            return Err(Error::UnsupportedDType {
                op: "reduce_fused",
                dtype: DType::F16,
                hint: "fused reductions read f32 or i32 inputs without f16 casts".into(),
            });
        }
        Ok(Reads { pre, post, bound })
    }
}

/// reduce_fused.wgsl's `OP` code for `op` (arg reductions cannot be fused).
fn op_code(op: ReduceOp) -> Result<u32> {
    Ok(match op {
        ReduceOp::Sum | ReduceOp::Mean => 0,
        ReduceOp::Prod => 1,
        ReduceOp::Max => 2,
        ReduceOp::Min => 3,
        ReduceOp::ArgMax | ReduceOp::ArgMin => {
            return Err(Error::invalid(
                "reduce_fused",
                format!("{} cannot take a fused prologue", op.name()),
            ))
        }
    })
}

const LANES: [&str; 4] = ["x", "y", "z", "w"];

/// What the WGSL writers of one kernel share: the inputs it binds, which of them it reads as
/// vec4, and the shape of its reduced-dim walk.
struct Gen<'a> {
    /// Bound inputs, in binding order.
    bound: &'a [usize],
    /// `generate`'s `vec4`: which inputs are read as vec4, if the kernel is a vec4 one.
    vec4: Option<&'a [bool]>,
    /// Coalesced reduced dims.
    nr: usize,
    /// Reduced positions per odometer step (4 where the vec4 runs along the reduced dim).
    step: usize,
}

impl Gen<'_> {
    fn wide(&self, i: usize) -> bool {
        self.vec4.is_some_and(|w| w[i])
    }

    /// Input `i`'s offset in the params.
    fn off(&self, i: usize) -> String {
        let k = self.bound.iter().position(|&b| b == i).expect("bound");
        format!("p.offs[{}][{}]", k / 4, k % 4)
    }

    /// Call arguments: input `i` of `used` read as f32 at index `at(i)`.
    fn args(used: &[usize], at: &dyn Fn(usize) -> String) -> String {
        used.iter()
            .map(|&i| format!("f32(in{i}[{}])", at(i)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Call arguments: lane `c` of each loaded `v{i}` of `used`.
    fn lane_args(used: &[usize], c: &str) -> String {
        used.iter()
            .map(|&i| format!("v{i}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// vec4 loads of `used` at their odometer offsets (a narrow input splat to the 4 lanes).
    fn loads(&self, used: &[usize]) -> String {
        used.iter()
            .map(|&i| {
                if self.wide(i) {
                    format!("let v{i} = vec4<f32>(in{i}[o{i} / 4u]); ")
                } else {
                    format!("let v{i} = vec4<f32>(f32(in{i}[o{i}])); ")
                }
            })
            .collect()
    }

    /// Everything before the entry points: the shared WGSL (activations, elementwise helpers,
    /// reduce_fused_common.wgsl with `OP` = `code`), the bindings, the params struct,
    /// the expression functions (their constants appended to `consts`) and the constants
    /// every entry uses.
    fn preamble(
        &self,
        spec: &FusedReduce,
        dtypes: &[DType],
        reads: &Reads,
        code: u32,
        kept4: bool,
        consts: &mut Vec<f32>,
    ) -> Result<String> {
        let head = crate::shaders::specialize(
            crate::shaders::REDUCE_FUSED_COMMON,
            &[("OP", format!("{code}u"))],
        )?;
        let mut s = String::with_capacity(16384);
        s.push_str(ACTIVATION_WGSL);
        s.push_str(helpers());
        s.push_str(&head);
        for (b, &i) in self.bound.iter().enumerate() {
            let ty = if self.wide(i) {
                format!("vec4<{}>", dtypes[i].wgsl())
            } else {
                dtypes[i].wgsl().to_string()
            };
            let _ = writeln!(
                s,
                "@group(0) @binding({b}) var<storage, read> in{i}: array<{ty}>;"
            );
        }
        let nb = self.bound.len();
        let out_ty = if self.vec4.is_some() && (spec.post.is_some() || kept4) {
            "vec4<f32>"
        } else {
            "f32"
        };
        let _ = writeln!(
            s,
            "@group(0) @binding({nb}) var<storage, read_write> out: array<{out_ty}>;"
        );
        let pre_fn = expr_function(&spec.pre, "pre_expr", &reads.pre, consts);
        let red = dtypes.len(); // the post expression's reduction-result slot
        let post_fn = spec.post.as_ref().map(|e| {
            let mut args = reads.post.clone();
            args.push(red);
            expr_function(e, "post_expr", &args, consts)
        });
        s.push_str(
            "struct Params {\n    n_out: u32,\n    parts: u32,\n    chunk: u32,\n    n_red: u32,\n    \
             scale: f32,\n    nk: u32,\n    nr: u32,\n    _p0: u32,\n    kshape: array<vec4<u32>, 2>,\n    \
             rshape: array<vec4<u32>, 2>,\n    offs: array<vec4<u32>, 2>,\n",
        );
        for &i in self.bound {
            let _ = writeln!(
                s,
                "    ks{i}: array<vec4<u32>, 2>,\n    rs{i}: array<vec4<u32>, 2>,"
            );
        }
        if !consts.is_empty() {
            let _ = writeln!(s, "    c: array<vec4<f32>, {}>,", consts.len().div_ceil(4));
        }
        s.push_str("}\n");
        let _ = writeln!(s, "@group(0) @binding({}) var<uniform> p: Params;", nb + 1);
        s.push_str(&pre_fn);
        if let Some(f) = &post_fn {
            s.push_str(f);
        }
        s.push_str(
            "fn rf_finish(v: f32) -> f32 {\n    return select(v, v * p.scale, OP == 0u);\n}\n",
        );
        let _ = writeln!(
            s,
            "const WG_DIRECT: u32 = {WG_DIRECT}u;\nconst WG_TREE: u32 = {WG_TREE}u;\n\
             var<workgroup> rf_sh: array<f32, WG_TREE>;"
        );
        Ok(s)
    }

    /// A pass over reduced positions [from, to) of the row `row`, walking offsets o{i} of
    /// `used` with an odometer over the nr coalesced reduced dims; `body` uses them.
    fn odometer_pass(&self, s: &mut String, used: &[usize], from: &str, to: &str, body: &str) {
        let (nr, step) = (self.nr, self.step);
        s.push_str("    {\n");
        for &i in used {
            let _ = writeln!(
                s,
                "        var o{i} = {} + rf_unravel(row, p.nk, p.kshape, p.ks{i}) + rf_unravel({from}, p.nr, p.rshape, p.rs{i});",
                self.off(i)
            );
        }
        if nr > 1 {
            let _ = writeln!(s, "        var rem = {from};");
            for d in (0..nr).rev() {
                let _ = writeln!(
                    s,
                    "        var c{d} = rem % p.rshape[{}][{}];\n        rem = rem / p.rshape[{}][{}];",
                    d / 4,
                    d % 4,
                    d / 4,
                    d % 4
                );
            }
        }
        let _ = writeln!(s, "        for (var r = {from}; r < {to}; r += {step}u) {{");
        let _ = writeln!(s, "            {body}");
        if nr > 0 {
            let last = nr - 1;
            let (q, m) = (last / 4, last % 4);
            for &i in used {
                let _ = writeln!(s, "            o{i} += {step}u * p.rs{i}[{q}][{m}];");
            }
            // Carries, innermost first: nested so the common case costs one compare.
            let mut close = 0;
            for d in (1..nr).rev() {
                let (q, m) = (d / 4, d % 4);
                let (q1, m1) = ((d - 1) / 4, (d - 1) % 4);
                let inc = if d == nr - 1 { step } else { 1 };
                let _ = writeln!(
                    s,
                    "            c{d} += {inc}u;\n            if (c{d} == p.rshape[{q}][{m}]) {{\n            c{d} = 0u;"
                );
                for &i in used {
                    let _ = writeln!(
                        s,
                        "            o{i} = o{i} + p.rs{i}[{q1}][{m1}] - p.rshape[{q}][{m}] * p.rs{i}[{q}][{m}];"
                    );
                }
                close += 1;
            }
            if nr > 1 {
                s.push_str("            c0 += 1u;\n");
            }
            for _ in 0..close {
                s.push_str("            }\n");
            }
        }
        s.push_str("        }\n    }\n");
    }

    /// The `direct` entry of a column reduction: vec4 along the kept dim, [`KW`] vec4s of
    /// adjacent outputs per invocation.
    fn kept4_entry(&self, s: &mut String, pre_used: &[usize]) {
        let _ = writeln!(s, "const KW: u32 = {KW}u;");
        s.push_str(
            "@compute @workgroup_size(WG_DIRECT)\nfn direct(@builtin(workgroup_id) wid: vec3<u32>, \
             @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {\n\
             \x20   let t = (wid.y * nwg.x + wid.x) * WG_DIRECT + lid;\n\
             \x20   if (t >= p.n_out / (4u * KW)) {\n        return;\n    }\n\
             \x20   let row = t * 4u * KW;\n\
             \x20   var acc: array<vec4<f32>, KW>;\n\
             \x20   for (var c = 0u; c < KW; c++) {\n        acc[c] = vec4<f32>(rf_identity());\n    }\n",
        );
        let mut body = String::from("for (var c = 0u; c < KW; c++) { ");
        for &i in pre_used {
            if self.wide(i) {
                let _ = write!(body, "let v{i} = vec4<f32>(in{i}[o{i} / 4u + c]); ");
            } else {
                let _ = write!(body, "let v{i} = vec4<f32>(f32(in{i}[o{i}])); ");
            }
        }
        let lanes: Vec<String> = LANES
            .iter()
            .map(|c| {
                format!(
                    "rf_comb(acc[c].{c}, pre_expr({}))",
                    Self::lane_args(pre_used, c)
                )
            })
            .collect();
        let _ = write!(body, "acc[c] = vec4<f32>({}); }}", lanes.join(", "));
        self.odometer_pass(s, pre_used, "0u", "p.n_red", &body);
        s.push_str(
            "    for (var c = 0u; c < KW; c++) {\n        let a = acc[c];\n\
             \x20       out[row / 4u + c] = vec4<f32>(rf_finish(a.x), rf_finish(a.y), rf_finish(a.z), rf_finish(a.w));\n\
             \x20   }\n}\n",
        );
    }

    /// The `direct` entry: one invocation per output (and part of its run), vec4 along the
    /// reduced dim where `vec4`; in row mode it then writes the epilogue over the row.
    fn direct_entry(&self, s: &mut String, reads: &Reads, row_mode: bool) {
        let (pre_used, post_used) = (&reads.pre[..], &reads.post[..]);
        s.push_str(
            "@compute @workgroup_size(WG_DIRECT)\nfn direct(@builtin(workgroup_id) wid: vec3<u32>, \
             @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {\n\
             \x20   let t = (wid.y * nwg.x + wid.x) * WG_DIRECT + lid;\n\
             \x20   if (t >= p.n_out * p.parts) {\n        return;\n    }\n\
             \x20   let part = t % p.parts;\n    let row = t / p.parts;\n\
             \x20   let r0 = part * p.chunk;\n    let r1 = min(p.n_red, r0 + p.chunk);\n\
             \x20   var acc = rf_identity();\n",
        );
        // vec4: per-iteration loads, then one call per lane with lane-wise arguments.
        if self.vec4.is_some() {
            s.push_str("    var a1 = acc;\n    var a2 = acc;\n    var a3 = acc;\n");
            let mut call = self.loads(pre_used);
            for (k, c) in LANES.iter().enumerate() {
                let acc = if k == 0 {
                    "acc".to_string()
                } else {
                    format!("a{k}")
                };
                call += &format!(
                    "{acc} = rf_comb({acc}, pre_expr({})); ",
                    Self::lane_args(pre_used, c)
                );
            }
            self.odometer_pass(s, pre_used, "r0", "r1", &call);
            s.push_str("    acc = rf_comb(rf_comb(acc, a1), rf_comb(a2, a3));\n");
        } else {
            let pre_call = format!(
                "acc = rf_comb(acc, pre_expr({}));",
                Self::args(pre_used, &|i| format!("o{i}"))
            );
            self.odometer_pass(s, pre_used, "r0", "r1", &pre_call);
        }
        s.push_str("    let red = rf_finish(acc);\n");
        if row_mode {
            if self.vec4.is_some() {
                let lanes: Vec<String> = LANES
                    .iter()
                    .map(|c| {
                        let mut a = Self::lane_args(post_used, c);
                        if !a.is_empty() {
                            a.push_str(", ");
                        }
                        format!("post_expr({a}red)")
                    })
                    .collect();
                let call = format!(
                    "{}out[(row * p.n_red + r) / 4u] = vec4<f32>({});",
                    self.loads(post_used),
                    lanes.join(", ")
                );
                self.odometer_pass(s, post_used, "0u", "p.n_red", &call);
            } else {
                let mut a = Self::args(post_used, &|i| format!("o{i}"));
                if !a.is_empty() {
                    a.push_str(", ");
                }
                let call = format!("out[row * p.n_red + r] = post_expr({a}red);");
                self.odometer_pass(s, post_used, "0u", "p.n_red", &call);
            }
        } else {
            s.push_str("    out[t] = red;\n");
        }
        s.push_str("}\n");
    }

    /// The `tree` entry: a workgroup per output (and part of its run), lanes striding over
    /// the run, then a shared-memory tree; in row mode the workgroup writes the epilogue.
    fn tree_entry(&self, s: &mut String, reads: &Reads, row_mode: bool) {
        let (pre_used, post_used) = (&reads.pre[..], &reads.post[..]);
        s.push_str(
            "@compute @workgroup_size(WG_TREE)\nfn tree(@builtin(workgroup_id) wid: vec3<u32>, \
             @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {\n\
             \x20   let t = wid.y * nwg.x + wid.x;\n\
             \x20   let valid = t < p.n_out * p.parts;\n\
             \x20   let part = t % p.parts;\n    let row = t / p.parts;\n\
             \x20   var acc = rf_identity();\n    if (valid) {\n\
             \x20       let r0 = part * p.chunk;\n        let r1 = min(p.n_red, r0 + p.chunk);\n",
        );
        for &i in self.bound {
            let _ = writeln!(
                s,
                "        let k{i} = {} + rf_unravel(row, p.nk, p.kshape, p.ks{i});",
                self.off(i)
            );
        }
        let at = |i: usize| format!("k{i} + rf_unravel(r, p.nr, p.rshape, p.rs{i})");
        let _ = writeln!(
            s,
            "        for (var r = r0 + lid; r < r1; r += WG_TREE) {{\n            acc = rf_comb(acc, pre_expr({}));\n        }}\n    }}",
            Self::args(pre_used, &at)
        );
        s.push_str(
            "    rf_sh[lid] = acc;\n    workgroupBarrier();\n\
             \x20   for (var s = WG_TREE / 2u; s > 0u; s >>= 1u) {\n        if (lid < s) {\n\
             \x20           rf_sh[lid] = rf_comb(rf_sh[lid], rf_sh[lid + s]);\n        }\n\
             \x20       workgroupBarrier();\n    }\n    let red = rf_finish(rf_sh[0]);\n",
        );
        if row_mode {
            let mut a = Self::args(post_used, &at);
            if !a.is_empty() {
                a.push_str(", ");
            }
            // `k{i}` lives inside the first `if (valid)`: redeclare for the second loop.
            s.push_str("    if (valid) {\n");
            for &i in post_used {
                let _ = writeln!(
                    s,
                    "        let k{i} = {} + rf_unravel(row, p.nk, p.kshape, p.ks{i});",
                    self.off(i)
                );
            }
            let _ = writeln!(
                s,
                "        for (var r = lid; r < p.n_red; r += WG_TREE) {{\n            out[row * p.n_red + r] = post_expr({a}red);\n        }}\n    }}"
            );
        } else {
            s.push_str("    if (lid == 0u && valid) {\n        out[t] = red;\n    }\n");
        }
        s.push_str("}\n");
    }
}

/// Which inputs the direct kernel can read as vec4 (`Some(wide)`), or `None` when the vec4
/// form does not apply: the innermost reduced dim must be a multiple of 4, and every input the
/// expressions read must either run along it densely (stride 1, with its offset and every
/// other stride a multiple of 4, so each vec4 is aligned) or be constant along it (stride 0).
fn vec4_inputs(
    spec: &FusedReduce,
    inputs: &[&Tensor],
    rshape: &[usize],
    kst: &[Vec<usize>],
    rst: &[Vec<usize>],
) -> Option<Vec<bool>> {
    let last = rshape.len().checked_sub(1)?;
    if !rshape[last].is_multiple_of(4) {
        return None;
    }
    let n_in = inputs.len();
    let mut used = spec.pre.inputs_used();
    if let Some(e) = &spec.post {
        used.extend(e.inputs_used().into_iter().filter(|&i| i < n_in));
    }
    let mut wide = vec![false; n_in];
    for &i in &used {
        match rst[i][last] {
            0 => {}
            1 => {
                let aligned = inputs[i].offset().is_multiple_of(4)
                    && kst[i].iter().all(|s| s.is_multiple_of(4))
                    && rst[i][..last].iter().all(|s| s.is_multiple_of(4));
                if !aligned {
                    return None;
                }
                wide[i] = true;
            }
            _ => return None,
        }
    }
    wide.iter().any(|&w| w).then_some(wide)
}

/// The inputs to read as vec4 along the innermost kept dim (see `generate`'s `kept4`), or
/// `None`: that dim must be a multiple of 4 * [`KW`] with enough blocks to fill the device,
/// and every input the prologue reads must run along it densely and aligned (stride 1, offset
/// and every other stride multiples of 4) or be constant along it.
fn kept_vec4_inputs(
    spec: &FusedReduce,
    inputs: &[&Tensor],
    kshape: &[usize],
    kst: &[Vec<usize>],
    rst: &[Vec<usize>],
) -> Option<Vec<bool>> {
    let last = kshape.len().checked_sub(1)?;
    let n_out: usize = kshape.iter().product();
    if !kshape[last].is_multiple_of(4 * KW) || n_out / (4 * KW) < 128 {
        return None;
    }
    let mut wide = vec![false; inputs.len()];
    for i in spec.pre.inputs_used() {
        match kst[i][last] {
            0 => {}
            1 => {
                let aligned = inputs[i].offset().is_multiple_of(4)
                    && kst[i][..last].iter().all(|s| s.is_multiple_of(4))
                    && rst[i].iter().all(|s| s.is_multiple_of(4));
                if !aligned {
                    return None;
                }
                wide[i] = true;
            }
            _ => return None,
        }
    }
    wide.iter().any(|&w| w).then_some(wide)
}

/// Every variant shape the generator emits (prologue and row mode, 0..3 reduced dims, both
/// entry points live in each), for the naga test.
pub fn all_variants() -> Vec<(String, String)> {
    let x = || Expr::input(0);
    let mut v = Vec::new();
    let cases: Vec<(&str, ReduceOp, Expr, Option<Expr>)> = vec![
        ("sumsq", ReduceOp::Sum, x() * x(), None),
        (
            "mean-abs-diff",
            ReduceOp::Mean,
            (x() - Expr::input(1)).unary(crate::ops::elementwise::UnaryOp::Abs),
            None,
        ),
        (
            "max-exp",
            ReduceOp::Max,
            x().unary(crate::ops::elementwise::UnaryOp::Exp),
            None,
        ),
        ("min", ReduceOp::Min, x(), None),
        ("prod", ReduceOp::Prod, x() + Expr::Const(1.0), None),
        ("center", ReduceOp::Mean, x(), Some(x() - Expr::input(2))),
        (
            "rms",
            ReduceOp::Mean,
            x() * x(),
            Some(
                x() * (Expr::input(2) + Expr::Const(1e-5))
                    .unary(crate::ops::elementwise::UnaryOp::Rsqrt)
                    * Expr::input(1),
            ),
        ),
        (
            "only-red",
            ReduceOp::Max,
            x(),
            Some(Expr::input(2) * Expr::Const(2.0)),
        ),
    ];
    for (name, op, pre, post) in cases {
        for nr in [0usize, 1, 3] {
            let spec = FusedReduce {
                op,
                shape: vec![4, 4],
                axes: vec![1],
                keepdims: true,
                pre: pre.clone(),
                post: post.clone(),
            };
            let src = generate(&spec, &[DType::F32, DType::I32], nr, None, false)
                .expect("variant generates");
            v.push((format!("reduce_fused.{name}.nr{nr}"), src.text));
            if nr > 0 {
                let src = generate(
                    &spec,
                    &[DType::F32, DType::I32],
                    nr,
                    Some(&[true, false]),
                    false,
                )
                .expect("vec4 variant generates");
                v.push((format!("reduce_fused.{name}.nr{nr}.vec4"), src.text));
                if spec.post.is_none() {
                    let src = generate(
                        &spec,
                        &[DType::F32, DType::I32],
                        nr,
                        Some(&[true, false]),
                        true,
                    )
                    .expect("kept vec4 variant generates");
                    v.push((format!("reduce_fused.{name}.nr{nr}.kept4"), src.text));
                }
                let src = generate(
                    &spec,
                    &[DType::I32, DType::F32],
                    nr,
                    Some(&[true, true]),
                    false,
                )
                .expect("vec4 variant generates");
                v.push((format!("reduce_fused.{name}.nr{nr}.vec4-i32"), src.text));
            }
        }
    }
    v
}

/// Records the fused reduction of `spec` over `inputs` (each broadcast to `spec.shape`).
///
/// Prologue mode returns the reduction (`spec.shape` with the axes removed, or 1 with
/// keepdims); row mode returns a contiguous tensor of `spec.shape`.
pub fn encode_reduce_fused(
    rec: &mut Recorder,
    inputs: &[&Tensor],
    spec: &FusedReduce,
    strategy: Strategy,
) -> Result<Tensor> {
    let dev = rec.device().clone();
    same_device(OPN, &dev, inputs)?;
    let shape = &spec.shape;
    let rank = shape.len();
    let n = numel(shape);
    if n == 0 {
        return Err(Error::invalid(
            OPN,
            format!("cannot reduce a tensor with no elements (shape {shape:?})"),
        ));
    }
    let mask = reduced_mask(spec)?;
    let row_mode = spec.post.is_some();
    let strides = input_strides(inputs, shape)?;
    let kept: Vec<usize> = (0..rank).filter(|&d| !mask[d]).collect();
    let reduced: Vec<usize> = (0..rank).filter(|&d| mask[d]).collect();
    let dtypes: Vec<DType> = inputs.iter().map(|t| t.dtype()).collect();
    // Bound inputs only take part in the coalescing (others are not read).
    let (kshape, kst) = coalesce(&kept, shape, &strides);
    let (rshape, rst) = coalesce(&reduced, shape, &strides);
    if kshape.len() > MAX_DIMS || rshape.len() > MAX_DIMS {
        return Err(Error::shape(
            OPN,
            format!("shape {shape:?} indexes more than {MAX_DIMS} kept or reduced dims"),
        ));
    }
    let n_out: usize = kshape.iter().product();
    let n_red: usize = rshape.iter().product();
    let dims = Coalesced {
        kshape: &kshape,
        rshape: &rshape,
        kst: &kst,
        rst: &rst,
    };
    let form = Form::choose(spec, inputs, strategy, dev.class(), &dims);
    let src = generate(
        spec,
        &dtypes,
        rshape.len(),
        form.wide.as_deref(),
        form.kept4,
    )?;
    let (parts, chunk) = if row_mode || form.kept4 {
        (1, n_red)
    } else if form.tree {
        plan_parts(n_out, n_red, 2048, WG_TREE as usize * 8, 1)
    } else {
        let align = if form.wide.is_some() { 4 } else { 1 };
        plan_parts(n_out, n_red, 1024, 4096, align)
    };
    let scale = if spec.op == ReduceOp::Mean {
        1.0 / n_red as f32
    } else {
        1.0
    };
    let header = Header {
        n_out: n_out as u32,
        parts: parts as u32,
        chunk: chunk as u32,
        n_red: n_red as u32,
        scale,
        nk: kshape.len() as u32,
        nr: rshape.len() as u32,
        _p0: 0,
    };
    let params = pack_params(&header, &src, inputs, &dims);
    let entry = if form.tree { "tree" } else { "direct" };
    let kname = format!(
        "reduce_fused.{}{}.{}{}",
        spec.op.name(),
        if row_mode { "+epilogue" } else { "+prologue" },
        entry,
        match (form.kept4, &form.wide) {
            (true, _) => "-cols4",
            (false, Some(_)) => "4",
            _ => "",
        }
    );
    let pipe = dev.own_pipeline(&kname, &src.text, entry)?;
    let out_len = if row_mode { n } else { n_out * parts };
    let out = Tensor::empty(&dev, &[out_len], DType::F32)?;
    let bufs: Vec<&wgpu::Buffer> = src
        .bound
        .iter()
        .map(|&i| inputs[i].buffer())
        .chain(std::iter::once(out.buffer()))
        .collect();
    let read: u64 = src.bound.iter().map(|&i| inputs[i].distinct_bytes()).sum();
    let post_ops = spec.post.as_ref().map_or(0, |e| e.op_count());
    let cost = Cost {
        flops: n as u64 * (spec.pre.op_count() + 1 + post_ops),
        bytes: read + 4 * out_len as u64,
    };
    let groups = if form.tree {
        grid_1d(&dev, (n_out * parts) as u64)?
    } else if form.kept4 {
        grid_1d(&dev, ((n_out / (4 * KW)) as u64).div_ceil(WG_DIRECT as u64))?
    } else {
        grid_1d(&dev, ((n_out * parts) as u64).div_ceil(WG_DIRECT as u64))?
    };
    rec.dispatch(
        &kname,
        &pipe,
        &bufs,
        Some(bytemuck::cast_slice(&params)),
        groups,
        cost,
    )?;
    rec.keep_alive(out.clone());
    if row_mode {
        return out.reshape(shape);
    }
    finish_prologue(rec, out, spec, &mask, parts, strategy)
}

/// Prologue mode's result from the kernel's `out` ([n_out * parts]): the partials reduced
/// where a run was split, in the output shape.
fn finish_prologue(
    rec: &mut Recorder,
    out: Tensor,
    spec: &FusedReduce,
    mask: &[bool],
    parts: usize,
    strategy: Strategy,
) -> Result<Tensor> {
    let shape = &spec.shape;
    let out_shape: Vec<usize> = (0..shape.len())
        .filter_map(|d| match (mask[d], spec.keepdims) {
            (false, _) => Some(shape[d]),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    let res = if parts > 1 {
        // The partials are plain values now: finish with the plain kernels (the mean's scale
        // was applied to each partial sum).
        let op = match spec.op {
            ReduceOp::Mean => ReduceOp::Sum,
            o => o,
        };
        let partial = out.reshape(&[out.numel() / parts, parts])?;
        encode_reduce_with(rec, &partial, op, Some(&[1]), false, strategy)?
    } else {
        out
    };
    res.reshape(&out_shape)
}

const OPN: &str = "reduce_fused";

/// Which dims of `spec.shape` are reduced; errors on axes that do not fit the shape, and in
/// row mode on reduced axes that are not the trailing ones.
fn reduced_mask(spec: &FusedReduce) -> Result<Vec<bool>> {
    let shape = &spec.shape;
    let rank = shape.len();
    let mut mask = vec![false; rank];
    for &a in &spec.axes {
        if a >= rank || mask[a] {
            return Err(Error::invalid(
                OPN,
                format!("axes {:?} do not fit shape {shape:?}", spec.axes),
            ));
        }
        mask[a] = true;
    }
    if spec.post.is_some() {
        let first = mask.iter().position(|&m| m).unwrap_or(rank);
        if mask[first..].iter().any(|&m| !m) {
            return Err(Error::invalid(
                OPN,
                format!(
                    "a row epilogue needs the trailing axes reduced; got {:?} of {shape:?}",
                    spec.axes
                ),
            ));
        }
    }
    Ok(mask)
}

/// Every input's strides broadcast to `shape`.
fn input_strides(inputs: &[&Tensor], shape: &[usize]) -> Result<Vec<Vec<usize>>> {
    inputs
        .iter()
        .map(|t| {
            broadcast_strides(t.shape(), t.strides(), shape).ok_or_else(|| {
                Error::shape(
                    OPN,
                    format!("input {:?} does not broadcast to {shape:?}", t.shape()),
                )
            })
        })
        .collect()
}

/// The coalesced kept and reduced dims and every input's strides over them.
struct Coalesced<'a> {
    kshape: &'a [usize],
    rshape: &'a [usize],
    kst: &'a [Vec<usize>],
    rst: &'a [Vec<usize>],
}

/// The kernel a fused reduction runs.
struct Form {
    /// The tree entry (else direct).
    tree: bool,
    /// A column reduction read vec4 along the kept dim (see `generate`'s `kept4`).
    kept4: bool,
    /// Which inputs are read as vec4, if any (see `generate`'s `vec4`).
    wide: Option<Vec<bool>>,
}

impl Form {
    fn choose(
        spec: &FusedReduce,
        inputs: &[&Tensor],
        strategy: Strategy,
        class: crate::device::AdapterClass,
        d: &Coalesced,
    ) -> Form {
        let row_mode = spec.post.is_some();
        let n_out: usize = d.kshape.iter().product();
        let tree = match strategy.resolve(class) {
            Strategy::Tree => true,
            _ => row_mode && strategy == Strategy::Auto && n_out < MIN_DIRECT_ROWS,
        };
        // A column reduction (the innermost kept dim dense) reads vec4 along the kept dim on
        // every adapter: one invocation per output would stride down the columns.
        let kept4 = if row_mode {
            None
        } else {
            kept_vec4_inputs(spec, inputs, d.kshape, d.kst, d.rst)
        };
        let tree = tree && kept4.is_none();
        let wide = if kept4.is_some() {
            kept4.clone()
        } else if tree {
            None
        } else {
            vec4_inputs(spec, inputs, d.rshape, d.kst, d.rst)
        };
        Form {
            tree,
            kept4: kept4.is_some(),
            wide,
        }
    }
}

/// The kernel's params: the header, the coalesced shapes, the bound inputs' offsets, each
/// bound input's kept and reduced strides, then the expression constants.
fn pack_params(header: &Header, src: &Source, inputs: &[&Tensor], d: &Coalesced) -> Vec<u32> {
    let mut params: Vec<u32> = bytemuck::cast_slice(bytemuck::bytes_of(header)).to_vec();
    params.extend(arr8(d.kshape));
    params.extend(arr8(d.rshape));
    let offs: Vec<usize> = src.bound.iter().map(|&i| inputs[i].offset()).collect();
    params.extend(arr8(&offs));
    for &i in &src.bound {
        params.extend(arr8(&d.kst[i]));
        params.extend(arr8(&d.rst[i]));
    }
    params.extend(src.consts.iter().map(|c| c.to_bits()));
    params
}
