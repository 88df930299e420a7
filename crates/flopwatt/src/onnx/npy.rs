//! `.npy` read and write (format versions 1.0-3.0): f32, f64, i64, i32 and bool, C order,
//! little endian. Anything else (big endian, Fortran order, object arrays, other dtypes, a
//! header or data that does not add up) is an [`Error::Npy`] naming the file.

use std::path::Path;

use super::Data;
use crate::error::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// An n-dimensional array as stored in a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Shape (empty = scalar).
    pub shape: Vec<usize>,
    /// Elements in C order.
    pub data: Data,
}

impl Array {
    /// An array of `shape` from its elements in C order; a count that does not match the
    /// shape is an error.
    pub fn new(shape: Vec<usize>, data: Data) -> Result<Self> {
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .unwrap_or(usize::MAX);
        if n != data.len() {
            return Err(Error::DataLength {
                shape,
                expected: n,
                got: data.len(),
            });
        }
        Ok(Array { shape, data })
    }

    /// A float32 array (see [`Array::new`]).
    pub fn from_f32(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        Self::new(shape, Data::F32(data))
    }

    /// An int64 array, e.g. token ids (see [`Array::new`]).
    pub fn from_i64(shape: Vec<usize>, data: Vec<i64>) -> Result<Self> {
        Self::new(shape, Data::I64(data))
    }

    /// An int32 array (see [`Array::new`]).
    pub fn from_i32(shape: Vec<usize>, data: Vec<i32>) -> Result<Self> {
        Self::new(shape, Data::I32(data))
    }

    /// A bool array, e.g. a mask (see [`Array::new`]).
    pub fn from_bool(shape: Vec<usize>, data: Vec<bool>) -> Result<Self> {
        Self::new(shape, Data::Bool(data))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements as f32 (integers converted, bools as 0/1).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            Data::F32(v) => v.clone(),
            Data::F64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f32).collect(),
            Data::Bool(v) => v.iter().map(|&x| x as u8 as f32).collect(),
        }
    }

    /// The elements as f64 (integers converted, bools as 0/1).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.data.to_f64_vec()
    }
}

fn npy_err(path: &str, message: impl std::fmt::Display) -> Error {
    Error::Npy {
        path: path.to_string(),
        message: message.to_string(),
    }
}

/// Reads a `.npy` file.
pub fn read(path: impl AsRef<Path>) -> Result<Array> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    from_bytes(&bytes, &path.display().to_string())
}

/// Parses `.npy` bytes; `path` names the source in errors.
pub fn from_bytes(bytes: &[u8], path: &str) -> Result<Array> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(npy_err(path, "not a .npy file (bad magic)"));
    }
    let major = bytes[6];
    let (hlen, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(npy_err(path, "truncated header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(npy_err(path, format!("unsupported format version {v}"))),
    };
    let end = start
        .checked_add(hlen)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| npy_err(path, "truncated header"))?;
    let header =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| npy_err(path, "header is not text"))?;
    let descr = dict_str(header, "descr").ok_or_else(|| npy_err(path, "header has no 'descr'"))?;
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| npy_err(path, "header has no 'fortran_order'"))?;
    if fortran.starts_with("True") {
        return Err(npy_err(
            path,
            "Fortran-order arrays are not supported; save with np.ascontiguousarray",
        ));
    }
    if !fortran.starts_with("False") {
        return Err(npy_err(path, "bad 'fortran_order'"));
    }
    let shape = dict_value(header, "shape")
        .and_then(parse_tuple)
        .ok_or_else(|| npy_err(path, "header has no valid 'shape'"))?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| npy_err(path, format!("shape {shape:?} overflows")))?;
    let (kind, size) = match descr {
        "<f4" | "=f4" => ('f', 4),
        "<f8" | "=f8" => ('d', 8),
        "<i8" | "=i8" => ('l', 8),
        "<i4" | "=i4" => ('i', 4),
        "|b1" | "<b1" | "=b1" => ('b', 1),
        d => {
            return Err(npy_err(
                path,
                format!("dtype '{d}' is not supported (use little-endian float32, float64, int64, int32 or bool)"),
            ))
        }
    };
    let body = &bytes[end..];
    if Some(body.len()) != n.checked_mul(size) {
        return Err(npy_err(
            path,
            format!(
                "shape {shape:?} of '{descr}' needs {} bytes of data, the file has {}",
                n.saturating_mul(size),
                body.len()
            ),
        ));
    }
    let data = match kind {
        'f' => Data::F32(
            body.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("chunk of 4")))
                .collect(),
        ),
        'd' => Data::F64(
            body.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunk of 8")))
                .collect(),
        ),
        'l' => Data::I64(
            body.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("chunk of 8")))
                .collect(),
        ),
        'i' => Data::I32(
            body.chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("chunk of 4")))
                .collect(),
        ),
        _ => Data::Bool(
            body.iter()
                .map(|&b| match b {
                    0 => Ok(false),
                    1 => Ok(true),
                    v => Err(npy_err(path, format!("bool element is {v}, not 0 or 1"))),
                })
                .collect::<Result<_>>()?,
        ),
    };
    Ok(Array { shape, data })
}

/// The text after `'key':` in a Python dict literal.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    for q in ['\'', '"'] {
        let pat = format!("{q}{key}{q}");
        if let Some(i) = header.find(&pat) {
            let rest = header[i + pat.len()..].trim_start();
            return Some(rest.strip_prefix(':')?.trim_start());
        }
    }
    None
}

fn dict_str<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let v = dict_value(header, key)?;
    let q = v.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let v = &v[1..];
    Some(&v[..v.find(q)?])
}

fn parse_tuple(v: &str) -> Option<Vec<usize>> {
    let inner = v.strip_prefix('(')?;
    let inner = &inner[..inner.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>().ok())
        .collect()
}

/// Encodes an array as `.npy` bytes (version 1.0, or 2.0 for a header over 64 KiB).
pub fn to_bytes(a: &Array) -> Result<Vec<u8>> {
    let n: usize = a.shape.iter().product();
    if n != a.data.len() {
        return Err(Error::DataLength {
            shape: a.shape.clone(),
            expected: n,
            got: a.data.len(),
        });
    }
    let descr = match &a.data {
        Data::F32(_) => "<f4",
        Data::F64(_) => "<f8",
        Data::I64(_) => "<i8",
        Data::I32(_) => "<i4",
        Data::Bool(_) => "|b1",
    };
    let shape = match a.shape.len() {
        1 => format!("({},)", a.shape[0]),
        _ => format!(
            "({})",
            a.shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let v1 = header.len() + 11 <= u16::MAX as usize;
    let pre = if v1 { 10 } else { 12 };
    // numpy aligns the data start to 64 bytes; the header ends with a newline.
    while !(pre + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(pre + header.len() + n * 8);
    out.extend_from_slice(MAGIC);
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    match &a.data {
        Data::F32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::F64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::I32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::Bool(v) => out.extend(v.iter().map(|&b| b as u8)),
    }
    Ok(out)
}

/// Writes an array to a `.npy` file.
pub fn write(path: impl AsRef<Path>, a: &Array) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, to_bytes(a)?).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}
