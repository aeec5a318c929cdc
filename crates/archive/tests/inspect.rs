//! Inner archive validation against real ZIP files, good and malicious.

use std::io::{Cursor, Write};

use procurize_archive::{ArchiveError, Limits, inspect_archive};
use zip::write::SimpleFileOptions;

fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_compressed(zip::CompressionMethod::Stored, entries)
}

/// A ZIP whose entries are deflated.
fn deflated_zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_compressed(zip::CompressionMethod::Deflated, entries)
}

fn zip_compressed(method: zip::CompressionMethod, entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        writer.start_file(*name, options).expect("start");
        writer.write_all(data).expect("write");
    }
    writer.finish().expect("finish").into_inner()
}

fn rejection(bytes: Vec<u8>, limits: &Limits) -> (Option<String>, String) {
    match inspect_archive(Cursor::new(bytes), limits) {
        Err(ArchiveError::InvalidArchive { entry, reason }) => (entry, reason),
        other => panic!("expected an invalid archive, got {other:?}"),
    }
}

/// Offsets of every central directory record.
fn central_records(bytes: &[u8]) -> Vec<usize> {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x01\x02")
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn the_simulators_archives_are_described_file_by_file() {
    let data = procurize_sim::SimData::sample();
    let org = procurize_sim::SAMPLE_ORGANIZATION.parse().expect("uuid");
    let reports: Vec<_> = data.reports(&org).iter().take(2).collect();
    let bytes = procurize_sim::build_archive(&reports);
    let files = inspect_archive(Cursor::new(bytes.clone()), &Limits::default()).expect("valid");
    assert_eq!(files.len(), 4);
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    for file in &files {
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name(&file.path).expect("entry"), &mut content)
            .expect("read");
        use sha2::Digest;
        assert_eq!(file.sha256, hex::encode(sha2::Sha256::digest(&content)));
        assert_eq!(file.size, content.len() as u64);
        let expected = if file.path.ends_with(".pdf") {
            "application/pdf"
        } else {
            "text/html"
        };
        assert_eq!(file.media_type, expected);
    }
}

#[test]
fn zip_slip_names_are_rejected() {
    for (name, expected) in [
        ("../x", "`..`"),
        ("/etc/x", "absolute"),
        ("a/../../x", "`..`"),
        ("a/../b", "`..`"),
        ("C:/x", "absolute"),
        ("a\\..\\x", "backslash"),
        ("./a", "normal form"),
        ("a//b", "normal form"),
    ] {
        let (entry, reason) = rejection(
            zip_with(&[("ok.txt", b"fine"), (name, b"evil")]),
            &Limits::default(),
        );
        assert_eq!(entry.as_deref(), Some(name));
        assert!(reason.contains(expected), "{name}: {reason}");
    }
}

#[test]
fn symbolic_links_are_rejected() {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .add_symlink("report.html", "/etc/passwd", SimpleFileOptions::default())
        .expect("symlink");
    let bytes = writer.finish().expect("finish").into_inner();
    let (entry, reason) = rejection(bytes, &Limits::default());
    assert_eq!(
        (entry.as_deref(), reason.as_str()),
        (Some("report.html"), "is a symbolic link")
    );
}

#[test]
fn encrypted_entries_are_rejected() {
    let mut bytes = zip_with(&[("secret.pdf", b"%PDF-1.4 ...")]);
    // Set bit 0 (encrypted) of the general purpose flags, in the local and central headers.
    bytes[6] |= 1;
    let central = central_records(&bytes)[0];
    bytes[central + 8] |= 1;
    let (entry, reason) = rejection(bytes, &Limits::default());
    assert_eq!(
        (entry.as_deref(), reason.as_str()),
        (Some("secret.pdf"), "is encrypted")
    );
}

#[test]
fn a_declared_size_that_lies_is_caught_by_reading() {
    let mut bytes = zip_with(&[("report.html", &[b'x'; 1000])]);
    // Declare 10 bytes in the central directory (uncompressed size at offset 24).
    let central = central_records(&bytes)[0];
    bytes[central + 24..central + 28].copy_from_slice(&10u32.to_le_bytes());
    let (entry, reason) = rejection(bytes, &Limits::default());
    assert_eq!(entry.as_deref(), Some("report.html"));
    assert!(
        reason.contains("declares") || reason.contains("corrupt"),
        "{reason}"
    );
}

#[test]
fn a_flipped_byte_fails_the_crc() {
    let mut bytes = zip_with(&[("report.html", b"<html>report</html>")]);
    let at = bytes
        .windows(7)
        .position(|w| w == b"report<")
        .expect("data");
    bytes[at] ^= 0x20;
    let (entry, reason) = rejection(bytes, &Limits::default());
    assert_eq!(entry.as_deref(), Some("report.html"));
    assert!(reason.contains("corrupt"), "{reason}");
}

#[test]
fn archives_over_the_caps_are_rejected() {
    let bytes = zip_with(&[("a.bin", &[0u8; 600]), ("b.bin", &[0u8; 600])]);
    let limits = Limits {
        max_entries: 10,
        max_total_size: 1000,
        ..Limits::default()
    };
    let (entry, reason) = rejection(bytes.clone(), &limits);
    assert_eq!(entry.as_deref(), Some("b.bin"));
    assert!(
        reason.contains("more than the 1000 bytes allowed"),
        "{reason}"
    );
    let limits = Limits {
        max_entries: 1,
        max_total_size: u64::MAX,
        ..Limits::default()
    };
    let (entry, reason) = rejection(bytes, &limits);
    assert_eq!(entry, None);
    assert!(
        reason.contains("2 entries, more than the 1 allowed"),
        "{reason}"
    );
}

#[test]
fn a_truncated_archive_is_unreadable() {
    let bytes = zip_with(&[("report.html", &[b'x'; 4000])]);
    let (entry, reason) = rejection(bytes[..bytes.len() / 2].to_vec(), &Limits::default());
    assert_eq!(entry, None);
    assert!(reason.starts_with("unreadable"), "{reason}");
}

#[test]
fn overlapping_entries_are_rejected() {
    // Two central directory records pointing at the same local entry (a "zip bomb" trick).
    let bytes = zip_with(&[("aaaa.txt", b"shared data")]);
    let central = central_records(&bytes)[0];
    let eocd = bytes.len() - 22;
    let record = bytes[central..eocd].to_vec();
    let mut second = record.clone();
    let name_at = 46;
    second[name_at..name_at + 8].copy_from_slice(b"bbbb.txt");
    let mut out = bytes[..eocd].to_vec();
    out.extend_from_slice(&second);
    let mut end = bytes[eocd..].to_vec();
    for offset in [8, 10] {
        let count = u16::from_le_bytes([end[offset], end[offset + 1]]) + 1;
        end[offset..offset + 2].copy_from_slice(&count.to_le_bytes());
    }
    let size = u32::from_le_bytes(end[12..16].try_into().expect("4")) + record.len() as u32;
    end[12..16].copy_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&end);
    let (entry, reason) = rejection(out, &Limits::default());
    assert!(reason.contains("overlaps"), "{entry:?}: {reason}");
}

#[test]
fn a_local_name_that_differs_from_the_central_one_is_rejected() {
    // Tools that read local headers and tools that read the central directory would see
    // different files: refuse the ambiguity.
    let mut bytes = zip_with(&[("report.html", b"<html>report</html>")]);
    assert_eq!(&bytes[30..41], b"report.html");
    bytes[30] = b'R';
    let (entry, reason) = rejection(bytes, &Limits::default());
    assert_eq!(entry.as_deref(), Some("report.html"));
    assert!(
        reason.contains("local header names it `Report.html`"),
        "{reason}"
    );
}

#[test]
fn an_entry_that_expands_more_than_the_ratio_is_refused_before_it_is_inflated() {
    // 64 MiB of zeros deflates to about 64 KiB: 1000 to 1, a bomb's shape.
    let bomb = vec![0u8; 64 * 1024 * 1024];
    let bytes = deflated_zip_with(&[("report.html", b"<html></html>"), ("big.pdf", &bomb)]);
    assert!(bytes.len() < 1024 * 1024, "{} bytes", bytes.len());
    let started = std::time::Instant::now();
    let (entry, reason) = rejection(bytes.clone(), &Limits::default());
    assert_eq!(entry.as_deref(), Some("big.pdf"));
    assert!(
        reason.contains("more than the 100 to 1 allowed"),
        "{reason}"
    );
    // Refused on its declared sizes: well before 64 MiB would have been inflated.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // The same bytes with a raised ratio pass: the cap, not the content, refused them.
    let limits = Limits {
        max_ratio: 10_000,
        ..Limits::default()
    };
    let files = inspect_archive(Cursor::new(bytes), &limits).expect("accepted");
    assert_eq!(files.len(), 2);
}

#[test]
fn small_or_incompressible_entries_are_not_held_to_the_ratio() {
    // Under 1 MiB: repetitive HTML compresses far better than 100 to 1 and is fine.
    let page = vec![b'a'; 512 * 1024];
    // Over 1 MiB but barely compressible (a PDF's streams are compressed already).
    let mut noise = vec![0u8; 2 * 1024 * 1024];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for byte in &mut noise {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let bytes = deflated_zip_with(&[("report.html", &page), ("report.pdf", &noise)]);
    let files = inspect_archive(Cursor::new(bytes), &Limits::default()).expect("accepted");
    assert_eq!(files.len(), 2);
}
