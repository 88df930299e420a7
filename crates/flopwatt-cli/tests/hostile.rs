//! The `flopwatt` binary on hostile arguments: each is refused with one clear line and exit 1,
//! never a panic, a hang, a huge allocation or a clobbered file.
// Native only: runs the built binary.
#![cfg(not(target_arch = "wasm32"))]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use prost::Message;

#[path = "../../flopwatt/tests/common/onnx_build.rs"]
mod onnx_build;
use onnx_build::{model_bytes, node_named, t_i64, vi, vi_f32};

/// Runs the binary, killing it after `secs` (a hang fails the test instead of stalling it).
fn flopwatt(args: &[&str], secs: u64) -> Output {
    flopwatt_in(Command::new(env!("CARGO_BIN_EXE_flopwatt")), args, secs)
}

fn flopwatt_in(mut cmd: Command, args: &[&str], secs: u64) -> Output {
    let mut child = cmd
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            child.kill().unwrap();
            panic!("flopwatt {args:?} still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Exit 1 and a single `error:` line containing `words` (no panic, no backtrace).
fn refused(out: &Output, words: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: ") && err.contains(words), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("flopwatt-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[cfg(unix)]
#[test]
fn run_refuses_a_device_file_as_the_model() {
    let d = temp_dir("devzero");
    let out = flopwatt(
        &["run", "/dev/zero", "--output-dir", d.to_str().unwrap()],
        20,
    );
    refused(&out, "not a regular file");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn run_refuses_outputs_that_would_share_a_file_and_an_empty_output_dir() {
    let d = temp_dir("collide");
    let mut mp = onnx_build::gemm_model(&[0.0; 48], &[0.0; 8]);
    let g = mp.graph.as_mut().unwrap();
    // Two outputs, `a/b` and `a_b`, both sanitised to a_b.npy.
    g.node.push(node_named("Relu", &["y"], &["a/b"], vec![]));
    g.node.push(node_named("Relu", &["y"], &["a_b"], vec![]));
    let dims = [Err("batch"), Ok(4), Ok(2)];
    g.output = vec![vi_f32("a/b", &dims), vi_f32("a_b", &dims)];
    let path = d.join("m.onnx");
    std::fs::write(&path, mp.encode_to_vec()).unwrap();
    let x = d.join("x.npy");
    flopwatt::onnx::npy::write(
        &x,
        &flopwatt::onnx::npy::Array {
            shape: vec![2, 6],
            data: flopwatt::onnx::Data::F32(vec![0.0; 12]),
        },
    )
    .unwrap();
    let input = format!("x={}", x.display());
    let out = flopwatt(
        &[
            "run",
            path.to_str().unwrap(),
            "--input",
            &input,
            "--output-dir",
            d.to_str().unwrap(),
        ],
        120,
    );
    refused(&out, "would both be written to a_b.npy");
    let out = flopwatt(
        &[
            "run",
            path.to_str().unwrap(),
            "--input",
            &input,
            "--output-dir",
            "",
        ],
        120,
    );
    assert_eq!(out.status.code(), Some(1));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bench_and_tune_refuse_sizes_that_would_panic_or_exhaust_memory() {
    refused(
        &flopwatt(&["bench", "--min-time", "1e30"], 20),
        "--min-time must be between 0 and",
    );
    // No adapter, no tune: the message says why either way, and nothing panics.
    for shape in ["18446744073709551615x2x1", "2000000000x1x1"] {
        let out = flopwatt(&["tune", "--dry-run", "--shape", shape], 60);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn tune_dry_run_needs_no_home() {
    if flopwatt::Device::new().is_err() {
        eprintln!("SKIPPED: no GPU adapter");
        return;
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flopwatt"));
    for v in [
        "HOME",
        "XDG_CACHE_HOME",
        "FLOPWATT_CACHE",
        "FLOPWATT_TUNE_FILE",
        "LOCALAPPDATA",
    ] {
        cmd.env_remove(v);
    }
    // A shape over the device limits: the run gets as far as the device (past the cache
    // directory) and stops at once, without timing any kernel.
    let out = flopwatt_in(cmd, &["tune", "--dry-run", "--shape", "2000000000x1x1"], 60);
    refused(&out, "device limit");
}

/// int64 arithmetic through `run`: exact (16777217 * 2 = 33554434, not f32's 33554432), or
/// exit 1 with the reason ((2^31 - 1) * 2 overflows the i32 flopwatt computes in), never a
/// saturated 2147483647 with exit 0.
#[test]
fn run_computes_integers_exactly_or_refuses() {
    if flopwatt::Device::new().is_err() {
        eprintln!("SKIPPED: no GPU adapter");
        return;
    }
    use flopwatt::onnx::{npy, Data};
    let d = temp_dir("int64");
    let bytes = model_bytes(
        vec![node_named("Mul", &["x", "two"], &["y"], vec![])],
        vec![t_i64("two", &[1], &[2])],
        vec![vi("x", 7, &[Ok(2)])],
        vec![vi("y", 7, &[Ok(2)])],
        vec![],
    );
    let path = d.join("m.onnx");
    std::fs::write(&path, bytes).unwrap();
    let run = |x: [i64; 2]| {
        let xp = d.join("x.npy");
        let a = npy::Array {
            shape: vec![2],
            data: Data::I64(x.to_vec()),
        };
        npy::write(&xp, &a).unwrap();
        let input = format!("x={}", xp.display());
        let out = d.join("out");
        let args = [
            "run",
            path.to_str().unwrap(),
            "--input",
            &input,
            "--output-dir",
        ];
        let o = flopwatt(&[&args[..], &[out.to_str().unwrap()]].concat(), 120);
        (o, out.join("y.npy"))
    };
    let (o, y) = run([16_777_217, -3]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let y = npy::read(&y).unwrap();
    assert_eq!(y.data, Data::I64(vec![33_554_434, -6]));
    let (o, _) = run([(1 << 31) - 1, 0]);
    refused(&o, "overflows i32");
    std::fs::remove_dir_all(&d).ok();
}
