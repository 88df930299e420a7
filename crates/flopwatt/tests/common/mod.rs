//! Shared test support: one device per test binary, or a clear skip without an adapter; and
//! [`gpu_test!`], which runs one async test body natively (`#[test]`, blocking) and in the
//! browser (`#[wasm_bindgen_test]`, awaited): the same cases on both.
#![allow(dead_code)]

#[cfg(not(target_arch = "wasm32"))]
use std::sync::OnceLock;

use flopwatt::{CompileOptions, Device, Graph};

/// Graph compile options with fusion and memory planning on.
pub const FUSED: CompileOptions = CompileOptions {
    fusion: true,
    memory_planning: true,
    ..CompileOptions::DEFAULT
};

/// Graph compile options with both off: one kernel per op, one buffer per value.
pub const UNFUSED: CompileOptions = CompileOptions {
    fusion: false,
    memory_planning: false,
    ..CompileOptions::DEFAULT
};

/// Whether the tests run in the browser (wasm32 in headless Chromium: Dawn on SwiftShader).
/// There every pipeline compile and kernel run costs several times what it does natively, so
/// the heaviest cases (large sizes, exhaustive variant sweeps) run natively only, and the
/// browser checks each kernel under WebGPU's rules at the smaller sizes.
pub const BROWSER: bool = cfg!(target_arch = "wasm32");

/// Seeded random data for every input of `g`.
pub fn inputs_for(g: &Graph, seed: u64) -> Vec<Vec<f32>> {
    g.inputs()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            flopwatt_reference::random(flopwatt::tensor::numel(g.shape(*v)), seed * 100 + i as u64)
        })
        .collect()
}

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// The device for GPU tests, or `None` (with a message) where no adapter exists.
///
/// In CI (`CI=true`) a missing adapter fails the test instead: CI always has lavapipe.
#[cfg(not(target_arch = "wasm32"))]
pub fn device() -> Option<Device> {
    static DEV: OnceLock<Option<Device>> = OnceLock::new();
    DEV.get_or_init(|| match Device::new() {
        Ok(d) => Some(d),
        Err(e) => {
            if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
                panic!("CI=true but no GPU adapter: {e}");
            }
            eprintln!("SKIPPED: no GPU adapter ({e})");
            None
        }
    })
    .clone()
}

/// The browser's device, opened once per test module (the browser tests always need one:
/// the runner starts Chromium with WebGPU on).
#[cfg(target_arch = "wasm32")]
pub async fn device_async() -> Device {
    thread_local! {
        static DEV: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
    }
    if let Some(d) = DEV.with(|d| d.borrow().clone()) {
        return d;
    }
    let d = Device::new_async()
        .await
        .unwrap_or_else(|e| panic!("no WebGPU device in the browser: {e}"));
    DEV.with(|slot| *slot.borrow_mut() = Some(d.clone()));
    d
}

/// Runs an async test body to completion on native.
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// Opens the device or returns from the test early.
#[macro_export]
macro_rules! device_or_skip {
    () => {
        match common::device() {
            Some(d) => d,
            None => return,
        }
    };
}

/// A test on the device: `gpu_test! { async fn name(dev) { ... } }`. Natively a `#[test]`
/// that skips without an adapter and blocks on the body; on wasm32 a `#[wasm_bindgen_test]`
/// run in headless Chromium. Bodies read results with `to_f32_vec_async().await`.
#[macro_export]
macro_rules! gpu_test {
    ($(#[$m:meta])* async fn $name:ident($dev:ident) $body:block) => {
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        $(#[$m])*
        fn $name() {
            let $dev = device_or_skip!();
            common::block_on(async move $body)
        }

        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        $(#[$m])*
        async fn $name() {
            let $dev = common::device_async().await;
            $body
        }
    };
}
