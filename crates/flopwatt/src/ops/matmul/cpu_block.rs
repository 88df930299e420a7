//! Generates the entry point of one CPU register-block kernel (`matmul_cpu.wgsl` holds the
//! helpers it calls).
//!
//! Each invocation owns a `tm` x `tn` block of C. The block is spelled out as named variables
//! because lavapipe keeps arrays indexed in loops in memory (one gather or scatter per lane per
//! access); see `docs/decisions.md#matmul-cpu-blocks`.

use std::fmt::Write;

/// Where a block's operands come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BlockKind {
    /// A and B from storage, every lane loading every row of A.
    Storage,
    /// B from the rgba32float texture `btex` written by `matmul_pack_b`: lavapipe fetches a
    /// texel for all lanes at once, where its storage loads go lane by lane.
    Texture,
    /// Lane l of each 8-lane subgroup loads rows `8q + l` of A and `subgroupBroadcast` hands
    /// them to the other lanes, instead of every lane loading every row.
    Subgroup,
}

impl BlockKind {
    /// The entry point's name for a `tm` x `tn` block.
    pub(super) fn entry(self, tm: u32, tn: u32) -> String {
        let kind = match self {
            BlockKind::Storage => "",
            BlockKind::Texture => "tex_",
            BlockKind::Subgroup => "sg_",
        };
        format!("matmul_cpu_{kind}{tm}x{tn}")
    }
}

/// The WGSL entry point computing a `tm` x `tn` block of C per invocation.
///
/// `tn` must be a multiple of 4 and, for [`BlockKind::Subgroup`], `tm` a multiple of 8; the
/// block tables in `source.rs` hold only such sizes.
pub(super) fn generate(kind: BlockKind, tm: u32, tn: u32) -> String {
    debug_assert!(tn.is_multiple_of(4) && (kind != BlockKind::Subgroup || tm.is_multiple_of(8)));
    let (tex, sg) = (kind == BlockKind::Texture, kind == BlockKind::Subgroup);
    let tn4 = tn / 4;
    let mut s = String::with_capacity(1024 + (tm * tn4) as usize * 200);
    // Writing to a String cannot fail.
    macro_rules! w {
        ($($t:tt)*) => { writeln!(s, $($t)*).expect("write to a String") };
    }
    w!("@compute @workgroup_size(CPU_WG, 1, 1)");
    w!(
        "fn {}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{",
        kind.entry(tm, tn)
    );
    w!("    let n0 = (wid.x * CPU_WG + lid.x) * {tn}u;");
    w!("    let m0 = wid.y * {tm}u;");
    w!("    // No early return for n0 >= N: lavapipe loads uniform addresses once only where no");
    w!("    // invocation can have left; those invocations compute clamped columns, store nothing.");
    w!("    if (touch_epilogue_bindings()) {{");
    w!("        return;");
    w!("    }}");
    w!("    let bs = bases(p.batch_base + wid.z);");
    if sg {
        w!("    let sl = lid.x & 7u;");
        for q in 0..tm / 8 {
            w!(
                "    let rq{q} = bs.a + min(m0 + {}u + sl, p.m - 1u) * p.a_rs;",
                8 * q
            );
        }
    }
    for i in 0..tm {
        w!("    let ra{i} = bs.a + min(m0 + {i}u, p.m - 1u) * p.a_rs;");
    }
    for j in 0..tn4 {
        if tex {
            w!("    let cb{j} = tex_col(n0 + {}u);", 4 * j);
        } else {
            w!("    let cb{j} = b_cols(bs.b, n0 + {}u);", 4 * j);
        }
    }
    for i in 0..tm {
        for j in 0..tn4 {
            w!("    var c{i}_{j} = vec4<f32>(0.0);");
        }
    }
    w!("    var k = 0u;");
    w!("    let k4 = p.k & ~3u;");
    w!("    for (; k < k4; k += 4u) {{");
    if sg {
        for q in 0..tm / 8 {
            w!("        let aq{q} = load_a4(rq{q}, k);");
        }
        for i in 0..tm {
            w!(
                "        let a{i} = subgroupBroadcast(aq{}, {}u);",
                i / 8,
                i % 8
            );
        }
    } else {
        for i in 0..tm {
            w!("        let a{i} = load_a4(ra{i}, k);");
        }
    }
    for j in 0..tn4 {
        if tex {
            w!("        let b{j} = load_btex4x4(cb{j}, k);");
        } else {
            w!("        let b{j} = load_b4x4(cb{j}, k);");
        }
    }
    // Each accumulator takes its 4 k-steps back to back: lavapipe spills the block, and this
    // spills and reloads each accumulator once per 4 k-steps instead of 4 times.
    for i in 0..tm {
        for j in 0..tn4 {
            let mut e = format!("c{i}_{j}");
            for (kk, comp) in ["x", "y", "z", "w"].iter().enumerate() {
                e = format!("fma(vec4<f32>(a{i}.{comp}), b{j}[{kk}], {e})");
            }
            w!("        c{i}_{j} = {e};");
        }
    }
    w!("    }}");
    w!("    for (; k < p.k; k++) {{");
    w!("        let brow = k * p.b_rs;");
    w!("        let acol = k * p.a_cs;");
    for j in 0..tn4 {
        if tex {
            w!("        let b{j} = textureLoad(btex, vec2<i32>(cb{j}, i32(k)), 0);");
        } else {
            w!("        let b{j} = load_b4(cb{j}, brow);");
        }
    }
    for i in 0..tm {
        w!("        let a{i} = vec4<f32>(lda(ra{i} + acol));");
        for j in 0..tn4 {
            w!("        c{i}_{j} = fma(a{i}, b{j}, c{i}_{j});");
        }
    }
    w!("    }}");
    for j in 0..tn4 {
        w!("    let bv{j} = bias4(n0 + {}u);", 4 * j);
    }
    for i in 0..tm {
        for j in 0..tn4 {
            w!(
                "    store4(bs, m0 + {i}u, n0 + {}u, c{i}_{j}, bv{j});",
                4 * j
            );
        }
    }
    w!("}}");
    s
}
