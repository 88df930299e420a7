//! Adapter choice, device creation, and the per-device caches (pipelines, buffer pool).
//!
//! The adapter is chosen from the environment the way wgpu's own tools do it:
//! `WGPU_BACKEND` (vulkan, metal, dx12, gl; comma separated) restricts the backends and
//! `WGPU_ADAPTER_NAME` picks an adapter whose name contains the given text. Among the rest a
//! discrete GPU wins over an integrated one, then virtual, then CPU.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::pool::BufferPool;

/// Where the adapter comes from, as the user set it.
#[derive(Clone, Debug, Default)]
pub struct DeviceOptions {
    /// Comma-separated backend names (`WGPU_BACKEND`); `None` means every backend.
    pub backends: Option<String>,
    /// Case-insensitive substring of the adapter name (`WGPU_ADAPTER_NAME`).
    pub adapter_name: Option<String>,
    /// Request WebGPU's default limits (256 invocations per workgroup, 16 KiB of workgroup
    /// memory, 128 MiB storage bindings) instead of the adapter's own
    /// (`FLOPWATT_LIMITS=webgpu`): native CI then picks the kernel variants a browser
    /// adapter such as SwiftShader gets.
    pub webgpu_limits: bool,
    /// Pick kernel variants for this class instead of the adapter's own
    /// (`FLOPWATT_ADAPTER_CLASS=gpu|cpu`): with `Gpu` on lavapipe, CI runs every GPU-class
    /// variant (shared-memory tiles, workgroup trees, GEMV split-K) that real GPUs get.
    pub adapter_class: Option<AdapterClass>,
}

impl DeviceOptions {
    /// Options from `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`, `FLOPWATT_LIMITS` and
    /// `FLOPWATT_ADAPTER_CLASS`; a value that names nothing is an error, not ignored.
    pub fn from_env() -> Result<Self> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Ok(DeviceOptions {
            backends: get("WGPU_BACKEND"),
            adapter_name: get("WGPU_ADAPTER_NAME"),
            webgpu_limits: get("FLOPWATT_LIMITS").is_some_and(|v| v.eq_ignore_ascii_case("webgpu")),
            adapter_class: get("FLOPWATT_ADAPTER_CLASS")
                .map(|v| v.parse())
                .transpose()?,
        })
    }
}

/// Parses a comma-separated backend list; unknown names are an error, not silently ignored.
pub fn parse_backends(list: &str) -> Result<wgpu::Backends> {
    let mut out = wgpu::Backends::empty();
    for name in list.split(',').map(|s| s.trim().to_ascii_lowercase()) {
        out |= match name.as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "gl" | "gles" | "opengl" => wgpu::Backends::GL,
            "" => continue,
            _ => return Err(Error::UnknownBackend { name }),
        };
    }
    Ok(out)
}

/// How per-dispatch GPU time can be measured on this device, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimingTier {
    /// Timestamps written between dispatches inside one compute pass.
    // Serialised as its label, so `info --json` and result files name a tier alike.
    #[serde(rename = "timestamp-inside-passes")]
    InsidePasses,
    /// Timestamps at the start and end of a pass: one pass per timed dispatch.
    #[serde(rename = "timestamp-pass-boundaries")]
    PassBoundaries,
    /// No timestamp queries: wall clock around submit and completion.
    WallClock,
}

impl TimingTier {
    /// The best tier the features allow.
    pub fn from_features(f: wgpu::Features) -> Self {
        if f.contains(
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES,
        ) {
            TimingTier::InsidePasses
        } else if f.contains(wgpu::Features::TIMESTAMP_QUERY) {
            TimingTier::PassBoundaries
        } else {
            TimingTier::WallClock
        }
    }

    /// Short label used in reports.
    pub fn label(self) -> &'static str {
        match self {
            TimingTier::InsidePasses => "timestamp-inside-passes",
            TimingTier::PassBoundaries => "timestamp-pass-boundaries",
            TimingTier::WallClock => "wall-clock",
        }
    }
}

/// Broad kind of adapter: it decides which kernel variants are fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdapterClass {
    /// A CPU pretending to be a GPU (lavapipe, llvmpipe, SwiftShader, WARP): shared memory
    /// and barriers are dear, wide register blocks straight from storage are cheap.
    Cpu,
    /// A real GPU: shared-memory tiles pay.
    Gpu,
}

impl std::str::FromStr for AdapterClass {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(AdapterClass::Cpu),
            "gpu" => Ok(AdapterClass::Gpu),
            _ => Err(Error::invalid(
                "FLOPWATT_ADAPTER_CLASS",
                format!("{s:?} is not an adapter class: use `cpu` or `gpu`"),
            )),
        }
    }
}

/// Features of an adapter that matter to flopwatt.
#[derive(Clone, Debug, Serialize)]
pub struct FeatureSummary {
    /// `TIMESTAMP_QUERY`: pass-boundary timestamps.
    pub timestamp_query: bool,
    /// `TIMESTAMP_QUERY_INSIDE_ENCODERS`.
    pub timestamp_inside_encoders: bool,
    /// `TIMESTAMP_QUERY_INSIDE_PASSES`.
    pub timestamp_inside_passes: bool,
    /// The timing tier flopwatt will use.
    pub timing_tier: TimingTier,
    /// `SHADER_F16`.
    pub shader_f16: bool,
    /// `SUBGROUP`.
    pub subgroup: bool,
    /// `PIPELINE_STATISTICS_QUERY`.
    pub pipeline_statistics: bool,
}

impl FeatureSummary {
    fn new(f: wgpu::Features) -> Self {
        FeatureSummary {
            timestamp_query: f.contains(wgpu::Features::TIMESTAMP_QUERY),
            timestamp_inside_encoders: f.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS),
            timestamp_inside_passes: f.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
            timing_tier: TimingTier::from_features(f),
            shader_f16: f.contains(wgpu::Features::SHADER_F16),
            subgroup: f.contains(wgpu::Features::SUBGROUP),
            pipeline_statistics: f.contains(wgpu::Features::PIPELINE_STATISTICS_QUERY),
        }
    }
}

/// The limits that bound what flopwatt can run.
#[derive(Clone, Debug, Serialize)]
pub struct LimitSummary {
    /// Largest buffer.
    pub max_buffer_size: u64,
    /// Largest storage binding.
    pub max_storage_buffer_binding_size: u64,
    /// Storage buffers per shader stage.
    pub max_storage_buffers_per_shader_stage: u32,
    /// Workgroup shared memory bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroup size, x.
    pub max_compute_workgroup_size_x: u32,
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Smallest subgroup size (0 when unknown).
    pub min_subgroup_size: u32,
    /// Largest subgroup size (0 when unknown).
    pub max_subgroup_size: u32,
}

impl LimitSummary {
    fn new(l: &wgpu::Limits, info: &wgpu::AdapterInfo) -> Self {
        LimitSummary {
            max_buffer_size: l.max_buffer_size,
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x: l.max_compute_workgroup_size_x,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            min_subgroup_size: info.subgroup_min_size,
            max_subgroup_size: info.subgroup_max_size,
        }
    }
}

/// Everything `flopwatt info` shows about one adapter.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterSummary {
    /// Adapter name.
    pub name: String,
    /// Backend (vulkan, metal, dx12, gl).
    pub backend: String,
    /// Driver name.
    pub driver: String,
    /// Driver version / details.
    pub driver_info: String,
    /// Device type as wgpu reports it.
    pub device_type: String,
    /// PCI vendor id.
    pub vendor: u32,
    /// PCI device id.
    pub device_id: u32,
    /// PCI bus id (`0000:01:00.0`) where the backend reports it, else empty; picks the power
    /// sensor of this board on multi-GPU machines.
    pub pci_bus_id: String,
    /// CPU or GPU kernel variants.
    pub class: AdapterClass,
    /// Features flopwatt uses.
    pub features: FeatureSummary,
    /// Key limits.
    pub limits: LimitSummary,
}

impl AdapterSummary {
    fn new(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let class = classify(&info);
        AdapterSummary {
            name: info.name.clone(),
            backend: info.backend.to_str().to_string(),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            device_type: format!("{:?}", info.device_type),
            vendor: info.vendor,
            device_id: info.device,
            pci_bus_id: info.device_pci_bus_id.clone(),
            class,
            features: FeatureSummary::new(adapter.features()),
            limits: LimitSummary::new(&adapter.limits(), &info),
        }
    }
}

fn classify(info: &wgpu::AdapterInfo) -> AdapterClass {
    if info.device_type == wgpu::DeviceType::Cpu || is_software_name(&info.name) {
        AdapterClass::Cpu
    } else {
        AdapterClass::Gpu
    }
}

/// Software rasterisers that some drivers report as a discrete or integrated GPU.
fn is_software_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let software = ["llvmpipe", "lavapipe", "swiftshader", "warp", "softpipe"];
    software.iter().any(|s| name.contains(s))
}

#[cfg(target_arch = "wasm32")]
fn instance_for(opts: &DeviceOptions) -> Result<(wgpu::Instance, wgpu::Backends)> {
    let backends = match &opts.backends {
        Some(list) => parse_backends(list)?,
        None => wgpu::Backends::all(),
    };
    Ok((instance_of(backends), backends))
}

fn instance_of(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    // Validation layers are for wgpu's own debugging; keep them off unless WGPU_* asks.
    desc.flags = wgpu::InstanceFlags::empty().with_env();
    wgpu::Instance::new(desc)
}

/// The adapters `opts` allows, best first. Without a backend list, GL is asked only when no
/// Vulkan, Metal or DX12 adapter matches: starting its EGL display costs about 60-120 ms of
/// every start-up on Linux (docs/host-path.md#start-up) and names the same GPUs again.
#[cfg(not(target_arch = "wasm32"))]
async fn matching_adapters(opts: &DeviceOptions) -> Result<Vec<wgpu::Adapter>> {
    let tiers = match &opts.backends {
        Some(list) => vec![parse_backends(list)?],
        None => vec![wgpu::Backends::PRIMARY, wgpu::Backends::SECONDARY],
    };
    for backends in tiers {
        let adapters = instance_of(backends).enumerate_adapters(backends).await;
        let sorted = sorted_matching(adapters, opts);
        if !sorted.is_empty() {
            return Ok(sorted);
        }
    }
    Ok(Vec::new())
}

/// Lists every adapter the options allow, in preference order.
#[cfg(not(target_arch = "wasm32"))]
pub fn enumerate_adapters(opts: &DeviceOptions) -> Result<Vec<AdapterSummary>> {
    Ok(crate::wait::block_on(matching_adapters(opts))?
        .iter()
        .map(AdapterSummary::new)
        .collect())
}

#[cfg(not(target_arch = "wasm32"))]
fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn backend_rank(b: wgpu::Backend) -> u8 {
    // GL is the last resort: it lacks timestamps inside passes and has the weakest compute.
    match b {
        wgpu::Backend::Gl => 1,
        _ => 0,
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn sorted_matching(mut adapters: Vec<wgpu::Adapter>, opts: &DeviceOptions) -> Vec<wgpu::Adapter> {
    if let Some(want) = &opts.adapter_name {
        let want = want.to_ascii_lowercase();
        adapters.retain(|a| a.get_info().name.to_ascii_lowercase().contains(&want));
    }
    adapters.sort_by_key(|a| {
        let i = a.get_info();
        (backend_rank(i.backend), rank(i.device_type))
    });
    adapters
}

#[cfg(not(target_arch = "wasm32"))]
fn no_adapter(opts: &DeviceOptions) -> Error {
    let mut hint = String::new();
    if let Some(name) = &opts.adapter_name {
        hint.push_str(&format!(
            "no adapter name contains `{name}` (unset WGPU_ADAPTER_NAME or run `flopwatt info` to list adapters); "
        ));
    }
    if opts.backends.is_some() {
        hint.push_str("unset WGPU_BACKEND or name a backend this platform has; ");
    }
    hint.push_str(if cfg!(target_os = "linux") {
        "install a GPU driver, or Mesa's software Vulkan driver with `apt-get install mesa-vulkan-drivers`"
    } else {
        "install or update the GPU driver"
    });
    Error::NoAdapter {
        backends: opts.backends.clone(),
        hint,
    }
}

/// Features flopwatt asks for when the adapter has them.
fn wanted_features() -> wgpu::Features {
    wgpu::Features::TIMESTAMP_QUERY
        | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
        | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
        | wgpu::Features::SHADER_F16
        | wgpu::Features::SUBGROUP
        | wgpu::Features::PIPELINE_STATISTICS_QUERY
        | wgpu::Features::PIPELINE_CACHE
}

/// What building one pipeline cost this process (see [`Device::pipeline_builds`]).
#[derive(Clone, Debug, Serialize)]
pub struct PipelineBuild {
    /// The kernel's name (`matmul.cpu_register`, ...).
    pub name: String,
    /// Size of its WGSL source.
    pub source_bytes: usize,
    /// Validation, wgpu's shader module and pipeline creation (naga, the backend's
    /// translation, the driver's compile), in milliseconds, not counting a wait for a free
    /// build thread. Builds run side by side, so their sum can exceed the wall time they took.
    /// Drivers that compile on first use (lavapipe's LLVM) put the rest into the pipeline's
    /// first dispatch.
    pub build_ms: f64,
}

pub(crate) struct DeviceInner {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) summary: AdapterSummary,
    pub(crate) features: wgpu::Features,
    pub(crate) limits: wgpu::Limits,
    pub(crate) pool: BufferPool,
    pipelines: Mutex<HashMap<PipelineKey, Arc<Pipeline>>>,
    /// Pipelines by a kernel family's own small key (see [`Device::kernel_pipeline`]).
    kernels: Mutex<HashMap<String, Arc<Pipeline>>>,
    builds: Mutex<Vec<PipelineBuild>>,
    #[cfg(not(target_arch = "wasm32"))]
    pipeline_cache: Option<crate::pipeline_cache::PersistedCache>,
    uncaptured: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct PipelineKey {
    source: Arc<str>,
    entry: String,
}

/// An opened GPU device: the queue, its features and limits, and the caches built on it.
///
/// Cheap to clone (an `Arc`), `Send + Sync`, and usable from several threads at once.
#[derive(Clone)]
pub struct Device {
    pub(crate) inner: Arc<DeviceInner>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("adapter", &self.inner.summary.name)
            .field("backend", &self.inner.summary.backend)
            .finish()
    }
}

impl Device {
    /// Opens the best adapter allowed by `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new() -> Result<Self> {
        Self::with_options(&DeviceOptions::from_env()?)
    }

    /// Opens the best adapter allowed by `opts`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn with_options(opts: &DeviceOptions) -> Result<Self> {
        crate::wait::block_on(Self::with_options_async(opts))
    }

    /// Opens the `index`-th adapter that `opts` allows, in the order of [`enumerate_adapters`]
    /// (one process per GPU: the process's local rank picks among identical adapters, which
    /// a name cannot tell apart).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn with_adapter_index(opts: &DeviceOptions, index: usize) -> Result<Self> {
        let mut sorted = crate::wait::block_on(matching_adapters(opts))?;
        if sorted.is_empty() {
            return Err(no_adapter(opts));
        }
        if index >= sorted.len() {
            return Err(Error::invalid(
                "device",
                format!(
                    "adapter index {index} asked for, but only {} adapters are visible (run `flopwatt info`)",
                    sorted.len()
                ),
            ));
        }
        let adapter = sorted.swap_remove(index);
        crate::wait::block_on(Self::from_adapter_async(adapter, opts))
    }

    /// Opens a device on a given adapter with every useful feature and the adapter's own limits.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_adapter(adapter: wgpu::Adapter) -> Result<Self> {
        crate::wait::block_on(Self::from_adapter_async(adapter, &DeviceOptions::default()))
    }

    /// [`Device::new`] without blocking: the only way to open a device in the browser.
    pub async fn new_async() -> Result<Self> {
        Self::with_options_async(&DeviceOptions::from_env()?).await
    }

    /// Opens the best adapter allowed by `opts` without blocking. In the browser there is
    /// one WebGPU adapter to ask for (no enumeration); the high-performance one is requested.
    pub async fn with_options_async(opts: &DeviceOptions) -> Result<Self> {
        #[cfg(not(target_arch = "wasm32"))]
        let adapter = matching_adapters(opts)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| no_adapter(opts))?;
        #[cfg(target_arch = "wasm32")]
        let adapter = {
            let (instance, _) = instance_for(opts)?;
            instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::HighPerformance,
                    ..Default::default()
                })
                .await
                .map_err(|e| Error::NoAdapter {
                    backends: Some("webgpu".into()),
                    hint: format!(
                        "the browser gave no WebGPU adapter ({e}); Chromium needs \
                         --enable-unsafe-webgpu where WebGPU is not on by default"
                    ),
                })?
        };
        Self::from_adapter_async(adapter, opts).await
    }

    /// Opens a device on a given adapter without blocking, with `opts`' limits and adapter
    /// class (its adapter selection is not used: the adapter is given).
    pub async fn from_adapter_async(adapter: wgpu::Adapter, opts: &DeviceOptions) -> Result<Self> {
        let webgpu_limits = opts.webgpu_limits;
        let mut summary = AdapterSummary::new(&adapter);
        if let Some(class) = opts.adapter_class {
            summary.class = class;
        }
        let features = adapter.features() & wanted_features();
        // The adapter's real limits, not WebGPU's defaults (128 MiB storage bindings etc.),
        // unless asked to behave like a browser adapter.
        let limits = if webgpu_limits {
            wgpu::Limits::defaults()
        } else {
            adapter.limits()
        };
        summary.limits = LimitSummary::new(&limits, &adapter.get_info());
        let desc = wgpu::DeviceDescriptor {
            label: Some("flopwatt"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) =
            adapter
                .request_device(&desc)
                .await
                .map_err(|e| Error::RequestDevice {
                    adapter: summary.name.clone(),
                    reason: e.to_string(),
                })?;
        // wgpu's default handler panics on errors nobody captured; keep them as values instead.
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let pool = BufferPool::new(limits.max_buffer_size);
        #[cfg(not(target_arch = "wasm32"))]
        let pipeline_cache =
            crate::pipeline_cache::PersistedCache::open(&device, &adapter.get_info(), features);
        Ok(Device {
            inner: Arc::new(DeviceInner {
                device,
                queue,
                summary,
                features,
                limits,
                pool,
                pipelines: Mutex::new(HashMap::new()),
                kernels: Mutex::new(HashMap::new()),
                builds: Mutex::new(Vec::new()),
                #[cfg(not(target_arch = "wasm32"))]
                pipeline_cache,
                uncaptured,
            }),
        })
    }

    /// The wgpu device.
    pub fn wgpu_device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    /// The wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.inner.queue
    }

    /// What the adapter is and can do.
    pub fn summary(&self) -> &AdapterSummary {
        &self.inner.summary
    }

    /// Features enabled on the device.
    pub fn features(&self) -> wgpu::Features {
        self.inner.features
    }

    /// Limits of the device (the adapter's own).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.inner.limits
    }

    /// CPU-like or GPU-like: picks kernel variants.
    pub fn class(&self) -> AdapterClass {
        self.inner.summary.class
    }

    /// Whether f16 storage and arithmetic are available in shaders.
    pub fn has_f16(&self) -> bool {
        self.inner.features.contains(wgpu::Features::SHADER_F16)
    }

    /// The best timing tier of this device.
    pub fn timing_tier(&self) -> TimingTier {
        TimingTier::from_features(self.inner.features)
    }

    /// Whether two handles refer to the same opened device.
    pub fn same(&self, other: &Device) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Compiles (once per device) a compute pipeline from WGSL source and entry point; its
    /// bindings must all be in group 0.
    ///
    /// Identical source + entry share one pipeline; errors come back as values. The module
    /// keeps all of wgpu's run-time checks (for WGSL that is not flopwatt's own), and it is
    /// built before this returns.
    pub fn pipeline(&self, name: &str, source: &str, entry: &str) -> Result<Arc<Pipeline>> {
        self.build_pipeline(name, source, entry, false)
    }

    /// [`Device::pipeline`] for flopwatt's own kernels: built on a worker thread (natively;
    /// [`Pipeline::compute`] waits for it), and without naga's loop-bounding counters. Every
    /// loop in them runs to a bound the host checked (a size, a stride of at least 1), and the
    /// counters cost lavapipe about a third of a model's pipeline build time
    /// (docs/host-path.md#kernel-compile-cost). Bounds and division checks stay.
    pub(crate) fn own_pipeline(
        &self,
        name: &str,
        source: &str,
        entry: &str,
    ) -> Result<Arc<Pipeline>> {
        self.build_pipeline(name, source, entry, true)
    }

    fn build_pipeline(
        &self,
        name: &str,
        source: &str,
        entry: &str,
        own: bool,
    ) -> Result<Arc<Pipeline>> {
        let key = PipelineKey {
            source: Arc::from(source),
            entry: entry.to_string(),
        };
        if let Some(p) = self
            .inner
            .pipelines
            .lock()
            .expect("pipeline cache")
            .get(&key)
        {
            return Ok(p.clone());
        }
        let p = crate::pipeline::build(self, name, source, entry, own)?;
        self.inner
            .pipelines
            .lock()
            .expect("pipeline cache")
            .insert(key, p.clone());
        Ok(p)
    }

    /// The persisted pipeline cache to build through, if any.
    pub(crate) fn pipeline_cache_for_build(&self) -> Option<&wgpu::PipelineCache> {
        #[cfg(not(target_arch = "wasm32"))]
        return self.inner.pipeline_cache.as_ref().map(|c| c.for_build());
        #[cfg(target_arch = "wasm32")]
        None
    }

    /// Notes what one pipeline's build cost (see [`Device::pipeline_builds`]).
    pub(crate) fn record_build(&self, build: PipelineBuild) {
        if let Ok(mut b) = self.inner.builds.lock() {
            b.push(build);
        }
    }

    /// The pipeline a kernel family names by `key` (its variant and constants, e.g.
    /// `"matmul CpuRegister 32x16 .."`), building the source with `source` (WGSL and entry
    /// point) only the first time: a run that reuses a kernel neither generates nor hashes
    /// its source. `key` must determine the source exactly.
    pub(crate) fn kernel_pipeline(
        &self,
        name: &str,
        key: &str,
        source: impl FnOnce() -> Result<(String, String)>,
    ) -> Result<Arc<Pipeline>> {
        if let Some(p) = self.inner.kernels.lock().expect("kernel cache").get(key) {
            return Ok(p.clone());
        }
        let (src, entry) = source()?;
        let p = self.own_pipeline(name, &src, &entry)?;
        self.inner
            .kernels
            .lock()
            .expect("kernel cache")
            .insert(key.to_string(), p.clone());
        Ok(p)
    }

    /// Every pipeline this device has built, in order, with what each cost.
    pub fn pipeline_builds(&self) -> Vec<PipelineBuild> {
        self.inner
            .builds
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default()
    }

    /// Writes wgpu's pipeline cache to flopwatt's cache directory now, where the backend has
    /// one (Vulkan) and `FLOPWATT_PIPELINE_CACHE` is not `off`; otherwise does nothing. It is
    /// also written when the last handle to the device is dropped.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save_pipeline_cache(&self) -> Result<()> {
        match &self.inner.pipeline_cache {
            Some(c) => c.save().map_err(|source| Error::Io {
                path: c.path().display().to_string(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// Number of distinct pipelines compiled so far.
    pub fn pipeline_count(&self) -> usize {
        self.inner.pipelines.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Takes the errors wgpu raised outside any error scope since the last call.
    pub fn take_uncaptured_errors(&self) -> Vec<String> {
        self.inner
            .uncaptured
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> Result<()> {
        self.inner
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Gpu {
                context: "waiting for the queue".into(),
                message: e.to_string(),
            })
    }

    /// Bytes the buffer pool holds for reuse (not in use by any tensor).
    pub fn pooled_bytes(&self) -> u64 {
        self.inner.pool.idle_bytes()
    }

    /// Bytes of all device buffers the pool has created and not yet freed.
    pub fn allocated_bytes(&self) -> u64 {
        self.inner.pool.allocated_bytes()
    }

    /// Checks a storage binding of `bytes` against the device limits.
    pub fn check_binding(&self, what: &str, bytes: u64) -> Result<()> {
        let l = &self.inner.limits;
        if bytes > l.max_buffer_size {
            return Err(Error::TooLarge {
                what: what.to_string(),
                bytes,
                limit: "max_buffer_size",
                max: l.max_buffer_size,
            });
        }
        if bytes > l.max_storage_buffer_binding_size {
            return Err(Error::TooLarge {
                what: what.to_string(),
                bytes,
                limit: "max_storage_buffer_binding_size",
                max: l.max_storage_buffer_binding_size,
            });
        }
        Ok(())
    }
}

impl From<&AdapterSummary> for flopwatt_energy::AdapterKey {
    fn from(a: &AdapterSummary) -> Self {
        flopwatt_energy::AdapterKey {
            name: a.name.clone(),
            vendor: a.vendor,
            device_type: a.device_type.clone(),
            // What the hardware is, not the kernel class a user may have forced.
            cpu: a.device_type == format!("{:?}", wgpu::DeviceType::Cpu)
                || is_software_name(&a.name),
            pci_bus_id: a.pci_bus_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_tiers_serialise_as_their_labels() {
        for t in [
            TimingTier::InsidePasses,
            TimingTier::PassBoundaries,
            TimingTier::WallClock,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.label());
        }
    }

    #[test]
    fn backend_names_parse() {
        assert_eq!(parse_backends("vulkan").unwrap(), wgpu::Backends::VULKAN);
        assert_eq!(
            parse_backends("Metal, dx12").unwrap(),
            wgpu::Backends::METAL | wgpu::Backends::DX12
        );
        assert!(matches!(
            parse_backends("cuda"),
            Err(Error::UnknownBackend { .. })
        ));
    }

    #[test]
    fn device_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Device>();
    }

    #[test]
    fn timing_tiers_order() {
        use wgpu::Features as F;
        assert_eq!(TimingTier::from_features(F::empty()), TimingTier::WallClock);
        assert_eq!(
            TimingTier::from_features(F::TIMESTAMP_QUERY),
            TimingTier::PassBoundaries
        );
        assert_eq!(
            TimingTier::from_features(F::TIMESTAMP_QUERY | F::TIMESTAMP_QUERY_INSIDE_PASSES),
            TimingTier::InsidePasses
        );
    }
}
