//! A pool of device storage buffers that hands freed buffers out again.
//!
//! Creating a buffer costs a driver call and, on real GPUs, an allocation; a graph run
//! repeated many times frees and needs the same sizes again and again. Sizes are rounded up
//! to a class (quarter steps between powers of two, so at most 25% waste) and kept per class.
//! Idle buffers beyond a cap are released so that a long-lived process does not hoard memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Usage of every pooled storage buffer.
pub(crate) const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Rounds a byte size up to its pool class: at least 256, then quarter steps of a power of two.
pub fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    let p = 1u64 << (63 - b.leading_zeros()); // largest power of two <= b
    if p == b {
        return b;
    }
    let step = (p / 4).max(1);
    b.div_ceil(step) * step
}

#[derive(Default)]
struct Shared {
    idle: Mutex<HashMap<u64, Vec<wgpu::Buffer>>>,
    idle_bytes: AtomicU64,
    allocated_bytes: AtomicU64,
}

/// The per-device pool.
pub(crate) struct BufferPool {
    shared: Arc<Shared>,
    max_idle_bytes: u64,
}

impl BufferPool {
    pub(crate) fn new(max_buffer_size: u64) -> Self {
        // Keep up to 1 GiB (or four of the largest buffers, whichever is less) of idle memory.
        let cap = (1u64 << 30).min(max_buffer_size.saturating_mul(4));
        BufferPool {
            shared: Arc::new(Shared::default()),
            max_idle_bytes: cap,
        }
    }

    /// A storage buffer of at least `bytes` bytes; contents are undefined.
    pub(crate) fn take(&self, device: &wgpu::Device, bytes: u64) -> PooledBuffer {
        let class = size_class(bytes);
        let reused = self
            .shared
            .idle
            .lock()
            .ok()
            .and_then(|mut m| m.get_mut(&class).and_then(|v| v.pop()));
        let buffer = match reused {
            Some(b) => {
                self.shared.idle_bytes.fetch_sub(class, Ordering::Relaxed);
                b
            }
            None => {
                self.shared
                    .allocated_bytes
                    .fetch_add(class, Ordering::Relaxed);
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("flopwatt-pool"),
                    size: class,
                    usage: STORAGE_USAGE,
                    mapped_at_creation: false,
                })
            }
        };
        PooledBuffer {
            buffer: Some(buffer),
            class,
            shared: self.shared.clone(),
            max_idle_bytes: self.max_idle_bytes,
        }
    }

    pub(crate) fn idle_bytes(&self) -> u64 {
        self.shared.idle_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn allocated_bytes(&self) -> u64 {
        self.shared.allocated_bytes.load(Ordering::Relaxed)
    }
}

/// A buffer on loan from the pool; returns itself when dropped.
pub struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    class: u64,
    shared: Arc<Shared>,
    max_idle_bytes: u64,
}

impl PooledBuffer {
    /// The wgpu buffer.
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("buffer present until drop")
    }

    /// Its size in bytes (the class size, at least what was asked).
    pub fn size(&self) -> u64 {
        self.class
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        let Some(buffer) = self.buffer.take() else {
            return;
        };
        let idle = self.shared.idle_bytes.load(Ordering::Relaxed);
        if idle + self.class <= self.max_idle_bytes {
            if let Ok(mut m) = self.shared.idle.lock() {
                m.entry(self.class).or_default().push(buffer);
                self.shared
                    .idle_bytes
                    .fetch_add(self.class, Ordering::Relaxed);
                return;
            }
        }
        self.shared
            .allocated_bytes
            .fetch_sub(self.class, Ordering::Relaxed);
        buffer.destroy();
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn classes_round_up_with_bounded_waste() {
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(256), 256);
        assert_eq!(size_class(257), 320);
        assert_eq!(size_class(1 << 20), 1 << 20);
        for b in [300u64, 1000, 4097, 123_457, 10_000_000] {
            let c = size_class(b);
            assert!(c >= b && (c as f64) <= b as f64 * 1.25 + 1.0, "{b} -> {c}");
        }
    }
}
