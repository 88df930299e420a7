#!/usr/bin/env python3
"""Writes the unrolled CPU matmul entry points between the GENERATED markers of
shaders/matmul.wgsl. lavapipe keeps function-local arrays indexed in loops in memory (one
gather/scatter per lane per access), so the register block is spelled out as named variables.
A size prefixed with `tex:` makes the variant that reads B from the rgba32float texture
`btex` (written by matmul_pack_b): lavapipe fetches texels for all lanes at once, while its
storage loads go lane by lane.
A size prefixed with `sg:` makes the variant whose A rows are loaded once per 8-lane subgroup
(lane l loads row 8q + l) and handed to the other lanes with `sgbL` (subgroupBroadcast once
the host swaps the identity bodies in), instead of every lane loading every row.
Usage: tools/gen_matmul_cpu.py 32x16 16x16 8x16 4x8 tex:32x16 sg:32x16 ..."""
import sys, re

def gen(tm, tn, tex=False, sg=False):
    tn4 = tn // 4
    name = f"matmul_cpu_tex_{tm}x{tn}" if tex else f"matmul_cpu_sg_{tm}x{tn}" if sg else f"matmul_cpu_{tm}x{tn}"
    assert not (tex and sg) and (not sg or tm % 8 == 0)
    L = []
    w = L.append
    w(f"@compute @workgroup_size(CPU_WG, 1, 1)")
    w(f"fn {name}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{")
    w(f"    let n0 = (wid.x * CPU_WG + lid.x) * {tn}u;")
    w(f"    let m0 = wid.y * {tm}u;")
    w(f"    // No early return for n0 >= N: lavapipe loads uniform addresses once only where no")
    w(f"    // invocation can have left; those invocations compute clamped columns, store nothing.")
    w(f"    if (touch_epilogue_bindings()) {{")
    w(f"        return;")
    w(f"    }}")
    w(f"    let bs = bases(p.batch_base + wid.z);")
    if sg:
        # Lane l of each 8-lane subgroup loads rows q*8 + l; the others take them by broadcast.
        w(f"    let sl = lid.x & 7u;")
        for q in range(tm // 8):
            w(f"    let rq{q} = bs.a + min(m0 + {8*q}u + sl, p.m - 1u) * p.a_rs;")
    for i in range(tm):
        w(f"    let ra{i} = bs.a + min(m0 + {i}u, p.m - 1u) * p.a_rs;")
    for j in range(tn4):
        if tex:
            w(f"    let cb{j} = tex_col(n0 + {4*j}u);")
        else:
            w(f"    let cb{j} = b_cols(bs.b, n0 + {4*j}u);")
    for i in range(tm):
        for j in range(tn4):
            w(f"    var c{i}_{j} = vec4<f32>(0.0);")
    w(f"    var k = 0u;")
    w(f"    let k4 = p.k & ~3u;")
    w(f"    for (; k < k4; k += 4u) {{")
    if sg:
        for q in range(tm // 8):
            w(f"        let aq{q} = load_a4(rq{q}, k);")
        for i in range(tm):
            w(f"        let a{i} = sgb{i % 8}(aq{i // 8});")
    else:
        for i in range(tm):
            w(f"        let a{i} = load_a4(ra{i}, k);")
    for j in range(tn4):
        if tex:
            w(f"        let b{j} = load_btex4x4(cb{j}, k);")
        else:
            w(f"        let b{j} = load_b4x4(cb{j}, k);")
    # Each accumulator takes its 4 k-steps back to back: lavapipe spills the block, and this
    # spills and reloads each accumulator once per 4 k-steps instead of 4 times.
    for i in range(tm):
        for j in range(tn4):
            e = f"c{i}_{j}"
            for kk, comp in enumerate("xyzw"):
                e = f"fma(vec4<f32>(a{i}.{comp}), b{j}[{kk}], {e})"
            w(f"        c{i}_{j} = {e};")
    w(f"    }}")
    w(f"    for (; k < p.k; k++) {{")
    w(f"        let brow = k * p.b_rs;")
    w(f"        let acol = k * p.a_cs;")
    for j in range(tn4):
        if tex:
            w(f"        let b{j} = textureLoad(btex, vec2<i32>(cb{j}, i32(k)), 0);")
        else:
            w(f"        let b{j} = load_b4(cb{j}, brow);")
    for i in range(tm):
        w(f"        let a{i} = vec4<f32>(lda(ra{i} + acol));")
        for j in range(tn4):
            w(f"        c{i}_{j} = fma(a{i}, b{j}, c{i}_{j});")
    w(f"    }}")
    for j in range(tn4):
        w(f"    let bv{j} = bias4(n0 + {4*j}u);")
    for i in range(tm):
        for j in range(tn4):
            w(f"    store4(bs, m0 + {i}u, n0 + {4*j}u, c{i}_{j}, bv{j});")
    w(f"}}")
    return "\n".join(L)

sizes = sys.argv[1:] or ["8x16"]
def parse(s):
    tex = s.startswith("tex:")
    sg = s.startswith("sg:")
    tm, tn = map(int, s.removeprefix("tex:").removeprefix("sg:").split("x"))
    return gen(tm, tn, tex, sg)

body = "\n\n".join(parse(s) for s in sizes)
path = "shaders/matmul.wgsl"
src = open(path).read()
start = "// GENERATED CPU KERNELS BEGIN (tools/gen_matmul_cpu.py)\n"
end = "// GENERATED CPU KERNELS END\n"
pre, rest = src.split(start)
_, post = rest.split(end)
open(path, "w").write(pre + start + body + "\n" + end + post)
