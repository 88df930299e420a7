//! Normalisation (being written).

/// Every generated variant.
pub fn all_variants() -> Vec<(String, String)> {
    Vec::new()
}
