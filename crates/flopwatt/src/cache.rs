//! Where flopwatt keeps files between runs (the tune file, downloaded test models).

use std::path::PathBuf;

/// flopwatt's cache directory: `$FLOPWATT_CACHE`, else `flopwatt` inside the platform's user
/// cache directory: `$XDG_CACHE_HOME` or `$HOME/.cache` (Linux and other Unix),
/// `$HOME/Library/Caches` (macOS), `%LOCALAPPDATA%` (Windows, which has no `HOME`). `None`
/// where none of these is set.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(p) = nonempty("FLOPWATT_CACHE") {
        return Some(p);
    }
    platform_cache().map(|d| d.join("flopwatt"))
}

/// An environment variable holding an absolute path (a relative or empty one is ignored, as
/// the XDG rules say).
fn nonempty(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

fn platform_cache() -> Option<PathBuf> {
    if cfg!(windows) {
        return nonempty("LOCALAPPDATA");
    }
    if cfg!(target_os = "macos") {
        return nonempty("HOME").map(|h| h.join("Library").join("Caches"));
    }
    nonempty("XDG_CACHE_HOME").or_else(|| nonempty("HOME").map(|h| h.join(".cache")))
}
