//! The archive inspector on arbitrary bytes: an answer for every input, never a panic, a hang or
//! unbounded memory; what it accepts has only safe relative paths within the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use procurize_archive::inspect_archive;

fuzz_target!(|data: &[u8]| {
    let limits = procurize_fuzz::limits();
    if let Ok(files) = inspect_archive(std::io::Cursor::new(data), &limits) {
        procurize_fuzz::assert_accepted(&files, &limits);
    }
});
