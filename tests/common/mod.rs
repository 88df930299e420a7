//! Shared test support: one device per test binary, or a clear skip without an adapter.
#![allow(dead_code)]

use std::sync::OnceLock;

use flopwatt::Device;

/// The device for GPU tests, or `None` (with a message) where no adapter exists.
///
/// In CI (`CI=true`) a missing adapter fails the test instead: CI always has lavapipe.
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
