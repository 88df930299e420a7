//! Autotuning: measure candidate kernel configurations once per adapter and shape class,
//! persist the winners, and let the ops consult them before their built-in rules.
//!
//! The rules in `ops::matmul::choose_variant`/`config` were measured on lavapipe and written
//! with real GPUs in mind, but every adapter differs. `flopwatt tune` (or [`tune_matmul`])
//! times the candidates that fit the adapter's limits on a set of shapes and stores the fastest
//! per shape class in a JSON file (schema `flopwatt-tune/1`), one table per adapter (name,
//! backend, driver). Later processes load the table of their adapter on first use.
//!
//! - File: `FLOPWATT_TUNE_FILE`, else `tune.json` in [`crate::cache::cache_dir`].
//!   `FLOPWATT_TUNE=off` ignores it.
//! - Shape class: each of M, N, K rounded to the nearest power of two. A product whose class
//!   was never tuned follows the rules.
//! - A tuned choice is only a preference: the op still checks that the variant can compute the
//!   product (e.g. GEMV needs M or N of 1) and falls back to the rules when it cannot.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::device::{AdapterClass, Device};
use crate::error::{Error, Result};
use crate::exec::Recorder;
use crate::ops::matmul::{encode_matmul_config, Epilogue, KernelConfig, MatmulVariant};
use crate::tensor::Tensor;

/// Schema tag of the tune file.
pub const SCHEMA: &str = "flopwatt-tune/1";

/// The shape class of one dimension: log2 rounded to the nearest integer.
pub fn bucket(x: usize) -> u32 {
    if x <= 1 {
        return 0;
    }
    // Nearest power of two in log space: compare x^2 with the geometric midpoint 2^(2e+1).
    let e = usize::BITS - 1 - x.leading_zeros();
    let x2 = (x as u128) * (x as u128);
    if x2 >= 1u128 << (2 * e + 1) {
        e + 1
    } else {
        e
    }
}

/// One tuned choice: for products of this class, this variant and configuration won.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneEntry {
    /// The op (`matmul`).
    pub op: String,
    /// Shape class `[bucket(M), bucket(N), bucket(K)]`.
    pub class: [u32; 3],
    /// The shape that was measured.
    pub shape: [usize; 3],
    /// Variant name (`MatmulVariant::name`).
    pub variant: String,
    /// Rows per invocation.
    pub tm: u32,
    /// Columns per invocation.
    pub tn: u32,
    /// Invocations per workgroup along x.
    pub wg_x: u32,
    /// Invocations per workgroup along y.
    pub wg_y: u32,
    /// K slice (GPU) or invocations per dot product (GEMV).
    pub k_split: u32,
    /// Measured throughput of the winner (GFLOP/s, median).
    pub gflops: f64,
    /// Measured throughput of what the rules would have chosen (GFLOP/s, median).
    pub rule_gflops: f64,
}

impl TuneEntry {
    /// The entry's variant and configuration, if the variant name is known.
    pub fn choice(&self) -> Option<(MatmulVariant, KernelConfig)> {
        let v = MatmulVariant::ALL
            .into_iter()
            .find(|v| v.name() == self.variant)?;
        Some((
            v,
            KernelConfig {
                tm: self.tm,
                tn: self.tn,
                wg_x: self.wg_x,
                wg_y: self.wg_y,
                k_split: self.k_split,
            },
        ))
    }
}

/// The tuned choices of one adapter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdapterTable {
    /// `name | backend | driver | driver_info` of the adapter.
    pub adapter: String,
    /// The choices.
    pub entries: Vec<TuneEntry>,
}

impl AdapterTable {
    /// The entry for `op` on a product of shape class `class`.
    pub fn find(&self, op: &str, class: [u32; 3]) -> Option<&TuneEntry> {
        self.entries.iter().find(|e| e.op == op && e.class == class)
    }

    /// Adds or replaces the entry of the same op and class.
    pub fn insert(&mut self, entry: TuneEntry) {
        self.entries
            .retain(|e| !(e.op == entry.op && e.class == entry.class));
        self.entries.push(entry);
    }
}

/// The whole tune file: one table per adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneFile {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Tables, one per adapter key.
    pub adapters: Vec<AdapterTable>,
}

impl Default for TuneFile {
    fn default() -> Self {
        TuneFile {
            schema: SCHEMA.into(),
            adapters: Vec::new(),
        }
    }
}

impl TuneFile {
    /// Parses a tune file; a wrong schema is an error naming it.
    pub fn parse(text: &str) -> Result<Self> {
        let f: TuneFile = serde_json::from_str(text)
            .map_err(|e| Error::invalid("tune", format!("unreadable tune file: {e}")))?;
        if f.schema != SCHEMA {
            return Err(Error::invalid(
                "tune",
                format!(
                    "tune file schema `{}`, expected `{SCHEMA}` (the next `flopwatt tune` \
                     replaces it)",
                    f.schema
                ),
            ));
        }
        Ok(f)
    }

    /// Loads `path`; a missing file is an empty tune file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::invalid(
                "tune",
                format!("cannot read {}: {e}", path.display()),
            )),
        }
    }

    /// Writes the file (creating its directory) through a temporary file and a rename, so a
    /// reader sees the old file or the new one, never half of one.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let io = |e: std::io::Error| {
            Error::invalid("tune", format!("cannot write {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid("tune", e.to_string()))?;
        // Unique per process and call: two savers never share a temporary file.
        static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = sibling(path, &format!("{}-{n}.tmp", std::process::id()));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                io(e)
            })
    }

    /// Adds `entries` to `adapter`'s table in the file at `path`, under a lock: the file is
    /// read again, merged and saved atomically, so concurrent `tune` runs keep each other's
    /// entries. An unreadable or old file is replaced; the returned warning says so.
    pub fn merge_into(
        path: &std::path::Path,
        adapter: &str,
        entries: &[TuneEntry],
    ) -> Result<Option<String>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::invalid("tune", format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let _lock = FileLock::acquire(&sibling(path, "lock"))?;
        let (mut file, warning) = match Self::load(path) {
            Ok(f) => (f, None),
            Err(e) => (
                Self::default(),
                Some(format!("replacing the tune file: {e}")),
            ),
        };
        let table = file.table_mut(adapter);
        for e in entries {
            table.insert(e.clone());
        }
        file.save(path)?;
        Ok(warning)
    }

    /// The table of `adapter`, created empty if absent.
    pub fn table_mut(&mut self, adapter: &str) -> &mut AdapterTable {
        if let Some(i) = self.adapters.iter().position(|t| t.adapter == adapter) {
            return &mut self.adapters[i];
        }
        self.adapters.push(AdapterTable {
            adapter: adapter.into(),
            entries: Vec::new(),
        });
        self.adapters.last_mut().expect("just pushed")
    }
}

/// `path` with `.suffix` appended to its file name (a temporary or lock file beside it).
fn sibling(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}

/// An exclusive lock held by creating a file (no platform lock API needed); removed on drop.
struct FileLock(PathBuf);

impl FileLock {
    /// How long to wait for another process's lock before giving up.
    const WAIT: std::time::Duration = std::time::Duration::from_secs(10);
    /// A lock older than this is left over from a crashed process: merging takes
    /// milliseconds.
    const STALE: std::time::Duration = std::time::Duration::from_secs(60);

    fn acquire(path: &std::path::Path) -> Result<Self> {
        let start = crate::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return Ok(FileLock(path.to_path_buf())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a > Self::STALE) {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if start.elapsed() > Self::WAIT {
                        return Err(Error::invalid(
                            "tune",
                            format!(
                                "{} is held by another `flopwatt tune`; retry, or delete it if \
                                 no other tune is running",
                                path.display()
                            ),
                        ));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(Error::invalid(
                        "tune",
                        format!("cannot create {}: {e}", path.display()),
                    ))
                }
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The key that identifies an adapter in the tune file.
pub fn adapter_key(device: &Device) -> String {
    let s = device.summary();
    format!(
        "{} | {} | {} | {}",
        s.name, s.backend, s.driver, s.driver_info
    )
}

/// Where the tune file lives (see the module docs).
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLOPWATT_TUNE_FILE") {
        return Some(PathBuf::from(p));
    }
    Some(crate::cache::cache_dir()?.join("tune.json"))
}

type Tables = HashMap<String, Option<Arc<AdapterTable>>>;

fn tables() -> &'static Mutex<Tables> {
    static TABLES: OnceLock<Mutex<Tables>> = OnceLock::new();
    TABLES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The tuned table for `device`'s adapter: from memory, else loaded once from the tune file.
/// `None` when tuning is off, there is no file, or it has no table for this adapter. An
/// unreadable file is reported once on stderr and then ignored (the rules still work).
pub fn table(device: &Device) -> Option<Arc<AdapterTable>> {
    if std::env::var("FLOPWATT_TUNE").is_ok_and(|v| v == "off") {
        return None;
    }
    let key = adapter_key(device);
    let mut map = tables().lock().ok()?;
    map.entry(key.clone())
        .or_insert_with(|| {
            let path = default_path()?;
            match TuneFile::load(&path) {
                Ok(f) => f
                    .adapters
                    .into_iter()
                    .find(|t| t.adapter == key)
                    .map(Arc::new),
                Err(e) => {
                    eprintln!("flopwatt: ignoring the tune file: {e}");
                    None
                }
            }
        })
        .clone()
}

/// Makes `table` this process's tuned table for `device`'s adapter (after tuning, or in tests).
pub fn install(device: &Device, table: AdapterTable) {
    if let Ok(mut map) = tables().lock() {
        map.insert(adapter_key(device), Some(Arc::new(table)));
    }
}

/// The tuned matmul choice for an `[m, k] x [k, n]` product on `device`, if any.
pub fn matmul_choice(
    device: &Device,
    m: usize,
    n: usize,
    k: usize,
) -> Option<(MatmulVariant, KernelConfig)> {
    let t = table(device)?;
    let e = t.find("matmul", [bucket(m), bucket(n), bucket(k)])?;
    // An entry is only evidence for the class its measured shape falls in.
    let [sm, sn, sk] = e.shape;
    if e.class != [bucket(sm), bucket(sn), bucket(sk)] {
        return None;
    }
    e.choice()
        .filter(|&(v, c)| crate::ops::matmul::usable(device, v, c, m, n))
}

/// The matmul candidates worth timing on `device` for an `[m, k] x [k, n]` product: every
/// variant that may compute it unforced (`ops::matmul::usable`: within the adapter's limits,
/// not the opt-in texture kernel).
pub fn matmul_candidates(
    device: &Device,
    m: usize,
    n: usize,
) -> Vec<(MatmulVariant, KernelConfig)> {
    let cfg = |tm, tn, wg_x, wg_y, k_split| KernelConfig {
        tm,
        tn,
        wg_x,
        wg_y,
        k_split,
    };
    let mut out = Vec::new();
    if m == 1 || n == 1 {
        for rk in [1, 4, 16] {
            out.push((MatmulVariant::Gemv, cfg(1, 1, 64, 1, rk)));
        }
    }
    // The register-block kernels on every adapter: some GPUs run them well too.
    // Their subgroup twins too, where the adapter has subgroups of 8 (`usable` filters).
    for variant in [MatmulVariant::CpuRegister, MatmulVariant::CpuSubgroup] {
        for (tm, tn) in crate::ops::matmul::cpu_blocks(variant) {
            for wg in [32, 64] {
                out.push((variant, cfg(tm, tn, wg, 1, 1)));
            }
        }
    }
    // Shared-memory tiles only where shared memory is cheap: on CPU adapters they run 10-30x
    // slower (design notes), and timing them would take minutes.
    if device.class() == AdapterClass::Gpu {
        for (tm, tn, wg, bk) in [(4, 4, 16, 16), (8, 4, 16, 8), (4, 8, 16, 8), (8, 8, 16, 8)] {
            out.push((MatmulVariant::GpuTiled, cfg(tm, tn, wg, wg, bk)));
        }
    }
    out.retain(|&(v, c)| crate::ops::matmul::usable(device, v, c, m, n));
    out
}

/// One product's tuning result: every candidate's median GFLOP/s (or its error) and the winner.
#[derive(Clone, Debug)]
pub struct MatmulTuning {
    /// `[m, n, k]`.
    pub shape: [usize; 3],
    /// (variant, config, median GFLOP/s or the error text).
    pub timings: Vec<(
        MatmulVariant,
        KernelConfig,
        std::result::Result<f64, String>,
    )>,
    /// The entry to store.
    pub best: TuneEntry,
}

/// Median GFLOP/s of `reps` runs (after one warm-up run that JIT-compiles the kernel), from
/// the wall clock around submit-to-completion: it counts everything a candidate costs (the
/// texture variant's allocation and packing too), and every candidate pays the same submit
/// overhead.
fn time_matmul(
    device: &Device,
    a: &Tensor,
    b: &Tensor,
    choice: Option<(MatmulVariant, KernelConfig)>,
    reps: usize,
) -> Result<f64> {
    let (v, c) = match choice {
        Some((v, c)) => (Some(v), Some(c)),
        None => (None, None),
    };
    let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    let flops = 2.0 * (m * n * k) as f64;
    let mut rates = Vec::with_capacity(reps);
    for round in 0..=reps {
        let wall = crate::time::Instant::now();
        let mut rec = Recorder::new(device);
        encode_matmul_config(&mut rec, a, b, &Epilogue::default(), v, c)?;
        rec.submit(false)?;
        let ns = wall.elapsed().as_nanos() as f64;
        if round > 0 {
            rates.push(flops / ns.max(1.0));
        }
    }
    rates.sort_by(|x, y| x.total_cmp(y));
    Ok(rates[rates.len() / 2])
}

/// Times every candidate on an `[m, k] x [k, n]` product with random inputs and returns the
/// timings and the winning entry (not yet stored: see [`AdapterTable::insert`] and
/// [`TuneFile::save`]).
pub fn tune_matmul(
    device: &Device,
    m: usize,
    n: usize,
    k: usize,
    reps: usize,
) -> Result<MatmulTuning> {
    // Every operand within the device's limits before any host data is made for it.
    for (what, shape) in [("A", [m, k]), ("B", [k, n]), ("the product", [m, n])] {
        let elems = crate::tensor::check_shape("tune", &shape, 4)?;
        device.check_binding(
            &format!("tuning matmul [{m}, {k}] x [{k}, {n}]: {what} {shape:?}"),
            elems as u64 * 4,
        )?;
    }
    let a = Tensor::from_f32(device, &crate::tensor::random_data(m * k, 11), &[m, k])?;
    let b = Tensor::from_f32(device, &crate::tensor::random_data(k * n, 12), &[k, n])?;
    let reps = reps.max(1);
    let rule = time_matmul(device, &a, &b, None, reps)?;
    let mut timings = Vec::new();
    let mut best: Option<(MatmulVariant, KernelConfig, f64)> = None;
    for (v, c) in matmul_candidates(device, m, n) {
        let r = time_matmul(device, &a, &b, Some((v, c)), reps);
        if let Ok(g) = r {
            if best.is_none_or(|(_, _, bg)| g > bg) {
                best = Some((v, c, g));
            }
        }
        timings.push((v, c, r.map_err(|e| e.to_string())));
    }
    let (v, c, g) = best.ok_or_else(|| {
        Error::invalid(
            "tune",
            format!("no matmul candidate ran for [{m}, {k}] x [{k}, {n}]"),
        )
    })?;
    // Never store a choice slower than the rules: where they won, store their own choice.
    let (v, c, g) = if g >= rule {
        (v, c, g)
    } else {
        let rv = crate::ops::matmul::choose_variant(device, m, n, k, crate::tensor::DType::F32);
        (rv, crate::ops::matmul::config(device, rv, m, n, k), rule)
    };
    Ok(MatmulTuning {
        shape: [m, n, k],
        timings,
        best: TuneEntry {
            op: "matmul".into(),
            class: [bucket(m), bucket(n), bucket(k)],
            shape: [m, n, k],
            variant: v.name().into(),
            tm: c.tm,
            tn: c.tn,
            wg_x: c.wg_x,
            wg_y: c.wg_y,
            k_split: c.k_split,
            gflops: g,
            rule_gflops: rule,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_in_log_space() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1), 0);
        assert_eq!(bucket(2), 1);
        assert_eq!(bucket(3), 2); // 3^2 = 9 >= 8
        assert_eq!(bucket(1024), 10);
        assert_eq!(bucket(1447), 10); // just under 1024 * sqrt(2)
        assert_eq!(bucket(1449), 11);
        assert_eq!(bucket(2048), 11);
    }

    #[test]
    fn file_round_trip_and_schema() {
        let mut f = TuneFile::default();
        let e = TuneEntry {
            op: "matmul".into(),
            class: [10, 10, 10],
            shape: [1024, 1024, 1024],
            variant: "cpu_texture".into(),
            tm: 32,
            tn: 16,
            wg_x: 64,
            wg_y: 1,
            k_split: 1,
            gflops: 40.0,
            rule_gflops: 33.0,
        };
        f.table_mut("lavapipe").insert(e.clone());
        f.table_mut("lavapipe").insert(TuneEntry {
            gflops: 41.0,
            ..e.clone()
        });
        assert_eq!(f.adapters.len(), 1);
        assert_eq!(f.adapters[0].entries.len(), 1, "same class replaces");
        let text = serde_json::to_string(&f).unwrap();
        let back = TuneFile::parse(&text).unwrap();
        assert_eq!(back, f);
        let (v, c) = back.adapters[0]
            .find("matmul", [10, 10, 10])
            .unwrap()
            .choice()
            .unwrap();
        assert_eq!(v, MatmulVariant::CpuTexture);
        assert_eq!((c.tm, c.tn, c.wg_x), (32, 16, 64));
        let bad = text.replace(SCHEMA, "flopwatt-tune/0");
        assert!(TuneFile::parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("schema"));
        assert!(TuneFile::parse("{").is_err());
    }
}
