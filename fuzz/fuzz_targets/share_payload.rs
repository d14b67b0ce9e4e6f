//! The payload bytes of a share (either version), and their base32 form: anything is
//! refused or read, and what is read encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeroth_core::share::Payload;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Payload::from_bytes(data) {
        assert_eq!(&*p.to_bytes(), data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = Payload::from_encoded(text) {
            assert_eq!(
                Payload::from_bytes(&p.to_bytes())
                    .map(|q| q.to_bytes())
                    .ok(),
                Some(p.to_bytes())
            );
        }
    }
});
