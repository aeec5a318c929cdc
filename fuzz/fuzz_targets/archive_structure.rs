//! The archive inspector on mutations of valid report archives: a structure-aware target that
//! sets sizes, offsets, names, flags, methods and CRCs in the central directory, the local
//! headers and the end record (see `procurize_fuzz::apply`), where byte-level mutation of a
//! deflated archive rarely gets past the first check.
#![no_main]

use std::io::{Cursor, Write};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use procurize_archive::inspect_archive;
use procurize_core::ReportList;
use procurize_fuzz::Edit;
use zip::write::SimpleFileOptions;

#[derive(Debug, Arbitrary)]
struct Input {
    base: u8,
    edits: Vec<Edit>,
}

const LIST: &str = r#"{"organizationId":"00000000-0000-0000-0000-000000000001","reports":[
  {"projectName":"Payments API","id":"00000000-0000-0000-0000-000000000100","reportType":"CWE Top 25",
   "reportVersion":2024,"projectVersion":"1.0","date":"2026-01-01T00:00:00Z",
   "uploadDate":"2026-01-01T00:00:01Z","vulnerabilitiesCount":3,"securityRating":"C"},
  {"projectName":"Payments API","id":"00000000-0000-0000-0000-000000000101","reportType":"OWASP Top 10",
   "reportVersion":"2021","projectVersion":"1.0","date":"2026-01-01T00:00:00Z",
   "uploadDate":"2026-01-01T00:00:02Z","vulnerabilitiesCount":0,"securityRating":"A"}]}"#;

/// The archives edited: the simulator's (deflated HTML and PDF per report), the same entries
/// stored, and one with folders and many small entries.
fn bases() -> &'static [Vec<u8>] {
    static BASES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    BASES.get_or_init(|| {
        let list = ReportList::from_json(LIST.as_bytes()).expect("the sample list parses");
        let reports: Vec<_> = list.reports.iter().collect();
        let deflated = procurize_sim::build_archive(&reports);
        let mut stored = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let mut source =
            zip::ZipArchive::new(Cursor::new(&deflated)).expect("the simulator's archive");
        for i in 0..source.len() {
            let mut entry = source.by_index(i).expect("entry");
            let name = entry.name().expect("a name").into_owned();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).expect("read");
            let options =
                SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            stored.start_file(name, options).expect("start");
            stored.write_all(&bytes).expect("write");
        }
        let stored = stored.finish().expect("finish").into_inner();
        let mut small = zip::ZipWriter::new(Cursor::new(Vec::new()));
        small
            .add_directory("report/", SimpleFileOptions::default())
            .expect("folder");
        for n in 0..20 {
            let options = SimpleFileOptions::default().compression_method(if n % 2 == 0 {
                zip::CompressionMethod::Stored
            } else {
                zip::CompressionMethod::Deflated
            });
            small
                .start_file(format!("report/page-{n}.html"), options)
                .expect("start");
            small
                .write_all(format!("<p>page {n}</p>").repeat(n + 1).as_bytes())
                .expect("write");
        }
        let small = small.finish().expect("finish").into_inner();
        vec![deflated, stored, small]
    })
}

fuzz_target!(|input: Input| {
    let bases = bases();
    let mut zip = bases[usize::from(input.base) % bases.len()].clone();
    procurize_fuzz::apply(&mut zip, &input.edits);
    let limits = procurize_fuzz::limits();
    if let Ok(files) = inspect_archive(Cursor::new(&zip), &limits) {
        procurize_fuzz::assert_accepted(&files, &limits);
    }
});
