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

/// A token that fails to say what a mechanism can do has failed; it has not said it
/// lacks the mechanism (which would refuse the ceremony, exit 3, and send the operator
/// looking for another token).
#[test]
fn a_mechanism_the_token_fails_to_describe_is_a_failure_not_a_missing_mechanism() {
    let fx = sealed_through_shim();
    fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .args(["--output", "-"])
        .env("ZEROTH_SHIM_FAIL_AT", "C_GetMechanismInfo")
        .run()
        .fails(
            4,
            &[
                "cannot read the flags of",
                "C_GetMechanismInfo returned CKR_DEVICE_ERROR",
            ],
        );
    // At env init, a failure is not a reason to record another wrap mechanism.
    let fx = Fixture::new();
    fx.zeroth()
        .args(["env", "init", "prod", "--token", "prod", "--module"])
        .arg(shim())
        .env("ZEROTH_SHIM_FAIL_AT", "C_GetMechanismInfo")
        .run()
        .fails(4, &["C_GetMechanismInfo returned CKR_DEVICE_ERROR"]);
    assert!(
        !fx.store().exists(),
        "a failed first env init leaves no store"
    );
    fx.env_init_through_shim("prod", "prod").ok();
    let config = std::fs::read_to_string(fx.store().join("zeroth.toml")).unwrap();
    assert!(
        config.contains(&format!("wrap_mechanism = \"{}\"", fx.kind.default_wrap())),
        "{config}"
    );
}

/// An env init that dies after marking the token leaves a token the store does not
/// know; `env init --adopt`, which the refusal names, finishes it, and the log of the
/// environment verifies.
#[test]
fn an_env_init_cut_short_is_finished_by_adopt() {
    for point in ["C_GenerateKeyPair", "C_Sign:1", "C_Sign:2"] {
        let fx = Fixture::new();
        let run = fx
            .zeroth()
            .args(["env", "init", "prod", "--token", "prod", "--module"])
            .arg(shim())
            .env("ZEROTH_SHIM_ABORT_AT", point)
            .run();
        assert_eq!(run.code, -1, "{point}: {}", run.stderr);
        fx.env_init_through_shim("prod", "prod")
            .fails(3, &["add --adopt"]);
        fx.zeroth()
            .args([
                "env", "init", "prod", "--token", "prod", "--adopt", "--module",
            ])
            .arg(shim())
            .run()
            .ok();
        fx.audit_verify().ok();
        fx.generate("vault-root", "prod", 2, 3).ok();
        fx.unseal("vault-root", &["alice", "bob"]).ok();
        fx.audit_verify().ok();
    }
}

/// `generate` makes the same PKCS#11 calls on a token that holds many other keys as on
/// one that holds few: it asks the token for a key with the new key's label (is one left
/// over?) rather than reading the label of every key on it.
#[test]
fn generate_makes_the_same_calls_whatever_other_keys_the_token_holds() {
    let fx = Fixture::new();
    fx.env_init_through_shim("prod", "prod").ok();
    fx.generate("first", "prod", 2, 3).ok();
    let calls_per_function = |seal: &str| {
        let log = fx.path().join(format!("{seal}.calls"));
        fx.generate_cmd(seal, "prod", 2, 3)
            .env("ZEROTH_SHIM_LOG", &log)
            .run()
            .ok();
        let mut per = std::collections::BTreeMap::<String, usize>::new();
        for (f, _) in calls(&log) {
            *per.entry(f).or_default() += 1;
        }
        per
    };
    let few = calls_per_function("second");
    for i in 0..30 {
        let label = format!("zeroth:prod:other-{i}:v1:s1");
        let out = fx
            .pkcs11_tool()
            .args(["--token-label", "prod", "--login", "--pin", PIN])
            .args(["--keygen", "--key-type", "AES:32", "--label", &label])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pkcs11-tool --keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let many = calls_per_function("third");
    assert_eq!(
        many, few,
        "calls per function with 30 more keys on the token"
    );
    // Each search costs some modules a read of every object on the token (SoftHSM2
    // opens each object's file): a generate makes four, for zeroth's data objects
    // (marker and log anchor), the signing key pair, a left-over key with the new
    // label, and the anchor it replaces.
    assert_eq!(few.get("C_FindObjectsInit"), Some(&4), "{few:?}");
}

/// How many times the fault-free run of `cmd` calls `func`, by the shim's record.
fn calls_of(fx: &Fixture, func: &str, cmd: Cmd<'_>) -> usize {
    let log = fx.path().join(format!("count-{func}.log"));
    let _ = std::fs::remove_file(&log);
    cmd.env("ZEROTH_SHIM_LOG", &log).run();
    calls(&log).iter().filter(|(f, _)| f == func).count()
}

/// `check --hsm` reports a token that fails to answer as unreachable, naming the call,
/// whichever of its searches fails: never as a token whose key does not match the
/// store's (which tells the operator the store was tampered with).
#[test]
fn check_hsm_reports_a_failing_token_as_unreachable() {
    let fx = sealed_through_shim();
    let n = calls_of(
        &fx,
        "C_FindObjectsInit",
        fx.zeroth().args(["check", "--hsm"]),
    );
    assert!(n >= 3, "{n} searches");
    for i in 1..=n {
        let run = fx
            .zeroth()
            .args(["check", "--hsm"])
            .env("ZEROTH_SHIM_FAIL_AT", format!("C_FindObjectsInit:{i}"))
            .run();
        let out = run.stdout_str();
        assert_eq!(run.code, 1, "search {i}: {out}{}", run.stderr);
        assert!(
            out.contains("token-unreachable")
                && out.contains("C_FindObjectsInit returned CKR_DEVICE_ERROR")
                && !out.contains("token-key-mismatch")
                && !out.contains("store-rollback"),
            "search {i}: {out}"
        );
    }
}

/// A cancel whose token fails while it looks for keys fails (exit 4, naming the
/// call), whichever search fails; it is not refused as if the record were not current.
#[test]
fn a_cancel_on_a_failing_token_fails_naming_the_call() {
    let fx = sealed_through_shim();
    let new = fx.path().join("new");
    std::fs::create_dir(&new).unwrap();
    fx.zeroth()
        .args(["rekey", "vault-root", "--share"])
        .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
        .arg("--out-dir")
        .arg(&new)
        .run()
        .ok();
    let id = fx.record("vault-root")["pending"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut failed = 0;
    for i in 1.. {
        let run = fx
            .zeroth()
            .args(["rekey", "vault-root", "--cancel", &id])
            .env("ZEROTH_SHIM_FAIL_AT", format!("C_FindObjectsInit:{i}"))
            .run();
        if run.code == 0 {
            break; // past the last search: nothing failed
        }
        run.fails(4, &["C_FindObjectsInit returned CKR_DEVICE_ERROR"]);
        failed += 1;
        if fx.record("vault-root").get("pending").is_none() {
            break; // failed after the record dropped it: the key is cleanup's orphan
        }
    }
    assert!(failed >= 3, "{failed} searches failed");
}

// ---- the matrix ---------------------------------------------------------------------

use crate::fault_matrix::{Sample, cases, pkcs11_matrix, write_matrix};

fn case(name: &str) -> crate::fault_matrix::Case {
    cases()
        .into_iter()
        .find(|c| c.name == name)
        .expect("a case of the matrix")
}

macro_rules! matrix {
    ($($test:ident, $writes:ident: $name:literal;)*) => {$(
        #[test]
        fn $test() {
            let f = pkcs11_matrix(&case($name), Sample::from_env());
            assert!(f.problems.is_empty(), "{} problems, the first: {}", f.problems.len(), f.problems[0]);
        }

        #[test]
        fn $writes() {
            let f = write_matrix(&case($name), Sample::from_env());
            assert!(f.problems.is_empty(), "{} problems, the first: {}", f.problems.len(), f.problems[0]);
        }
    )*};
}

matrix! {
    pkcs11_faults_in_env_init, write_faults_in_env_init: "env-init";
    pkcs11_faults_in_generate, write_faults_in_generate: "generate";
    pkcs11_faults_in_import, write_faults_in_import: "import";
    pkcs11_faults_in_unseal, write_faults_in_unseal: "unseal";
    pkcs11_faults_in_drill, write_faults_in_drill: "drill";
    pkcs11_faults_in_rekey_start, write_faults_in_rekey_start: "rekey-start";
    pkcs11_faults_in_rekey_confirm, write_faults_in_rekey_confirm: "rekey-confirm";
    pkcs11_faults_in_rekey_cancel, write_faults_in_rekey_cancel: "rekey-cancel";
    pkcs11_faults_in_rotate_start, write_faults_in_rotate_start: "rotate-start";
    pkcs11_faults_in_rotate_confirm, write_faults_in_rotate_confirm: "rotate-confirm";
    pkcs11_faults_in_rotate_cancel, write_faults_in_rotate_cancel: "rotate-cancel";
    pkcs11_faults_in_revoke, write_faults_in_revoke: "revoke";
    pkcs11_faults_in_cleanup, write_faults_in_cleanup: "cleanup-destroy";
    pkcs11_faults_in_audit_attest, write_faults_in_audit_attest: "audit-attest";
    pkcs11_faults_in_check_hsm, write_faults_in_check_hsm: "check-hsm";
}

/// A start killed after it made its key leaves a key of the next set number; a later
/// start of the other kind takes the same set number under another label. The
/// orphan is cleanup's to destroy, and check --hsm agrees once it has.
#[test]
fn an_orphan_whose_set_number_was_taken_again_is_cleaned_up() {
    let fx = sealed_through_shim();
    let first = fx.path().join("first");
    let second = fx.path().join("second");
    std::fs::create_dir(&first).unwrap();
    std::fs::create_dir(&second).unwrap();
    let start = |kind: &str, dir: &std::path::Path| {
        fx.zeroth()
            .args([kind, "vault-root", "--share"])
            .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
            .arg("--out-dir")
            .arg(dir)
    };
    let run = start("rotate", &first)
        .env("ZEROTH_CRASH_AT", "rotate:after-key")
        .run();
    assert_eq!(run.code, -1, "{}", run.stderr);
    start("rekey", &second).run().ok();
    fx.zeroth()
        .args(["cleanup", "--env", "prod", "--destroy"])
        .run()
        .ok();
    assert!(
        !fx.token_objects("prod")
            .contains("zeroth:prod:vault-root:v2:s2"),
        "the orphan of the killed rotation is destroyed"
    );
    assert!(
        fx.token_objects("prod")
            .contains("zeroth:prod:vault-root:v1:s2"),
        "the pending rekey's key is kept"
    );
    let check = fx.zeroth().args(["--json", "check", "--hsm"]).run();
    assert!(
        !check.stdout_str().contains("orphan-key"),
        "{}",
        check.stdout_str()
    );
}
