//! Writing files so that a reader never sees half of one.

use std::io::Write;
use std::path::Path;

use crate::Error;

/// Writes `bytes` to `path` atomically: into a temporary file in the same folder, flushed to
/// disk, then renamed over `path`. On any failure `path` is untouched and no temporary file is
/// left behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".procurize-")
        .suffix(".partial")
        .tempfile_in(folder)
        .map_err(|e| Error::io("cannot create a temporary file in", folder, e))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| Error::io("cannot write", temp.path(), e))?;
    temp.persist(path)
        .map_err(|e| Error::io("cannot write", path, e.error))?;
    Ok(())
}

/// Removes the temporary files [`write_atomic`] leaves in `folder` when its process is killed
/// between creating one and renaming it (`.procurize-*.partial`); nothing else is touched, and
/// sub-folders are not entered. Only for a folder no other live writer uses. Returns how many
/// were removed; a missing folder has none.
pub fn sweep_partials(folder: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with(".procurize-")
                && name.ends_with(".partial")
                && entry.file_type().is_ok_and(|t| t.is_file())
        })
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("out.json");
        write_atomic(&path, b"first").expect("write");
        write_atomic(&path, b"second").expect("overwrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("no/such/folder/out.json");
        let err = write_atomic(&path, b"x").expect_err("no folder");
        assert!(err.to_string().contains("no/such/folder"), "{err}");
    }

    #[test]
    fn only_the_temporary_files_of_a_killed_writer_are_swept() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join(".procurize-abc123.partial"), b"half").expect("write");
        std::fs::write(dir.path().join("message.json"), b"whole").expect("write");
        std::fs::write(dir.path().join(".other.partial"), b"not ours").expect("write");
        std::fs::create_dir(dir.path().join(".procurize-dir.partial")).expect("mkdir");
        assert_eq!(sweep_partials(dir.path()), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".other.partial", ".procurize-dir.partial", "message.json"]
        );
        assert_eq!(sweep_partials(&dir.path().join("missing")), 0);
    }
}
