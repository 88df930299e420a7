//! Every shader file and generated variant translated by naga's Metal, HLSL and SPIR-V
//! writers, as wgpu does on macOS, Windows and Vulkan: a kernel that only one backend
//! rejects fails here, on Linux, instead of on a user's machine.

use naga::back::{hlsl, msl, pipeline_constants, spv};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};

/// Versions no newer than what wgpu asks for on devices with f16 and subgroups: MSL 2.4
/// (macOS 12), HLSL shader model 6.2 (DXC; 16-bit types need 6.2), SPIR-V 1.3 (subgroups).
const MSL_VERSION: (u8, u8) = (2, 4);
const HLSL_MODEL: hlsl::ShaderModel = hlsl::ShaderModel::V6_2;
const SPIRV_VERSION: (u8, u8) = (1, 3);

/// Translates one entry point of `module` to the three backends; the error names the backend.
fn translate_entry(module: &naga::Module, info: &ModuleInfo, entry: &str) -> Result<(), String> {
    let stage = naga::ShaderStage::Compute;
    // Backends see a module with its `override`s resolved, as wgpu hands them one.
    let (module, info) = pipeline_constants::process_overrides(
        module,
        info,
        Some((stage, entry)),
        &Default::default(),
    )
    .map_err(|e| format!("overrides: {e}"))?;

    let msl_options = msl::Options {
        lang_version: MSL_VERSION,
        ..Default::default()
    };
    let msl_pipeline = msl::PipelineOptions {
        entry_point: Some((stage, entry.to_string())),
        ..Default::default()
    };
    msl::write_string(&module, &info, &msl_options, &msl_pipeline)
        .map_err(|e| format!("MSL: {e}"))?;

    let hlsl_options = hlsl::Options {
        shader_model: HLSL_MODEL,
        ..Default::default()
    };
    let hlsl_pipeline = hlsl::PipelineOptions {
        entry_point: Some((stage, entry.to_string())),
    };
    let mut out = String::new();
    hlsl::Writer::new(&mut out, &hlsl_options, &hlsl_pipeline)
        .write(&module, &info, None)
        .map_err(|e| format!("HLSL: {e}"))?;

    let spv_options = spv::Options {
        lang_version: SPIRV_VERSION,
        ..Default::default()
    };
    let spv_pipeline = spv::PipelineOptions {
        shader_stage: stage,
        entry_point: entry.to_string(),
    };
    spv::write_vec(&module, &info, &spv_options, Some(&spv_pipeline))
        .map_err(|e| format!("SPIR-V: {e}"))?;
    Ok(())
}

/// Translates every compute entry point of `source`; one line per failure.
fn translate(name: &str, source: &str) -> Vec<String> {
    let module = match naga::front::wgsl::parse_str(source) {
        Ok(m) => m,
        Err(e) => return vec![format!("{name}: WGSL: {}", e.emit_to_string(source))],
    };
    let info = match Validator::new(ValidationFlags::all(), Capabilities::all()).validate(&module) {
        Ok(i) => i,
        Err(e) => return vec![format!("{name}: validation: {}", e.emit_to_string(source))],
    };
    module
        .entry_points
        .iter()
        .filter(|ep| ep.stage == naga::ShaderStage::Compute)
        .filter_map(|ep| {
            translate_entry(&module, &info, &ep.name)
                .err()
                .map(|e| format!("{name}::{}: {e}", ep.name))
        })
        .collect()
}

#[test]
fn every_shader_translates_to_msl_hlsl_and_spirv() {
    let mut sources: Vec<(String, String)> = super::FILES
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    sources.extend(super::all_variants());
    let failures: Vec<String> = sources
        .iter()
        .flat_map(|(name, src)| translate(name, src))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} shaders fail to translate:\n{}",
        failures.len(),
        sources.len(),
        failures.join("\n")
    );
}
