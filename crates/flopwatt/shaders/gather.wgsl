// Index kernels over 4-byte elements (f32 or i32, moved as raw u32 bits so one kernel serves
// both): gather along an axis, strided copy (slices with any step sign, concat pieces,
// contiguous copies of integer tensors) and N-d pad (constant, reflect, edge, wrap).
// One output element per invocation; dims and strides come from a uniform (up to 8 dims,
// packed in vec4s for uniform layout rules).

const WG: u32 = 64u;

struct Gather {
    outer: u32,
    axis_len: u32,
    n_idx: u32,
    inner: u32,
    total: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

struct Strided {
    rank: u32,
    total: u32,
    src_off: i32,
    dst_off: u32,
    // Shape of the region copied; source strides may be negative (reversed slices).
    shape: array<vec4<u32>, 2>,
    src_strides: array<vec4<i32>, 2>,
    dst_strides: array<vec4<u32>, 2>,
}

struct Pad {
    rank: u32,
    total: u32,
    // 0: constant, 1: reflect, 2: edge, 3: wrap.
    mode: u32,
    value: u32,
    src_off: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
    out_shape: array<vec4<u32>, 2>,
    in_shape: array<vec4<u32>, 2>,
    // Leading pad per dim (negative crops).
    begin: array<vec4<i32>, 2>,
    in_strides: array<vec4<u32>, 2>,
}

fn lane_u(a: array<vec4<u32>, 2>, i: u32) -> u32 {
    return a[i / 4u][i % 4u];
}

fn lane_i(a: array<vec4<i32>, 2>, i: u32) -> i32 {
    return a[i / 4u][i % 4u];
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
// Set when an index is out of range: [1, the index]; the host turns it into an error after
// the run (`Recorder::check_flag`).
@group(0) @binding(3) var<storage, read_write> gather_err: array<atomic<u32>, 2>;
@group(0) @binding(4) var<uniform> g: Gather;

// out[o, j, i] = data[o, indices[j], i]; negative indices count from the end (ONNX). An index
// out of range writes 0 (never another row or another buffer) and sets `gather_err`.
@compute @workgroup_size(WG)
fn gather(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = (wid.y * nwg.x + wid.x) * WG + lid;
    if (t >= g.total) {
        return;
    }
    let i = t % g.inner;
    let j = (t / g.inner) % g.n_idx;
    let o = t / (g.inner * g.n_idx);
    var k = idx[j];
    if (k < 0) {
        k += i32(g.axis_len);
    }
    var v = 0u;
    if (k >= 0 && u32(k) < g.axis_len) {
        v = src[(o * g.axis_len + u32(k)) * g.inner + i];
    } else {
        atomicStore(&gather_err[1], bitcast<u32>(idx[j]));
        atomicStore(&gather_err[0], 1u);
    }
    dst[t] = v;
}

// Strided copy and pad bind (src, dst, params): the same slots as gather's (data, indices,
// ...) but other types; naga and wgpu only require bindings to be unique per entry point.
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> s: Strided;
@group(0) @binding(2) var<uniform> pd: Pad;

// dst[dst_off + sum c_d * dst_stride_d] = src[src_off + sum c_d * src_stride_d] over the
// region's coordinates c.
@compute @workgroup_size(WG)
fn copy_strided(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = (wid.y * nwg.x + wid.x) * WG + lid;
    if (t >= s.total) {
        return;
    }
    var rem = t;
    var si = s.src_off;
    var di = s.dst_off;
    for (var d = i32(s.rank) - 1; d >= 0; d--) {
        let n = lane_u(s.shape, u32(d));
        let c = rem % n;
        rem = rem / n;
        si += i32(c) * lane_i(s.src_strides, u32(d));
        di += c * lane_u(s.dst_strides, u32(d));
    }
    out[di] = src[u32(si)];
}

// x mod m in [0, m) for m > 0, with `%` only on non-negative u32 operands. i32 `%` (which
// naga lowers to `a - b * (a / b)`) of a negative dividend is not trustworthy across
// drivers: a lavapipe run gave exactly the remainder of the u32 bit pattern (-1 % 6 = 3,
// -1 % 5 = 0), which put the wrong rows and columns into reflect and wrap borders.
// -(x + 1) cannot overflow for any i32 x.
fn mod_floor(x: i32, m: i32) -> i32 {
    if (x >= 0) {
        return i32(u32(x) % u32(m));
    }
    return m - 1 - i32(u32(-(x + 1)) % u32(m));
}

// Each output coordinate maps back to an input coordinate by the mode; constant padding
// writes `value` (raw bits) where the coordinate falls outside the input.
@compute @workgroup_size(WG)
fn pad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = (wid.y * nwg.x + wid.x) * WG + lid;
    if (t >= pd.total) {
        return;
    }
    var rem = t;
    var si = pd.src_off;
    var inside = true;
    for (var d = i32(pd.rank) - 1; d >= 0; d--) {
        let n = lane_u(pd.out_shape, u32(d));
        let c = rem % n;
        rem = rem / n;
        let len = i32(lane_u(pd.in_shape, u32(d)));
        var x = i32(c) - lane_i(pd.begin, u32(d));
        if (x < 0 || x >= len) {
            if (pd.mode == 0u) {
                inside = false;
            } else if (pd.mode == 1u) {
                // Mirror without repeating the edge; the period is 2 (len - 1).
                let per = max(2 * (len - 1), 1);
                x = mod_floor(x, per);
                if (x >= len) {
                    x = per - x;
                }
            } else if (pd.mode == 2u) {
                x = clamp(x, 0, len - 1);
            } else {
                x = mod_floor(x, len);
            }
        }
        si += u32(max(x, 0)) * lane_u(pd.in_strides, u32(d));
    }
    var v = pd.value;
    if (inside) {
        v = src[si];
    }
    out[t] = v;
}
