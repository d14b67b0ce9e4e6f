//! Crash points, for the tests that prove a crash at any step of a ceremony loses
//! nothing. In debug builds (those the test suite drives), `ZEROTH_CRASH_AT=<point>`
//! makes the process abort at that point, as a power cut or `kill -9` would stop it.
//! Release builds compile the points to nothing.

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
