//! zeroth-core: the formats of zeroth and their verification, with no HSM and no age.
//!
//! Shares (armor, payload, checksum, commitments) and the Shamir split under them;
//! seal records and their canonical signed bytes; the ceremony log (line, head, chain)
//! and its verification with an environment's public key; hand-in requests. An auditor
//! builds this crate alone (`cargo build -p zeroth-core`) to check what zeroth wrote
//! without a PKCS#11 module. The HSM, age, the store's layout and the ceremonies are
//! the `zeroth` crate's; `docs/DESIGN.md` ("Layout") shows the layers.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod clock;
pub mod config;
pub mod cores;
pub mod error;
pub mod fault;
pub mod files;
pub mod handin;
pub mod id;
pub mod key;
pub mod mechanism;
pub mod names;
pub mod seal;
pub mod secret;
pub mod shamir;
pub mod share;
pub mod text;

pub use error::{Error, Result};
