//! Times hand-written elementwise kernel shapes on 16M f32 side by side (GPU timestamps,
//! interleaved medians, and CPU time of all threads, which on lavapipe is the work done and
//! stays steady when other processes take a core): which access pattern streams fastest.
//! `PROBE=op:mode:bounds:n:wg:items:vec,... cargo run --release --example ew_probe -- [reps]`
//! - op: copy | chain (relu(x*2+1), relu as max + NaN test) | crelu2 (relu as one select) |
//!   crelu3 (crelu2 with the constants read once at the top) | axpb | cmax | csel
//! - mode: blk (invocations of a workgroup on consecutive vec4s, `items` blocks of WG) |
//!   con (each invocation on `items` consecutive vec4s)
//! - bounds: ret (early return in a loop) | if (guard in a loop) | ifu (guard, unrolled) |
//!   hoist (unchecked loop when the whole block is in range) | clamp (`min(i, n-1)`, no
//!   branch) | none (no check: n must fill the grid)
//! - n: uni (from the params uniform) | alen (`arrayLength`); wg: workgroup size;
//!   items: vec4s (or f32s) per invocation; vec: 4 or 1.
//!
//! - `gen:cpu|gpu:chain|copy:...` times the library's generated kernel for relu(x*2+1) (or the
//!   identity) in that adapter class's variant, layout chosen (n field `uni`) or forced
//!   (`strided`, `linear`); the other fields are ignored.
//!
//! `NOBASE=1` drops the two default kernels (the peak copy and the old generated chain);
//! `TRUSTED=1` builds the modules without naga's runtime checks.
use flopwatt::exec::Cost;
use flopwatt::ops::elementwise::{self as ew, Expr, UnaryOp};
use flopwatt::ops::Activation;
use flopwatt::pipeline::Pipeline;
use flopwatt::AdapterClass;
use flopwatt::{Device, Recorder, Tensor};
use flopwatt_reference as reference;

#[derive(Clone, Debug)]
struct V {
    op: &'static str,     // copy | chain
    mode: &'static str,   // blk | con
    bounds: &'static str, // ret | if | hoist
    nsrc: &'static str,   // uni | alen
    wg: u32,
    items: u32,
    vec: u32, // 4 (vec4) or 1
}

impl V {
    fn uses_p(&self) -> bool {
        !(self.op == "copy" && self.nsrc == "alen")
    }
    fn name(&self) -> String {
        format!(
            "{}-{}-{}-{}-wg{}-k{}-v{}",
            self.op, self.mode, self.bounds, self.nsrc, self.wg, self.items, self.vec
        )
    }
    fn src(&self) -> String {
        let t = if self.vec == 4 { "vec4<f32>" } else { "f32" };
        let mut s = String::new();
        s.push_str(&format!(
            "alias T = {t};\nalias VU = {};\n",
            if self.vec == 4 { "vec4<u32>" } else { "u32" }
        ));
        s.push_str("fn ew_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }\n");
        s.push_str("fn ew_relu(x: f32) -> f32 { return select(max(x, 0.0), x, ew_isnan(x)); }\n");
        s.push_str(&format!(
            "@group(0) @binding(0) var<storage, read> in0: array<{t}>;\n"
        ));
        s.push_str(&format!(
            "@group(0) @binding(1) var<storage, read_write> out: array<{t}>;\n"
        ));
        s.push_str("struct Params { n: u32, a: u32, b: u32, c: u32, k: vec4<f32> }\n");
        if self.uses_p() {
            s.push_str("@group(0) @binding(2) var<uniform> p: Params;\n");
        }
        let body = if self.op == "crelu3" {
            "let v = in0[i] * k0 + k1; out[i] = select(v, T(0.0), v < T(0.0));".to_string()
        } else if self.op == "crelu2" {
            "let v = in0[i] * p.k.x + p.k.y; out[i] = select(v, T(0.0), v < T(0.0));".to_string()
        } else if self.op == "axpb" {
            "out[i] = in0[i] * p.k.x + p.k.y;".to_string()
        } else if self.op == "cmax" {
            "out[i] = max(in0[i] * p.k.x + p.k.y, T(0.0));".to_string()
        } else if self.op == "csel" {
            "let v = in0[i] * p.k.x + p.k.y; out[i] = select(max(v, T(0.0)), v, (bitcast<VU>(v) & VU(0x7fffffffu)) > VU(0x7f800000u));".to_string()
        } else if self.op == "copy" {
            "out[i] = in0[i];".to_string()
        } else if self.vec == 4 {
            "let v = in0[i];\n out[i] = vec4<f32>(ew_relu(v.x * p.k.x + p.k.y), ew_relu(v.y * p.k.x + p.k.y), ew_relu(v.z * p.k.x + p.k.y), ew_relu(v.w * p.k.x + p.k.y));".to_string()
        } else {
            "out[i] = ew_relu(in0[i] * p.k.x + p.k.y);".to_string()
        };
        let n = if self.nsrc == "uni" {
            "p.n"
        } else {
            "arrayLength(&out)"
        };
        let (wg, k) = (self.wg, self.items);
        s.push_str(&format!("@compute @workgroup_size({wg})\nfn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{\n"));
        s.push_str(&format!("let n = {n};\nlet g = wid.y * nwg.x + wid.x;\n"));
        if self.op == "crelu3" {
            s.push_str("let k0 = p.k.x;\nlet k1 = p.k.y;\n");
        }
        let (base, step) = if self.mode == "blk" {
            (format!("g * {}u + lid", wg * k), format!("{wg}u"))
        } else {
            (format!("(g * {wg}u + lid) * {k}u"), "1u".to_string())
        };
        s.push_str(&format!("let base = {base};\n"));
        match self.bounds {
            "ret" => s.push_str(&format!(
                "for (var j = 0u; j < {k}u; j++) {{ let i = base + j * {step}; if (i >= n) {{ return; }} {body} }}\n"
            )),
            "clamp" => {
                for j in 0..k {
                    s.push_str(&format!("{{ let i = min(base + {j}u * {step}, n - 1u); {body} }}\n"));
                }
            }
            "none" => {
                for j in 0..k {
                    s.push_str(&format!("{{ let i = base + {j}u * {step}; {body} }}\n"));
                }
            }
            "ifu" => {
                for j in 0..k {
                    s.push_str(&format!("{{ let i = base + {j}u * {step}; if (i < n) {{ {body} }} }}\n"));
                }
            }
            "if" => s.push_str(&format!(
                "for (var j = 0u; j < {k}u; j++) {{ let i = base + j * {step}; if (i < n) {{ {body} }} }}\n"
            )),
            _ => {
                // Whole workgroup block in range: no per-element check.
                let blockend = format!("(g + 1u) * {}u", wg * k);
                s.push_str(&format!(
                    "if ({blockend} <= n) {{ for (var j = 0u; j < {k}u; j++) {{ let i = base + j * {step}; {body} }} }} else {{ for (var j = 0u; j < {k}u; j++) {{ let i = base + j * {step}; if (i < n) {{ {body} }} }} }}\n"
                ));
            }
        }
        s.push_str("}\n");
        s
    }
}

/// CPU seconds of every thread of this process (lavapipe's workers included), ns resolution.
fn cpu_secs() -> f64 {
    let mut ns = 0u64;
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
            ns += s.split_whitespace().next().unwrap().parse::<u64>().unwrap();
        }
    }
    ns as f64 / 1e9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(7);
    let filter: Vec<String> = args.iter().skip(2).cloned().collect();
    let dev = Device::new().expect("device");
    let n = 16usize << 20;
    let x = Tensor::from_f32(&dev, &reference::random(n, 1), &[n]).unwrap();
    let y = Tensor::empty(&dev, &[n], flopwatt::DType::F32).unwrap();
    let vs = variants(&filter);
    let trusted = std::env::var("TRUSTED").is_ok();
    let pipes: Vec<_> = vs.iter().map(|v| pipeline(&dev, v, trusted)).collect();
    let mut times = vec![Vec::new(); vs.len()];
    let mut cpus = vec![Vec::new(); vs.len()];
    for rep in 0..=reps {
        for (k, v) in vs.iter().enumerate() {
            let mut rec = Recorder::new(&dev);
            record(&mut rec, v, &pipes[k], &x, &y, n);
            let c0 = cpu_secs();
            let p = rec.submit(true).unwrap().unwrap();
            let c1 = cpu_secs();
            if rep > 0 {
                times[k].push(p.gpu_ns() / 1e6);
                cpus[k].push(c1 - c0);
            }
        }
    }
    report(&vs, &times, &cpus, n);
}

/// The kernels to time: the two defaults (unless `NOBASE`), then those `PROBE` lists, kept
/// where a name contains one of the `filter` words (all without any).
fn variants(filter: &[String]) -> Vec<V> {
    let base = V {
        op: "chain",
        mode: "blk",
        bounds: "ret",
        nsrc: "uni",
        wg: 256,
        items: 4,
        vec: 4,
    };
    let mut vs = Vec::new();
    let spec = std::env::var("PROBE").unwrap_or_default();
    if std::env::var("NOBASE").is_err() {
        vs.push(V {
            op: "copy",
            bounds: "if",
            nsrc: "alen",
            ..base.clone()
        });
        vs.push(base.clone());
    }
    // PROBE="op:mode:bounds:nsrc:wg:items:vec,..."
    for item in spec.split(',').filter(|s| !s.is_empty()) {
        let f: Vec<&str> = item.split(':').collect();
        let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
        vs.push(V {
            op: leak(f[0]),
            mode: leak(f[1]),
            bounds: leak(f[2]),
            nsrc: leak(f[3]),
            wg: f[4].parse().unwrap(),
            items: f[5].parse().unwrap(),
            vec: f[6].parse().unwrap(),
        });
    }
    vs.into_iter()
        .filter(|v| filter.is_empty() || filter.iter().any(|f| v.name().contains(f.as_str())))
        .collect()
}

/// The pipeline of a hand-written variant (without naga's runtime checks when `trusted`); a
/// placeholder for `gen`, which records the library's own kernel.
fn pipeline(dev: &Device, v: &V, trusted: bool) -> std::sync::Arc<Pipeline> {
    if v.op == "gen" {
        return dev
            .pipeline("unused", "@compute @workgroup_size(1) fn main() {}", "main")
            .unwrap();
    }
    if !trusted {
        return dev.pipeline(&v.name(), &v.src(), "main").unwrap();
    }
    let d = dev.wgpu_device();
    let src = v.src();
    let module = unsafe {
        d.create_shader_module_trusted(
            wgpu::ShaderModuleDescriptor {
                label: None,
                source: wgpu::ShaderSource::Wgsl(src.as_str().into()),
            },
            wgpu::ShaderRuntimeChecks::unchecked(),
        )
    };
    let built = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    std::sync::Arc::new(Pipeline::from_compute(&v.name(), built))
}

/// Records one run of `v` over `x` (n f32) into `y`.
fn record(
    rec: &mut Recorder,
    v: &V,
    pipe: &std::sync::Arc<Pipeline>,
    x: &Tensor,
    y: &Tensor,
    n: usize,
) {
    if v.op == "gen" {
        // The library's generated kernel for relu(x * 2 + 1), in one class's variant.
        let class = if v.mode == "cpu" {
            AdapterClass::Cpu
        } else {
            AdapterClass::Gpu
        };
        let chain = (Expr::input(0) * Expr::Const(2.0) + Expr::Const(1.0))
            .unary(UnaryOp::Act(Activation::Relu));
        let e = if v.bounds == "copy" {
            Expr::input(0)
        } else {
            chain
        };
        let layout = match v.nsrc {
            "strided" => Some(ew::Layout::Strided { rank: 1 }),
            "linear" => Some(ew::Layout::Linear),
            _ => None,
        };
        let out = ew::encode_fused_variant(rec, &[x], &e, layout, Some(class)).unwrap();
        rec.keep_alive(out);
        return;
    }
    let items = (n / v.vec as usize) as u32;
    let params: [u32; 8] = [items, 0, 0, 0, 2f32.to_bits(), 1f32.to_bits(), 0, 0];
    let groups = (items as u64).div_ceil((v.wg * v.items) as u64);
    let grid = flopwatt::exec::grid_1d(rec.device(), groups).unwrap();
    rec.dispatch(
        "probe",
        pipe,
        &[x.buffer(), y.buffer()],
        if v.uses_p() {
            Some(bytemuck::cast_slice(&params))
        } else {
            None
        },
        grid,
        Cost { flops: 0, bytes: 0 },
    )
    .unwrap();
}

/// One line per variant: median and first-quartile GPU time, bandwidth, median CPU time.
fn report(vs: &[V], times: &[Vec<f64>], cpus: &[Vec<f64>], n: usize) {
    let med = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    for (k, v) in vs.iter().enumerate() {
        let t = med(times[k].clone());
        let mut sorted = times[k].clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        // The first quartile: the runs that had both cores.
        let mn = sorted[sorted.len() / 4];
        println!(
            "{:40} median {:7.2} ms  p25 {:7.2}  {:5.2} GB/s  cpu {:7.2} ms",
            v.name(),
            t,
            mn,
            2.0 * (n * 4) as f64 / t / 1e6,
            med(cpus[k].clone()) * 1e3
        );
    }
    let _ = std::fs::read_to_string("/proc/loadavg").map(|l| println!("loadavg {l}"));
}
