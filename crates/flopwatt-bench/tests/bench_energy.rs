//! End to end: with a fake RAPL tree whose counter rises at a known wattage, the bench
//! reports that wattage as a measurement. The only test in this binary, because it sets
//! `FLOPWATT_SYSFS_ROOT` for the process.
// Native only: blocking readbacks, threads, files (the browser runs the gpu_test! binaries).
#![cfg(not(target_arch = "wasm32"))]
#[path = "../../flopwatt/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flopwatt::energy::{self, EnergyConfig, SourceKind};
use flopwatt_bench::{self as bench, BenchOptions, Suite};

const WATTS: f64 = 40.0;

/// Writes `energy_uj` = WATTS * elapsed every millisecond (atomically, by rename), wrapping at
/// `max_energy_range_uj` as a real counter does.
fn fake_rapl(root: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let zone = root.join("class/powercap/intel-rapl:0");
    std::fs::create_dir_all(&zone).unwrap();
    // Wraps every 2.5 s at 40 W, longer than any one energy window (as on real RAPL, whose
    // range lasts minutes) but short enough that the run crosses a wrap the bench must undo.
    let max: u64 = 100_000_000;
    std::fs::write(zone.join("name"), "package-0\n").unwrap();
    std::fs::write(zone.join("max_energy_range_uj"), format!("{max}\n")).unwrap();
    std::fs::write(zone.join("energy_uj"), "0\n").unwrap();
    std::thread::spawn(move || {
        let start = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let uj = (start.elapsed().as_secs_f64() * WATTS * 1e6) as u64 % (max + 1);
            let tmp = zone.join("energy_uj.tmp");
            std::fs::write(&tmp, format!("{uj}\n")).unwrap();
            std::fs::rename(&tmp, zone.join("energy_uj")).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

#[test]
fn bench_reports_the_wattage_of_a_fake_rapl_counter() {
    let dev = device_or_skip!();
    if dev.summary().class != flopwatt::AdapterClass::Cpu {
        eprintln!("SKIPPED: RAPL is the source for CPU adapters only; this adapter uses another");
        return;
    }
    let root = std::env::temp_dir().join(format!("flopwatt-bench-rapl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = fake_rapl(&root, stop.clone());
    std::env::set_var("FLOPWATT_SYSFS_ROOT", &root);

    let mut power = energy::detect(dev.summary(), None);
    assert_eq!(power.kind(), SourceKind::Rapl, "{}", power.describe());
    assert!(power.measured());
    let opts = BenchOptions {
        suite: Suite::Quick,
        filters: vec!["sum-4096".into()],
        min_time: Duration::from_millis(200),
        energy: EnergyConfig {
            min_window: Duration::from_millis(1500),
            idle_window: Duration::from_millis(500),
        },
        no_fusion: false,
    };
    let w = bench::select(&opts);
    assert_eq!(w.len(), 1);
    let r = bench::run_workload(&dev, &w[0], &opts, power.as_mut(), None).unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let _ = std::fs::remove_dir_all(&root);

    // The counter is written every ~1 ms from a clock the reader does not share: 5% covers a
    // millisecond of skew at each end of a 1.5 s window, with margin for a loaded machine.
    let avg = r.avg_watts.expect("measured watts");
    assert!(
        (avg - WATTS).abs() <= 0.05 * WATTS,
        "avg_watts {avg} vs {WATTS}"
    );
    let idle = r.idle_watts.expect("idle watts");
    assert!(
        (idle - WATTS).abs() <= 0.05 * WATTS,
        "idle_watts {idle} vs {WATTS}"
    );
    assert_eq!(r.energy_measured, Some(true));
    let jpr = r.joules_per_run.unwrap();
    assert!(jpr > 0.0 && r.gflops_per_watt.unwrap() > 0.0);
}
