//! Device, tensor and pool behaviour on the real adapter.
// Native only: blocking readbacks, threads, files (the browser runs the gpu_test! binaries).
#![cfg(not(target_arch = "wasm32"))]
mod common;

use flopwatt::{DType, Error, Tensor};
use flopwatt_reference as reference;

#[test]
fn upload_download_roundtrip_at_awkward_sizes() {
    let dev = device_or_skip!();
    for (i, n) in [1usize, 3, 127, 257, 4096, 100_003].into_iter().enumerate() {
        let data = reference::random(n, i as u64);
        let t = Tensor::from_f32(&dev, &data, &[n]).unwrap();
        assert_eq!(t.to_f32_vec().unwrap(), data);
    }
}

#[test]
fn strided_views_download_in_logical_order() {
    let dev = device_or_skip!();
    let data: Vec<f32> = (0..6).map(|x| x as f32 * 1.5 - 2.0).collect();
    let t = Tensor::from_f32(&dev, &data, &[2, 3]).unwrap();
    let tt = t.transpose(0, 1).unwrap();
    assert_eq!(tt.shape(), &[3, 2]);
    assert_eq!(
        tt.to_f32_vec().unwrap(),
        vec![-2.0, 2.5, -0.5, 4.0, 1.0, 5.5]
    );
    let b = Tensor::from_f32(&dev, &[7.0, -8.0], &[2, 1]).unwrap();
    assert_eq!(
        b.broadcast_to(&[2, 3]).unwrap().to_f32_vec().unwrap(),
        vec![7.0, 7.0, 7.0, -8.0, -8.0, -8.0]
    );
}

#[test]
fn i32_and_f16_tensors() {
    let dev = device_or_skip!();
    let t = Tensor::from_i32(&dev, &[-3, 0, 7], &[3]).unwrap();
    assert_eq!(t.dtype(), DType::I32);
    assert_eq!(t.to_i32_vec().unwrap(), vec![-3, 0, 7]);
    let h: Vec<half::f16> = [0.5f32, -1.25, 3.0]
        .iter()
        .map(|&x| half::f16::from_f32(x))
        .collect();
    match Tensor::from_f16(&dev, &h, &[3]) {
        Ok(t) => assert_eq!(t.to_f32_vec().unwrap(), vec![0.5, -1.25, 3.0]),
        Err(Error::MissingFeature { .. }) => assert!(!dev.has_f16()),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn bad_lengths_and_huge_tensors_are_typed_errors() {
    let dev = device_or_skip!();
    assert!(matches!(
        Tensor::from_f32(&dev, &[1.0, 2.0], &[3]),
        Err(Error::DataLength {
            expected: 3,
            got: 2,
            ..
        })
    ));
    let max = dev.limits().max_storage_buffer_binding_size;
    let elems = (max / 4 + 1) as usize;
    match Tensor::empty(&dev, &[elems], DType::F32) {
        Err(Error::TooLarge { limit, .. }) => assert!(limit.starts_with("max_")),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn pool_reuses_freed_buffers() {
    let dev = device_or_skip!();
    let shape = [12_345usize];
    drop(Tensor::empty(&dev, &shape, DType::F32).unwrap());
    let before = dev.allocated_bytes();
    for _ in 0..50 {
        let t = Tensor::empty(&dev, &shape, DType::F32).unwrap();
        drop(t);
    }
    assert_eq!(
        dev.allocated_bytes(),
        before,
        "pool must hand the same buffer out again"
    );
}

#[test]
fn device_is_usable_from_several_threads() {
    let dev = device_or_skip!();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let dev = dev.clone();
            std::thread::spawn(move || {
                let data = reference::random(1000 + i, i as u64);
                let t = Tensor::from_f32(&dev, &data, &[data.len()]).unwrap();
                assert_eq!(t.to_f32_vec().unwrap(), data);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn buffers_freed_during_a_recording_stay_with_it_until_submit() {
    let dev = device_or_skip!();
    // A size no other test in this binary uses, so the shared pool holds none of its class.
    let shape = [77_777usize];
    let rec = flopwatt::Recorder::new(&dev);
    let t = Tensor::empty(&dev, &shape, DType::F32).unwrap();
    drop(t);
    let before = dev.allocated_bytes();
    // Another thread must not get the buffer while the recording may still use it...
    let d2 = dev.clone();
    let other = std::thread::spawn(move || Tensor::empty(&d2, &shape, DType::F32).unwrap())
        .join()
        .unwrap();
    assert!(
        dev.allocated_bytes() > before,
        "other thread reused a buffer of an open recording"
    );
    // ...nor a host upload on this thread (it would land before the recorded work runs)...
    let grown = dev.allocated_bytes();
    let up = Tensor::from_f32(&dev, &vec![1.5; shape[0]], &shape).unwrap();
    assert!(
        dev.allocated_bytes() > grown,
        "upload reused a buffer of an open recording"
    );
    drop((up, other));
    // ...but a kernel output of the same recording may reuse it.
    let steady = dev.allocated_bytes();
    let out = Tensor::empty(&dev, &shape, DType::F32).unwrap();
    assert_eq!(dev.allocated_bytes(), steady);
    drop(out);
    rec.submit(false).unwrap();
    // After the submit everything is back in the shared pool.
    let after = dev.allocated_bytes();
    drop(Tensor::empty(&dev, &shape, DType::F32).unwrap());
    assert_eq!(dev.allocated_bytes(), after);
}

/// WebGPU's default limits (256 invocations per workgroup, 16 KiB of workgroup memory, 128 MiB
/// bindings: what a browser adapter such as SwiftShader gives): the kernels choose variants
/// that fit, and still agree with the reference.
#[test]
fn webgpu_default_limits_fit_the_kernels() {
    use flopwatt::ops::matmul::{matmul_with, Epilogue, MatmulVariant};
    use flopwatt::ops::norm::softmax;
    use flopwatt::ops::reduce::{reduce, ReduceOp};
    use flopwatt::{Device, DeviceOptions};
    use flopwatt_reference::{check_close, check_nmse, NMSE_F32, TRANSCENDENTAL_F32};
    let _shared = device_or_skip!();
    let opts = DeviceOptions {
        webgpu_limits: true,
        ..DeviceOptions::from_env().unwrap()
    };
    let dev = Device::with_options(&opts).unwrap();
    assert_eq!(dev.limits().max_compute_invocations_per_workgroup, 256);
    assert_eq!(dev.limits().max_compute_workgroup_storage_size, 16384);
    assert_eq!(
        dev.summary().limits.max_compute_invocations_per_workgroup,
        256
    );

    let (m, k, n) = (67usize, 129usize, 131usize);
    let a = reference::random(m * k, 1);
    let b = reference::random(k * n, 2);
    let ta = Tensor::from_f32(&dev, &a, &[m, k]).unwrap();
    let tb = Tensor::from_f32(&dev, &b, &[k, n]).unwrap();
    let a64: Vec<f64> = a.iter().map(|&x| x as f64).collect();
    let b64: Vec<f64> = b.iter().map(|&x| x as f64).collect();
    let (want, _) = reference::matmul::matmul(&a64, &[m, k], &b64, &[k, n]);
    for v in [
        None,
        Some(MatmulVariant::CpuRegister),
        Some(MatmulVariant::GpuTiled),
    ] {
        let c = matmul_with(&ta, &tb, &Epilogue::default(), v).unwrap();
        check_nmse(
            &format!("matmul {v:?}"),
            &c.to_f32_vec().unwrap(),
            &want,
            NMSE_F32,
        )
        .unwrap();
    }

    let (r, c) = (5usize, 4099usize);
    let x = reference::random(r * c, 3);
    let tx = Tensor::from_f32(&dev, &x, &[r, c]).unwrap();
    let s = reduce(&tx, ReduceOp::Sum, Some(&[-1]), false).unwrap();
    let want = reference::reduce::reduce(&x, &[r, c], &[false, true], reference::reduce::Kind::Sum);
    check_nmse("sum", &s.to_f32_vec().unwrap(), &want, NMSE_F32).unwrap();
    let y = softmax(&tx, -1).unwrap();
    let want = reference::norm::softmax(&x, &[r, c], 1, false);
    check_close(
        "softmax",
        &y.to_f32_vec().unwrap(),
        &want,
        TRANSCENDENTAL_F32,
    )
    .unwrap();
}
