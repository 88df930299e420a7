//! The ONNX operator tests shipped by the `onnx` Python package (1.22.0,
//! `onnx/backend/test/data/node`): the cases flopwatt lowers, committed under
//! `tests/data/onnx-node/<case>/` (model.onnx, test_data_set_0/{input,output}_N.pb).
//!
//! Non-float inputs (shapes, axes) are bound as constants, as a run with those values would,
//! and so are float inputs in parameter slots (Resize's roi and scales, Pad's
//! constant_value), which exported models carry as initializers; other float inputs are fed
//! at run time. `FLOPWATT_ONNX_NODE_DIR` points the test at a whole
//! unpacked `node/` folder instead (it then prints the failures rather than failing).
// Native only: blocking readbacks, threads, files (the browser runs the gpu_test! binaries).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::Compile;
use std::path::{Path, PathBuf};

use flopwatt::onnx::proto::TensorProto;
use flopwatt::onnx::{self, fold, tensor_from_proto, ElemType, TensorValue};
use flopwatt::{Device, Tensor};
use flopwatt_reference::{check_close, TRANSCENDENTAL_F32};
use prost::Message;

fn read_pb(p: &Path) -> Result<TensorValue, String> {
    let b = std::fs::read(p).map_err(|e| e.to_string())?;
    let t = TensorProto::decode(b.as_slice()).map_err(|e| e.to_string())?;
    tensor_from_proto(&t, &p.display().to_string())
}

fn run_case(dev: &Device, dir: &Path) -> Result<(), String> {
    let mut m = onnx::load(dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let data = dir.join("test_data_set_0");
    let mut feeds = Vec::new();
    let names: Vec<String> = m.inputs.iter().map(|i| i.name.clone()).collect();
    let param = |name: &str| {
        m.nodes.iter().any(|n| {
            let slots: &[usize] = match n.op_type.as_str() {
                "Resize" => &[1, 2],
                "Pad" => &[2],
                _ => &[],
            };
            slots
                .iter()
                .any(|&i| n.inputs.get(i).map(String::as_str) == Some(name))
        })
    };
    for (k, name) in names.iter().enumerate() {
        let t = read_pb(&data.join(format!("input_{k}.pb")))?;
        if t.dtype == ElemType::Float && !param(name) {
            feeds.push((name.clone(), t));
        } else {
            m.inputs.retain(|i| &i.name != name);
            m.initializers.insert(name.clone(), t);
        }
    }
    for (name, t) in &feeds {
        if let Some(i) = m.inputs.iter_mut().find(|i| &i.name == name) {
            i.shape = Some(t.shape.iter().map(|&d| onnx::Dim::Fixed(d)).collect());
        }
    }
    fold::fold(&mut m).map_err(|e| e.to_string())?;
    let low = onnx::to_graph::to_graph(&m).map_err(|e| e.to_string())?;
    let exe = low.graph.compile(dev).map_err(|e| e.to_string())?;
    let tensors: Vec<Tensor> = low
        .inputs
        .iter()
        .map(|n| {
            let t = &feeds.iter().find(|(f, _)| f == n).unwrap().1;
            Tensor::from_f32(dev, &t.to_f32_vec(), &t.shape).unwrap()
        })
        .collect();
    let refs: Vec<&Tensor> = tensors.iter().collect();
    let outs = exe.run(&refs).map_err(|e| e.to_string())?;
    for (k, o) in outs.iter().enumerate() {
        let want = read_pb(&data.join(format!("output_{k}.pb")))?;
        if o.shape() != want.shape.as_slice() {
            return Err(format!(
                "output {k} shape {:?}, expected {:?}",
                o.shape(),
                want.shape
            ));
        }
        let got = o.to_f32_vec().map_err(|e| e.to_string())?;
        check_close(
            &format!("output {k}"),
            &got,
            &want.to_f64_vec(),
            TRANSCENDENTAL_F32,
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn cases(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|r| {
            r.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("model.onnx").exists())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs every case under `root`; `strict` fails on any failure, else only prints them.
fn run_all(dev: &Device, root: &Path, strict: bool) {
    let all = cases(root);
    assert!(!all.is_empty(), "no cases under {}", root.display());
    let mut failed = Vec::new();
    for c in &all {
        if let Err(e) = run_case(dev, c) {
            failed.push(format!("{}: {e}", c.file_name().unwrap().to_string_lossy()));
        }
    }
    println!(
        "{}: {} passed, {} failed",
        root.display(),
        all.len() - failed.len(),
        failed.len()
    );
    for f in &failed {
        println!("FAIL {f}");
    }
    if strict {
        assert!(failed.is_empty(), "{failed:#?}");
    }
}

#[test]
fn onnx_operator_tests() {
    let dev = device_or_skip!();
    match std::env::var("FLOPWATT_ONNX_NODE_DIR") {
        Ok(d) => run_all(&dev, Path::new(&d), false),
        Err(_) => run_all(
            &dev,
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx-node"),
            true,
        ),
    }
}

/// Cases the ONNX operator tests lack, with onnxruntime's outputs (`tests/data/onnx-ort/`,
/// written by `tools/onnx_ort_cases.py`): `auto_pad` on Conv, ConvTranspose and pooling at
/// odd sizes, strides 2 and 3, and dilations.
#[test]
fn onnxruntime_cases() {
    let dev = device_or_skip!();
    run_all(
        &dev,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx-ort"),
        true,
    );
}
