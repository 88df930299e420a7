//! The one error type of flopwatt.
//!
//! Every failure a user can cause (a bad shape, a missing adapter, a buffer over a device
//! limit, an unreadable file) is a variant here with the facts needed to fix it, so that no
//! user input can panic the process.

use std::fmt;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors returned by flopwatt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No adapter matched the requested backends / name.
    #[error("no GPU adapter found{}: {hint}", backend_suffix(.backends))]
    NoAdapter {
        /// The backends that were searched, as the user named them (`None` = all).
        backends: Option<String>,
        /// What the user can do about it.
        hint: String,
    },
    /// `WGPU_BACKEND` named something that is not a backend.
    #[error("unknown backend `{name}` in WGPU_BACKEND; use one or more of vulkan, metal, dx12, gl (comma separated)")]
    UnknownBackend {
        /// The offending name.
        name: String,
    },
    /// The adapter refused to create a device.
    #[error("could not open device on adapter `{adapter}`: {reason}")]
    RequestDevice {
        /// Adapter name.
        adapter: String,
        /// Driver / wgpu message.
        reason: String,
    },
    /// A shape is invalid for the op.
    #[error("{op}: {message}")]
    Shape {
        /// The op that rejected the shapes.
        op: &'static str,
        /// What was wrong, with the shapes.
        message: String,
    },
    /// A parameter (axis, epsilon, stride, ...) is invalid for the op.
    #[error("{op}: invalid argument: {message}")]
    InvalidArgument {
        /// The op that rejected the argument.
        op: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The op does not support this dtype.
    #[error("{op}: unsupported dtype {dtype}{}", if .hint.is_empty() { String::new() } else { format!(" ({})", .hint) })]
    UnsupportedDType {
        /// The op.
        op: &'static str,
        /// The dtype given.
        dtype: crate::DType,
        /// What would work instead.
        hint: String,
    },
    /// The adapter lacks a feature the request needs.
    #[error("{what} needs the adapter feature {feature}, which `{adapter}` does not have")]
    MissingFeature {
        /// What was asked for.
        what: String,
        /// The wgpu feature name.
        feature: &'static str,
        /// Adapter name.
        adapter: String,
    },
    /// A buffer would exceed a device limit.
    #[error("{what} needs {bytes} bytes, over the device limit {limit} = {max} bytes; split the work or use a smaller shape")]
    TooLarge {
        /// What was being allocated.
        what: String,
        /// Bytes requested.
        bytes: u64,
        /// Name of the wgpu limit.
        limit: &'static str,
        /// Value of the limit.
        max: u64,
    },
    /// A data length does not match the shape.
    #[error("data has {got} elements but shape {shape:?} needs {expected}")]
    DataLength {
        /// Shape requested.
        shape: Vec<usize>,
        /// Elements the shape needs.
        expected: usize,
        /// Elements given.
        got: usize,
    },
    /// A shader failed naga validation or pipeline creation.
    #[error("shader `{name}` is invalid: {message}")]
    Shader {
        /// Kernel name.
        name: String,
        /// naga / wgpu message.
        message: String,
    },
    /// wgpu reported an error (validation, out of memory, device lost).
    #[error("GPU error during {context}: {message}")]
    Gpu {
        /// What flopwatt was doing.
        context: String,
        /// The wgpu message.
        message: String,
    },
    /// Reading back from the GPU failed.
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
    /// Tensors on two different devices were mixed.
    #[error("{op}: tensors live on different devices")]
    DeviceMismatch {
        /// The op.
        op: &'static str,
    },
    /// An I/O error with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A result disagreed with the reference implementation.
    #[error("{what}: result differs from the f64 reference ({detail})")]
    Mismatch {
        /// What was checked.
        what: String,
        /// The measured error and the tolerance.
        detail: String,
    },
    /// An ONNX node cannot be loaded or run: unsupported op, bad attribute or input.
    #[error("ONNX node `{node}` ({op}, opset {opset}): {message}")]
    Onnx {
        /// Node name (or `OpType#index` where the file gives none).
        node: String,
        /// Operator type, with its domain when not the default one.
        op: String,
        /// Default-domain opset the model imports.
        opset: i64,
        /// What is wrong.
        message: String,
    },
    /// A model file is unreadable as a whole: malformed protobuf, missing graph, old opset,
    /// unsupported tensor storage.
    #[error("model{}: {message}", path_suffix(.path))]
    Model {
        /// The file (or `<bytes>` for in-memory models).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `.npy` file is unreadable or holds an unsupported dtype or layout.
    #[error("npy {path}: {message}")]
    Npy {
        /// The file (or `<bytes>`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A power source could not be read.
    #[error("power source {source_name}: {message}")]
    Power {
        /// Which source.
        source_name: String,
        /// Why.
        message: String,
    },
}

/// ` <path>` for a real path; nothing for the `<model>`/`<bytes>` placeholders of models
/// that came from memory, which would only read as a literal `model <model>`.
fn path_suffix(path: &str) -> String {
    if path.is_empty() || (path.starts_with('<') && path.ends_with('>')) {
        String::new()
    } else {
        format!(" {path}")
    }
}

fn backend_suffix(b: &Option<String>) -> String {
    match b {
        Some(b) => format!(" for WGPU_BACKEND={b}"),
        None => String::new(),
    }
}

impl Error {
    /// Shorthand for a shape error.
    pub fn shape(op: &'static str, message: impl fmt::Display) -> Self {
        Error::Shape {
            op,
            message: message.to_string(),
        }
    }

    /// Shorthand for an invalid-argument error.
    pub fn invalid(op: &'static str, message: impl fmt::Display) -> Self {
        Error::InvalidArgument {
            op,
            message: message.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_errors_name_a_path_only_when_there_is_one() {
        let e = |path: &str| Error::Model {
            path: path.into(),
            message: "bad".into(),
        };
        assert_eq!(e("<model>").to_string(), "model: bad");
        assert_eq!(e("m.onnx").to_string(), "model m.onnx: bad");
    }
}
