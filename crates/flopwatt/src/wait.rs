//! Waiting for the GPU without blocking where blocking is not allowed.
//!
//! wgpu reports buffer mapping and queue completion through callbacks. Native code may block
//! on `device.poll(wait)` until they fire; the browser's main thread must not block at all
//! (WebGPU resolves them from its event loop), so both go through a one-shot future that the
//! callback completes. Native awaits it after polling; the browser awaits it for real.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::device::Device;
use crate::error::{Error, Result};

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

/// The sending half: a callback completes it once.
pub(crate) struct Sender<T>(Arc<Mutex<Slot<T>>>);

/// The receiving half: a future of the value.
pub(crate) struct Receiver<T>(Arc<Mutex<Slot<T>>>);

/// A channel for one value, completed from a wgpu callback.
pub(crate) fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
    }));
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    pub(crate) fn send(self, value: T) {
        let waker = match self.0.lock() {
            Ok(mut s) => {
                s.value = Some(value);
                s.waker.take()
            }
            Err(_) => None,
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.0.lock().expect("oneshot slot");
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Maps `buffer` for reading and returns its bytes; the buffer is unmapped afterwards.
/// Everything submitted before this call completes first (queue order).
pub(crate) async fn read_buffer(device: &Device, buffer: &wgpu::Buffer) -> Result<Vec<u8>> {
    let (tx, rx) = oneshot();
    buffer
        .slice(..)
        .map_async(wgpu::MapMode::Read, move |r| tx.send(r));
    // Native: the callback fires from poll; the browser fires it from its event loop.
    #[cfg(not(target_arch = "wasm32"))]
    device.wait()?;
    #[cfg(target_arch = "wasm32")]
    let _ = device;
    rx.await.map_err(|e| Error::Readback(e.to_string()))?;
    let data = {
        let view = buffer
            .slice(..)
            .get_mapped_range()
            .map_err(|e| Error::Readback(e.to_string()))?;
        view.to_vec()
    };
    buffer.unmap();
    Ok(data)
}

/// Resolves when all work submitted so far has finished.
pub(crate) async fn queue_done(device: &Device) -> Result<()> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        device.wait()
    }
    #[cfg(target_arch = "wasm32")]
    {
        let (tx, rx) = oneshot();
        device.queue().on_submitted_work_done(move || tx.send(()));
        rx.await;
        Ok(())
    }
}

/// Runs a future to completion on native (the sync wrappers over the async core).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    pollster::block_on(f)
}
