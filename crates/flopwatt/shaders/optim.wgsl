// Optimiser updates, f32, in place on device-resident parameters and state.
//
// One invocation per parameter element; every entry point reads the gradient once and
// reads/writes the parameter and its state once (a pure bandwidth kernel). Hyper-parameters
// and the bias corrections of the current step come in the uniform, so one pipeline serves
// every step and every learning-rate schedule. Semantics follow PyTorch's `SGD` (dampening 0)
// and `Adam` / `AdamW`, so results can be compared with the usual references.
//
// Each entry point binds only what it uses (the host binds storage buffers 0..n, then the
// uniform at n): plain SGD keeps no state, momentum SGD one buffer, Adam two. WGSL allows
// two resource variables to share a binding when no entry point uses both.

struct Params {
    n: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    // SGD: 1.0 for Nesterov momentum. Adam: 1.0 for decoupled weight decay (AdamW).
    flag: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    // 1 - beta1^t and 1 - beta2^t for the current step t (host-computed in f64).
    bc1: f32,
    bc2: f32,
    _q0: f32,
    _q1: f32,
    _q2: f32,
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<uniform> p_sgd: Params;
@group(0) @binding(2) var<storage, read_write> state0: array<f32>;
@group(0) @binding(3) var<uniform> p_momentum: Params;
@group(0) @binding(3) var<storage, read_write> state1: array<f32>;
@group(0) @binding(4) var<uniform> p_adam: Params;

const WG: u32 = 256u;

fn index(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + li;
}

// Plain SGD with L2 weight decay: w -= lr * (g + wd * w).
@compute @workgroup_size(WG)
fn sgd(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let i = index(wid, nwg, li);
    if i >= p_sgd.n {
        return;
    }
    let w = param[i];
    param[i] = w - p_sgd.lr * (grad[i] + p_sgd.weight_decay * w);
}

// SGD with momentum: the buffer b starts at 0, so the first step's b is the gradient, as in
// PyTorch; Nesterov uses g + momentum * b as the step direction.
@compute @workgroup_size(WG)
fn sgd_momentum(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let i = index(wid, nwg, li);
    if i >= p_momentum.n {
        return;
    }
    let w = param[i];
    let g = grad[i] + p_momentum.weight_decay * w;
    let b = p_momentum.momentum * state0[i] + g;
    state0[i] = b;
    var d = b;
    if p_momentum.flag != 0.0 {
        d = g + p_momentum.momentum * b;
    }
    param[i] = w - p_momentum.lr * d;
}

// Adam (L2 weight decay added to the gradient) or AdamW (flag = 1: decoupled decay,
// w *= 1 - lr * wd before the step). m and v start at 0; bc1, bc2 are the bias corrections.
@compute @workgroup_size(WG)
fn adam(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let i = index(wid, nwg, li);
    if i >= p_adam.n {
        return;
    }
    var w = param[i];
    var g = grad[i];
    if p_adam.flag != 0.0 {
        w = w * (1.0 - p_adam.lr * p_adam.weight_decay);
    } else {
        g = g + p_adam.weight_decay * w;
    }
    let m = p_adam.beta1 * state0[i] + (1.0 - p_adam.beta1) * g;
    let v = p_adam.beta2 * state1[i] + (1.0 - p_adam.beta2) * g * g;
    state0[i] = m;
    state1[i] = v;
    let mhat = m / p_adam.bc1;
    let vhat = v / p_adam.bc2;
    param[i] = w - p_adam.lr * mhat / (sqrt(vhat) + p_adam.eps);
}
