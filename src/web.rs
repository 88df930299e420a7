//! The browser entry points (wasm32 only), exported to JavaScript with wasm-bindgen.
