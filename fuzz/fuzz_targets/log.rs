//! The ceremony log and its head, as `audit verify` reads them from a store: any bytes
//! give a verdict (whole, or the first damage), never a panic. The key is the one of
//! the frozen vectors (tests/vectors), so seeds from there verify and the fuzzer starts
//! from signed lines.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zeroth_core::audit;
use zeroth_core::key::PublicKey;

/// A store of no seal and no declared environment, as a new store directory is: the
/// log and its head are all the verification reads.
struct Store(std::path::PathBuf);

impl audit::LogStore for Store {
    fn root(&self) -> &std::path::Path {
        &self.0
    }
    fn declares(&self, _env: &str) -> bool {
        false
    }
    fn records(
        &self,
    ) -> zeroth_core::Result<Vec<zeroth_core::Result<zeroth_core::seal::SealRecord>>> {
        Ok(Vec::new())
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Store,
    key: PublicKey,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        let store = Store(dir.path().to_path_buf());
        let key = PublicKey::from_pem(
            include_str!("../../tests/vectors/store/keys/prod.pem"),
            "the vectors' key",
        )
        .unwrap();
        Setup {
            _dir: dir,
            store,
            key,
        }
    })
}

// The input is the log, then optionally a NUL byte and the head file (neither holds a
// NUL): a seed is a real log and head joined so.
fuzz_target!(|input: &[u8]| {
    let (log, head) = match input.iter().position(|&b| b == 0) {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (input, &[][..]),
    };
    let s = setup();
    std::fs::write(audit::log_path(&s.store, "prod"), log).unwrap();
    let head_path = audit::head_path(&s.store, "prod");
    if head.is_empty() {
        let _ = std::fs::remove_file(&head_path);
    } else {
        std::fs::write(&head_path, head).unwrap();
    }
    let v = audit::verify(&s.store, "prod", &s.key).expect("verify reads any bytes");
    assert!(v.signed <= v.entries);
    for line in log.split(|&b| b == b'\n') {
        if let Ok(mut entry) = serde_json::from_slice::<audit::Entry>(line) {
            audit::seal_line(&mut entry, None).expect("an entry read is written");
        }
    }
    let _ = serde_json::from_slice::<audit::HeadFile>(head);
});
