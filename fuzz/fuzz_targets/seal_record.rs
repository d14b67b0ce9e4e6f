//! A seal record: any bytes are refused or read; what is read has canonical signed
//! bytes that survive being written back, and its blob opens or is refused, never
//! panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeroth_core::seal::SealRecord;
use zeroth_core::secret::UnsealKey;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<SealRecord>(data) else {
        return;
    };
    let signed = record
        .signed_bytes()
        .expect("a record read has signed bytes");
    let written = serde_json::to_string_pretty(&record).expect("a record read is written");
    let back: SealRecord = serde_json::from_str(&written).expect("a record written reads back");
    assert_eq!(back.signed_bytes().unwrap(), signed);
    let _ = record.header_aad();
    let _ = record.id_bytes();
    let _ = record.key_id_bytes();
    let _ = record.pending_view().map(|v| v.signed_bytes());
    let _ = record.open_blob(&UnsealKey::new(Box::new([0x5a; 32])));
});
