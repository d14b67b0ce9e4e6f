//! Faults for the tests that prove a crash or a failing disk at any step of a ceremony
//! loses nothing. Debug builds (those the test suite drives) read them from the
//! environment; release builds compile every point to nothing.
//!
//! - `ZEROTH_CRASH_AT=<point>` makes the process abort at that named point, as a power
//!   cut or `kill -9` would stop it ([`point`]).
//! - `ZEROTH_IO_FAIL_AT=<n>` makes the n-th file-writing step of the process (counted
//!   from 1: each write, fsync, rename or link zeroth makes) fail with
//!   `ZEROTH_IO_FAIL_ERRNO` (`ENOSPC`, the default, or `EIO`), as a full or failing disk
//!   would; a failing write first writes half its bytes, as a disk that fills up in the
//!   middle of a write does ([`io`], [`write_all`]). `ZEROTH_IO_TRACE=<file>` appends
//!   one line per step, `<n> <step> <path>`, so a test knows how many there are.

use std::io::Write;
use std::path::Path;

/// Aborts the process if `ZEROTH_CRASH_AT` names this point (debug builds only).
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("ZEROTH_CRASH_AT").is_ok_and(|v| v == name) {
        eprintln!("zeroth: crash injected at {name}");
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

/// Counts one file-writing step (`step` names it: write, sync, rename …) on `path`, and
/// returns the injected error if `ZEROTH_IO_FAIL_AT` names it (debug builds only).
pub fn io(step: &str, path: &Path) -> std::io::Result<()> {
    #[cfg(debug_assertions)]
    {
        if injected(step, path) {
            return Err(failure());
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (step, path);
    Ok(())
}

/// `out.write_all(bytes)`, as the step `step` on `path`: when `ZEROTH_IO_FAIL_AT` names
/// it, half of `bytes` is written and the injected error returned (debug builds only).
pub fn write_all(
    step: &str,
    path: &Path,
    out: &mut impl Write,
    bytes: &[u8],
) -> std::io::Result<()> {
    #[cfg(debug_assertions)]
    {
        if injected(step, path) {
            out.write_all(&bytes[..bytes.len() / 2])?;
            let _ = out.flush();
            return Err(failure());
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (step, path);
    out.write_all(bytes)
}

#[cfg(debug_assertions)]
fn injected(step: &str, path: &Path) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STEPS: AtomicU64 = AtomicU64::new(0);
    let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(trace) = std::env::var_os("ZEROTH_IO_TRACE") {
        // The trace is the tests' own file, written directly: it is not a step.
        let line = format!("{n} {step} {}\n", path.display());
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(trace)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
    let hit = std::env::var("ZEROTH_IO_FAIL_AT").is_ok_and(|v| v.parse() == Ok(n));
    if hit {
        eprintln!(
            "zeroth: write failure injected at step {n} ({step} {})",
            path.display()
        );
    }
    hit
}

#[cfg(debug_assertions)]
fn failure() -> std::io::Error {
    let errno = match std::env::var("ZEROTH_IO_FAIL_ERRNO").as_deref() {
        Ok("EIO") => rustix::io::Errno::IO,
        _ => rustix::io::Errno::NOSPC,
    };
    std::io::Error::from_raw_os_error(errno.raw_os_error())
}
