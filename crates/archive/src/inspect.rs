//! Looking inside a downloaded report archive before trusting it.

use std::io::{Read, Seek};
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ArchiveError;

/// Caps on what an inner archive may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most entries.
    pub max_entries: usize,
    /// The most bytes, uncompressed, over all entries: counted while reading, since declared
    /// sizes can lie.
    pub max_total_size: u64,
    /// The most an entry larger than [`RATIO_FLOOR`] may expand: its uncompressed bytes over its
    /// compressed ones. Checked on the declared sizes, before inflating; an entry is never read
    /// past its declared size, so the bytes read are held to it too.
    pub max_ratio: u64,
}

/// Entries up to this size (1 MiB, uncompressed) are not held to [`Limits::max_ratio`]: a small
/// page of repetitive HTML compresses far better than 100 to 1 and is no threat.
pub const RATIO_FLOOR: u64 = 1024 * 1024;

impl Default for Limits {
    /// Caps that fit report archives (HTML and PDF): 10,000 entries, 1 GiB uncompressed, and
    /// 100 to 1 for an entry over 1 MiB.
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_total_size: 1024 * 1024 * 1024,
            max_ratio: 100,
        }
    }
}

impl Limits {
    /// Caps for verifying an evidence bundle: a bundle holds several report archives, each up to
    /// the download cap, so its total may be larger (8 GiB); entries and ratio as by default.
    pub fn bundle() -> Self {
        Self {
            max_total_size: 8 * 1024 * 1024 * 1024,
            ..Self::default()
        }
    }

    /// Why an entry of `size` bytes stored in `compressed` bytes expands too much, if it does.
    fn ratio_exceeded(&self, size: u64, compressed: u64) -> Option<String> {
        (size > RATIO_FLOOR && size > compressed.saturating_mul(self.max_ratio)).then(|| {
            format!(
                "expands {compressed} compressed bytes to more than {size}, more than the {} to 1 allowed",
                self.max_ratio
            )
        })
    }
}

/// A file inside a report archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InnerFile {
    /// Its path in the archive.
    pub path: String,
    /// Its size, uncompressed.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its media type, from its name and first bytes.
    pub media_type: String,
}

/// Checks a ZIP archive entry by entry and describes its files, or says exactly what is wrong.
///
/// Rejected: an unreadable central directory; more entries than allowed; a name that is
/// absolute, contains `..`, or differs from its normalised form; symbolic links; encrypted
/// entries; entries whose data overlap; more uncompressed bytes than allowed, or than an
/// entry declares; an entry over 1 MiB that expands more than the ratio allowed (on its declared
/// sizes, before inflating it); a CRC that does not match. Every entry is read in full to check its CRC.
pub fn inspect_archive<R: Read + Seek>(
    reader: R,
    limits: &Limits,
) -> Result<Vec<InnerFile>, ArchiveError> {
    let bad = |entry: Option<&str>, reason: String| ArchiveError::InvalidArchive {
        entry: entry.map(str::to_owned),
        reason,
    };
    let mut zip =
        zip::ZipArchive::new(reader).map_err(|e| bad(None, format!("unreadable: {e}")))?;
    if zip.len() > limits.max_entries {
        return Err(bad(
            None,
            format!(
                "{} entries, more than the {} allowed",
                zip.len(),
                limits.max_entries
            ),
        ));
    }
    let mut files = Vec::with_capacity(zip.len());
    let mut spans: Vec<(u64, u64, String)> = Vec::with_capacity(zip.len());
    let mut total: u64 = 0;
    let mut buffer = vec![0u8; 64 * 1024];
    for index in 0..zip.len() {
        let (name, declared, is_dir) = {
            let entry = zip
                .by_index_raw(index)
                .map_err(|e| bad(None, format!("entry {index} is unreadable: {e}")))?;
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            check_name(&name, entry.enclosed_name().as_deref())
                .map_err(|reason| bad(Some(&name), reason))?;
            if entry.is_symlink() {
                return Err(bad(Some(&name), "is a symbolic link".into()));
            }
            if entry.encrypted() {
                return Err(bad(Some(&name), "is encrypted".into()));
            }
            let start = entry.header_start();
            let end = entry
                .data_start()
                .map_or(start, |d| d.saturating_add(entry.compressed_size()));
            spans.push((start, end, name.clone()));
            if let Some(reason) = limits.ratio_exceeded(entry.size(), entry.compressed_size()) {
                return Err(bad(Some(&name), reason));
            }
            (name, entry.size(), entry.is_dir())
        };
        if is_dir {
            continue;
        }
        let mut entry = zip
            .by_index(index)
            .map_err(|e| bad(Some(&name), format!("cannot be read: {e}")))?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut head = Vec::new();
        loop {
            let n = entry
                .read(&mut buffer)
                .map_err(|e| bad(Some(&name), format!("is corrupt: {e}")))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            total += n as u64;
            if size > declared {
                return Err(bad(
                    Some(&name),
                    format!("holds more than the {declared} bytes it declares"),
                ));
            }
            if total > limits.max_total_size {
                return Err(bad(
                    Some(&name),
                    format!(
                        "the archive holds more than the {} bytes allowed, uncompressed",
                        limits.max_total_size
                    ),
                ));
            }
            if head.len() < 8 {
                head.extend_from_slice(&buffer[..n.min(8)]);
            }
            hasher.update(&buffer[..n]);
        }
        if size != declared {
            return Err(bad(
                Some(&name),
                format!("holds {size} bytes but declares {declared}"),
            ));
        }
        files.push(InnerFile {
            media_type: media_type(&name, &head).to_owned(),
            path: name,
            size,
            sha256: hex::encode(hasher.finalize()),
        });
    }
    spans.sort();
    for pair in spans.windows(2) {
        if pair[0].1 > pair[1].0 {
            return Err(bad(
                Some(&pair[1].2),
                format!("overlaps the data of `{}`", pair[0].2),
            ));
        }
    }
    let mut reader = zip.into_inner();
    for (start, _, name) in &spans {
        let local = local_name(&mut reader, *start)
            .map_err(|e| bad(Some(name), format!("local header is unreadable: {e}")))?;
        if local.as_bytes() != name.as_bytes() {
            return Err(bad(
                Some(name),
                format!("the local header names it `{local}`"),
            ));
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The file name in the local header at `offset`.
fn local_name<R: Read + Seek>(reader: &mut R, offset: u64) -> std::io::Result<String> {
    let mut header = [0u8; 30];
    reader.seek(std::io::SeekFrom::Start(offset))?;
    reader.read_exact(&mut header)?;
    if header[..4] != *b"PK\x03\x04" {
        return Err(std::io::Error::other("no local header signature"));
    }
    let length = usize::from(u16::from_le_bytes([header[26], header[27]]));
    let mut name = vec![0u8; length];
    reader.read_exact(&mut name)?;
    Ok(String::from_utf8_lossy(&name).into_owned())
}

fn check_name(name: &str, enclosed: Option<&Path>) -> Result<(), String> {
    if name.is_empty() {
        return Err("has an empty name".into());
    }
    if name.starts_with('/') || name.starts_with('\\') || name.as_bytes().get(1) == Some(&b':') {
        return Err("has an absolute path".into());
    }
    if name.contains('\\') {
        return Err("has a backslash in its path".into());
    }
    if name.split('/').any(|part| part == "..") {
        return Err("has `..` in its path".into());
    }
    let Some(enclosed) = enclosed else {
        return Err("has a path that leaves the archive".into());
    };
    let normalised: Vec<String> = enclosed
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    if normalised.join("/") != trimmed {
        return Err(format!(
            "has a path that differs from its normal form `{}`",
            normalised.join("/")
        ));
    }
    Ok(())
}

/// The media type of a file, from its extension, confirmed by its first bytes where they tell.
pub(crate) fn media_type(name: &str, head: &[u8]) -> &'static str {
    if head.starts_with(b"%PDF-") {
        return "application/pdf";
    }
    if head.starts_with(b"PK\x03\x04") {
        return "application/zip";
    }
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("html" | "htm") => "text/html",
        Some("pdf") => "application/pdf",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("txt" | "log") => "text/plain",
        Some("csv") => "text/csv",
        Some("zip") => "application/zip",
        Some("sarif") => "application/sarif+json",
        Some("md") => "text/markdown",
        _ => "application/octet-stream",
    }
}
