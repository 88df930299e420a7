//! Pieces the criterion benches share.
use criterion::Criterion;
use flopwatt::{Device, Tensor};
use flopwatt_reference as reference;

/// Benches the driver's own copy of an `n` x `n` f32 buffer (read + write) as `id`, so the
/// memory-bound kernels in the same run can be read against what the machine gives under
/// today's load.
pub fn copy_baseline(c: &mut Criterion, dev: &Device, n: usize, id: &str) {
    let src = Tensor::from_f32(dev, &reference::random(n * n, 9), &[n, n]).expect("upload");
    let dst = Tensor::empty(dev, &[n, n], flopwatt::DType::F32).expect("alloc");
    c.bench_function(id, |b| {
        b.iter(|| {
            let mut enc = dev
                .wgpu_device()
                .create_command_encoder(&Default::default());
            enc.copy_buffer_to_buffer(src.buffer(), 0, dst.buffer(), 0, (n * n * 4) as u64);
            dev.queue().submit([enc.finish()]);
            dev.wait().expect("wait");
        })
    });
}
