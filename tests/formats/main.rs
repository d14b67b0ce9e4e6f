//! The formats people keep for years — share files, seal records, the ceremony log and
//! its head, `zeroth.toml` — read back as written (round-trips over generated values)
//! and as they were first written (known-answer vectors in tests/vectors). No token is
//! needed: these run once, not once per PKCS#11 module.

mod layout;
mod p256_verify;
mod roundtrip;
mod vectors;
