//! Recording dispatches and submitting them: one command buffer per run, timed or not.
//!
//! Ops append [`Dispatch`]es to a [`Recorder`]; [`Recorder::submit`] encodes them all into
//! one command buffer and one submit. With timing on, each dispatch gets GPU timestamps by
//! the best tier the device has (inside the pass, one pass per dispatch, or, without
//! timestamp queries, one submit per dispatch timed by the wall clock). With timing off
//! nothing extra is encoded.

use crate::time::Instant;
use std::sync::Arc;

use wgpu::util::DeviceExt;

use crate::device::{Device, TimingTier};
use crate::error::{Error, Result};
use crate::profile::{DispatchRecord, RunProfile};

/// Work and traffic of one dispatch, for GFLOP/s and GB/s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Floating-point operations (an FMA counts 2).
    pub flops: u64,
    /// Bytes the kernel must move to and from device memory at least once.
    pub bytes: u64,
}

/// One recorded dispatch.
pub struct Dispatch {
    /// Kernel name, e.g. `matmul.reg4x4`.
    pub kernel: String,
    /// Graph ops it covers (empty for direct op calls).
    pub covers: Vec<String>,
    pipeline: Arc<crate::pipeline::Pipeline>,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
    /// Its cost.
    pub cost: Cost,
}

impl Dispatch {
    /// The workgroup grid it launches (`[x, y, z]`); tests assert kernel shapes with it.
    pub fn workgroups(&self) -> [u32; 3] {
        self.workgroups
    }
}

/// A buffer to bind: the whole buffer (capped at the binding limit).
pub fn bind_whole(device: &Device, buf: &wgpu::Buffer) -> (wgpu::Buffer, u64) {
    let size = buf
        .size()
        .min(device.limits().max_storage_buffer_binding_size);
    (buf.clone(), size)
}

/// Splits a 1-D workgroup count over x and y so no dimension exceeds the device limit.
/// Kernels recover the linear id as `wg.y * num_workgroups.x + wg.x` and bounds-check it.
pub fn grid_1d(device: &Device, workgroups: u64) -> Result<[u32; 3]> {
    let max = device.limits().max_compute_workgroups_per_dimension as u64;
    if workgroups <= max {
        return Ok([workgroups.max(1) as u32, 1, 1]);
    }
    let y = workgroups.div_ceil(max);
    if y > max {
        return Err(Error::shape(
            "dispatch",
            format!(
                "{workgroups} workgroups exceed the device's {} \
                 (max_compute_workgroups_per_dimension squared); use a smaller shape",
                max * max
            ),
        ));
    }
    let x = workgroups.div_ceil(y);
    Ok([x as u32, y as u32, 1])
}

/// A resource bound to one slot of a dispatch's bind group.
#[derive(Clone, Copy, Debug)]
pub enum Bind<'a> {
    /// A storage buffer, bound whole (up to the adapter's binding limit).
    Buffer(&'a wgpu::Buffer),
    /// A texture view (sampled or storage, as the shader declares it).
    Texture(&'a wgpu::TextureView),
}

/// One buffer-to-buffer copy encoded around a run's dispatches (a replayed executable copies
/// its inputs in before them and its outputs out after them, in the same command buffer).
pub(crate) struct BufferCopy {
    pub(crate) src: wgpu::Buffer,
    pub(crate) src_offset: u64,
    pub(crate) dst: wgpu::Buffer,
    pub(crate) dst_offset: u64,
    pub(crate) size: u64,
}

/// Copies encoded before and after the dispatches of one submit.
#[derive(Default)]
pub(crate) struct Copies {
    /// Buffers zeroed first (a replayed recording's check flags).
    pub(crate) clear: Vec<wgpu::Buffer>,
    pub(crate) before: Vec<BufferCopy>,
    pub(crate) after: Vec<BufferCopy>,
}

impl Copies {
    fn encode(enc: &mut wgpu::CommandEncoder, copies: &[BufferCopy]) {
        for c in copies {
            enc.copy_buffer_to_buffer(&c.src, c.src_offset, &c.dst, c.dst_offset, c.size);
        }
    }
}

/// What a recording leaves for replay: its dispatches (pipelines, bind groups and parameter
/// buffers, all built) and the buffers they bind that nothing else holds.
pub(crate) struct Recording {
    pub(crate) dispatches: Vec<Dispatch>,
    /// Run-time checks of the dispatches, cleared and read back by every replay.
    pub(crate) checks: Checks,
    /// Temporaries of the dispatches (held, never read).
    _keep: Vec<crate::tensor::Tensor>,
    /// Pool buffers the recording freed and reused (bound by its dispatches, so they must not
    /// go back to the pool while the recording may be replayed; held, never read).
    _freed: Vec<crate::pool::PooledBuffer>,
}

/// Collects dispatches for one submit.
pub struct Recorder {
    device: Device,
    dispatches: Vec<Dispatch>,
    // Temporaries of recorded dispatches: a pooled buffer dropped before submit could be
    // handed to another thread's tensor and then overwritten by this run.
    keep: Vec<crate::tensor::Tensor>,
    // Run-time checks of recorded dispatches, read back after the run.
    checks: Vec<Check>,
    // The pool scope belongs to the thread that opened it: a recorder must not move.
    _same_thread: std::marker::PhantomData<*const ()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Submission waits for completion, so the scope's buffers are free to share now.
        self.device.inner.pool.end_scope();
    }
}

impl Recorder {
    /// An empty recorder.
    ///
    /// Opens this thread's recording scope on the device's buffer pool (see `pool`): buffers
    /// freed while it is open are reused only by kernel outputs of this recording, until it
    /// is submitted or dropped.
    pub fn new(device: &Device) -> Self {
        device.inner.pool.begin_scope();
        Recorder {
            device: device.clone(),
            dispatches: Vec::new(),
            keep: Vec::new(),
            checks: Vec::new(),
            _same_thread: std::marker::PhantomData,
        }
    }

    /// A zeroed flag buffer for the next recorded dispatch to bind (as
    /// `array<atomic<u32>, 2>`, read-write) and set when it meets an input it cannot compute:
    /// an index out of range, an integer that overflows. Word 0 non-zero means "failed",
    /// word 1 is a value for the message. After the run, [`Recorder::submit`] reads every
    /// flag back and a set one is an [`Error::InvalidArgument`] naming the kernel, the graph
    /// ops its dispatch covers and `what(word 1)`: a kernel cannot return an error, and a
    /// wrong answer must never pass as a result. The browser's untimed `submit` does not
    /// wait for the run and skips the check; `submit_async` checks everywhere.
    pub fn check_flag(
        &mut self,
        what: impl Fn(u32) -> String + Send + Sync + 'static,
    ) -> wgpu::Buffer {
        let flag = self
            .device
            .wgpu_device()
            .create_buffer(&wgpu::BufferDescriptor {
                label: Some("flopwatt-check"),
                size: CHECK_BYTES,
                // COPY_DST: a replayed recording clears its flags at the start of every run.
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
        self.checks.push(Check {
            flag: flag.clone(),
            dispatch: self.dispatches.len(),
            what: Box::new(what),
        });
        flag
    }

    /// Keeps a temporary tensor (scratch, partial results) alive until the run is submitted
    /// and complete, so its pooled buffer is not reused while dispatches still use it.
    pub fn keep_alive(&mut self, t: crate::tensor::Tensor) {
        self.keep.push(t);
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Number of dispatches recorded.
    pub fn len(&self) -> usize {
        self.dispatches.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.dispatches.is_empty()
    }

    /// The recorded dispatches.
    pub fn dispatches(&self) -> &[Dispatch] {
        &self.dispatches
    }

    /// Records a dispatch: storage buffers at bindings 0..n of group 0, then `params` (if any)
    /// as a uniform at binding n.
    pub fn dispatch(
        &mut self,
        kernel: &str,
        pipeline: &Arc<crate::pipeline::Pipeline>,
        storage: &[&wgpu::Buffer],
        params: Option<&[u8]>,
        workgroups: [u32; 3],
        cost: Cost,
    ) -> Result<()> {
        let binds: Vec<(u32, Bind)> = storage
            .iter()
            .enumerate()
            .map(|(i, b)| (i as u32, Bind::Buffer(b)))
            .collect();
        let params = params.map(|p| (storage.len() as u32, p));
        self.dispatch_with(kernel, pipeline, &binds, params, workgroups, cost)
    }

    /// Records a dispatch with resources at explicit bindings of group 0 (textures as well as
    /// buffers) and `params` (if any) as a uniform at the binding given with it.
    pub fn dispatch_with(
        &mut self,
        kernel: &str,
        pipeline: &Arc<crate::pipeline::Pipeline>,
        binds: &[(u32, Bind)],
        params: Option<(u32, &[u8])>,
        workgroups: [u32; 3],
        cost: Cost,
    ) -> Result<()> {
        let dev = self.device.wgpu_device();
        let uniform = params.map(|(slot, p)| {
            let mut padded = p.to_vec();
            padded.resize(p.len().next_multiple_of(16).max(16), 0);
            let buf = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("flopwatt-params"),
                contents: &padded,
                usage: wgpu::BufferUsages::UNIFORM,
            });
            (slot, buf)
        });
        let max_binding = self.device.limits().max_storage_buffer_binding_size;
        let mut entries: Vec<wgpu::BindGroupEntry> = binds
            .iter()
            .map(|(slot, bind)| wgpu::BindGroupEntry {
                binding: *slot,
                resource: match bind {
                    Bind::Buffer(b) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: b,
                        offset: 0,
                        size: wgpu::BufferSize::new(b.size().min(max_binding)),
                    }),
                    Bind::Texture(v) => wgpu::BindingResource::TextureView(v),
                },
            })
            .collect();
        if let Some((slot, u)) = &uniform {
            entries.push(wgpu::BindGroupEntry {
                binding: *slot,
                resource: u.as_entire_binding(),
            });
        }
        // The browser cannot wait for a scope here: its errors reach the uncaptured-error sink
        // and surface at the next submit or readback.
        #[cfg(not(target_arch = "wasm32"))]
        let scope = dev.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind_group = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel),
            layout: pipeline.bind_group_layout(),
            entries: &entries,
        });
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(e) = crate::wait::block_on(scope.pop()) {
            return Err(Error::Gpu {
                context: format!("binding buffers for {kernel}"),
                message: e.to_string(),
            });
        }
        self.dispatches.push(Dispatch {
            kernel: kernel.to_string(),
            covers: Vec::new(),
            pipeline: pipeline.clone(),
            bind_group,
            workgroups,
            cost,
        });
        Ok(())
    }

    /// Marks which graph ops the last recorded dispatch covers.
    pub fn set_covers(&mut self, covers: Vec<String>) {
        if let Some(d) = self.dispatches.last_mut() {
            d.covers = covers;
        }
    }

    /// Ends the recording without submitting it and keeps what replaying it needs; `None` when
    /// this recorder is nested in another open on this thread (the outer one owns the freed
    /// buffers, and its unsubmitted work may still use them).
    pub(crate) fn into_recording(mut self) -> Option<Recording> {
        let freed = self.device.inner.pool.take_scope_free()?;
        Some(Recording {
            dispatches: std::mem::take(&mut self.dispatches),
            checks: Checks(std::mem::take(&mut self.checks)),
            _keep: std::mem::take(&mut self.keep),
            _freed: freed,
        })
    }

    /// Encodes and submits everything; waits for completion. Returns the profile when
    /// `timed`, with per-dispatch GPU times from the best tier available.
    ///
    /// In the browser nothing may block: an untimed run is submitted without waiting (queue
    /// order puts any later readback or submit after it, and errors surface there); a timed
    /// run needs [`Recorder::submit_async`].
    pub fn submit(self, timed: bool) -> Result<Option<RunProfile>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            crate::wait::block_on(self.submit_async(timed))
        }
        #[cfg(target_arch = "wasm32")]
        {
            if timed {
                return Err(Error::invalid(
                    "Recorder::submit",
                    "a timed run must be awaited in the browser: use Recorder::submit_async",
                ));
            }
            submit_no_wait(&self.device, &self.dispatches, &Copies::default());
            Ok(None)
        }
    }

    /// [`Recorder::submit`] without blocking: resolves when the GPU has finished the run.
    pub async fn submit_async(mut self, timed: bool) -> Result<Option<RunProfile>> {
        let checks = Checks(std::mem::take(&mut self.checks));
        let mut copies = Copies::default();
        let readback = checks.read_after(&self.device, &mut copies, false);
        let profile = submit_dispatches(&self.device, &self.dispatches, &copies, timed).await?;
        checks
            .verify(&self.device, readback, &self.dispatches)
            .await?;
        Ok(profile)
    }
}

/// Encodes `dispatches` (with `copies` around them) into one command buffer, submits it and
/// waits for completion; the profile when `timed`, from the best timing tier available.
pub(crate) async fn submit_dispatches(
    device: &Device,
    dispatches: &[Dispatch],
    copies: &Copies,
    timed: bool,
) -> Result<Option<RunProfile>> {
    resolve(dispatches)?;
    if !timed {
        let enc = encode_untimed(device, dispatches, copies);
        finish_and_wait(device, enc).await?;
        return Ok(None);
    }
    let tier = device.timing_tier();
    match tier {
        TimingTier::WallClock => submit_wall_clock(device, dispatches, copies)
            .await
            .map(Some),
        _ => submit_timestamps(device, dispatches, copies, tier)
            .await
            .map(Some),
    }
}

/// Submits `dispatches` without waiting (the browser's untimed run; queue order puts any
/// later readback or submit after it).
#[cfg(target_arch = "wasm32")]
pub(crate) fn submit_no_wait(device: &Device, dispatches: &[Dispatch], copies: &Copies) {
    let enc = encode_untimed(device, dispatches, copies);
    device.queue().submit([enc.finish()]);
}

fn encoder(device: &Device) -> wgpu::CommandEncoder {
    device
        .wgpu_device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("flopwatt-run"),
        })
}

/// Waits for every dispatch's pipeline to be built; the first build error, if any.
pub(crate) fn resolve(dispatches: &[Dispatch]) -> Result<()> {
    dispatches
        .iter()
        .try_for_each(|d| d.pipeline.compute().map(|_| ()))
}

// Callers `resolve` first; a pipeline that failed regardless leaves the dispatch without one,
// which wgpu reports as a validation error of the submit.
fn record(pass: &mut wgpu::ComputePass<'_>, d: &Dispatch) {
    if let Ok(p) = d.pipeline.compute() {
        pass.set_pipeline(p);
    }
    pass.set_bind_group(0, &d.bind_group, &[]);
    pass.dispatch_workgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
}

async fn finish_and_wait(device: &Device, enc: wgpu::CommandEncoder) -> Result<()> {
    let dev = device.wgpu_device();
    let scope = dev.push_error_scope(wgpu::ErrorFilter::Validation);
    device.queue().submit([enc.finish()]);
    // Popping takes effect at once; only the answer is awaited.
    let err = scope.pop().await;
    crate::wait::queue_done(device).await?;
    if let Some(e) = err {
        return Err(Error::Gpu {
            context: "submitting dispatches".into(),
            message: e.to_string(),
        });
    }
    if let Some(e) = device.take_uncaptured_errors().into_iter().next() {
        return Err(Error::Gpu {
            context: "running dispatches".into(),
            message: e,
        });
    }
    Ok(())
}

fn encode_untimed(
    device: &Device,
    dispatches: &[Dispatch],
    copies: &Copies,
) -> wgpu::CommandEncoder {
    let mut enc = encoder(device);
    for buf in &copies.clear {
        enc.clear_buffer(buf, 0, None);
    }
    Copies::encode(&mut enc, &copies.before);
    {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("flopwatt"),
            timestamp_writes: None,
        });
        for d in dispatches {
            record(&mut pass, d);
        }
    }
    Copies::encode(&mut enc, &copies.after);
    enc
}

async fn submit_wall_clock(
    device: &Device,
    dispatches: &[Dispatch],
    copies: &Copies,
) -> Result<RunProfile> {
    let start = Instant::now();
    if !copies.before.is_empty() {
        let mut enc = encoder(device);
        for buf in &copies.clear {
            enc.clear_buffer(buf, 0, None);
        }
        Copies::encode(&mut enc, &copies.before);
        finish_and_wait(device, enc).await?;
    }
    let mut records = Vec::with_capacity(dispatches.len());
    for d in dispatches {
        let mut enc = encoder(device);
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("flopwatt"),
                timestamp_writes: None,
            });
            record(&mut pass, d);
        }
        let t = Instant::now();
        finish_and_wait(device, enc).await?;
        records.push(DispatchRecord::new(
            d,
            t.elapsed().as_nanos() as f64,
            TimingTier::WallClock,
        ));
    }
    if !copies.after.is_empty() {
        let mut enc = encoder(device);
        Copies::encode(&mut enc, &copies.after);
        finish_and_wait(device, enc).await?;
    }
    Ok(RunProfile::new(
        records,
        TimingTier::WallClock,
        start.elapsed().as_nanos() as f64,
    ))
}

async fn submit_timestamps(
    device: &Device,
    dispatches: &[Dispatch],
    copies: &Copies,
    tier: TimingTier,
) -> Result<RunProfile> {
    // wgpu caps a query set at 4096 queries; two per dispatch.
    const PER_SET: usize = 2048;
    let dev = device.wgpu_device();
    let start = Instant::now();
    let mut enc = encoder(device);
    for buf in &copies.clear {
        enc.clear_buffer(buf, 0, None);
    }
    Copies::encode(&mut enc, &copies.before);
    let n = dispatches.len();
    let sets: Vec<wgpu::QuerySet> = (0..n.div_ceil(PER_SET))
        .map(|i| {
            let count = (n - i * PER_SET).min(PER_SET) as u32 * 2;
            dev.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("flopwatt-timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count,
            })
        })
        .collect();
    let resolve = dev.create_buffer(&wgpu::BufferDescriptor {
        label: Some("flopwatt-resolve"),
        size: (n.max(1) * 16) as u64,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let readback = dev.create_buffer(&wgpu::BufferDescriptor {
        label: Some("flopwatt-resolve-read"),
        size: (n.max(1) * 16) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    for (si, chunk) in dispatches.chunks(PER_SET).enumerate() {
        let qs = &sets[si];
        match tier {
            TimingTier::InsidePasses => {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("flopwatt"),
                    timestamp_writes: None,
                });
                for (i, d) in chunk.iter().enumerate() {
                    pass.write_timestamp(qs, 2 * i as u32);
                    record(&mut pass, d);
                    pass.write_timestamp(qs, 2 * i as u32 + 1);
                }
            }
            _ => {
                for (i, d) in chunk.iter().enumerate() {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("flopwatt"),
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: qs,
                            beginning_of_pass_write_index: Some(2 * i as u32),
                            end_of_pass_write_index: Some(2 * i as u32 + 1),
                        }),
                    });
                    record(&mut pass, d);
                }
            }
        }
        let count = chunk.len() as u32 * 2;
        enc.resolve_query_set(qs, 0..count, &resolve, (si * PER_SET * 16) as u64);
    }
    Copies::encode(&mut enc, &copies.after);
    enc.copy_buffer_to_buffer(&resolve, 0, &readback, 0, (n.max(1) * 16) as u64);
    finish_and_wait(device, enc).await?;
    let wall = start.elapsed().as_nanos() as f64;
    let raw = crate::wait::read_buffer(device, &readback).await?;
    let ticks: Vec<u64> = bytemuck::pod_collect_to_vec::<u8, u64>(&raw);
    let period = device.queue().get_timestamp_period() as f64;
    let records = dispatches
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let dt = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period;
            DispatchRecord::new(d, dt, tier)
        })
        .collect();
    Ok(RunProfile::new(records, tier, wall))
}

/// `n` one-invocation dispatches recorded once (pipeline and bind groups made up front) and
/// submitted again and again: wgpu's and the driver's own cost per dispatch, the floor beside
/// which a compiled graph's host time per dispatch is judged (the `dispatch-overhead`
/// workload; `docs/host-path.md`).
pub struct BareDispatches {
    // Read by `run_profiled`, which the browser lacks (a page cannot block on a run).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    device: Device,
    recording: Recording,
}

/// The kernel of [`BareDispatches`]: one invocation that reads a word and writes nothing
/// (a binding the kernel uses, so that the dispatch binds something as real ones do).
const BARE_WGSL: &str = "@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@compute @workgroup_size(1)
fn main() {
    if (x[0] == 0xdeadbeefu) { x[0] = 0u; }
}
";

impl BareDispatches {
    /// Records `n` bare dispatches on `device`.
    pub fn new(device: &Device, n: usize) -> Result<Self> {
        let pipeline = device.own_pipeline("bare", BARE_WGSL, "main")?;
        let word = crate::tensor::Tensor::from_i32(device, &[0], &[1])?;
        let mut rec = Recorder::new(device);
        for _ in 0..n {
            rec.dispatch(
                "bare",
                &pipeline,
                &[word.buffer()],
                None,
                [1, 1, 1],
                Cost::default(),
            )?;
        }
        rec.keep_alive(word);
        let recording = rec.into_recording().ok_or_else(|| {
            Error::invalid(
                "BareDispatches",
                "cannot record inside another open Recorder on this thread; submit it first",
            )
        })?;
        Ok(BareDispatches {
            device: device.clone(),
            recording,
        })
    }

    /// Dispatches per run.
    pub fn len(&self) -> usize {
        self.recording.dispatches.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.recording.dispatches.is_empty()
    }

    /// One timed submit of all of them (encoding included in the profile's wall time).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_profiled(&self) -> Result<RunProfile> {
        crate::wait::block_on(submit_dispatches(
            &self.device,
            &self.recording.dispatches,
            &Copies::default(),
            true,
        ))?
        .ok_or_else(|| Error::invalid("BareDispatches", "timed run returned no profile"))
    }
}

/// Bytes of a check flag: the "failed" word and a value for the message.
const CHECK_BYTES: u64 = 8;

/// A dispatch's run-time check (see [`Recorder::check_flag`]).
struct Check {
    flag: wgpu::Buffer,
    dispatch: usize,
    what: Box<dyn Fn(u32) -> String + Send + Sync>,
}

/// The run-time checks of one recording.
#[derive(Default)]
pub(crate) struct Checks(Vec<Check>);

impl Checks {
    /// Adds to `copies` what reads every flag back at the end of the run, into a staging
    /// buffer of this run's own (`None` without checks), and with `clear`, zeroing the flags
    /// first (a replay's flags keep the last run's values). In the run's own command buffer,
    /// so that concurrent runs of one executable never see each other's flags.
    pub(crate) fn read_after(
        &self,
        device: &Device,
        copies: &mut Copies,
        clear: bool,
    ) -> Option<wgpu::Buffer> {
        if self.0.is_empty() {
            return None;
        }
        let staging = device.wgpu_device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("flopwatt-check-read"),
            size: CHECK_BYTES * self.0.len() as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        for (k, c) in self.0.iter().enumerate() {
            if clear {
                copies.clear.push(c.flag.clone());
            }
            copies.after.push(BufferCopy {
                src: c.flag.clone(),
                src_offset: 0,
                dst: staging.clone(),
                dst_offset: CHECK_BYTES * k as u64,
                size: CHECK_BYTES,
            });
        }
        Some(staging)
    }

    /// After the run: the first flag set becomes an error naming its dispatch's kernel and
    /// the graph ops it covers.
    pub(crate) async fn verify(
        &self,
        device: &Device,
        staging: Option<wgpu::Buffer>,
        dispatches: &[Dispatch],
    ) -> Result<()> {
        let Some(staging) = staging else {
            return Ok(());
        };
        let raw = crate::wait::read_buffer(device, &staging).await?;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&raw);
        for (k, c) in self.0.iter().enumerate() {
            if words[2 * k] != 0 {
                let label = match dispatches.get(c.dispatch) {
                    Some(d) if d.covers.is_empty() => d.kernel.clone(),
                    Some(d) => format!("{} ({})", d.covers.join(", "), d.kernel),
                    None => "a dispatch".into(),
                };
                return Err(Error::invalid(
                    "run",
                    format!("{label}: {}", (c.what)(words[2 * k + 1])),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn grid_split_math() {
        // Pure arithmetic mirror of grid_1d for a 65535 limit.
        let max = 65535u64;
        for w in [1u64, 65535, 65536, 1_000_000, 65535 * 65535] {
            let y = if w <= max { 1 } else { w.div_ceil(max) };
            let x = w.div_ceil(y);
            assert!(x <= max && y <= max && x * y >= w);
        }
    }
}
