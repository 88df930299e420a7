//! The clock: `std::time::Instant` on native, the browser's `performance.now()` on wasm32,
//! where std's `Instant::now()` panics.

#[cfg(not(target_arch = "wasm32"))]
pub use std::time::Instant;
#[cfg(target_arch = "wasm32")]
pub use web_time::Instant;
