//! zeroth: secret zero — the bootstrap credential that unlocks a secrets manager —
//! generated inside a PKCS#11 HSM, sealed, its unseal key split into Shamir shares held
//! by named custodians, and given back only to a quorum of them together with the HSM.
//!
//! The binary (`src/main.rs`) parses the command line with [`cli::Cli`] and calls
//! [`cli::run`]; everything else is here. `docs/DESIGN.md` describes the key hierarchy,
//! the formats and the command line.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod cache;
pub mod ceremony;
pub mod cli;
pub mod clock;
pub mod cores;
pub mod deliver;
pub mod error;
pub mod fault;
pub mod governance;
pub mod handin;
pub mod help;
pub mod hsm;
pub mod metrics;
pub mod names;
pub mod paper;
pub mod passphrase;
pub mod pin;
pub mod process;
pub mod recipient;
pub mod seal;
pub mod secret;
pub mod settings;
pub mod shamir;
pub mod share;
pub mod siem;
pub mod store;
pub mod terminal;
pub mod text;
pub mod transcript;
pub mod trust;
pub mod vault;

pub use error::{Error, Result};

/// Lays out rows as left-aligned columns separated by two spaces.
pub(crate) fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
