//! Power sources and the energy method on fake sysfs trees: no GPU and no sensor needed.
//!
//! Tolerances: figures computed on the virtual clock are exact up to the integer microjoules a
//! fake RAPL counter holds (1 µJ per write), so they are checked to 1e-6 relative. The two
//! tests on the real clock (hwmon sampling thread, a RAPL counter written by a thread) state
//! their own tolerance where they are.
// Native only: blocking readbacks, threads, files (the browser runs the gpu_test! binaries).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flopwatt::device::TimingTier;
use flopwatt::energy::{
    self, attribute, choice_line, detect_with, measure, measure_status, measure_with_clock,
    normalize_pci, tdp_estimate, AdapterKey, Clock, EnergyConfig, EnergyResult, EnergyStatus,
    FixedSource, HwmonSource, Integrator, NoSource, PowerSource, Probe, RaplSource, SourceKind,
    SysRoot, WrapCounter,
};
use flopwatt::profile::{DispatchRecord, RunProfile};

const REL: f64 = 1e-6;

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempTree(PathBuf);

impl TempTree {
    fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "flopwatt-energy-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempTree(p)
    }
    fn root(&self) -> SysRoot {
        SysRoot(self.0.clone())
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a file atomically (temp + rename) so concurrent readers never see half a number.
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn rapl_zone(root: &Path, zone: &str, name: &str, uj: u64, max: u64) -> PathBuf {
    let dir = root.join("class/powercap").join(zone);
    write(&dir.join("name"), &format!("{name}\n"));
    write(&dir.join("max_energy_range_uj"), &format!("{max}\n"));
    write(&dir.join("energy_uj"), &format!("{uj}\n"));
    dir.join("energy_uj")
}

/// A virtual clock that only moves when told to.
struct VClock {
    base: Instant,
    t: Mutex<Duration>,
}

impl VClock {
    fn new() -> Arc<Self> {
        Arc::new(VClock {
            base: Instant::now(),
            t: Mutex::new(Duration::ZERO),
        })
    }
    fn advance(&self, d: Duration) {
        *self.t.lock().unwrap() += d;
    }
}

impl Clock for VClock {
    fn now(&self) -> Instant {
        self.base + *self.t.lock().unwrap()
    }
    fn sleep(&self, d: Duration) {
        self.advance(d)
    }
}

/// A RAPL package whose counter follows virtual time: idle power while the meter sleeps, the
/// workload's power while a run advances the clock. The counter wraps at `max_uj`.
struct FakeRapl {
    clock: Arc<VClock>,
    file: PathBuf,
    state: Mutex<(f64, u64)>, // (true microjoules, wrap range)
    idle_w: f64,
    /// The counter's update period (zero: every advance), like NVML's 20-100 ms.
    tick: Duration,
}

impl FakeRapl {
    fn new(
        clock: Arc<VClock>,
        file: PathBuf,
        uj: f64,
        max: u64,
        idle_w: f64,
        tick: Duration,
    ) -> Self {
        FakeRapl {
            clock,
            file,
            state: Mutex::new((uj, max)),
            idle_w,
            tick,
        }
    }

    fn advance(&self, d: Duration, watts: f64) {
        let t = *self.clock.t.lock().unwrap();
        self.clock.advance(d);
        let mut s = self.state.lock().unwrap();
        let max = s.1;
        let publish = |uj: f64| write(&self.file, &format!("{}\n", (uj.round() as u64) % max));
        if self.tick.is_zero() {
            s.0 += watts * d.as_secs_f64() * 1e6;
            publish(s.0);
            return;
        }
        // Publish the energy at every tick boundary crossed, as a counter updated periodically.
        let tick = self.tick.as_nanos();
        let mut k = t.as_nanos() / tick + 1;
        while k * tick <= (t + d).as_nanos() {
            let dt = (k * tick - t.as_nanos()) as f64 * 1e-9;
            publish(s.0 + watts * dt * 1e6);
            k += 1;
        }
        s.0 += watts * d.as_secs_f64() * 1e6;
    }
}

impl Clock for FakeRapl {
    fn now(&self) -> Instant {
        self.clock.now()
    }
    fn sleep(&self, d: Duration) {
        self.advance(d, self.idle_w)
    }
}

fn cpu_adapter() -> AdapterKey {
    AdapterKey {
        name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
        vendor: 0x10005,
        device_type: "Cpu".into(),
        cpu: true,
        pci_bus_id: String::new(),
    }
}

fn gpu_adapter(name: &str, vendor: u32, device_type: &str, pci: &str) -> AdapterKey {
    AdapterKey {
        name: name.into(),
        vendor,
        device_type: device_type.into(),
        cpu: false,
        pci_bus_id: pci.into(),
    }
}

#[test]
fn wrap_counter_increments_and_wraps() {
    let mut c = WrapCounter::new(990, 1000);
    assert_eq!(c.update(995), 5);
    assert_eq!(c.update(995), 0);
    // 995 -> 1000 (= 0) -> 7: 12 microjoules.
    assert_eq!(c.update(7), 12);
    assert_eq!(c.update(500), 493);
}

#[test]
fn rapl_sums_packages_ignores_subzones_and_rises_at_known_rate() {
    let tree = TempTree::new("rapl-sum");
    let clock = VClock::new();
    let max = 262_143_328_850u64;
    let p0 = rapl_zone(&tree.0, "intel-rapl:0", "package-0", 1_000_000, max);
    let p1 = rapl_zone(&tree.0, "intel-rapl:1", "package-1", 5_000_000, max);
    // Parts of package 0 and an unrelated zone: counting them would double the energy.
    let core = rapl_zone(&tree.0, "intel-rapl:0:0", "core", 0, max);
    rapl_zone(&tree.0, "intel-rapl:2", "psys", 0, max);

    let mut src = RaplSource::open(&tree.root(), clock.clone()).unwrap();
    assert_eq!(src.zones(), vec!["package-0", "package-1"]);
    assert_eq!(src.describe(), "rapl (powercap package-0 + package-1)");
    assert!(src.measured());
    assert_eq!(src.kind(), SourceKind::Rapl);
    let r0 = src.read().unwrap();
    assert_eq!(r0.joules, 0.0, "the open is the baseline");

    // 2 s at 30 W on package 0 and 15 W on package 1.
    clock.advance(Duration::from_secs(2));
    write(&p0, "61000000\n");
    write(&p1, "35000000\n");
    write(&core, "99000000\n");
    let r1 = src.read().unwrap();
    let dt = r1.at.duration_since(r0.at).as_secs_f64();
    assert!(close(dt, 2.0, REL));
    assert!(close(r1.joules, 90.0, REL), "{} J", r1.joules);
    assert!(close((r1.joules - r0.joules) / dt, 45.0, REL));
}

#[test]
fn rapl_counter_wrap_is_followed() {
    let tree = TempTree::new("rapl-wrap");
    let max = 100_000_000u64; // 100 J range
    let f = rapl_zone(&tree.0, "intel-rapl:0", "package-0", 90_000_000, max);
    let mut src = RaplSource::open(&tree.root(), VClock::new()).unwrap();
    write(&f, "95000000\n");
    assert!(close(src.read().unwrap().joules, 5.0, REL));
    // 95 J -> 100 J (= 0) -> 20 J: 25 J more.
    write(&f, "20000000\n");
    assert!(close(src.read().unwrap().joules, 30.0, REL));
    write(&f, "99999999\n");
    write(&f, "10000000\n");
    // Only the last value is seen: 20 J -> 10 J means one wrap: 90 J more.
    assert!(close(src.read().unwrap().joules, 120.0, REL));
}

#[test]
fn missing_powercap_is_reported_and_detect_falls_back_to_estimate() {
    let tree = TempTree::new("rapl-missing");
    let err = match RaplSource::open(&tree.root(), VClock::new()) {
        Ok(_) => panic!("opened a RAPL source in an empty tree"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("class/powercap missing"), "{err}");

    let probe = Probe::fake(&tree.0, VClock::new());
    let src = detect_with(&cpu_adapter(), None, &probe);
    assert_eq!(src.kind(), SourceKind::Estimate);
    assert!(!src.measured());
    let line = choice_line(src.as_ref());
    assert!(line.starts_with("estimate (65 W"), "{line}");
    assert!(
        line.contains("no sensor: rapl") && line.contains("class/powercap missing"),
        "{line}"
    );
    assert!(line.ends_with(": not measured"), "{line}");
}

#[test]
fn unreadable_or_garbage_counter_is_an_error_not_a_panic() {
    let tree = TempTree::new("rapl-bad");
    let f = rapl_zone(&tree.0, "intel-rapl:0", "package-0", 100, 262_143_328_850);
    let clock = VClock::new();
    let mut src = RaplSource::open(&tree.root(), clock.clone()).unwrap();

    write(&f, "not a number\n");
    let e = src.read().unwrap_err().to_string();
    assert!(e.contains("not an unsigned integer"), "{e}");

    std::fs::remove_file(&f).unwrap();
    let e = src.read().unwrap_err().to_string();
    assert!(e.contains("energy_uj missing"), "{e}");

    // The meter turns the failure into "no figures" and still ran nothing it should not.
    let mut runs = 0;
    let cfg = EnergyConfig {
        min_window: Duration::from_millis(50),
        idle_window: Duration::from_millis(10),
    };
    let status = measure_status(&mut src, &cfg, clock.as_ref(), || {
        runs += 1;
        Ok(())
    })
    .unwrap();
    match status {
        EnergyStatus::Unavailable { source, reason } => {
            assert_eq!(source, SourceKind::Rapl);
            assert!(reason.contains("energy_uj missing"), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(measure(&mut src, &cfg, || Ok(())).unwrap().is_none());

    // A counter that cannot be read at open time makes detect fall back, with the reason.
    write(&f, "oops\n");
    let src = detect_with(&cpu_adapter(), None, &Probe::fake(&tree.0, VClock::new()));
    assert_eq!(src.kind(), SourceKind::Estimate);
    assert!(
        src.describe().contains("not an unsigned integer"),
        "{}",
        src.describe()
    );
}

#[cfg(unix)]
#[test]
fn permission_denied_is_spelled_out() {
    use std::os::unix::fs::PermissionsExt;
    let tree = TempTree::new("rapl-perm");
    let f = rapl_zone(&tree.0, "intel-rapl:0", "package-0", 100, 262_143_328_850);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&f).is_ok() {
        eprintln!("SKIPPED permission check: running as root, mode 000 does not stop reads");
        return;
    }
    let e = match RaplSource::open(&tree.root(), VClock::new()) {
        Ok(_) => panic!("opened an unreadable counter"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("permission denied") && e.contains("root"), "{e}");
}

#[test]
fn measure_reports_the_wattage_of_a_fake_rapl_counter() {
    let tree = TempTree::new("rapl-measure");
    // Starts 5 J under a 100 J wrap: the idle window crosses it.
    let file = rapl_zone(
        &tree.0,
        "intel-rapl:0",
        "package-0",
        95_000_000,
        100_000_000,
    );
    let fake = Arc::new(FakeRapl::new(
        VClock::new(),
        file,
        95e6,
        100_000_000,
        12.0,
        Duration::ZERO,
    ));
    let probe = Probe::fake(&tree.0, fake.clone());
    let mut src = detect_with(&cpu_adapter(), None, &probe);
    assert_eq!(src.kind(), SourceKind::Rapl);

    let busy_w = 40.0;
    let step = Duration::from_millis(10);
    let cfg = EnergyConfig::default();
    let r = measure_with_clock(src.as_mut(), &cfg, fake.as_ref(), || {
        fake.advance(step, busy_w);
        Ok(())
    })
    .unwrap()
    .expect("figures");
    // 100 runs fill the 1 s window; one more runs until the counter is seen to move.
    assert_eq!(r.runs, 101);
    assert!(close(r.seconds, 1.01, REL));
    assert!(close(r.avg_watts, busy_w, REL), "{r:?}");
    assert!(close(r.idle_watts.unwrap(), 12.0, REL), "{r:?}");
    assert!(close(r.joules, 40.4, REL));
    assert!(close(r.joules_per_run, 0.4, REL));
    assert!(close(r.net_joules_per_run().unwrap(), 0.28, REL));
    assert!(r.measured);
    assert_eq!(r.source, SourceKind::Rapl);
    // 1 GFLOP per run, 100 runs in 1 s, 40 W: 2.5 GFLOP/W (= GFLOP/J).
    assert!(close(r.gflops_per_watt(1e9), 2.5, REL));
    assert!(close(
        r.gflops_per_watt(1e9),
        1e9 / r.joules_per_run / 1e9,
        REL
    ));
}

#[test]
fn measure_aligns_to_a_counter_that_updates_every_100_ms() {
    // The counter publishes every 100 ms (NVML-like). Reading it at arbitrary instants would be
    // off by up to one period (10 % of a 1 s window) at each edge; the meter reads just after
    // an update at both edges, so the error is bounded by one run (7 ms in >= 1 s: 0.7 %) plus
    // the 1 ms poll step. Tolerance: 1.5 %.
    let tree = TempTree::new("rapl-tick");
    let file = rapl_zone(&tree.0, "intel-rapl:0", "package-0", 0, 262_143_328_850);
    let fake = Arc::new(FakeRapl::new(
        VClock::new(),
        file,
        0.0,
        262_143_328_850,
        12.0,
        Duration::from_millis(100),
    ));
    // Off the tick grid from the start.
    fake.advance(Duration::from_millis(33), 12.0);
    let mut src = RaplSource::open(&tree.root(), fake.clone()).unwrap();
    let r = measure_with_clock(&mut src, &EnergyConfig::default(), fake.as_ref(), || {
        fake.advance(Duration::from_millis(7), 40.0);
        Ok(())
    })
    .unwrap()
    .unwrap();
    eprintln!("{r:?}");
    assert!(close(r.avg_watts, 40.0, 0.015), "{r:?}");
    assert!(close(r.idle_watts.unwrap(), 12.0, 0.015), "{r:?}");
    assert!(close(r.joules_per_run, 0.28, 0.015), "{r:?}");
}

#[test]
fn measure_keeps_up_with_a_counter_that_wraps_several_times_per_window() {
    // A 60 J range (the smallest counted is 50 J) at 400 W wraps every 150 ms: reading only at
    // the window's edges would lose whole wraps. The meter reads every 50 ms inside the
    // window, so the figures stay exact.
    let tree = TempTree::new("rapl-fastwrap");
    let file = rapl_zone(&tree.0, "intel-rapl:0", "package-0", 0, 60_000_000);
    let fake = Arc::new(FakeRapl::new(
        VClock::new(),
        file,
        0.0,
        60_000_000,
        30.0,
        Duration::ZERO,
    ));
    let mut src = RaplSource::open(&tree.root(), fake.clone()).unwrap();
    let r = measure_with_clock(&mut src, &EnergyConfig::default(), fake.as_ref(), || {
        fake.advance(Duration::from_millis(10), 400.0);
        Ok(())
    })
    .unwrap()
    .unwrap();
    assert!(close(r.avg_watts, 400.0, REL), "{r:?}");
    assert!(close(r.idle_watts.unwrap(), 30.0, REL), "{r:?}");
    assert!(close(r.joules_per_run, 4.0, REL), "{r:?}");
}

/// Runs the meter on a fake RAPL counter whose workload power is `busy_w`, where `tamper`
/// may rewrite the counter after each run; returns the status.
fn measure_tampered(name: &str, busy_w: f64, tamper: impl Fn(&Path, u32)) -> EnergyStatus {
    let tree = TempTree::new(name);
    let max = 262_143_328_850;
    let file = rapl_zone(&tree.0, "intel-rapl:0", "package-0", 1_000_000_000, max);
    let fake = Arc::new(FakeRapl::new(
        VClock::new(),
        file.clone(),
        1e9,
        max,
        20.0,
        Duration::ZERO,
    ));
    let mut src = RaplSource::open(&tree.root(), fake.clone()).unwrap();
    let mut k = 0;
    measure_status(&mut src, &EnergyConfig::default(), fake.as_ref(), || {
        fake.advance(Duration::from_millis(10), busy_w);
        k += 1;
        tamper(&file, k);
        Ok(())
    })
    .unwrap()
}

fn unavailable_because(status: EnergyStatus, words: &str) {
    match status {
        EnergyStatus::Unavailable { reason, .. } => assert!(reason.contains(words), "{reason}"),
        other => panic!("implausible readings taken as a measurement: {other:?}"),
    }
}

#[test]
fn implausible_counters_are_not_measurements() {
    // A counter that never moves: not a measured 0 W.
    let tree = TempTree::new("rapl-stuck");
    let file = rapl_zone(&tree.0, "intel-rapl:0", "package-0", 5, 262_143_328_850);
    let clock = VClock::new();
    let mut src = RaplSource::open(&tree.root(), clock.clone()).unwrap();
    let status = measure_status(&mut src, &EnergyConfig::default(), clock.as_ref(), || {
        clock.advance(Duration::from_millis(10));
        Ok(())
    })
    .unwrap();
    unavailable_because(status, "did not move");
    drop(file);
    // A reset to a small value mid-window reads as a wrap of the whole range.
    let status = measure_tampered("rapl-reset", 40.0, |f, k| {
        if k == 50 {
            write(f, "1000\n");
        }
    });
    unavailable_because(status, "not a measurement");
    // A jump of 1e12 uJ within the range.
    let status = measure_tampered("rapl-jump", 40.0, |f, k| {
        if k == 50 {
            write(f, "200000000000\n");
        }
    });
    unavailable_because(status, "not a measurement");
    // A range so small that it wraps several times between two reads cannot be counted.
    let tree = TempTree::new("rapl-small");
    rapl_zone(&tree.0, "intel-rapl:0", "package-0", 0, 100_000);
    let e = RaplSource::open(&tree.root(), VClock::new()).err().unwrap();
    assert!(e.to_string().contains("wraps too often"), "{e}");
}

#[test]
fn measure_on_the_real_clock_with_a_counter_written_by_a_thread() {
    // The writer stamps the counter with its own clock about every millisecond; the meter
    // reads at its own instants, so each end of a window can be off by as much as the writer
    // lags: the longest gap between two of its writes, which a loaded 2-core machine can
    // stretch to hundreds of milliseconds. The tolerance is that observed staleness over the
    // window (each end), plus 5 %: a scheduler stall widens it, a wrong unit or a wrong
    // window never fits in it. The exact check is the virtual-clock test above.
    let tree = TempTree::new("rapl-thread");
    let file = rapl_zone(&tree.0, "intel-rapl:0", "package-0", 0, 262_143_328_850);
    let watts = 25.0;
    let stop = Arc::new(AtomicBool::new(false));
    let max_gap_us = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let writer = {
        let (stop, file, max_gap_us) = (stop.clone(), file.clone(), max_gap_us.clone());
        std::thread::spawn(move || {
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let uj = (watts * t0.elapsed().as_secs_f64() * 1e6) as u64;
                write(&file, &format!("{uj}\n"));
                let now = Instant::now();
                let gap = now.duration_since(last).as_micros() as usize;
                max_gap_us.fetch_max(gap, Ordering::Relaxed);
                last = now;
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let probe = Probe::fake(&tree.0, energy::system_clock());
    let mut src = detect_with(&cpu_adapter(), None, &probe);
    let cfg = EnergyConfig {
        min_window: Duration::from_millis(500),
        idle_window: Duration::from_millis(200),
    };
    let r = measure(src.as_mut(), &cfg, || {
        std::thread::sleep(Duration::from_millis(5));
        Ok(())
    });
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let r = r.unwrap().expect("figures");
    let stale = max_gap_us.load(Ordering::Relaxed) as f64 * 1e-6;
    let tol = |window: f64| 0.05 + 2.0 * stale / window;
    let idle = cfg.idle_window.as_secs_f64();
    assert!(
        close(r.avg_watts, watts, tol(r.seconds)),
        "{r:?}, writer lag {stale} s"
    );
    assert!(
        close(r.idle_watts.unwrap(), watts, tol(idle)),
        "{r:?}, writer lag {stale} s"
    );
    assert!(r.seconds >= 0.5 && r.runs >= 1);
}

fn amdgpu(root: &Path, hwmon: &str, file: &str, microwatts: u64, pci: Option<&str>) -> PathBuf {
    let dir = root.join("class/hwmon").join(hwmon);
    write(&dir.join("name"), "amdgpu\n");
    write(&dir.join(file), &format!("{microwatts}\n"));
    #[cfg(unix)]
    if let Some(pci) = pci {
        let dev = root.join("devices/pci0000:00").join(pci);
        std::fs::create_dir_all(&dev).unwrap();
        std::os::unix::fs::symlink(&dev, dir.join("device")).unwrap();
    }
    #[cfg(not(unix))]
    let _ = pci;
    dir.join(file)
}

#[test]
fn integrator_arithmetic() {
    let mut i = Integrator::new();
    assert_eq!(i.joules_at(5.0), 0.0);
    i.sample(0.0, 10.0);
    // Held at 10 W until the next sample.
    assert!(close(i.joules_at(0.5), 5.0, REL));
    i.sample(1.0, 20.0); // trapezoid: 15 J
    i.sample(3.0, 20.0); // 40 J
    assert!(close(i.joules(), 55.0, REL));
    assert!(close(i.joules_at(4.0), 75.0, REL));
    // A sample from the past is ignored, not subtracted.
    i.sample(2.0, 1000.0);
    assert!(close(i.joules(), 55.0, REL));
    i.sample(3.5, 0.0); // 5 J
    assert!(close(i.joules(), 60.0, REL));
    assert!(close(i.joules_at(10.0), 60.0, REL));
}

#[test]
fn hwmon_power_is_integrated_over_time() {
    let tree = TempTree::new("hwmon");
    let other = tree.0.join("class/hwmon/hwmon0");
    write(&other.join("name"), "k10temp\n");
    write(&other.join("power1_average"), "999000000\n");
    amdgpu(&tree.0, "hwmon1", "power1_average", 42_000_000, None);

    let mut src = HwmonSource::open_with_interval(
        &tree.root(),
        "",
        energy::system_clock(),
        Duration::from_millis(2),
    )
    .unwrap();
    assert_eq!(src.kind(), SourceKind::Hwmon);
    assert_eq!(
        src.describe(),
        "hwmon (amdgpu hwmon1/power1_average, sampled)"
    );
    let a = src.read().unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let b = src.read().unwrap();
    // Constant power integrates exactly whatever the sampling jitter.
    let w = (b.joules - a.joules) / b.at.duration_since(a.at).as_secs_f64();
    assert!(close(w, 42.0, 1e-9), "{w} W");
    assert!(b.joules > 0.0);
}

#[test]
fn hwmon_picks_the_adapters_card_and_power1_input() {
    let tree = TempTree::new("hwmon-pci");
    amdgpu(
        &tree.0,
        "hwmon3",
        "power1_average",
        10_000_000,
        Some("0000:03:00.0"),
    );
    amdgpu(
        &tree.0,
        "hwmon10",
        "power1_input",
        20_000_000,
        Some("0000:0a:00.0"),
    );
    let probe = Probe::fake(&tree.0, energy::system_clock());
    let src = detect_with(
        &gpu_adapter(
            "AMD Radeon RX 7900 XTX",
            0x1002,
            "DiscreteGpu",
            "0000:0a:00.0",
        ),
        None,
        &probe,
    );
    assert_eq!(src.kind(), SourceKind::Hwmon);
    if cfg!(unix) {
        assert_eq!(
            src.describe(),
            "hwmon (amdgpu hwmon10/power1_input, sampled)"
        );
    }
    // Without a bus id: the lowest-numbered card (hwmon3 before hwmon10).
    let src = detect_with(
        &gpu_adapter("AMD Radeon", 0x1002, "DiscreteGpu", ""),
        None,
        &probe,
    );
    assert_eq!(
        src.describe(),
        "hwmon (amdgpu hwmon3/power1_average, sampled)"
    );

    // An amdgpu directory without a power file is reported.
    let tree2 = TempTree::new("hwmon-nopower");
    write(&tree2.0.join("class/hwmon/hwmon0/name"), "amdgpu\n");
    let src = detect_with(
        &gpu_adapter("AMD Radeon", 0x1002, "DiscreteGpu", ""),
        None,
        &Probe::fake(&tree2.0, energy::system_clock()),
    );
    assert_eq!(src.kind(), SourceKind::Estimate);
    assert!(
        src.describe()
            .contains("none of power1_average, power1_input"),
        "{}",
        src.describe()
    );
}

#[test]
fn hwmon_file_vanishing_stops_figures_without_panic() {
    let tree = TempTree::new("hwmon-vanish");
    let f = amdgpu(&tree.0, "hwmon0", "power1_average", 5_000_000, None);
    let mut src = HwmonSource::open_with_interval(
        &tree.root(),
        "",
        energy::system_clock(),
        Duration::from_millis(1),
    )
    .unwrap();
    std::fs::remove_file(&f).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let e = src.read().unwrap_err().to_string();
    assert!(
        e.contains("sampling stopped") && e.contains("missing"),
        "{e}"
    );
}

#[test]
fn nvml_missing_library_falls_back_with_the_reason() {
    let tree = TempTree::new("nvml");
    let mut probe = Probe::fake(&tree.0, VClock::new());
    probe.nvml_libs = vec![tree
        .0
        .join("libnvidia-ml.so.1")
        .to_string_lossy()
        .into_owned()];
    let src = detect_with(
        &gpu_adapter("NVIDIA H200", 0x10de, "DiscreteGpu", "0000:01:00.0"),
        None,
        &probe,
    );
    assert_eq!(src.kind(), SourceKind::Estimate);
    let d = src.describe();
    assert!(
        d.starts_with("estimate (700 W, TDP table entry \"h200\""),
        "{d}"
    );
    assert!(d.contains("nvml library not found"), "{d}");
    // The user's constant wins over the table.
    let src = detect_with(
        &gpu_adapter("NVIDIA H200", 0x10de, "DiscreteGpu", ""),
        Some(650.0),
        &probe,
    );
    assert_eq!(src.kind(), SourceKind::Fixed);
    assert_eq!(src.describe(), "fixed (650 W, given with --watts)");
}

#[test]
fn fixed_and_estimate_sources_are_labelled_not_measured() {
    let clock = VClock::new();
    let mut src = FixedSource::user(150.0, clock.clone()).unwrap();
    let r = measure_with_clock(&mut src, &EnergyConfig::default(), clock.as_ref(), || {
        clock.advance(Duration::from_millis(300));
        Ok(())
    })
    .unwrap()
    .unwrap();
    assert!(!r.measured);
    assert_eq!(r.source, SourceKind::Fixed);
    assert_eq!(r.idle_watts, None);
    assert_eq!(r.runs, 4);
    assert!(close(r.avg_watts, 150.0, REL));
    assert!(close(r.joules_per_run, 45.0, REL));

    for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        assert!(FixedSource::user(bad, clock.clone()).is_err());
    }
    let src = detect_with(
        &cpu_adapter(),
        Some(-1.0),
        &Probe::fake(
            std::env::temp_dir().join("flopwatt-no-such-root"),
            clock.clone(),
        ),
    );
    assert_eq!(src.kind(), SourceKind::Estimate);
    assert!(
        src.describe().contains("--watts must be a positive number"),
        "{}",
        src.describe()
    );

    let mut none = NoSource::new("disabled by --no-energy");
    assert_eq!(none.kind(), SourceKind::None);
    assert!(measure(&mut none, &EnergyConfig::default(), || Ok(()))
        .unwrap()
        .is_none());
}

#[test]
fn errors_from_the_workload_propagate() {
    let clock = VClock::new();
    let mut src = FixedSource::user(10.0, clock.clone()).unwrap();
    let e = measure_with_clock(&mut src, &EnergyConfig::default(), clock.as_ref(), || {
        Err(flopwatt::Error::invalid("bench", "boom"))
    })
    .unwrap_err();
    assert!(e.to_string().contains("boom"));
}

#[test]
fn tdp_table_and_defaults() {
    let g = |name: &str, t: &str| tdp_estimate(&gpu_adapter(name, 0x10de, t, "")).0;
    assert_eq!(g("NVIDIA H200", "DiscreteGpu"), 700.0);
    assert_eq!(g("NVIDIA A100-SXM4-80GB", "DiscreteGpu"), 400.0);
    assert_eq!(g("NVIDIA A10G", "DiscreteGpu"), 150.0);
    assert_eq!(g("NVIDIA GeForce RTX 4090", "DiscreteGpu"), 450.0);
    assert_eq!(g("NVIDIA GH200 480GB", "DiscreteGpu"), 1000.0);
    assert_eq!(g("Tesla T4", "DiscreteGpu"), 70.0);
    assert_eq!(g("Mystery GPU", "DiscreteGpu"), 250.0);
    assert_eq!(g("Intel(R) UHD Graphics 770", "IntegratedGpu"), 30.0);
    let (w, what) = tdp_estimate(&cpu_adapter());
    assert_eq!(w, 65.0);
    assert!(what.contains("CPU adapter default"));
}

#[test]
fn sensor_choice_by_adapter() {
    use energy::{sensor_for, Sensor};
    assert_eq!(sensor_for(&cpu_adapter()), Sensor::Rapl);
    assert_eq!(
        sensor_for(&gpu_adapter("NVIDIA H200", 0x10de, "DiscreteGpu", "")),
        Sensor::Nvml
    );
    assert_eq!(
        sensor_for(&gpu_adapter("AMD Radeon", 0x1002, "DiscreteGpu", "")),
        Sensor::Hwmon
    );
    assert_eq!(
        sensor_for(&gpu_adapter(
            "Intel(R) Iris Xe",
            0x8086,
            "IntegratedGpu",
            ""
        )),
        Sensor::Rapl
    );
    assert_eq!(
        sensor_for(&gpu_adapter("Intel(R) Arc A770", 0x8086, "DiscreteGpu", "")),
        Sensor::HwmonIntel
    );
    assert_eq!(
        sensor_for(&gpu_adapter("Apple M2", 0x106b, "IntegratedGpu", "")),
        Sensor::None
    );
    let src = detect_with(
        &gpu_adapter("Apple M2", 0x106b, "IntegratedGpu", ""),
        None,
        &Probe::fake("/nonexistent", VClock::new()),
    );
    assert!(
        src.describe().contains("no sensor for vendor 0x106b"),
        "{}",
        src.describe()
    );
}

fn record(kernel: &str, gpu_ns: f64) -> DispatchRecord {
    DispatchRecord {
        kernel: kernel.into(),
        covers: vec![kernel.into()],
        gpu_ns,
        source: TimingTier::InsidePasses,
        flops: 1000,
        bytes: 4000,
    }
}

fn profile(times: &[f64]) -> RunProfile {
    RunProfile {
        dispatches: times
            .iter()
            .enumerate()
            .map(|(i, &t)| record(&format!("k{i}"), t))
            .collect(),
        source: TimingTier::InsidePasses,
        wall_ns: times.iter().sum::<f64>() + 1000.0,
    }
}

#[test]
fn attribution_follows_gpu_time() {
    let parts = attribute(2.0, &profile(&[100.0, 300.0, 0.0, 600.0]));
    let want = [0.2, 0.6, 0.0, 1.2];
    for (p, w) in parts.iter().zip(want) {
        assert!((p - w).abs() < 1e-12, "{parts:?}");
    }
    assert!((parts.iter().sum::<f64>() - 2.0).abs() < 1e-12);
    // No per-dispatch times: even split. Broken (negative, NaN) times count as zero.
    assert_eq!(
        attribute(3.0, &profile(&[0.0, 0.0, 0.0])),
        vec![1.0, 1.0, 1.0]
    );
    let parts = attribute(1.0, &profile(&[f64::NAN, -5.0, 10.0]));
    assert_eq!(parts, vec![0.0, 0.0, 1.0]);
    assert!(attribute(1.0, &profile(&[])).is_empty());
}

#[test]
fn result_arithmetic_and_serde_names() {
    let r = EnergyResult {
        runs: 50,
        seconds: 2.0,
        joules: 200.0,
        avg_watts: 100.0,
        idle_watts: Some(120.0),
        joules_per_run: 4.0,
        measured: true,
        source: SourceKind::Nvml,
    };
    // 50 runs x 8 GFLOP in 2 s = 200 GFLOP/s at 100 W.
    assert!(close(r.gflops_per_watt(8e9), 2.0, REL));
    // Under idle (noise): clamped at 0, not negative.
    assert_eq!(r.net_joules_per_run(), Some(0.0));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["source"], "nvml");
    let names: Vec<String> = [
        SourceKind::Nvml,
        SourceKind::Rapl,
        SourceKind::Hwmon,
        SourceKind::Fixed,
        SourceKind::Estimate,
        SourceKind::None,
    ]
    .iter()
    .map(|k| serde_json::to_string(k).unwrap())
    .collect();
    assert_eq!(
        names,
        [
            "\"nvml\"",
            "\"rapl\"",
            "\"hwmon\"",
            "\"fixed\"",
            "\"estimate\"",
            "\"none\""
        ]
    );
    let back: SourceKind = serde_json::from_str("\"estimate\"").unwrap();
    assert_eq!(back, SourceKind::Estimate);
}

#[test]
fn pci_ids_normalise() {
    assert_eq!(
        normalize_pci("0000:01:00.0").as_deref(),
        Some("0000:01:00.0")
    );
    assert_eq!(
        normalize_pci("00000000:01:00.0").as_deref(),
        Some("0000:01:00.0")
    );
    assert_eq!(
        normalize_pci("0000:0A:00.1").as_deref(),
        Some("0000:0a:00.1")
    );
    assert_eq!(normalize_pci("3:0.0").as_deref(), Some("0000:03:00.0"));
    assert_eq!(normalize_pci(""), None);
    assert_eq!(normalize_pci("garbage"), None);
}

/// A stand-in for libnvidia-ml with two devices, built with the system C compiler (which Rust
/// needs as its linker anyway), so the run-time loading, the FFI signatures and the device
/// choice are exercised without NVIDIA hardware. `fake_set` drives the counter and power.
const FAKE_NVML_C: &str = r#"
#include <string.h>
typedef struct { int id; } dev;
static dev devs[2] = {{0}, {1}};
static const char *names[2] = {"NVIDIA A100-SXM4-40GB", "NVIDIA H200"};
static const char *buses[2] = {"0000:07:00.0", "0000:0a:00.0"};
static unsigned long long energy_mj[2];
static unsigned int power_mw[2];
static int has_counter = 1, live = 0;
void fake_set(int i, unsigned long long mj, unsigned int mw, int counter) {
    energy_mj[i] = mj; power_mw[i] = mw; has_counter = counter;
}
int fake_live(void) { return live; }
int nvmlInit_v2(void) { live++; return 0; }
int nvmlShutdown(void) { live--; return 0; }
const char *nvmlErrorString(int r) { return r == 3 ? "Not Supported" : "Unknown Error"; }
int nvmlDeviceGetCount_v2(unsigned int *n) { *n = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, dev **d) { if (i > 1) return 2; *d = &devs[i]; return 0; }
#ifndef OLD_DRIVER
int nvmlDeviceGetHandleByPciBusId_v2(const char *id, dev **d) {
    for (int i = 0; i < 2; i++) if (strcmp(id, buses[i]) == 0) { *d = &devs[i]; return 0; }
    return 6; /* NVML_ERROR_NOT_FOUND */
}
#endif
int nvmlDeviceGetName(dev *d, char *buf, unsigned int len) {
    strncpy(buf, names[d->id], len - 1); buf[len - 1] = 0; return 0;
}
#ifndef OLD_DRIVER
int nvmlDeviceGetTotalEnergyConsumption(dev *d, unsigned long long *mj) {
    if (!has_counter) return 3; *mj = energy_mj[d->id]; return 0;
}
#endif
int nvmlDeviceGetPowerUsage(dev *d, unsigned int *mw) { *mw = power_mw[d->id]; return 0; }
"#;

/// Builds the fake library into `tree`; `None` (test skipped) where no C compiler exists.
fn fake_nvml(tree: &TempTree, defines: &[&str]) -> Option<(String, libloading::Library)> {
    let src = tree.0.join("fake_nvml.c");
    let lib = tree.0.join("libnvidia-ml.so.1");
    std::fs::write(&src, FAKE_NVML_C).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    match std::process::Command::new(&cc)
        .args(["-shared", "-fPIC", "-O1"])
        .args(defines)
        .arg("-o")
        .arg(&lib)
        .arg(&src)
        .status()
    {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("SKIPPED fake NVML: `{cc}` could not build it ({other:?})");
            return None;
        }
    }
    let path = lib.to_string_lossy().into_owned();
    // SAFETY: our own library with no initialisers.
    let handle = unsafe { libloading::Library::new(&path) }.unwrap();
    Some((path, handle))
}

#[cfg(target_os = "linux")]
#[test]
fn nvml_loaded_at_run_time_counter_and_sampled_power() {
    type Set = unsafe extern "C" fn(i32, u64, u32, i32);
    type Live = unsafe extern "C" fn() -> i32;
    let tree = TempTree::new("nvml-fake");
    let Some((path, lib)) = fake_nvml(&tree, &[]) else {
        return;
    };
    // SAFETY: signatures as in FAKE_NVML_C.
    let set: Set = *unsafe { lib.get::<Set>(b"fake_set\0") }.unwrap();
    let live: Live = *unsafe { lib.get::<Live>(b"fake_live\0") }.unwrap();
    let clock = VClock::new();
    let mut probe = Probe::fake(&tree.0, clock.clone());
    probe.nvml_libs = vec![
        tree.0.join("missing.so").to_string_lossy().into_owned(),
        path,
    ];

    // Counter mode, device chosen by bus id (NVML spells it with an 8-digit domain elsewhere).
    unsafe { set(1, 1_000, 0, 1) };
    let h200 = gpu_adapter("NVIDIA H200", 0x10de, "DiscreteGpu", "0000:0A:00.0");
    let mut src = detect_with(&h200, None, &probe);
    assert_eq!(src.kind(), SourceKind::Nvml);
    assert!(src.measured());
    assert_eq!(
        choice_line(src.as_ref()),
        "nvml (NVIDIA H200, total energy counter): measured"
    );
    let a = src.read().unwrap();
    assert_eq!(a.joules, 0.0, "the open is the baseline");
    clock.advance(Duration::from_secs(2));
    unsafe { set(1, 1_000 + 700_000, 0, 1) };
    let b = src.read().unwrap();
    assert!(close(b.joules, 700.0, REL));
    assert!(close(
        (b.joules - a.joules) / b.at.duration_since(a.at).as_secs_f64(),
        350.0,
        REL
    ));
    assert_eq!(unsafe { live() }, 1);
    drop(src);
    assert_eq!(unsafe { live() }, 0, "nvmlShutdown on drop");

    // By name without a bus id; index 0 when nothing matches.
    let by_name = detect_with(
        &gpu_adapter("NVIDIA H200", 0x10de, "DiscreteGpu", ""),
        None,
        &probe,
    );
    assert!(
        by_name.describe().contains("NVIDIA H200"),
        "{}",
        by_name.describe()
    );
    drop(by_name);
    let other = detect_with(
        &gpu_adapter("NVIDIA Something", 0x10de, "DiscreteGpu", ""),
        None,
        &probe,
    );
    assert!(other.describe().contains("A100"), "{}", other.describe());
    drop(other);

    // No energy counter (pre-Volta): power in mW, sampled and integrated on the real clock.
    unsafe { set(1, 0, 75_000, 0) };
    let mut probe = probe.clone();
    probe.clock = energy::system_clock();
    let mut src = detect_with(&h200, None, &probe);
    assert_eq!(src.describe(), "nvml (NVIDIA H200, power usage, sampled)");
    let a = src.read().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let b = src.read().unwrap();
    let w = (b.joules - a.joules) / b.at.duration_since(a.at).as_secs_f64();
    assert!(close(w, 75.0, 1e-9), "{w} W");
    drop(src);
    assert_eq!(unsafe { live() }, 0);
}

/// A test-only workload (y = 2x + 1): not a kernel family, just something for the meter to time.
const AXPB_WGSL: &str = "
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x < p.n) { y[g.x] = x[g.x] * 2.0 + 1.0; }
}
";

#[test]
fn end_to_end_on_the_adapter_detect_measure_attribute() {
    let dev = device_or_skip!();
    let line = energy::describe_choice(dev.summary());
    eprintln!("power source for {}: {line}", dev.summary().name);
    assert!(
        line.ends_with(": measured") || line.ends_with(": not measured"),
        "{line}"
    );
    let mut src = energy::detect(dev.summary(), None);

    let (big, small) = (1usize << 20, 1usize << 10);
    let xs = flopwatt_reference::random(big, 6);
    let x = flopwatt::Tensor::from_f32(&dev, &xs, &[big]).unwrap();
    let y = flopwatt::Tensor::empty(&dev, &[big], flopwatt::DType::F32).unwrap();
    let pipe = dev.pipeline("energy-test.axpb", AXPB_WGSL, "main").unwrap();
    let run_once = |timed: bool| -> flopwatt::Result<Option<RunProfile>> {
        let mut rec = flopwatt::Recorder::new(&dev);
        for (name, n) in [("axpb-big", big), ("axpb-small", small)] {
            let params = [n as u32, 0, 0, 0];
            let cost = flopwatt::Cost {
                flops: 2 * n as u64,
                bytes: 8 * n as u64,
            };
            let wg = n.div_ceil(256) as u32;
            rec.dispatch(
                name,
                &pipe,
                &[x.buffer(), y.buffer()],
                Some(bytemuck::cast_slice(&params)),
                [wg, 1, 1],
                cost,
            )?;
        }
        rec.submit(timed)
    };
    run_once(false).unwrap(); // pipeline JIT outside the window
    let got = y.to_f32_vec().unwrap();
    for (i, (g, x)) in got.iter().zip(&xs).enumerate() {
        assert_eq!(*g, x * 2.0 + 1.0, "y[{i}]");
    }

    let cfg = EnergyConfig {
        min_window: Duration::from_millis(300),
        idle_window: Duration::from_millis(100),
    };
    let mut last = None;
    let status = measure_status(src.as_mut(), &cfg, &energy::SystemClock, || {
        last = run_once(true)?;
        Ok(())
    })
    .unwrap();
    let r = match status {
        EnergyStatus::Measured(r) => r,
        // A real sensor that stopped being readable is allowed; it must say why.
        EnergyStatus::Unavailable { source, reason } => {
            eprintln!("no energy figures from {source}: {reason}");
            assert!(!reason.is_empty());
            return;
        }
    };
    eprintln!("{r:?}");
    assert!(
        r.runs >= 1 && r.seconds >= 0.3 && r.avg_watts > 0.0,
        "{r:?}"
    );
    assert_eq!(r.measured, src.measured());
    let profile = last.expect("timed profile");
    let parts = attribute(r.joules_per_run, &profile);
    assert_eq!(parts.len(), 2);
    assert!(close(parts.iter().sum::<f64>(), r.joules_per_run, 1e-9));
    let flops = profile.flops() as f64;
    assert!(r.gflops_per_watt(flops) > 0.0);
}

#[cfg(target_os = "linux")]
#[test]
fn nvml_old_driver_without_counter_or_pci_lookup() {
    type Set = unsafe extern "C" fn(i32, u64, u32, i32);
    let tree = TempTree::new("nvml-old");
    let Some((path, lib)) = fake_nvml(&tree, &["-DOLD_DRIVER"]) else {
        return;
    };
    // SAFETY: signature as in FAKE_NVML_C.
    let set: Set = *unsafe { lib.get::<Set>(b"fake_set\0") }.unwrap();
    unsafe { set(1, 0, 250_000, 1) };
    let mut probe = Probe::fake(&tree.0, energy::system_clock());
    probe.nvml_libs = vec![path];
    // No bus-id lookup: the name picks the device; no counter: power is sampled.
    let src = detect_with(
        &gpu_adapter("NVIDIA H200", 0x10de, "DiscreteGpu", "0000:0a:00.0"),
        None,
        &probe,
    );
    assert_eq!(src.describe(), "nvml (NVIDIA H200, power usage, sampled)");
}

#[test]
fn intel_discrete_gpu_reads_the_hwmon_energy_counter() {
    let tree = TempTree::new("hwmon-intel");
    let clock = VClock::new();
    let card = tree.0.join("class/hwmon/hwmon4");
    write(&card.join("name"), "xe\n");
    write(&card.join("energy1_input"), "5000000\n");
    let probe = Probe::fake(&tree.0, clock.clone());
    let arc = gpu_adapter("Intel(R) Arc(TM) B580 Graphics", 0x8086, "DiscreteGpu", "");
    let mut src = detect_with(&arc, None, &probe);
    assert_eq!(src.kind(), SourceKind::Hwmon);
    assert_eq!(
        choice_line(src.as_ref()),
        "hwmon (intel hwmon4/energy1_input, energy counter): measured"
    );
    let a = src.read().unwrap();
    assert_eq!(a.joules, 0.0, "the open is the baseline");
    clock.advance(Duration::from_millis(1500));
    write(&card.join("energy1_input"), "305000000\n"); // 300 J in 1.5 s
    let b = src.read().unwrap();
    assert!(close(
        (b.joules - a.joules) / b.at.duration_since(a.at).as_secs_f64(),
        200.0,
        REL
    ));
    // A counter reset (driver reload) is an error, not negative energy.
    write(&card.join("energy1_input"), "10\n");
    let e = src.read().unwrap_err().to_string();
    assert!(e.contains("went backwards"), "{e}");
    // An i915 card without the counter: reported, estimate used.
    let tree2 = TempTree::new("hwmon-intel-none");
    write(&tree2.0.join("class/hwmon/hwmon0/name"), "i915\n");
    let src = detect_with(&arc, None, &Probe::fake(&tree2.0, clock.clone()));
    assert_eq!(src.kind(), SourceKind::Estimate);
    assert!(
        src.describe().contains("none of energy1_input"),
        "{}",
        src.describe()
    );
}
