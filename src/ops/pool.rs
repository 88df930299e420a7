//! Pooling (placeholder).
/// Variants.
pub fn all_variants() -> Vec<(String, String)> {
    Vec::new()
}
