//! zeroth: secret zero — the bootstrap credential that unlocks a secrets manager —
//! generated inside a PKCS#11 HSM, sealed, its unseal key split into Shamir shares held
//! by named custodians, and given back only to a quorum of them together with the HSM.
//!
//! The binary (`src/main.rs`) parses the command line with [`cli::Cli`] and calls
//! [`cli::run`]; everything else is here. `docs/DESIGN.md` describes the key hierarchy,
//! the formats and the command line.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cache;
pub mod ceremony;
pub mod cli;
pub mod deliver;
pub mod error;
pub mod governance;
pub mod handin;
pub mod help;
pub mod hsm;
pub mod keystore;
pub mod metrics;
pub mod paper;
pub mod passphrase;
pub mod pin;
pub mod process;
pub mod recipient;
pub mod reuse;
pub mod settings;
pub mod siem;
pub mod store;
pub mod terminal;
pub mod transcript;
pub mod trust;
pub mod vault;

// The formats and their verification live in zeroth-core (no HSM, no age); they are
// zeroth's own modules too, at the same paths.
pub use zeroth_core::{
    audit, clock, cores, fault, files, key, mechanism, names, seal, secret, shamir, share, text,
};

pub use error::{Error, Result};

/// Lays out rows as left-aligned columns separated by two spaces (no trailing space).
pub(crate) fn table<const N: usize, S: AsRef<str> + Sync>(rows: &[[S; N]]) -> String {
    table_by(rows.len(), |i| rows[i].each_ref())
}

/// [`table`] of `n` rows, each made by `row` when it is needed: once to measure the
/// columns and once to write it, so no row is kept (`list` lays out 100,000 rows). Both
/// passes go a part of the rows at a time, on every core.
pub(crate) fn table_by<const N: usize, S: AsRef<str>>(
    n: usize,
    row: impl Fn(usize) -> [S; N] + Sync,
) -> String {
    let width = |cell: &str| {
        if cell.is_ascii() {
            cell.len()
        } else {
            cell.chars().count()
        }
    };
    let widths = crate::cores::map_ranges(n, |rows| {
        let mut widths = [0usize; N];
        for i in rows {
            for (w, cell) in widths.iter_mut().zip(row(i)) {
                *w = (*w).max(width(cell.as_ref()));
            }
        }
        widths
    })
    .into_iter()
    .fold([0usize; N], |mut all, part| {
        for (w, p) in all.iter_mut().zip(part) {
            *w = (*w).max(p);
        }
        all
    });
    let line = widths.iter().sum::<usize>() + 2 * N + 1;
    let parts = crate::cores::map_ranges(n, |rows| {
        let mut out = String::with_capacity(rows.len() * line);
        for i in rows {
            let start = out.len();
            for (c, (cell, w)) in row(i).iter().zip(widths).enumerate() {
                let cell = cell.as_ref();
                out.push_str(cell);
                if c + 1 < N {
                    out.extend(std::iter::repeat_n(' ', w - width(cell) + 2));
                }
            }
            let line_end = out[start..].trim_end().len();
            out.truncate(start + line_end);
            out.push('\n');
        }
        out
    });
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_default();
    }
    let mut out = String::with_capacity(parts.iter().map(String::len).sum());
    for part in parts {
        out.push_str(&part);
    }
    out
}

/// A short text made on the stack (a count, a version number): a table cell that
/// costs no allocation. Longer text is cut at 24 bytes.
pub(crate) struct Short {
    buf: [u8; 24],
    len: usize,
}

impl Short {
    /// Formats `args`.
    pub(crate) fn of(args: std::fmt::Arguments<'_>) -> Short {
        let mut s = Short {
            buf: [0; 24],
            len: 0,
        };
        let _ = std::fmt::Write::write_fmt(&mut s, args);
        s
    }
}

impl std::fmt::Write for Short {
    fn write_str(&mut self, part: &str) -> std::fmt::Result {
        let room = self.buf.len() - self.len;
        let mut take = part.len().min(room);
        while !part.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&part.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

impl AsRef<str> for Short {
    fn as_ref(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// A table cell: borrowed, short, or owned text.
pub(crate) enum Cell<'a> {
    /// Text that lives elsewhere.
    Str(&'a str),
    /// A short text of its own ([`Short`]).
    Short(Short),
    /// A text of its own.
    Own(String),
}

impl AsRef<str> for Cell<'_> {
    fn as_ref(&self) -> &str {
        match self {
            Cell::Str(s) => s,
            Cell::Short(s) => s.as_ref(),
            Cell::Own(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_table_aligns_columns_by_characters_and_ends_lines_without_spaces() {
        let rows = [
            ["SEAL", "OWNER", "X"],
            ["é-seal", "a", ""],
            ["s", "team-long", "y"],
        ];
        assert_eq!(
            super::table(&rows),
            "SEAL    OWNER      X\né-seal  a\ns       team-long  y\n"
        );
        let owned: Vec<[String; 1]> = vec![["a".into()], ["bb".into()]];
        assert_eq!(super::table(&owned), "a\nbb\n");
    }

    #[test]
    fn a_table_laid_out_in_parts_is_the_one_laid_out_whole() {
        // Enough rows to be measured and written in parts on every core; the widest
        // cell of each column in a different part.
        let n = 5000;
        let cell = |i: usize, c: usize| -> String {
            let wide = i == (c + 1) * 997;
            format!(
                "{}{}",
                "x".repeat(i % 7 + c),
                if wide { "-wide-cell" } else { "" }
            )
        };
        let rows: Vec<[String; 3]> = (0..n)
            .map(|i| [cell(i, 0), cell(i, 1), cell(i, 2)])
            .collect();
        let mut widths = [0usize; 3];
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let mut whole = String::new();
        for r in &rows {
            let line = format!(
                "{:w0$}  {:w1$}  {}",
                r[0],
                r[1],
                r[2],
                w0 = widths[0],
                w1 = widths[1]
            );
            whole.push_str(line.trim_end());
            whole.push('\n');
        }
        assert_eq!(super::table(&rows), whole);
        assert_eq!(super::table_by(n, |i| rows[i].each_ref()), whole);
        assert_eq!(super::table_by(0, |i| rows[i].each_ref()), "");
    }

    #[test]
    fn short_cells_hold_what_fits_and_cut_on_a_character() {
        let s = super::Short::of(format_args!("{}/{}", 3, 5));
        assert_eq!(s.as_ref(), "3/5");
        let long = super::Short::of(format_args!("{}", "é".repeat(20)));
        assert_eq!(long.as_ref(), "é".repeat(12));
        let cells = [[
            super::Cell::Str("a"),
            super::Cell::Short(s),
            super::Cell::Own("x".into()),
        ]];
        assert_eq!(super::table(&cells), "a  3/5  x\n");
    }
}
