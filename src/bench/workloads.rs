//! The workload registry: ids, FLOP and byte counts as design.md section 7 states them, how to
//! build inputs, and how to check the answer against the f64 reference.

use super::{Prepared, Suite, Workload};
use crate::device::Device;
use crate::error::Result;
use crate::exec::Recorder;

/// A [`Prepared`] made of closures.
struct Closures<E, V> {
    encode: E,
    verify: V,
    flops: u64,
    bytes: u64,
}

impl<E, V> Prepared for Closures<E, V>
where
    E: Fn(&mut Recorder) -> Result<()>,
    V: Fn(&Device) -> Result<()>,
{
    fn encode(&self, rec: &mut Recorder) -> Result<()> {
        (self.encode)(rec)
    }
    fn verify(&self, dev: &Device) -> Result<()> {
        (self.verify)(dev)
    }
    fn flops(&self) -> u64 {
        self.flops
    }
    fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[allow(dead_code)]
fn prepared<E, V>(flops: u64, bytes: u64, encode: E, verify: V) -> Box<dyn Prepared>
where
    E: Fn(&mut Recorder) -> Result<()> + 'static,
    V: Fn(&Device) -> Result<()> + 'static,
{
    Box::new(Closures {
        encode,
        verify,
        flops,
        bytes,
    })
}

#[allow(dead_code)]
fn workload(
    id: impl Into<String>,
    variant: Option<&'static str>,
    suite: Suite,
    prepare: impl Fn(&Device) -> Result<Box<dyn Prepared>> + Send + Sync + 'static,
) -> Workload {
    Workload {
        id: id.into(),
        variant,
        suite,
        prepare: Box::new(prepare),
    }
}

/// Every workload, in report order.
pub fn all() -> Vec<Workload> {
    Vec::new()
}
