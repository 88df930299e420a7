//! Device tensors: a pooled buffer plus shape, strides and dtype; upload and download.

use std::fmt;
use std::sync::Arc;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::pool::PooledBuffer;
pub use flopwatt_ir::dtype::DType;
pub use flopwatt_ir::shape::{
    broadcast_shapes, broadcast_strides, check_shape, contiguous_strides, numel, reshape_strides,
};

/// A tensor on a device.
///
/// Cloning shares the buffer. Views (transpose, broadcast) change strides, not data; kernels
/// that accept strided inputs read them without a copy, the rest call `Tensor::contiguous`.
#[derive(Clone)]
pub struct Tensor {
    pub(crate) device: Device,
    pub(crate) buf: Arc<PooledBuffer>,
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
    dtype: DType,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor")
            .field("shape", &self.shape)
            .field("strides", &self.strides)
            .field("dtype", &self.dtype)
            .finish()
    }
}

fn check_len(shape: &[usize], got: usize) -> Result<()> {
    let expected = numel(shape);
    if expected != got {
        return Err(Error::DataLength {
            shape: shape.to_vec(),
            expected,
            got,
        });
    }
    Ok(())
}

impl Tensor {
    /// An uninitialised contiguous tensor.
    ///
    /// Meant for kernel outputs: inside an open [`crate::Recorder`] on this thread it may reuse
    /// a buffer freed earlier in the same recording (see `pool`), so write it only with
    /// recorded dispatches. Host uploads use [`Tensor::from_f32`] and friends.
    pub fn empty(device: &Device, shape: &[usize], dtype: DType) -> Result<Self> {
        Self::alloc(device, shape, dtype, true)
    }

    fn alloc(device: &Device, shape: &[usize], dtype: DType, for_kernel: bool) -> Result<Self> {
        let n = check_shape("tensor", shape, dtype.size())?;
        let bytes = (n.max(1) * dtype.size()) as u64;
        device.check_binding(&format!("tensor {shape:?} {dtype}"), bytes)?;
        let buf = device
            .inner
            .pool
            .take(&device.inner.device, bytes, for_kernel);
        Ok(Tensor {
            device: device.clone(),
            buf: Arc::new(buf),
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: 0,
            dtype,
        })
    }

    /// A tensor of `like`'s shape, strides and dtype at element `offset` of a fresh buffer of
    /// `bytes` bytes, which only a copy in the next submit writes; for a replayed run's
    /// outputs, which must not share the executable's buffers.
    pub(crate) fn fresh_like(like: &Tensor, bytes: u64, offset: usize) -> Tensor {
        let device = &like.device;
        let buf = device.inner.pool.take(&device.inner.device, bytes, false);
        Tensor {
            device: device.clone(),
            buf: Arc::new(buf),
            shape: like.shape.clone(),
            strides: like.strides.clone(),
            offset,
            dtype: like.dtype,
        }
    }

    fn from_bytes(device: &Device, shape: &[usize], dtype: DType, bytes: &[u8]) -> Result<Self> {
        // Never a buffer of an open recording: the upload would land before that work runs.
        let t = Self::alloc(device, shape, dtype, false)?;
        // write_buffer needs a multiple of 4 bytes; pad odd f16 counts.
        if bytes.len().is_multiple_of(4) {
            device.queue().write_buffer(t.buf.buffer(), 0, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4), 0);
            device.queue().write_buffer(t.buf.buffer(), 0, &padded);
        }
        Ok(t)
    }

    /// Uploads f32 data in row-major order.
    pub fn from_f32(device: &Device, data: &[f32], shape: &[usize]) -> Result<Self> {
        check_len(shape, data.len())?;
        Self::from_bytes(device, shape, DType::F32, bytemuck::cast_slice(data))
    }

    /// Uploads i32 data in row-major order.
    pub fn from_i32(device: &Device, data: &[i32], shape: &[usize]) -> Result<Self> {
        check_len(shape, data.len())?;
        Self::from_bytes(device, shape, DType::I32, bytemuck::cast_slice(data))
    }

    /// Uploads f16 data; the device must have `SHADER_F16`.
    pub fn from_f16(device: &Device, data: &[half::f16], shape: &[usize]) -> Result<Self> {
        if !device.has_f16() {
            return Err(Error::MissingFeature {
                what: "an f16 tensor".into(),
                feature: "SHADER_F16",
                adapter: device.summary().name.clone(),
            });
        }
        check_len(shape, data.len())?;
        Self::from_bytes(device, shape, DType::F16, bytemuck::cast_slice(data))
    }

    /// The device it lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Strides in elements (0 for broadcast dims).
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Offset of the first element, in elements.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// Bytes of the distinct elements this view reads: a broadcast dimension (stride 0)
    /// counts once, so a bias broadcast over rows costs one row.
    pub fn distinct_bytes(&self) -> u64 {
        let distinct: usize = self
            .shape()
            .iter()
            .zip(self.strides())
            .filter(|(_, &s)| s != 0)
            .map(|(&d, _)| d)
            .product();
        (distinct * self.dtype().size()) as u64
    }

    /// Rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The underlying wgpu buffer.
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buf.buffer()
    }

    /// Whether the elements are dense in row-major order from offset 0.
    pub fn is_contiguous(&self) -> bool {
        self.offset == 0 && self.strides == contiguous_strides(&self.shape)
    }

    /// A view with another shape of the same number of elements (contiguous tensors only).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.numel() {
            return Err(Error::shape(
                "reshape",
                format!("cannot reshape {:?} into {:?}", self.shape, shape),
            ));
        }
        if !self.is_contiguous() {
            return Err(Error::shape(
                "reshape",
                "tensor is a strided view; call contiguous() first",
            ));
        }
        let mut t = self.clone();
        t.shape = shape.to_vec();
        t.strides = contiguous_strides(shape);
        Ok(t)
    }

    /// A view with another shape of the same number of elements, also for strided views
    /// where the new shape only splits or merges dims that are dense with each other (numpy's
    /// no-copy reshape); an error where that needs a copy. Unlike [`Tensor::reshape`] the
    /// result may be strided, so only pass it to kernels that read strides.
    pub fn reshape_view(&self, shape: &[usize]) -> Result<Tensor> {
        let strides = reshape_strides(&self.shape, &self.strides, shape).ok_or_else(|| {
            Error::shape(
                "reshape",
                format!(
                    "cannot view {:?} (strides {:?}) as {:?} without a copy",
                    self.shape, self.strides, shape
                ),
            )
        })?;
        let mut t = self.clone();
        t.shape = shape.to_vec();
        t.strides = strides;
        Ok(t)
    }

    /// A view of `len` entries of `axis` starting at `start` (no copy; offset and shape change).
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Result<Tensor> {
        if axis >= self.rank() || start + len > self.shape[axis] {
            return Err(Error::invalid(
                "narrow",
                format!(
                    "entries {start}..{} of axis {axis} are outside {:?}",
                    start + len,
                    self.shape
                ),
            ));
        }
        let mut t = self.clone();
        t.offset += start * self.strides[axis];
        t.shape[axis] = len;
        Ok(t)
    }

    /// A view with two axes swapped (no copy).
    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor> {
        let r = self.rank();
        if a >= r || b >= r {
            return Err(Error::invalid(
                "transpose",
                format!("axes ({a}, {b}) out of range for rank {r}"),
            ));
        }
        let mut t = self.clone();
        t.shape.swap(a, b);
        t.strides.swap(a, b);
        Ok(t)
    }

    /// A view of elements `starts[d] + i * steps[d]` (`i < counts[d]`) along each axis (no
    /// copy; positive steps only, since strides are unsigned).
    pub fn slice_view(
        &self,
        starts: &[usize],
        steps: &[usize],
        counts: &[usize],
    ) -> Result<Tensor> {
        let r = self.rank();
        let ok = starts.len() == r
            && steps.len() == r
            && counts.len() == r
            && (0..r).all(|d| {
                steps[d] > 0
                    && (counts[d] == 0 || starts[d] + steps[d] * (counts[d] - 1) < self.shape[d])
            });
        if !ok {
            return Err(Error::shape(
                "slice",
                format!(
                    "starts {starts:?}, steps {steps:?}, counts {counts:?} do not fit {:?}",
                    self.shape
                ),
            ));
        }
        let mut t = self.clone();
        for d in 0..r {
            if counts[d] > 0 {
                t.offset += starts[d] * self.strides[d];
            }
            t.strides[d] = self.strides[d] * steps[d];
        }
        t.shape = counts.to_vec();
        Ok(t)
    }

    /// A view broadcast to `shape` by numpy rules (no copy).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        let strides = broadcast_strides(&self.shape, &self.strides, shape).ok_or_else(|| {
            Error::shape(
                "broadcast",
                format!("cannot broadcast {:?} to {:?}", self.shape, shape),
            )
        })?;
        check_shape("broadcast", shape, self.dtype.size())?;
        let mut t = self.clone();
        t.shape = shape.to_vec();
        t.strides = strides;
        Ok(t)
    }

    /// Downloads as f32 in row-major order of the logical shape (f16 and i32 are converted).
    ///
    /// Blocks until the GPU is done; in the browser use [`Tensor::to_f32_vec_async`].
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        self.f32_from_raw(self.read_raw()?)
    }

    /// [`Tensor::to_f32_vec`] without blocking (the browser's way to read results).
    pub async fn to_f32_vec_async(&self) -> Result<Vec<f32>> {
        self.f32_from_raw(self.read_raw_async().await?)
    }

    /// [`Tensor::to_i32_vec`] without blocking.
    pub async fn to_i32_vec_async(&self) -> Result<Vec<i32>> {
        self.expect_i32()?;
        let raw = self.read_raw_async().await?;
        Ok(self.gather(&bytemuck::pod_collect_to_vec::<u8, i32>(&raw)))
    }

    fn f32_from_raw(&self, raw: Vec<u8>) -> Result<Vec<f32>> {
        Ok(match self.dtype {
            DType::F32 => self.gather(bytemuck::cast_slice::<u8, f32>(&raw)),
            DType::I32 => self
                .gather(bytemuck::cast_slice::<u8, i32>(&raw))
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            DType::F16 => self
                .gather(bytemuck::cast_slice::<u8, half::f16>(&raw))
                .into_iter()
                .map(f32::from)
                .collect(),
        })
    }

    /// Downloads an i32 tensor.
    ///
    /// Blocks until the GPU is done; in the browser use [`Tensor::to_i32_vec_async`].
    pub fn to_i32_vec(&self) -> Result<Vec<i32>> {
        self.expect_i32()?;
        let raw = self.read_raw()?;
        Ok(self.gather(bytemuck::cast_slice::<u8, i32>(&raw)))
    }

    fn expect_i32(&self) -> Result<()> {
        if self.dtype != DType::I32 {
            return Err(Error::UnsupportedDType {
                op: "to_i32_vec",
                dtype: self.dtype,
                hint: "use to_f32_vec".into(),
            });
        }
        Ok(())
    }

    /// Bytes the view can touch in its buffer.
    fn span_bytes(&self) -> u64 {
        let last: usize = self
            .shape
            .iter()
            .zip(&self.strides)
            .map(|(&d, &s)| d.saturating_sub(1) * s)
            .sum();
        let elems = if self.numel() == 0 {
            0
        } else {
            self.offset + last + 1
        };
        ((elems * self.dtype.size()) as u64).next_multiple_of(4)
    }

    fn read_raw(&self) -> Result<Vec<u8>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            crate::wait::block_on(self.read_raw_async())
        }
        #[cfg(target_arch = "wasm32")]
        {
            Err(Error::invalid(
                "Tensor::to_f32_vec",
                "the browser cannot block on a readback: use to_f32_vec_async / to_i32_vec_async",
            ))
        }
    }

    /// A view (a broadcast above all) can be far larger than its buffer: its host copy is
    /// held to the same limit as a device buffer of its size, checked before allocating.
    fn check_download(&self) -> Result<()> {
        let n = check_shape("download", &self.shape, self.dtype.size())?;
        self.device.check_binding(
            &format!("reading back tensor {:?} {}", self.shape, self.dtype),
            (n * self.dtype.size()) as u64,
        )
    }

    async fn read_raw_async(&self) -> Result<Vec<u8>> {
        self.check_download()?;
        let size = self.span_bytes().max(4);
        let dev = &self.device;
        let staging = dev.wgpu_device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("flopwatt-readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = dev
            .wgpu_device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.copy_buffer_to_buffer(self.buffer(), 0, &staging, 0, size);
        dev.queue().submit([enc.finish()]);
        let data = crate::wait::read_buffer(dev, &staging).await;
        staging.destroy();
        let data = data?;
        let errs = dev.take_uncaptured_errors();
        if let Some(e) = errs.into_iter().next() {
            return Err(Error::Gpu {
                context: "a previous submission".into(),
                message: e,
            });
        }
        Ok(data)
    }

    fn gather<T: Copy>(&self, all: &[T]) -> Vec<T> {
        if self.is_contiguous() {
            return all[..self.numel()].to_vec();
        }
        let n = self.numel();
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; self.rank()];
        for _ in 0..n {
            let off = self.offset
                + idx
                    .iter()
                    .zip(&self.strides)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            out.push(all[off]);
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < self.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out
    }
}

/// Seeded uniform data in [-1, 1): inputs for the tuner's and the peak probe's timing runs
/// (the same stream as `flopwatt_reference::random`).
pub(crate) fn random_data(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| rng.f32() * 2.0 - 1.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_and_broadcast() {
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(broadcast_shapes(&[3, 1], &[4]), Some(vec![3, 4]));
        assert_eq!(broadcast_shapes(&[2, 3], &[4, 3]), None);
        assert_eq!(
            broadcast_strides(&[3, 1], &[1, 1], &[2, 3, 4]),
            Some(vec![0, 1, 0])
        );
    }

    #[test]
    fn no_copy_reshape() {
        // Contiguous: always, with dense strides.
        assert_eq!(
            reshape_strides(&[256, 512], &[512, 1], &[1, 256, 8, 64]),
            Some(vec![131072, 512, 64, 1])
        );
        // A column slice of a wider matrix splits its last dim without a copy.
        assert_eq!(
            reshape_strides(&[256, 512], &[1536, 1], &[1, 256, 8, 64]),
            Some(vec![393216, 1536, 64, 1])
        );
        // Heads-last storage viewed heads-first, transposed back, merges again.
        assert_eq!(
            reshape_strides(&[1, 256, 8, 64], &[131072, 512, 64, 1], &[256, 512]),
            Some(vec![512, 1])
        );
        // A transpose cannot merge the swapped dims.
        assert_eq!(reshape_strides(&[3, 4], &[1, 3], &[12]), None);
        assert_eq!(
            reshape_strides(&[3, 4], &[1, 3], &[3, 4, 1]),
            Some(vec![1, 3, 1])
        );
        assert_eq!(reshape_strides(&[2, 3], &[3, 1], &[7]), None);
        // Size-1 dims anywhere.
        assert_eq!(
            reshape_strides(&[1, 6, 1], &[6, 1, 1], &[2, 1, 3]),
            Some(vec![3, 3, 1])
        );
    }
}
