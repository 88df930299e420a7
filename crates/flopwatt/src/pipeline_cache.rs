//! wgpu's pipeline cache, kept between processes in flopwatt's cache directory where the
//! backend has one (Vulkan: a `VkPipelineCache`). The driver decides what it holds: on
//! lavapipe 22.3 nothing (its cache stores a header only), on other drivers the compiled
//! pipelines. Measurements: docs/host-path.md#pipeline-cache.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A file larger than this is not read (it is not ours, or it grew past use) and not written.
const MAX_BYTES: u64 = 256 << 20;

/// The environment variable that turns the persisted cache off (`off`).
const ENV: &str = "FLOPWATT_PIPELINE_CACHE";

/// A pipeline cache loaded from and saved to one file per adapter and driver.
pub(crate) struct PersistedCache {
    cache: wgpu::PipelineCache,
    path: PathBuf,
    /// Pipelines built through the cache since it was loaded: nothing to save when none was.
    built: AtomicUsize,
}

impl PersistedCache {
    /// The cache of `adapter`, seeded from its file if there is one; `None` where the device
    /// lacks the feature, wgpu has no key for the adapter, no cache directory is known, or
    /// `FLOPWATT_PIPELINE_CACHE=off`.
    pub(crate) fn open(
        device: &wgpu::Device,
        info: &wgpu::AdapterInfo,
        features: wgpu::Features,
    ) -> Option<Self> {
        if !features.contains(wgpu::Features::PIPELINE_CACHE)
            || std::env::var(ENV).is_ok_and(|v| v.eq_ignore_ascii_case("off"))
        {
            return None;
        }
        let key = wgpu::util::pipeline_cache_key(info)?;
        let path = crate::cache::cache_dir()?.join("pipelines").join(key);
        let data = std::fs::metadata(&path)
            .ok()
            .filter(|m| m.len() <= MAX_BYTES)
            .and_then(|_| std::fs::read(&path).ok());
        // SAFETY: `data` is what `get_data` returned for an adapter with this key (wgpu checks
        // the key, its own version and the length in the header, and with `fallback` starts
        // empty when they do not match); `save` writes the file whole or not at all.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                label: Some("flopwatt"),
                data: data.as_deref(),
                fallback: true,
            })
        };
        Some(PersistedCache {
            cache,
            path,
            built: AtomicUsize::new(0),
        })
    }

    /// The file the cache is loaded from and saved to.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The cache to pass to pipeline creation; counts the build.
    pub(crate) fn for_build(&self) -> &wgpu::PipelineCache {
        self.built.fetch_add(1, Ordering::Relaxed);
        &self.cache
    }

    /// Writes the cache's data to its file (through a temporary file and a rename, so that
    /// a reader sees the old file or the new one) if a pipeline was built since the last save.
    pub(crate) fn save(&self) -> std::io::Result<()> {
        if self.built.swap(0, Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let Some(data) = self.cache.get_data() else {
            return Ok(());
        };
        if data.len() as u64 > MAX_BYTES {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self
            .path
            .with_extension(format!("{}.tmp", std::process::id()));
        std::fs::write(&tmp, &data)?;
        std::fs::rename(&tmp, &self.path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

impl Drop for PersistedCache {
    fn drop(&mut self) {
        // A cache that cannot be written costs the next process time, never correctness.
        let _ = self.save();
    }
}
