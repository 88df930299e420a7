//! Reading user-named files with a size cap, and writing outputs without clobbering or
//! following what is already in the output directory.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flopwatt::Error;

/// The largest model file `run` reads: protobuf messages cannot exceed 2 GiB, so a larger
/// file cannot be a single ONNX model.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// The largest `.npy` input `run` reads: 4 GiB of data plus a header, more than any one
/// buffer a WebGPU device binds.
pub const MAX_NPY_BYTES: u64 = (4 << 30) + (1 << 16);

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads a regular file of at most `limit` bytes. Devices, pipes and directories are refused
/// before any read (`/dev/zero` would never end), and the read stops one byte past the limit
/// so a file that grows meanwhile cannot exhaust memory either.
pub fn read_capped(path: &Path, what: &'static str, limit: u64) -> flopwatt::Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let meta = file.metadata().map_err(|e| io(path, e))?;
    if !meta.is_file() {
        return Err(Error::invalid(
            what,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let too_big = || {
        Error::invalid(
            what,
            format!(
                "{} is over the {limit}-byte limit for a {what} file",
                path.display()
            ),
        )
    };
    if meta.len() > limit {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

/// The file name an output is written under: its name with anything but ASCII letters,
/// digits, `.`, `_` and `-` replaced by `_`, plus `.npy`.
fn file_name(output: &str) -> String {
    let stem: String = output
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}.npy")
}

/// The path of each output under `dir`, checked before anything runs: an empty directory
/// name, or two outputs that would share a file (the same name, names that sanitise alike
/// such as `a/b` and `a_b`, or names that differ only in case, which macOS and Windows file
/// systems do not tell apart) are errors naming them.
pub fn output_paths(dir: &str, outputs: &[String]) -> flopwatt::Result<Vec<PathBuf>> {
    if dir.is_empty() {
        return Err(Error::invalid(
            "run",
            "--output-dir is empty; name a directory (`.` for the current one)",
        ));
    }
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut paths = Vec::with_capacity(outputs.len());
    for o in outputs {
        let name = file_name(o);
        if let Some(other) = seen.insert(name.to_ascii_lowercase(), o) {
            return Err(Error::invalid(
                "run",
                format!("outputs `{other}` and `{o}` would both be written to {name}"),
            ));
        }
        paths.push(Path::new(dir).join(name));
    }
    Ok(paths)
}

/// Writes `bytes` to `path` through a new temporary file in the same directory and a rename:
/// a reader never sees half a file, and a symlink already at `path` is replaced, not
/// followed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> flopwatt::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{base}.{}.tmp", std::process::id()));
    // create_new refuses anything already there, a symlink included.
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_that_share_a_file_are_refused() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(output_paths("d", &names(&["a/b", "a_b"])).is_err());
        assert!(output_paths("d", &names(&["y", "y"])).is_err());
        assert!(output_paths("d", &names(&["Y", "y"])).is_err());
        assert!(output_paths("", &names(&["y"])).is_err());
        let p = output_paths("d", &names(&["a/b", "c"])).unwrap();
        assert_eq!(p, [Path::new("d/a_b.npy"), Path::new("d/c.npy")]);
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_oversized_files_are_refused_before_reading() {
        let e = read_capped(Path::new("/dev/zero"), "model", 1 << 20).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = std::env::temp_dir().join(format!("flopwatt-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("big");
        std::fs::write(&f, [0u8; 100]).unwrap();
        assert!(read_capped(&f, "model", 99).is_err());
        assert_eq!(read_capped(&f, "model", 100).unwrap().len(), 100);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_output_path_is_replaced_not_followed() {
        let dir = std::env::temp_dir().join(format!("flopwatt-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let out = dir.join("y.npy");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        write_atomic(&out, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
