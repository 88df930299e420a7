//! f64 reference for attention.
