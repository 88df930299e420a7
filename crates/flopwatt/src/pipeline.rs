//! Compute pipelines, built on worker threads where the platform has them.
//!
//! A pipeline's bind group layout is reflected from its naga module on the caller's thread, so
//! that dispatches can be recorded (their bind groups made) at once; the pipeline itself, the
//! expensive part (wgpu's translation and the driver's compile), is built on a worker and
//! waited for when the recording is first submitted or kept. A graph's pipelines are then
//! built side by side while it is recorded: docs/host-path.md#parallel-builds.

use std::sync::{Arc, OnceLock};
#[cfg(not(target_arch = "wasm32"))]
use std::sync::{Condvar, Mutex};

use crate::device::{Device, PipelineBuild};
use crate::error::{Error, Result};

/// A compute pipeline of group-0 bindings, possibly still being built.
pub struct Pipeline {
    name: String,
    layout: wgpu::BindGroupLayout,
    built: OnceLock<std::result::Result<wgpu::ComputePipeline, String>>,
    #[cfg(not(target_arch = "wasm32"))]
    worker:
        Mutex<Option<std::thread::JoinHandle<std::result::Result<wgpu::ComputePipeline, String>>>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .finish()
    }
}

impl Pipeline {
    /// The kernel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The layout of its bind group 0 (every binding the entry point uses).
    pub fn bind_group_layout(&self) -> &wgpu::BindGroupLayout {
        &self.layout
    }

    /// Wraps a pipeline built with wgpu directly (its group-0 layout is the pipeline's own),
    /// for recording it with [`crate::Recorder::dispatch`].
    pub fn from_compute(name: &str, pipeline: wgpu::ComputePipeline) -> Pipeline {
        let layout = pipeline.get_bind_group_layout(0);
        Pipeline::finished(name, layout, Ok(pipeline))
    }

    /// A pipeline whose build has ended (in `result`).
    fn finished(
        name: &str,
        layout: wgpu::BindGroupLayout,
        result: std::result::Result<wgpu::ComputePipeline, String>,
    ) -> Pipeline {
        Pipeline {
            name: name.to_string(),
            layout,
            built: OnceLock::from(result),
            #[cfg(not(target_arch = "wasm32"))]
            worker: Mutex::new(None),
        }
    }

    /// The built pipeline, waiting for its worker if it is still building; a shader or
    /// pipeline error of the build comes back here.
    pub fn compute(&self) -> Result<&wgpu::ComputePipeline> {
        let built = self.built.get_or_init(|| {
            #[cfg(not(target_arch = "wasm32"))]
            if let Some(h) = self.worker.lock().ok().and_then(|mut w| w.take()) {
                return h
                    .join()
                    .unwrap_or_else(|_| Err("the pipeline's build thread panicked".into()));
            }
            Err("the pipeline was never built".into())
        });
        built.as_ref().map_err(|message| Error::Shader {
            name: self.name.clone(),
            message: message.clone(),
        })
    }
}

/// Builds `entry` of `source` on `device`: validated by naga and its layout made here. An
/// `own` kernel (see [`Device::own_pipeline`]) drops naga's loop counters and is built on a
/// worker thread (natively); any other is built here, before this returns.
pub(crate) fn build(
    device: &Device,
    name: &str,
    source: &str,
    entry: &str,
    own: bool,
) -> Result<Arc<Pipeline>> {
    let start = crate::time::Instant::now();
    let (module, info) = crate::shaders::validate(name, source)?;
    let validate_ms = start.elapsed().as_secs_f64() * 1e3;
    let entries = layout_entries(&module, &info, entry).map_err(|message| Error::Shader {
        name: name.to_string(),
        message,
    })?;
    let dev = device.wgpu_device();
    let layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(name),
        entries: &entries,
    });
    let pipeline_layout = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(name),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let job = Job {
        device: device.clone(),
        name: name.to_string(),
        source: source.to_string(),
        entry: entry.to_string(),
        own,
        layout: pipeline_layout,
        validate_ms,
    };
    #[cfg(not(target_arch = "wasm32"))]
    if own {
        let worker = std::thread::Builder::new()
            .name(format!("flopwatt-build {name}"))
            .spawn(move || {
                let _slot = BuildSlots::global().acquire();
                job.run()
            })
            .map_err(|e| Error::Gpu {
                context: format!("starting the build of {name}"),
                message: e.to_string(),
            })?;
        return Ok(Arc::new(Pipeline {
            name: name.to_string(),
            layout,
            built: OnceLock::new(),
            worker: Mutex::new(Some(worker)),
        }));
    }
    let p = Pipeline::finished(name, layout, job.run());
    p.compute()?;
    Ok(Arc::new(p))
}

/// What a worker needs to build one pipeline.
struct Job {
    device: Device,
    name: String,
    source: String,
    entry: String,
    own: bool,
    layout: wgpu::PipelineLayout,
    /// naga's validation on the recording thread, before the job.
    validate_ms: f64,
}

impl Job {
    fn run(self) -> std::result::Result<wgpu::ComputePipeline, String> {
        let start = crate::time::Instant::now();
        let dev = self.device.wgpu_device();
        // Error scopes are per thread: this one sees only this build's errors. The browser
        // cannot wait for a scope: its errors reach the uncaptured-error sink and surface at
        // the next submit or readback.
        #[cfg(not(target_arch = "wasm32"))]
        let scope = dev.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(&self.name),
            source: wgpu::ShaderSource::Wgsl(self.source.as_str().into()),
        };
        let module = if self.own {
            let mut checks = wgpu::ShaderRuntimeChecks::checked();
            checks.force_loop_bounding = false;
            // SAFETY: `own` is only set by `Device::own_pipeline`, for flopwatt's kernels,
            // whose loops all end (see there); every other check stays on.
            unsafe { dev.create_shader_module_trusted(desc, checks) }
        } else {
            dev.create_shader_module(desc)
        };
        let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&self.name),
            layout: Some(&self.layout),
            module: &module,
            entry_point: Some(&self.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[],
                // Kernels initialise the shared memory they read; zeroing it costs a pass.
                zero_initialize_workgroup_memory: false,
            },
            cache: self.device.pipeline_cache_for_build(),
        });
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(e) = crate::wait::block_on(scope.pop()) {
            return Err(e.to_string());
        }
        self.device.record_build(PipelineBuild {
            name: self.name,
            source_bytes: self.source.len(),
            build_ms: self.validate_ms + start.elapsed().as_secs_f64() * 1e3,
        });
        Ok(pipeline)
    }
}

/// The group-0 layout entries of every binding `entry` uses, as wgpu's automatic layout
/// would derive them (textures as unfilterable floats: the kernels only `textureLoad`).
fn layout_entries(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    entry: &str,
) -> std::result::Result<Vec<wgpu::BindGroupLayoutEntry>, String> {
    use naga::{AddressSpace, ImageClass, ImageDimension, ScalarKind, TypeInner};
    let index = module
        .entry_points
        .iter()
        .position(|e| e.name == entry)
        .ok_or_else(|| format!("no entry point `{entry}`"))?;
    let uses = info.get_entry_point(index);
    let mut out = Vec::new();
    for (handle, var) in module.global_variables.iter() {
        let Some(binding) = &var.binding else {
            continue;
        };
        if uses[handle].is_empty() {
            continue;
        }
        if binding.group != 0 {
            return Err(format!(
                "binding group {} (kernels bind group 0 only)",
                binding.group
            ));
        }
        let view_dimension = |dim: ImageDimension, arrayed: bool| match (dim, arrayed) {
            (ImageDimension::D1, _) => wgpu::TextureViewDimension::D1,
            (ImageDimension::D2, false) => wgpu::TextureViewDimension::D2,
            (ImageDimension::D2, true) => wgpu::TextureViewDimension::D2Array,
            (ImageDimension::D3, _) => wgpu::TextureViewDimension::D3,
            (ImageDimension::Cube, false) => wgpu::TextureViewDimension::Cube,
            (ImageDimension::Cube, true) => wgpu::TextureViewDimension::CubeArray,
        };
        let ty = match var.space {
            AddressSpace::Storage { access } => wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage {
                    read_only: !access.contains(naga::StorageAccess::STORE),
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            AddressSpace::Uniform => wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            AddressSpace::Handle => match &module.types[var.ty].inner {
                TypeInner::Image {
                    dim,
                    arrayed,
                    class: ImageClass::Sampled { kind, multi },
                } => wgpu::BindingType::Texture {
                    sample_type: match kind {
                        ScalarKind::Sint => wgpu::TextureSampleType::Sint,
                        ScalarKind::Uint => wgpu::TextureSampleType::Uint,
                        _ => wgpu::TextureSampleType::Float { filterable: false },
                    },
                    view_dimension: view_dimension(*dim, *arrayed),
                    multisampled: *multi,
                },
                TypeInner::Image {
                    dim,
                    arrayed,
                    class: ImageClass::Storage { format, access },
                } => wgpu::BindingType::StorageTexture {
                    access: match (
                        access.contains(naga::StorageAccess::LOAD),
                        access.contains(naga::StorageAccess::STORE),
                    ) {
                        (true, true) => wgpu::StorageTextureAccess::ReadWrite,
                        (true, false) => wgpu::StorageTextureAccess::ReadOnly,
                        _ => wgpu::StorageTextureAccess::WriteOnly,
                    },
                    format: match format {
                        naga::StorageFormat::Rgba32Float => wgpu::TextureFormat::Rgba32Float,
                        naga::StorageFormat::R32Float => wgpu::TextureFormat::R32Float,
                        naga::StorageFormat::R32Uint => wgpu::TextureFormat::R32Uint,
                        f => return Err(format!("storage texture format {f:?} is not mapped")),
                    },
                    view_dimension: view_dimension(*dim, *arrayed),
                },
                other => return Err(format!("binding of type {other:?} is not mapped")),
            },
            other => return Err(format!("binding in address space {other:?}")),
        };
        out.push(wgpu::BindGroupLayoutEntry {
            binding: binding.binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty,
            count: None,
        });
    }
    Ok(out)
}

/// At most one pipeline build per CPU at a time: more only queue inside the driver.
#[cfg(not(target_arch = "wasm32"))]
struct BuildSlots {
    free: Mutex<usize>,
    freed: Condvar,
}

#[cfg(not(target_arch = "wasm32"))]
struct Slot(&'static BuildSlots);

#[cfg(not(target_arch = "wasm32"))]
impl BuildSlots {
    fn global() -> &'static BuildSlots {
        static SLOTS: OnceLock<BuildSlots> = OnceLock::new();
        SLOTS.get_or_init(|| BuildSlots {
            free: Mutex::new(
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2),
            ),
            freed: Condvar::new(),
        })
    }

    fn acquire(&'static self) -> Slot {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Slot(self)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}
