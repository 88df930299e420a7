//! A pool of device storage buffers that hands freed buffers out again.
//!
//! Creating a buffer costs a driver call and, on real GPUs, an allocation; a graph run
//! repeated many times frees and needs the same sizes again and again. Sizes are rounded up
//! to a class (quarter steps between powers of two, so at most 25% waste) and kept per class.
//! Idle buffers beyond a cap are released so that a long-lived process does not hoard memory.
//!
//! Recording scopes: while a [`crate::Recorder`] is open on a thread, buffers freed on that
//! thread (an executable's intermediates after their last use) go to the scope, not the
//! shared pool, and only allocations of kernel outputs on the same thread reuse them. That
//! reuse is safe because wgpu orders the dispatches of one command buffer; handing such a
//! buffer to another thread, or to a host upload (`queue.write_buffer` runs before the
//! recorded command buffer is submitted), would not be. When the scope ends (after submit)
//! its buffers return to the shared pool.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

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

/// Buffers freed inside a thread's open recording scope.
#[derive(Default)]
struct Scope {
    depth: usize,
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    /// Kernel-output requests of class `.0` take class `.1` instead (set by an executable's
    /// memory plan, which may give a value a larger buffer so that it shares one with a
    /// larger value later in the run).
    upgrade: Option<(u64, u64)>,
}

#[derive(Default)]
struct Shared {
    idle: Mutex<HashMap<u64, Vec<wgpu::Buffer>>>,
    scopes: Mutex<HashMap<ThreadId, Scope>>,
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

    /// A storage buffer of at least `bytes` bytes; contents are undefined. `for_kernel`:
    /// the buffer is written only by recorded dispatches (not by a host upload), so it may
    /// reuse a buffer freed in this thread's open recording scope.
    pub(crate) fn take(&self, device: &wgpu::Device, bytes: u64, for_kernel: bool) -> PooledBuffer {
        let mut class = size_class(bytes);
        if for_kernel {
            let scoped = self.shared.scopes.lock().ok().and_then(|mut m| {
                let s = m.get_mut(&std::thread::current().id())?;
                if let Some((from, to)) = s.upgrade {
                    if from == class {
                        class = to;
                    }
                }
                s.free.get_mut(&class).and_then(|v| v.pop())
            });
            if let Some(buffer) = scoped {
                return self.wrap(buffer, class);
            }
        }
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
        self.wrap(buffer, class)
    }

    fn wrap(&self, buffer: wgpu::Buffer, class: u64) -> PooledBuffer {
        PooledBuffer {
            buffer: Some(buffer),
            class,
            shared: self.shared.clone(),
            max_idle_bytes: self.max_idle_bytes,
        }
    }

    /// Opens (or nests) this thread's recording scope.
    pub(crate) fn begin_scope(&self) {
        if let Ok(mut m) = self.shared.scopes.lock() {
            m.entry(std::thread::current().id()).or_default().depth += 1;
        }
    }

    /// Within this thread's open recording scope, makes kernel-output requests of class
    /// `from` take class `to` (>= `from`) until changed; `None` ends it. No effect outside a
    /// scope.
    pub(crate) fn set_upgrade(&self, upgrade: Option<(u64, u64)>) {
        if let Ok(mut m) = self.shared.scopes.lock() {
            if let Some(s) = m.get_mut(&std::thread::current().id()) {
                s.upgrade = upgrade.filter(|(from, to)| to > from);
            }
        }
    }

    /// Closes this thread's recording scope; the outermost close returns its buffers to the
    /// shared pool. Call only after the recorded work has been submitted (or abandoned).
    pub(crate) fn end_scope(&self) {
        let id = std::thread::current().id();
        let freed = self.shared.scopes.lock().ok().and_then(|mut m| {
            let s = m.get_mut(&id)?;
            s.depth = s.depth.saturating_sub(1);
            if s.depth == 0 {
                m.remove(&id).map(|s| s.free)
            } else {
                None
            }
        });
        for (class, buffers) in freed.into_iter().flatten() {
            for b in buffers {
                release(&self.shared, b, class, self.max_idle_bytes);
            }
        }
    }

    /// Takes the buffers freed in this thread's open recording scope out of it, for a recording
    /// that will be replayed (its dispatches keep using them, so they must not return to the
    /// pool until the replay state is dropped). `None` when no scope is open or it is nested:
    /// then the outer recording owns those buffers.
    pub(crate) fn take_scope_free(&self) -> Option<Vec<PooledBuffer>> {
        let free = {
            let mut m = self.shared.scopes.lock().ok()?;
            let s = m.get_mut(&std::thread::current().id())?;
            if s.depth != 1 {
                return None;
            }
            std::mem::take(&mut s.free)
        };
        Some(
            free.into_iter()
                .flat_map(|(class, bufs)| bufs.into_iter().map(move |b| (class, b)))
                .map(|(class, b)| self.wrap(b, class))
                .collect(),
        )
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

/// Returns a buffer to the shared pool, or frees it beyond the idle cap.
fn release(shared: &Shared, buffer: wgpu::Buffer, class: u64, max_idle_bytes: u64) {
    let idle = shared.idle_bytes.load(Ordering::Relaxed);
    if idle + class <= max_idle_bytes {
        if let Ok(mut m) = shared.idle.lock() {
            m.entry(class).or_default().push(buffer);
            shared.idle_bytes.fetch_add(class, Ordering::Relaxed);
            return;
        }
    }
    shared.allocated_bytes.fetch_sub(class, Ordering::Relaxed);
    // Dropped, not destroyed: a recorded or pending command buffer may still use it, and wgpu
    // frees the memory once nothing does.
    drop(buffer);
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        let Some(buffer) = self.buffer.take() else {
            return;
        };
        if let Ok(mut m) = self.shared.scopes.lock() {
            if let Some(s) = m.get_mut(&std::thread::current().id()) {
                s.free.entry(self.class).or_default().push(buffer);
                return;
            }
        }
        release(&self.shared, buffer, self.class, self.max_idle_bytes);
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
