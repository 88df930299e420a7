//! Turning a power reading (watts now) into an energy counter (joules so far).
//!
//! hwmon and NVML's `nvmlDeviceGetPowerUsage` report power, not energy. A background thread
//! samples the power every few milliseconds and integrates it with the trapezoid rule; a read
//! between samples adds the last power times the time since the last sample (holding the last
//! value), so readings are available at any instant without waiting for the thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{power_err, Clock, Reading};
use flopwatt_ir::error::Result;

/// How often the sampling thread reads power. amdgpu refreshes `power1_average` about every
/// millisecond and NVML's power every 20-100 ms; 10 ms costs little and follows both closely.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(10);

/// Energy from power samples: trapezoid between samples, hold after the last one.
#[derive(Clone, Debug, Default)]
pub struct Integrator {
    joules: f64,
    last: Option<(f64, f64)>,
}

impl Integrator {
    /// No samples yet: zero joules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample of `watts` taken at `t` seconds (times must not go backwards; a sample
    /// earlier than the last one is ignored rather than subtracting energy).
    pub fn sample(&mut self, t: f64, watts: f64) {
        match self.last {
            Some((t0, w0)) if t >= t0 => {
                self.joules += 0.5 * (w0 + watts) * (t - t0);
                self.last = Some((t, watts));
            }
            Some(_) => {}
            None => self.last = Some((t, watts)),
        }
    }

    /// Joules up to `t` seconds: the integral up to the last sample plus the last power held
    /// until `t` (never less than the integral up to the last sample).
    pub fn joules_at(&self, t: f64) -> f64 {
        match self.last {
            Some((t0, w0)) if t > t0 => self.joules + w0 * (t - t0),
            _ => self.joules,
        }
    }

    /// Joules up to the last sample.
    pub fn joules(&self) -> f64 {
        self.joules
    }
}

#[derive(Debug, Default)]
struct State {
    integ: Integrator,
    error: Option<String>,
}

/// A thread sampling a power reader into an [`Integrator`]; stopped and joined on drop.
pub(crate) struct Sampler {
    name: &'static str,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    clock: Arc<dyn Clock>,
    origin: Instant,
}

impl Sampler {
    /// Takes the first sample now (so an unreadable sensor fails here, not later) and starts
    /// the thread.
    pub(crate) fn start<F>(
        name: &'static str,
        interval: Duration,
        clock: Arc<dyn Clock>,
        mut read_watts: F,
    ) -> Result<Self>
    where
        F: FnMut() -> Result<f64> + Send + 'static,
    {
        let origin = clock.now();
        let first = read_watts()?;
        let state = Arc::new(Mutex::new(State::default()));
        lock(&state).integ.sample(0.0, first);
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, ck) = (state.clone(), stop.clone(), clock.clone());
        let handle = std::thread::Builder::new()
            .name(format!("flopwatt-{name}-sampler"))
            .spawn(move || {
                while !sp.load(Ordering::Relaxed) {
                    std::thread::park_timeout(interval);
                    if sp.load(Ordering::Relaxed) {
                        break;
                    }
                    let w = read_watts();
                    let t = secs(ck.now(), origin);
                    let mut s = lock(&st);
                    match w {
                        Ok(w) => s.integ.sample(t, w),
                        Err(e) => {
                            // Sticky: energy after a gap of unknown length would be a guess.
                            s.error = Some(e.to_string());
                            break;
                        }
                    }
                }
            })
            .map_err(|e| power_err(name, format!("cannot start the sampling thread: {e}")))?;
        Ok(Sampler {
            name,
            state,
            stop,
            handle: Some(handle),
            clock,
            origin,
        })
    }

    /// Joules since start, at now.
    pub(crate) fn read(&self) -> Result<Reading> {
        let s = lock(&self.state);
        if let Some(e) = &s.error {
            return Err(power_err(self.name, format!("sampling stopped: {e}")));
        }
        let at = self.clock.now();
        Ok(Reading {
            joules: s.integ.joules_at(secs(at, self.origin)),
            at,
        })
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

fn secs(t: Instant, origin: Instant) -> f64 {
    t.saturating_duration_since(origin).as_secs_f64()
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // A panic in the sampler thread cannot leave the integrator half-updated (each update is
    // one assignment), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
