//! The `flopwatt` binary end to end: `flopwatt run` on ONNX models with .npy inputs.
// Native only: runs the built binary.
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;

use flopwatt::onnx::npy::{self, Array};
use flopwatt::onnx::{self, Data};
use flopwatt_reference::random;
use prost::Message;

#[path = "../../flopwatt/tests/common/onnx_build.rs"]
mod onnx_build;
use onnx_build::gemm_model as model;

/// An adapter exists (CI=true makes its absence a failure, as in the library tests).
fn have_device() -> bool {
    match flopwatt::Device::new() {
        Ok(_) => true,
        Err(e) => {
            assert!(
                std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                "CI=true but no GPU adapter: {e}"
            );
            eprintln!("SKIPPED: no GPU adapter ({e})");
            false
        }
    }
}

macro_rules! device_or_skip {
    () => {
        if !have_device() {
            return;
        }
    };
}

/// Largest relative L2 error accepted against onnxruntime.
const MAX_REL_L2: f64 = 1e-3;

fn rel_l2(got: &[f64], want: &[f64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f64 = want.iter().map(|b| b * b).sum();
    (num / den.max(1e-300)).sqrt()
}

fn values(a: &Array) -> Vec<f64> {
    match &a.data {
        Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
        Data::F64(v) => v.clone(),
        Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
        Data::I32(v) => v.iter().map(|&x| x as f64).collect(),
        Data::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
    }
}

#[test]
fn cli_run_writes_outputs_and_reports_bad_inputs_in_one_line() {
    device_or_skip!();
    let dir = std::env::temp_dir().join(format!("flopwatt-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let w = random(48, 1);
    let b = random(8, 2);
    let mut mp = model(&w, &b);
    mp.graph.as_mut().unwrap().output[0].name = Some("y".into());
    std::fs::write(dir.join("m.onnx"), mp.encode_to_vec()).unwrap();
    let xv = random(3 * 6, 9);
    flopwatt::onnx::npy::write(
        dir.join("x.npy"),
        &Array {
            shape: vec![3, 6],
            data: Data::F32(xv),
        },
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_flopwatt");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .arg("run")
            .arg(dir.join("m.onnx"))
            .args(args)
            .arg("--output-dir")
            .arg(dir.join("out"))
            .output()
            .unwrap()
    };
    let x_arg = format!("x={}", dir.join("x.npy").display());
    let ok = run(&["--input", &x_arg, "--profile"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let y = flopwatt::onnx::npy::read(dir.join("out/y.npy")).unwrap();
    assert_eq!(y.shape, vec![3, 4, 2]);
    let Data::F32(v) = y.data else {
        panic!("f32 output")
    };
    for pair in v.chunks(2) {
        assert!(
            (pair[0] + pair[1] - 1.0).abs() < 1e-5,
            "softmax rows sum to 1: {pair:?}"
        );
    }
    let bad = |args: &[&str], needle: &str| {
        let o = run(args);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        let line = err
            .lines()
            .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
            .collect::<Vec<_>>();
        assert_eq!(line.len(), 1, "{err}");
        assert!(line[0].contains(needle), "{err}");
    };
    bad(&[], "input `x` is missing");
    bad(&["--input", &x_arg, "--input", &x_arg], "given twice");
    bad(&["--input", "z=nope.npy"], "nope.npy");
    std::fs::write(dir.join("bad.npy"), b"not npy").unwrap();
    bad(
        &["--input", &format!("x={}", dir.join("bad.npy").display())],
        "bad magic",
    );
    flopwatt::onnx::npy::write(
        dir.join("x5.npy"),
        &Array {
            shape: vec![3, 5],
            data: Data::F32(vec![0.0; 15]),
        },
    )
    .unwrap();
    bad(
        &["--input", &format!("x={}", dir.join("x5.npy").display())],
        "shape [3, 5] but the model takes [batch, 6]",
    );
    std::fs::write(dir.join("trunc.onnx"), &mp.encode_to_vec()[..40]).unwrap();
    let o = std::process::Command::new(bin)
        .args(["run"])
        .arg(dir.join("trunc.onnx"))
        .args(["--output-dir", "/tmp"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a valid ONNX protobuf"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn cli_run_check_catches_a_corrupted_expected_file_and_dumps_intermediates() {
    device_or_skip!();
    let dir = std::env::temp_dir().join(format!("flopwatt-check-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("ref")).unwrap();
    let mut mp = model(&random(48, 1), &random(8, 2));
    mp.graph.as_mut().unwrap().output[0].name = Some("y".into());
    std::fs::write(dir.join("m.onnx"), mp.encode_to_vec()).unwrap();
    let x = Array {
        shape: vec![3, 6],
        data: Data::F32(random(3 * 6, 9)),
    };
    npy::write(dir.join("x.npy"), &x).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_flopwatt"))
            .arg("run")
            .arg(dir.join("m.onnx"))
            .arg("--input")
            .arg(format!("x={}", dir.join("x.npy").display()))
            .arg("--output-dir")
            .arg(dir.join("out"))
            .args(args)
            .output()
            .unwrap()
    };
    let first = run(&["--dump", "h"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // The dumped Gemm output is the pre-ReLU value: some entries are negative.
    let h = values(&npy::read(dir.join("out/h.npy")).unwrap());
    assert_eq!(h.len(), 3 * 8);
    assert!(h.iter().any(|&v| v < 0.0), "h is before the ReLU: {h:?}");
    std::fs::copy(dir.join("out/y.npy"), dir.join("ref/y.npy")).unwrap();
    let ref_dir = dir.join("ref").display().to_string();
    let ok = run(&["--check", &ref_dir]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(text.contains("ok    y: rel L2"), "{text}");
    // One softmax entry 10% off: the check must fail, and say which output.
    let mut want = npy::read(dir.join("ref/y.npy")).unwrap();
    if let Data::F32(v) = &mut want.data {
        v[5] *= 1.1;
    }
    npy::write(dir.join("ref/y.npy"), &want).unwrap();
    let bad = run(&["--check", &ref_dir]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stdout).contains("FAIL  y: rel L2"));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("differ from"));
    let missing = run(&["--dump", "no_such_value"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no value `no_such_value`"));
    std::fs::remove_dir_all(&dir).ok();
}

/// `--repeat 3 --json` times three inferences and writes one row in the bench's schema
/// (readable by `compare` and `--baseline`), with wall, GPU and energy fields; bad counts
/// and `--json` without `--repeat` are one-line errors.
#[test]
fn cli_run_repeat_writes_a_bench_row_with_wall_gpu_and_energy() {
    device_or_skip!();
    let dir = std::env::temp_dir().join(format!("flopwatt-repeat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("m.onnx"),
        model(&random(48, 1), &random(8, 2)).encode_to_vec(),
    )
    .unwrap();
    npy::write(
        dir.join("x.npy"),
        &Array {
            shape: vec![2, 6],
            data: Data::F32(random(12, 9)),
        },
    )
    .unwrap();
    let json = dir.join("t.json");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_flopwatt"))
            .arg("run")
            .arg(dir.join("m.onnx"))
            .arg("--input")
            .arg(format!("x={}", dir.join("x.npy").display()))
            .args(args)
            .output()
            .unwrap()
    };
    let j = json.display().to_string();
    let o = run(&[
        "--repeat", "3", "--warmup", "1", "--json", &j, "--watts", "10",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("3 inferences after 1 warm-up"), "{text}");
    assert!(text.contains("inferences/J"), "{text}");
    let raw = std::fs::read_to_string(&json).unwrap();
    let rep = flopwatt_bench::report::BenchReport::from_json(&j, &raw).unwrap();
    assert_eq!(rep.schema, "flopwatt-bench/2");
    let [r] = rep.results.as_slice() else {
        panic!("one row: {raw}")
    };
    assert_eq!(r.id, "onnx:m:x=2x6");
    assert_eq!(r.variant.as_deref(), Some("fused"));
    assert_eq!(r.runs, 3);
    assert!(r.dispatches > 0, "{raw}");
    assert!(r.wall_ms > 0.0 && r.wall_ms.is_finite(), "{raw}");
    assert!(r.min_ms <= r.median_ms && r.median_ms <= r.max_ms, "{raw}");
    assert!(r.joules_per_run.is_some_and(|j| j > 0.0), "{raw}");
    assert_eq!(r.energy_measured, Some(false), "--watts is a fixed figure");
    assert_eq!(rep.power.source, "fixed", "{raw}");
    for (args, needle) in [
        (vec!["--repeat", "0"], "--repeat must be 1 to"),
        (vec!["--json", j.as_str()], "add --repeat"),
        (vec!["--check", ""], "--check is empty"),
    ] {
        let o = run(&args);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_minilm_matches_onnxruntime() {
    let path = onnx::minilm_path();
    if !path.is_file() {
        eprintln!(
            "SKIPPED: MiniLM model not found at {} (set FLOPWATT_MINILM)",
            path.display()
        );
        return;
    }
    device_or_skip!();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flopwatt/tests/data/minilm");
    // The CLI end to end: int64 .npy inputs in, int64 and float32 .npy outputs out.
    let out = std::env::temp_dir().join(format!("flopwatt-minilm-{}", std::process::id()));
    let arg = |n: &str| format!("{n}={}", data.join(format!("{n}.npy")).display());
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_flopwatt"))
        .arg("run")
        .arg(&path)
        .args([
            "--input",
            &arg("input_ids"),
            "--input",
            &arg("attention_mask"),
        ])
        .arg("--output-dir")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    for (k, name) in ["output", "463", "onnx__Shape_422", "461"]
        .iter()
        .enumerate()
    {
        let got = npy::read(out.join(format!("{name}.npy"))).unwrap();
        let want = npy::read(data.join(format!("expected_{k}.npy"))).unwrap();
        assert_eq!(got.shape, want.shape, "cli output {name}");
        let e = rel_l2(&values(&got), &values(&want));
        assert!(e < MAX_REL_L2, "cli output {name}: rel L2 {e:.3e}");
        assert_eq!(
            matches!(got.data, Data::I64(_)),
            matches!(want.data, Data::I64(_)),
            "cli output {name} dtype"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
