//! Writing files so that a reader never sees half of one, and sweeping the temporary files a
//! killed writer leaves behind.
//!
//! Every temporary name carries the writing process's [`process_tag`]
//! (`.procurize-<tag>~<random>.partial`), so that a sweep beside other live writers (replicas
//! sharing a folder) can tell whose a leftover is, and remove only those of writers known to
//! be gone.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::Error;

/// This process's tag in temporary names: its host name (letters, digits, `.` and `-` only),
/// its process ID and a random part, as `<host>_<pid>_<random>`, unique to this process even
/// where every container's process is PID 1. Never contains `~`.
pub fn process_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let host: String = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "procurize".into())
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .take(63)
            .collect();
        format!("{host}_{}_{:08x}", std::process::id(), fastrand::u32(..))
    })
}

/// The prefix of this process's temporary names that start with `kind`
/// (`.procurize-`, `.procurize-archive-`, …): `kind`, the [`process_tag`] and `~`.
pub fn temp_prefix(kind: &str) -> String {
    format!("{kind}{}~", process_tag())
}

/// The tag in a temporary `name` made with [`temp_prefix`]`(kind)`; `None` for a name of
/// another kind or one written before names carried a tag.
pub fn temp_tag<'a>(name: &'a str, kind: &str) -> Option<&'a str> {
    let (tag, _) = name.strip_prefix(kind)?.split_once('~')?;
    Some(tag)
}

/// Writes `bytes` to `path` atomically: into a temporary file in the same folder, flushed to
/// disk, then renamed over `path`. On any failure `path` is untouched and no temporary file is
/// left behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(".procurize-"))
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

/// A temporary file or folder that a writer made and has not yet renamed into place: in
/// progress, or left by a writer killed half-way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// Where it is.
    pub path: PathBuf,
    /// Its writer's [`process_tag`]; `None` for a name without one.
    pub tag: Option<String>,
    /// A folder (removed with what it holds) rather than a file.
    pub folder: bool,
}

impl Leftover {
    /// Removes it; false when that failed (it was renamed into place meanwhile, say).
    pub fn remove(&self) -> bool {
        if self.folder {
            std::fs::remove_dir_all(&self.path).is_ok()
        } else {
            std::fs::remove_file(&self.path).is_ok()
        }
    }
}

/// The entries of `folder` whose names start with `kind` and end with `suffix`, files or
/// (`folders`) folders, with their writers' tags; sub-folders are not entered, and a missing
/// folder has none.
pub fn leftovers(folder: &Path, kind: &str, suffix: &str, folders: bool) -> Vec<Leftover> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let is_folder = entry.file_type().ok()?.is_dir();
            (name.starts_with(kind) && name.ends_with(suffix) && is_folder == folders).then(|| {
                Leftover {
                    path: entry.path(),
                    tag: temp_tag(&name, kind).map(str::to_owned),
                    folder: folders,
                }
            })
        })
        .collect()
}

/// The temporary files [`write_atomic`] has in `folder` (`.procurize-*.partial`).
pub fn partials(folder: &Path) -> Vec<Leftover> {
    leftovers(folder, ".procurize-", ".partial", false)
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
        let found = partials(dir.path());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].remove());
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".other.partial", ".procurize-dir.partial", "message.json"]
        );
        assert!(partials(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn temporary_names_carry_the_process_tag() {
        let tag = process_tag();
        assert!(!tag.contains('~') && !tag.contains('/'), "{tag}");
        assert_eq!(tag, process_tag(), "one tag per process");
        let name = format!("{}abc.partial", temp_prefix(".procurize-"));
        assert_eq!(temp_tag(&name, ".procurize-"), Some(tag));
        assert_eq!(temp_tag(".procurize-abc.partial", ".procurize-"), None);
        assert_eq!(temp_tag(&name, ".procurize-archive-"), None);

        let dir = tempfile::tempdir().expect("dir");
        let live = dir.path().join(".procurize-live_1_00000001~a.partial");
        let gone = dir.path().join(".procurize-gone_2_00000002~b.partial");
        let untagged = dir.path().join(".procurize-old.partial");
        for path in [&live, &gone, &untagged] {
            std::fs::write(path, b"half").expect("write");
        }
        let mut tags: Vec<Option<String>> =
            partials(dir.path()).into_iter().map(|l| l.tag).collect();
        tags.sort();
        assert_eq!(
            tags,
            [
                None,
                Some("gone_2_00000002".into()),
                Some("live_1_00000001".into())
            ]
        );
    }
}
