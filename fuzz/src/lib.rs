//! What the fuzz targets share: small limits, the fixed signing key, a ZIP editor for the
//! structure-aware target, and the check that a configuration error's line exists.

use procurize_archive::{Limits, SigningKey};

/// Caps small enough that a run never spends seconds inflating one input, large enough for
/// every seed: 1,000 entries, 16 MiB in all, the default ratio.
pub fn limits() -> Limits {
    Limits {
        max_entries: 1000,
        max_total_size: 16 * 1024 * 1024,
        ..Limits::default()
    }
}

/// The key the evidence seeds are signed with. It signs nothing but fuzzing inputs: it is
/// published here on purpose.
pub const FUZZ_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIIj4PqkA2QIQZKu8FwZXUL0v71fJl8cVbvfz7Y0+6xjY
-----END PRIVATE KEY-----
";

/// The fixed signing key.
pub fn key() -> SigningKey {
    SigningKey::from_pkcs8_pem(FUZZ_KEY_PEM).expect("the fuzzing key parses")
}

/// Checks what every file path an inspection accepted must be: relative, without `..`, and
/// the total within the limits.
pub fn assert_accepted(files: &[procurize_archive::InnerFile], limits: &Limits) {
    assert!(
        files.len() <= limits.max_entries,
        "more entries than allowed"
    );
    let total: u64 = files.iter().map(|f| f.size).sum();
    assert!(
        total <= limits.max_total_size,
        "more bytes than allowed: {total}"
    );
    for file in files {
        let path = std::path::Path::new(&file.path);
        assert!(path.is_relative(), "absolute path accepted: {}", file.path);
        assert!(
            path.components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "unsafe path accepted: {}",
            file.path
        );
    }
}

/// The line a configuration error names (`ORIGIN:LINE:` or `ORIGIN:LINE:COLUMN:`), if any.
pub fn error_line(message: &str, origin: &str) -> Option<usize> {
    let at = message.find(&format!("{origin}:"))?;
    let rest = &message[at + origin.len() + 1..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Asserts that an error about `text` names a line `text` has (line 1 of an empty text too).
pub fn assert_line_exists(message: &str, origin: &str, text: &str) {
    if let Some(line) = error_line(message, origin) {
        let lines = text.lines().count().max(1);
        // A parser may point just past the last line (an unterminated table at the very end).
        assert!(
            line >= 1 && line <= lines + 1,
            "the error names line {line} of a {lines}-line text: {message}"
        );
    }
}

/// Which record of a ZIP an edit changes.
#[derive(Debug, Clone, Copy, arbitrary::Arbitrary)]
pub enum Record {
    /// The end of central directory record.
    End,
    /// The n-th central directory header (modulo their number).
    Central(u8),
    /// The local header the n-th central directory header points at.
    Local(u8),
}

/// One edit of a ZIP's structure: a field of a record set to a value.
#[derive(Debug, Clone, Copy, arbitrary::Arbitrary)]
pub struct Edit {
    /// The record.
    pub record: Record,
    /// The field, an index into the record's fields (modulo their number); past the fixed
    /// fields, a byte of the entry's name.
    pub field: u8,
    /// The new value (truncated to the field's width).
    pub value: u32,
}

// (offset, width) of the fields of each record, from APPNOTE.TXT 4.3.
const END_FIELDS: &[(usize, usize)] = &[(4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)];
const CENTRAL_FIELDS: &[(usize, usize)] = &[
    (4, 2),  // version made by (its high byte: the host, 3 = Unix for symlinks)
    (6, 2),  // version needed
    (8, 2),  // flags (bit 0: encrypted, bit 3: data descriptor, bit 11: UTF-8)
    (10, 2), // method
    (16, 4), // CRC-32
    (20, 4), // compressed size
    (24, 4), // uncompressed size
    (28, 2), // name length
    (30, 2), // extra length
    (32, 2), // comment length
    (38, 4), // external attributes (Unix mode in the high half)
    (42, 4), // local header offset
];
const LOCAL_FIELDS: &[(usize, usize)] = &[
    (4, 2),
    (6, 2),
    (8, 2),
    (14, 4),
    (18, 4),
    (22, 4),
    (26, 2),
    (28, 2),
];

fn u16_at(zip: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_le_bytes(
        zip.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn u32_at(zip: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u32::from_le_bytes(zip.get(at..at + 4)?.try_into().ok()?)).ok()
}

/// The offsets of the end record and of every central directory header of a well-formed ZIP.
fn records(zip: &[u8]) -> Option<(usize, Vec<usize>)> {
    let end = zip.windows(4).rposition(|w| w == b"PK\x05\x06")?;
    let count = u16_at(zip, end + 10)?;
    let mut at = u32_at(zip, end + 16)?;
    let mut central = Vec::with_capacity(count);
    for _ in 0..count {
        if zip.get(at..at + 4)? != b"PK\x01\x02" {
            break;
        }
        central.push(at);
        at += 46 + u16_at(zip, at + 28)? + u16_at(zip, at + 30)? + u16_at(zip, at + 32)?;
    }
    Some((end, central))
}

/// Applies `edits` to `zip` in order, each located on the archive as the previous ones left
/// it; an edit whose record cannot be found is skipped.
pub fn apply(zip: &mut [u8], edits: &[Edit]) {
    for edit in edits {
        let Some((end, central)) = records(zip) else {
            return;
        };
        let pick = |n: u8| central.get(usize::from(n) % central.len().max(1)).copied();
        let (start, fields, name) = match edit.record {
            Record::End => (Some(end), END_FIELDS, None),
            Record::Central(n) => (pick(n), CENTRAL_FIELDS, pick(n).map(|c| (c + 46, c + 28))),
            Record::Local(n) => {
                let local = pick(n).and_then(|c| u32_at(zip, c + 42));
                (local, LOCAL_FIELDS, local.map(|l| (l + 30, l + 26)))
            }
        };
        let Some(start) = start else { continue };
        let field = usize::from(edit.field);
        let (offset, width) = match fields.get(field) {
            Some(&(offset, width)) => (start + offset, width),
            // A byte of the name: a `/`, a `..`, a NUL, a backslash, a drive letter.
            None => match name {
                Some((name_at, length_at)) => {
                    let length = u16_at(zip, length_at).unwrap_or(0).max(1);
                    (name_at + (field - fields.len()) % length, 1)
                }
                None => continue,
            },
        };
        let bytes = edit.value.to_le_bytes();
        if let Some(target) = zip.get_mut(offset..offset + width) {
            target.copy_from_slice(&bytes[..width]);
        }
    }
}
