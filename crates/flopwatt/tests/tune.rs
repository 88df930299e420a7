//! The tune table steers matmul's choice (its own binary: the table is process-wide).
// Native only (sync API); the browser runs the gpu_test! binaries.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::ops::matmul::{encode_matmul, Epilogue};
use flopwatt::tune::{self, AdapterTable, TuneEntry};
use flopwatt::{Recorder, Tensor};
use flopwatt_reference::{self as reference, check_nmse, NMSE_F32};

fn product(dev: &flopwatt::Device, m: usize, n: usize, k: usize) -> (String, Vec<f32>, Vec<f64>) {
    let av = reference::random(m * k, 31);
    let bv = reference::random(k * n, 32);
    let a = Tensor::from_f32(dev, &av, &[m, k]).unwrap();
    let b = Tensor::from_f32(dev, &bv, &[k, n]).unwrap();
    let mut rec = Recorder::new(dev);
    let out = encode_matmul(&mut rec, &a, &b, &Epilogue::default(), None).unwrap();
    let kernel = rec.dispatches().last().unwrap().kernel.clone();
    rec.submit(false).unwrap();
    let a64: Vec<f64> = av.iter().map(|&x| x as f64).collect();
    let b64: Vec<f64> = bv.iter().map(|&x| x as f64).collect();
    let (want, _) = reference::matmul::matmul(&a64, &[m, k], &b64, &[k, n]);
    (kernel, out.to_f32_vec().unwrap(), want)
}

fn entry(
    class: [u32; 3],
    variant: &str,
    tm: u32,
    tn: u32,
    wg: (u32, u32),
    k_split: u32,
) -> TuneEntry {
    TuneEntry {
        op: "matmul".into(),
        class,
        // A shape inside the class: entries are only trusted for their shape's class.
        shape: class.map(|c| 1usize << c),
        variant: variant.into(),
        tm,
        tn,
        wg_x: wg.0,
        wg_y: wg.1,
        k_split,
        gflops: 1.0,
        rule_gflops: 1.0,
    }
}

#[test]
fn tuned_choice_is_used_where_it_can_compute_the_product() {
    let dev = device_or_skip!();
    let b = tune::bucket;
    let mut table = AdapterTable {
        adapter: tune::adapter_key(&dev),
        entries: Vec::new(),
    };
    // [61, 67] x [67, 59]: tuned to the shared-memory kernel, which the rules never pick on
    // a CPU adapter.
    table.insert(entry(
        [b(61), b(59), b(67)],
        "gpu_tiled",
        4,
        4,
        (16, 16),
        16,
    ));
    // [97, 29] x [29, 101]: tuned to GEMV, which cannot compute it: the rules must take over.
    table.insert(entry([b(97), b(101), b(29)], "gemv", 1, 1, (64, 1), 1));
    // Entries no rule would write: tiles of 4096 x 4096 accumulators, a K slice far beyond
    // workgroup memory, and a measured shape outside the entry's class.
    table.insert(entry([7, 7, 7], "gpu_tiled", 4096, 4096, (16, 16), 16));
    table.insert(entry([7, 7, 8], "gpu_tiled", 4, 4, (16, 16), 1 << 20));
    let mut far = entry([7, 8, 7], "gpu_tiled", 4, 4, (16, 16), 16);
    far.shape = [4096, 4096, 4096];
    table.insert(far);
    tune::install(&dev, table);
    assert_eq!(tune::matmul_choice(&dev, 128, 128, 128), None);
    assert_eq!(tune::matmul_choice(&dev, 128, 128, 256), None);
    assert_eq!(tune::matmul_choice(&dev, 128, 256, 128), None);
    let (_, got, want) = product(&dev, 128, 128, 256);
    check_nmse("out-of-limits tuned choice", &got, &want, NMSE_F32).unwrap();

    let (kernel, got, want) = product(&dev, 61, 59, 67);
    assert_eq!(kernel, "matmul.gpu_tiled");
    check_nmse("tuned gpu_tiled", &got, &want, NMSE_F32).unwrap();
    let (kernel, got, want) = product(&dev, 97, 101, 29);
    assert_ne!(kernel, "matmul.gemv");
    check_nmse("unusable tuned choice", &got, &want, NMSE_F32).unwrap();
}

#[test]
fn tuning_a_small_product_picks_a_working_candidate() {
    let dev = device_or_skip!();
    let t = tune::tune_matmul(&dev, 37, 41, 19, 1).unwrap();
    assert_eq!(t.shape, [37, 41, 19]);
    assert!(t.timings.iter().filter(|x| x.2.is_ok()).count() >= 2);
    assert!(t.best.gflops > 0.0 && t.best.gflops.is_finite());
    assert!(t.best.choice().is_some());
    // The file round-trips through disk.
    let dir = std::env::temp_dir().join(format!("flopwatt-tune-{}", std::process::id()));
    let path = dir.join("tune.json");
    let mut f = tune::TuneFile::default();
    f.table_mut(&tune::adapter_key(&dev)).insert(t.best.clone());
    f.save(&path).unwrap();
    let back = tune::TuneFile::load(&path).unwrap();
    let e = &back.adapters[0].entries[0];
    // serde_json reads floats back to within an ulp, not always bit for bit.
    assert_eq!((e.class, e.choice()), (t.best.class, t.best.choice()));
    approx::assert_relative_eq!(e.gflops, t.best.gflops, max_relative = 1e-12);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn concurrent_merges_keep_every_entry_and_a_corrupt_file_is_replaced() {
    let dir = std::env::temp_dir().join(format!("flopwatt-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tune.json");
    std::fs::write(&path, "{ not json").unwrap();
    let one = |c: u32| entry([c, 1, 1], "cpu_register", 32, 16, (64, 1), 1);
    let warning = tune::TuneFile::merge_into(&path, "gpu", &[one(1)]).unwrap();
    assert!(warning.is_some_and(|w| w.contains("replacing")));
    let writers: Vec<_> = (2..10)
        .map(|c| {
            let p = path.clone();
            std::thread::spawn(move || tune::TuneFile::merge_into(&p, "gpu", &[one(c)]))
        })
        .collect();
    for w in writers {
        assert!(w.join().unwrap().unwrap().is_none());
    }
    let f = tune::TuneFile::load(&path).unwrap();
    assert_eq!(f.adapters.len(), 1);
    assert_eq!(f.adapters[0].entries.len(), 9, "an entry was lost");
    // No lock or temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "{left:?}");
    std::fs::remove_dir_all(&dir).ok();
}
