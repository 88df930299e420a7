//! Every WGSL kernel family, embedded from `shaders/`, plus the tiny variant mechanism.
//!
//! Each file is complete, valid WGSL on its own with default constants, except the matmul
//! parts, which are valid once `ops::matmul` composes them (every composition is checked by
//! the variant test). A variant replaces
//! the value of named `const` / `alias` / `override` declarations (e.g. a tile size, or the
//! storage type `alias T = f32;` -> `f16`), so nothing here is a template that naga cannot
//! check: [`validate`] runs on every file and on every variant the code generates.

use crate::error::{Error, Result};

/// Matrix multiplication: the part every kernel shares (bindings, batch offsets, epilogue).
/// `ops::matmul` composes each pipeline from it and one of the parts below.
pub const MATMUL: &str = include_str!("../shaders/matmul.wgsl");
/// The CPU register-block kernels' helpers; their entry points are generated.
pub const MATMUL_CPU: &str = include_str!("../shaders/matmul_cpu.wgsl");
/// The texture-fed CPU kernels' bindings and helpers, and `matmul_pack_b`.
pub const MATMUL_CPU_TEXTURE: &str = include_str!("../shaders/matmul_cpu_texture.wgsl");
/// The shared-memory tiled kernel for GPUs.
pub const MATMUL_GPU: &str = include_str!("../shaders/matmul_gpu.wgsl");
/// Matrix-vector products (M or N of 1).
pub const MATMUL_GEMV: &str = include_str!("../shaders/matmul_gemv.wgsl");
/// Reductions over axes (direct, shared-memory tree, strided fallback).
pub const REDUCE: &str = include_str!("../shaders/reduce.wgsl");
/// The fused reductions' helpers (`OP` specialised per reduction): reductions with a generated
/// elementwise prologue and/or row epilogue start from them (see `ops::reduce_fused`).
pub const REDUCE_FUSED_COMMON: &str = include_str!("../shaders/reduce_fused_common.wgsl");
/// [`REDUCE_FUSED_COMMON`] and a sample generated kernel: one complete module, for naga.
#[cfg(test)]
pub const REDUCE_FUSED: &str = concat!(
    include_str!("../shaders/reduce_fused_common.wgsl"),
    include_str!("../shaders/reduce_fused.wgsl")
);
/// Softmax and log-softmax over an axis.
pub const SOFTMAX: &str = include_str!("../shaders/softmax.wgsl");
/// Layer norm and RMS norm over trailing dims.
pub const NORM: &str = include_str!("../shaders/norm.wgsl");
/// The helpers every generated elementwise kernel starts from (see `ops::elementwise`), also
/// the prelude of other kernels that evaluate an elementwise expression (`ops::reduce_fused`).
pub const ELEMENTWISE_COMMON: &str = include_str!("../shaders/elementwise_common.wgsl");
/// [`ELEMENTWISE_COMMON`] and a sample generated kernel: one complete module, for naga.
#[cfg(test)]
pub const ELEMENTWISE: &str = concat!(
    include_str!("../shaders/elementwise_common.wgsl"),
    include_str!("../shaders/elementwise.wgsl")
);
/// Convolution kernels (direct register-blocked conv2d, conv-transpose 2d).
pub const CONV2D: &str = include_str!("../shaders/conv2d.wgsl");
/// conv2d backward: the weight gradient (the input gradient is conv-transpose 2d).
pub const CONV2D_BACKWARD: &str = include_str!("../shaders/conv2d_backward.wgsl");
/// Optimiser updates (SGD with momentum / Nesterov / weight decay, Adam, AdamW), in place.
pub const OPTIM: &str = include_str!("../shaders/optim.wgsl");
/// Pooling kernels (max, average, global average).
pub const POOL: &str = include_str!("../shaders/pool.wgsl");
/// Layout kernels: resize (nearest, linear) and pad (constant, reflect, edge).
pub const RESIZE: &str = include_str!("../shaders/resize.wgsl");
/// Fused attention (streaming online-softmax and shared-memory tiled variants).
pub const ATTENTION: &str = include_str!("../shaders/attention.wgsl");
/// Composed attention baseline (scores matmul, row softmax, PV matmul) for comparison.
pub const ATTENTION_COMPOSED: &str = include_str!("../shaders/attention_composed.wgsl");
/// Index kernels: gather, strided copy (slice, concat, i32 copies), N-d pad.
pub const GATHER: &str = include_str!("../shaders/gather.wgsl");
/// Peak-throughput probes (FMA loops, copy).
pub const PEAK: &str = include_str!("../shaders/peak.wgsl");

/// Every shader file that is a whole module by itself, by file name. Fragments that their
/// launch code completes (the matmul files, conv2d.wgsl, attention.wgsl) are validated through
/// [`all_variants`].
#[cfg(test)]
pub const FILES: &[(&str, &str)] = &[
    ("activation.wgsl", crate::ops::ACTIVATION_WGSL),
    ("elementwise_common.wgsl", ELEMENTWISE_COMMON),
    ("elementwise.wgsl", ELEMENTWISE),
    ("conv2d_backward.wgsl", CONV2D_BACKWARD),
    ("optim.wgsl", OPTIM),
    ("pool.wgsl", POOL),
    ("resize.wgsl", RESIZE),
    ("attention_composed.wgsl", ATTENTION_COMPOSED),
    ("peak.wgsl", PEAK),
    ("gather.wgsl", GATHER),
    ("reduce.wgsl", REDUCE),
    ("reduce_fused_common.wgsl", REDUCE_FUSED_COMMON),
    ("reduce_fused.wgsl", REDUCE_FUSED),
    ("softmax.wgsl", SOFTMAX),
    ("norm.wgsl", NORM),
];

/// Parses and validates WGSL with naga: the module and its analysis (which globals each
/// entry point uses); the error names the kernel and the line.
pub fn validate(name: &str, source: &str) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| Error::Shader {
        name: name.to_string(),
        message: e.emit_to_string(source),
    })?;
    let mut v = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    );
    let info = v.validate(&module).map_err(|e| Error::Shader {
        name: name.to_string(),
        message: e.emit_to_string(source),
    })?;
    Ok((module, info))
}

/// Replaces the value of each named `const`, `alias` or `override` declaration.
///
/// `specialize(src, &[("TM", "8u")])` turns `const TM: u32 = 4u;` into `const TM: u32 = 8u;`.
/// A name that the source does not declare is an error, so a typo cannot silently keep
/// the default.
pub fn specialize(source: &str, values: &[(&str, String)]) -> Result<String> {
    let mut out = String::with_capacity(source.len() + 64);
    let mut found = vec![false; values.len()];
    for line in source.lines() {
        let trimmed = line.trim_start();
        let mut replaced = None;
        for (i, (name, value)) in values.iter().enumerate() {
            for kw in ["const ", "alias ", "override "] {
                if let Some(rest) = trimmed.strip_prefix(kw) {
                    let ident_end = rest
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    if &rest[..ident_end] == *name {
                        if let Some(eq) = line.find('=') {
                            replaced = Some(format!("{} {};", &line[..=eq], value));
                            found[i] = true;
                        }
                    }
                }
            }
        }
        out.push_str(replaced.as_deref().unwrap_or(line));
        out.push('\n');
    }
    if let Some(i) = found.iter().position(|f| !f) {
        return Err(Error::Shader {
            name: "specialize".into(),
            message: format!("no declaration named `{}` to specialise", values[i].0),
        });
    }
    Ok(out)
}

/// Prepends `enable f16;` when the storage type is f16.
pub fn with_f16_enable(source: String, f16: bool) -> String {
    if f16 {
        format!("enable f16;\n{source}")
    } else {
        source
    }
}

/// Every generated variant in the crate, as (name, source): the naga test walks them all.
#[cfg(test)]
pub fn all_variants() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    // Each kernel family adds its generated variants here.
    v.extend(crate::peak::all_variants());
    v.extend(crate::ops::matmul::all_variants());
    v.extend(crate::ops::reduce::all_variants());
    v.extend(crate::ops::reduce_fused::all_variants());
    v.extend(crate::ops::norm::all_variants());
    v.extend(crate::ops::elementwise::all_variants());
    v.extend(crate::ops::conv::all_variants());
    v.extend(crate::ops::conv_backward::all_variants());
    v.extend(crate::ops::pool::all_variants());
    v.extend(crate::ops::resize::all_variants());
    v.extend(crate::ops::attention::all_variants());
    v
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod translate;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shader_file_validates() {
        for (name, src) in FILES {
            validate(name, src).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn every_generated_variant_validates() {
        let variants = all_variants();
        assert!(!variants.is_empty());
        for (name, src) in &variants {
            validate(name, src).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn specialize_replaces_and_rejects_unknown_names() {
        let src = "const TM: u32 = 4u;\nalias T = f32;\n";
        let out = specialize(src, &[("TM", "8u".into()), ("T", "f16".into())]).unwrap();
        assert!(out.contains("const TM: u32 = 8u;"));
        assert!(out.contains("alias T = f16;"));
        assert!(specialize(src, &[("TN", "2u".into())]).is_err());
    }
}
