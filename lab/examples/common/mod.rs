//! Helpers shared by the probe examples (`#[path = "common/mod.rs"] mod common;`).
#![allow(dead_code)]

/// Process CPU seconds (user + system) from /proc/self/stat; 0 where there is none. On a
/// shared, loaded machine lavapipe's CPU time ranks kernels more steadily than wall or GPU
/// time, since it does not count the time other processes hold the cores.
pub fn cpu_secs() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// The median (upper middle) of `v`; NaN for an empty one.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
