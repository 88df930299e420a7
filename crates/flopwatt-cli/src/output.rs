//! Result files: `-` means standard output; a file is written whole at the end of the run
//! (a temporary file beside it, then renamed), so a failed or interrupted run leaves no
//! empty or half-written file behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use flopwatt::Error;

/// Whether `path` names standard output.
pub fn is_stdout(path: &str) -> bool {
    path == "-"
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A temporary file name beside `path` that no other process picks.
fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Checks, before a long run, that `path` (the value of `flag`) can be written, and leaves
/// nothing behind: its folder exists and takes a new file, and it is not a folder itself.
pub fn check_writable(flag: &str, path: &str) -> flopwatt::Result<()> {
    if is_stdout(path) {
        return Ok(());
    }
    let p = Path::new(path);
    if p.is_dir() {
        return Err(Error::invalid(
            "output",
            format!("{flag} {path}: is a folder; name a file in it"),
        ));
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::invalid(
            "output",
            format!(
                "{flag} {path}: folder {} does not exist; create it first",
                dir.display()
            ),
        ));
    }
    let probe = temp_beside(p);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| io_err(&probe, e))?;
    std::fs::remove_file(&probe).map_err(|e| io_err(&probe, e))
}

/// Checks that at most one of the `(flag, path)` outputs is standard output.
pub fn one_stdout(outputs: &[(&str, Option<&str>)]) -> flopwatt::Result<()> {
    let flags: Vec<&str> = outputs
        .iter()
        .filter(|(_, p)| p.is_some_and(is_stdout))
        .map(|(f, _)| *f)
        .collect();
    if flags.len() > 1 {
        return Err(Error::invalid(
            "output",
            format!(
                "{} all write to standard output (`-`); give all but one a file name",
                flags.join(" and ")
            ),
        ));
    }
    Ok(())
}

/// Writes `text` to standard output (`-`) or replaces the file `path` whole.
pub fn write_atomic(path: &str, text: &str) -> flopwatt::Result<()> {
    if is_stdout(path) {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| io_err(Path::new("<stdout>"), e));
    }
    let p = Path::new(path);
    let tmp = temp_beside(p);
    let written = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, p));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(p, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_leaves_nothing_and_names_missing_folders() {
        let dir = std::env::temp_dir().join(format!("fw-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("r.json");
        let f = f.to_str().unwrap();
        check_writable("--json", f).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no file left");
        let e = check_writable("--json", &format!("{}/no/such/r.json", dir.display()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist") && e.contains("--json"), "{e}");
        let e = check_writable("--csv", dir.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("folder"), "{e}");
        write_atomic(f, "x").unwrap();
        write_atomic(f, "yz").unwrap();
        assert_eq!(std::fs::read_to_string(f).unwrap(), "yz");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        assert!(one_stdout(&[("--json", Some("-")), ("--csv", Some("-"))]).is_err());
        assert!(one_stdout(&[("--json", Some("-")), ("--csv", Some("a"))]).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
