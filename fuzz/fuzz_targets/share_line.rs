//! One numbered share line as a person types it back: anything is refused with a
//! message or read, and a line read has the length of that line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeroth::share::{line_length, normalize_typed, parse_line};

fuzz_target!(|input: (u8, &str)| {
    let (line, typed) = input;
    let line = usize::from(line % 8);
    if let Ok(chars) = parse_line(line, typed) {
        assert_eq!(Some(chars.len()), line_length(line));
    }
    let _ = normalize_typed(typed);
});
