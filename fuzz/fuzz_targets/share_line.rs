//! One numbered share line as a person types it back, for either share version:
//! anything is refused with a message or read, and a line read has the length of that
//! line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeroth_core::share::{line_length, normalize_typed, parse_line, FORMAT_V1, FORMAT_V2};

fuzz_target!(|input: (bool, u8, &str)| {
    let (v1, line, typed) = input;
    let version = if v1 { FORMAT_V1 } else { FORMAT_V2 };
    let line = usize::from(line % 8);
    if let Ok(chars) = parse_line(version, line, typed) {
        assert_eq!(Some(chars.len()), line_length(version, line));
    }
    let _ = normalize_typed(typed);
});
