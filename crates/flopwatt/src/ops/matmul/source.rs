//! Composes the WGSL of one matmul pipeline: the shared part (`matmul.wgsl`), the part of the
//! kernel's family, the activation, and for the CPU kernels the one generated entry point.
//! naga and the driver see only what that pipeline runs; see
//! `docs/decisions.md#matmul-pipeline-source`.

use super::cpu_block::{self, BlockKind};
use super::{KernelConfig, MatmulVariant, OP};
use crate::error::{Error, Result};
use crate::ops::{act_function, activation_key, Activation};
use crate::shaders::{
    specialize, with_f16_enable, MATMUL, MATMUL_CPU, MATMUL_CPU_TEXTURE, MATMUL_GEMV, MATMUL_GPU,
};

/// Everything that selects one compiled kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct KernelKey {
    pub variant: MatmulVariant,
    pub cfg: KernelConfig,
    pub f16: bool,
    pub a_vec: bool,
    pub b_vec: bool,
    pub b_kvec: bool,
    pub has_bias: bool,
    pub has_res: bool,
    pub c_vec: bool,
    pub bias_vec: bool,
    pub res_vec: bool,
    pub activation: Activation,
    pub gemv_x_is_b: bool,
}

impl KernelKey {
    /// The key of this kernel's pipeline in the device's cache: every field, the activation
    /// exactly.
    pub(super) fn cache_key(&self) -> String {
        format!("matmul {self:?} {}", activation_key(self.activation))
    }
}

/// The register blocks (rows, columns) of the storage-fed CPU kernels, biggest first; see
/// `docs/decisions.md#matmul-cpu-blocks` for the measurements that chose them.
pub(super) const CPU_BLOCKS: &[(u32, u32)] = &[(32, 16), (16, 16), (8, 16), (4, 8), (4, 4)];

/// The register blocks of the texture-fed CPU kernels; see `docs/decisions.md#matmul-texture`.
pub(super) const CPU_TEX_BLOCKS: &[(u32, u32)] = &[(32, 16)];

/// The register blocks of the subgroup CPU kernels: with A loads that cheap, B loads dominate
/// and taller, narrower blocks pay; see `docs/decisions.md#matmul-subgroup`.
pub(super) const CPU_SG_BLOCKS: &[(u32, u32)] = &[(64, 8), (32, 16), (32, 8), (16, 16), (8, 16)];

/// The block table and generator kind of a CPU variant; `None` for the others.
pub(super) fn cpu_table(variant: MatmulVariant) -> Option<(&'static [(u32, u32)], BlockKind)> {
    match variant {
        MatmulVariant::CpuRegister => Some((CPU_BLOCKS, BlockKind::Storage)),
        MatmulVariant::CpuTexture => Some((CPU_TEX_BLOCKS, BlockKind::Texture)),
        MatmulVariant::CpuSubgroup => Some((CPU_SG_BLOCKS, BlockKind::Subgroup)),
        MatmulVariant::GpuTiled | MatmulVariant::Gemv => None,
    }
}

/// The specialised source of the kernel `key` selects, and its entry point.
pub(super) fn kernel_source(key: &KernelKey) -> Result<(String, String)> {
    let c = key.cfg;
    let b = |v: bool| v.to_string();
    let mut vals: Vec<(&str, String)> = vec![
        ("T", if key.f16 { "f16" } else { "f32" }.to_string()),
        ("B_VEC", b(key.b_vec)),
        ("HAS_BIAS", b(key.has_bias)),
        ("HAS_RES", b(key.has_res)),
    ];
    // Layout and epilogue fast paths (the GEMV kernel reads neither: they keep their defaults).
    if key.variant != MatmulVariant::Gemv {
        vals.extend([
            ("A_VEC", b(key.a_vec)),
            ("B_KVEC", b(key.b_kvec)),
            ("C_VEC", b(key.c_vec)),
            ("BIAS_VEC", b(key.bias_vec)),
            ("RES_VEC", b(key.res_vec)),
        ]);
    }
    let mut src = MATMUL.to_string();
    let entry = match cpu_table(key.variant) {
        Some((blocks, kind)) => {
            if !blocks.contains(&(c.tm, c.tn)) {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "no {} kernel with a {}x{} block; the blocks are {blocks:?}",
                        key.variant.name(),
                        c.tm,
                        c.tn
                    ),
                ));
            }
            vals.push(("CPU_WG", format!("{}u", c.wg_x)));
            src.push_str(MATMUL_CPU);
            if kind == BlockKind::Texture {
                src.push_str(MATMUL_CPU_TEXTURE);
            }
            src.push('\n');
            src.push_str(&cpu_block::generate(kind, c.tm, c.tn));
            kind.entry(c.tm, c.tn)
        }
        None if key.variant == MatmulVariant::GpuTiled => {
            vals.extend([
                ("TM", format!("{}u", c.tm)),
                ("TN", format!("{}u", c.tn)),
                ("WG_X", format!("{}u", c.wg_x)),
                ("WG_Y", format!("{}u", c.wg_y)),
                ("BK", format!("{}u", c.k_split)),
            ]);
            src.push_str(MATMUL_GPU);
            "matmul_gpu".to_string()
        }
        None => {
            vals.extend([
                ("GV_WG", format!("{}u", c.wg_x)),
                ("RK", format!("{}u", c.k_split)),
                ("GV_X_IS_B", b(key.gemv_x_is_b)),
            ]);
            src.push_str(MATMUL_GEMV);
            "matmul_gemv".to_string()
        }
    };
    Ok((finish(&src, &vals, key.activation, key.f16)?, entry))
}

/// The source of `matmul_pack_b`, which writes B into the texture the texture-fed kernels read.
pub(super) fn pack_b_source(f16: bool) -> Result<String> {
    let src = format!("{MATMUL}{MATMUL_CPU_TEXTURE}");
    let t = if f16 { "f16" } else { "f32" };
    let vals = [
        ("T", t.to_string()),
        ("B_VEC", "false".into()),
        ("HAS_BIAS", "false".into()),
        ("HAS_RES", "false".into()),
    ];
    finish(&src, &vals, Activation::None, f16)
}

/// `src` specialised with `vals`, with the activation `act` the epilogue calls.
fn finish(src: &str, vals: &[(&str, String)], act: Activation, f16: bool) -> Result<String> {
    let src = specialize(src, vals)?;
    Ok(with_f16_enable(
        format!("{src}\n{}", act_function(act)),
        f16,
    ))
}

/// Every kernel in both dtypes and every layout and epilogue switch (for the tests).
#[cfg(test)]
fn all_keys() -> Vec<KernelKey> {
    let mut out = Vec::new();
    let cpu = KernelConfig {
        tm: 32,
        tn: 16,
        wg_x: 64,
        wg_y: 1,
        k_split: 1,
    };
    let gemv = |rk| KernelConfig {
        tm: 1,
        tn: 1,
        wg_x: 64,
        wg_y: 1,
        k_split: rk,
    };
    let mut configs: Vec<(MatmulVariant, KernelConfig, bool)> = Vec::new();
    for variant in MatmulVariant::ALL {
        if let Some((blocks, _)) = cpu_table(variant) {
            configs.extend(
                blocks
                    .iter()
                    .map(|&(tm, tn)| (variant, KernelConfig { tm, tn, ..cpu }, false)),
            );
        }
    }
    // The rules' tiles (128x128, 64x64, 16x64, 64x16) and a tuning candidate.
    for (tm, tn, wg_x, wg_y, k_split) in [
        (8, 8, 16, 16, 8),
        (4, 4, 16, 16, 16),
        (4, 4, 16, 4, 16),
        (4, 4, 4, 16, 16),
        (8, 4, 16, 16, 8),
    ] {
        let cfg = KernelConfig {
            tm,
            tn,
            wg_x,
            wg_y,
            k_split,
        };
        configs.push((MatmulVariant::GpuTiled, cfg, false));
    }
    for rk in [1, 16] {
        for side in [false, true] {
            configs.push((MatmulVariant::Gemv, gemv(rk), side));
        }
    }
    for (variant, cfg, side) in configs {
        for f16 in [false, true] {
            for (a_vec, b_vec, b_kvec) in [
                (false, false, false),
                (true, true, false),
                (true, false, true),
            ] {
                for (has_bias, has_res, activation, epi_vec) in [
                    (false, false, Activation::None, false),
                    (true, true, Activation::Gelu, false),
                    (true, false, Activation::LeakyRelu(0.1), false),
                    (false, false, Activation::None, true),
                    (true, true, Activation::Gelu, true),
                ] {
                    out.push(KernelKey {
                        variant,
                        cfg,
                        f16,
                        a_vec,
                        b_vec,
                        b_kvec,
                        has_bias,
                        has_res,
                        c_vec: epi_vec,
                        bias_vec: epi_vec && has_bias,
                        res_vec: epi_vec && has_res,
                        activation,
                        gemv_x_is_b: side,
                    });
                }
            }
        }
    }
    out
}

/// Generated variants for the naga test: [`all_keys`]' kernels and `matmul_pack_b`.
#[cfg(test)]
pub(super) fn all_variants() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = all_keys()
        .iter()
        .map(|key| {
            let (src, entry) = kernel_source(key).expect("matmul variant");
            (format!("matmul.{entry}{key:?}"), src)
        })
        .collect();
    for f16 in [false, true] {
        let src = pack_b_source(f16).expect("pack_b");
        out.push((format!("matmul.pack_b f16={f16}"), src));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(variant: MatmulVariant, tm: u32, tn: u32) -> KernelKey {
        KernelKey {
            variant,
            cfg: KernelConfig {
                tm,
                tn,
                wg_x: 64,
                wg_y: 1,
                k_split: 1,
            },
            f16: false,
            a_vec: false,
            b_vec: false,
            b_kvec: false,
            has_bias: false,
            has_res: false,
            c_vec: false,
            bias_vec: false,
            res_vec: false,
            activation: Activation::None,
            gemv_x_is_b: false,
        }
    }

    /// Each pipeline's source holds its own entry point and no other kernel's.
    #[test]
    fn a_source_holds_only_its_entry_point() {
        let (src, entry) = kernel_source(&key(MatmulVariant::CpuRegister, 8, 16)).unwrap();
        assert_eq!(entry, "matmul_cpu_8x16");
        assert_eq!(src.matches("@compute").count(), 1, "{src}");
        assert!(src.contains("fn matmul_cpu_8x16("));
        let (src, entry) = kernel_source(&key(MatmulVariant::CpuTexture, 32, 16)).unwrap();
        assert_eq!(entry, "matmul_cpu_tex_32x16");
        // The texture kernel's module also holds matmul_pack_b, which shares its bindings.
        assert_eq!(src.matches("@compute").count(), 2);
        assert_eq!(pack_b_source(false).unwrap().matches("@compute").count(), 1);
        let mut gpu = key(MatmulVariant::GpuTiled, 4, 4);
        gpu.cfg.wg_y = 16;
        gpu.cfg.k_split = 16;
        let (src, entry) = kernel_source(&gpu).unwrap();
        assert_eq!(entry, "matmul_gpu");
        assert_eq!(src.matches("@compute").count(), 1);
        assert!(!src.contains("fn matmul_cpu"));
        // The biggest CPU module is tens of kilobytes, not the quarter megabyte of every block.
        let (src, _) = kernel_source(&key(MatmulVariant::CpuSubgroup, 64, 8)).unwrap();
        assert!(src.len() < 64 * 1024, "{} bytes", src.len());
    }

    #[test]
    fn a_block_outside_the_table_is_an_error() {
        let e = kernel_source(&key(MatmulVariant::CpuRegister, 24, 16)).unwrap_err();
        assert!(
            e.to_string()
                .contains("no cpu_register kernel with a 24x16 block"),
            "{e}"
        );
        let e = kernel_source(&key(MatmulVariant::CpuSubgroup, 4, 8)).unwrap_err();
        assert!(e.to_string().contains("cpu_subgroup"), "{e}");
    }

    /// The pipeline cache trusts the key: two sources must never share one.
    #[test]
    fn cache_keys_tell_every_source_apart() {
        let mut seen = std::collections::HashMap::new();
        for k in all_keys() {
            let (src, _) = kernel_source(&k).unwrap();
            if let Some(other) = seen.insert(k.cache_key(), src.clone()) {
                assert_eq!(other, src, "{}", k.cache_key());
            }
        }
        let leaky = |a: f32| KernelKey {
            activation: Activation::LeakyRelu(a),
            ..key(MatmulVariant::CpuRegister, 8, 16)
        };
        let nan = f32::from_bits(0x7fc0_0001);
        for (x, y) in [(0.0, -0.0), (f32::NAN, nan), (0.1, 0.2)] {
            assert_ne!(leaky(x).cache_key(), leaky(y).cache_key());
        }
    }

    #[test]
    fn subgroup_blocks_broadcast_each_row_from_its_lane() {
        let src = cpu_block::generate(BlockKind::Subgroup, 16, 8);
        assert!(
            src.contains("let a9 = subgroupBroadcast(aq1, 1u);"),
            "{src}"
        );
        assert!(!cpu_block::generate(BlockKind::Storage, 16, 8).contains("subgroup"));
    }
}
