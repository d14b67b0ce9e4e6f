//! Faults that are not crashes: a token that fails a call, a process that dies in the
//! middle of one. The fault-injecting shim (tests/pkcs11-shim) stands in front of the
//! module under test and fails or aborts at a chosen PKCS#11 call.

use std::path::Path;

use crate::common::*;

/// The lines of a shim record, split into words.
fn record_lines(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// The functions called, in order, as the record has them (load lines left out).
fn calls(path: &Path) -> Vec<(String, String)> {
    record_lines(path)
        .into_iter()
        .filter(|w| w.get(1).is_some_and(|n| n != "0"))
        .map(|w| (w[2].clone(), w[3].clone()))
        .collect()
}

fn sealed_through_shim() -> Fixture {
    let fx = Fixture::new();
    fx.env_init_through_shim("prod", "prod").ok();
    fx.generate("vault-root", "prod", 3, 5).ok();
    fx
}

#[test]
fn the_shim_forwards_every_call_and_records_it() {
    let fx = sealed_through_shim();
    let log = fx.path().join("calls.log");
    let first = fx
        .unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .args(["--output", "-"])
        .env("ZEROTH_SHIM_LOG", &log)
        .run()
        .ok()
        .stdout;
    assert_eq!(first.len(), 64, "a 32-byte credential in hex");
    let lines = record_lines(&log);
    assert_eq!(lines[0][1..], ["0", "load", module().to_str().unwrap()]);
    let made = calls(&log);
    let names: Vec<&str> = made.iter().map(|(f, _)| f.as_str()).collect();
    // cryptoki asks for the 3.0 interface first, then takes the 2.40 list.
    assert_eq!(
        names[..3],
        ["C_GetInterface", "C_GetFunctionList", "C_Initialize"]
    );
    for f in ["C_Login", "C_UnwrapKey", "C_GetAttributeValue", "C_Sign"] {
        assert!(names.contains(&f), "{f} in {names:?}");
    }
    assert_eq!(names.last(), Some(&"C_Finalize"));
    assert!(made.iter().all(|(_, rv)| rv == "CKR_OK"), "{made:?}");
    // Numbered from 1 without a gap.
    for (i, w) in lines.iter().skip(1).enumerate() {
        assert_eq!(w[1], (i + 1).to_string(), "{w:?}");
    }
    // The same credential again, through the shim.
    assert_eq!(
        fx.unseal("vault-root", &["carol", "dave", "erin"])
            .ok()
            .stdout,
        first
    );
}

#[test]
fn a_failed_call_is_named_and_an_abort_stops_the_process() {
    let fx = sealed_through_shim();
    let log = fx.path().join("calls.log");
    let run = fx
        .unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .args(["--output", "-"])
        .env("ZEROTH_SHIM_LOG", &log)
        .env("ZEROTH_SHIM_FAIL_AT", "C_UnwrapKey")
        .env("ZEROTH_SHIM_FAIL_RV", "CKR_DEVICE_MEMORY")
        .run()
        .fails(4, &["C_UnwrapKey returned CKR_DEVICE_MEMORY"]);
    assert!(run.stdout.is_empty());
    let injected: Vec<Vec<String>> = record_lines(&log)
        .into_iter()
        .filter(|w| w.get(4).is_some_and(|x| x == "injected"))
        .collect();
    assert_eq!(injected.len(), 1, "{injected:?}");
    assert_eq!(
        injected[0][2..],
        ["C_UnwrapKey", "CKR_DEVICE_MEMORY", "injected", "not-called"]
    );

    // The N-th call of all, by number: the same call as above.
    let n = injected[0][1].clone();
    fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .args(["--output", "-"])
        .env("ZEROTH_SHIM_FAIL_AT", &n)
        .run()
        .fails(4, &["C_UnwrapKey returned CKR_DEVICE_ERROR"]);

    let run = fx
        .unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .args(["--output", "-"])
        .env("ZEROTH_SHIM_ABORT_AT", "C_UnwrapKey")
        .run();
    assert_eq!(run.code, -1, "killed by SIGABRT: {}", run.stderr);
    assert!(run.stderr.contains("aborting at call"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
}
