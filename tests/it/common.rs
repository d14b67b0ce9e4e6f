//! The test fixture: a token set-up and a zeroth store in a temporary folder per test,
//! and a builder that runs the real binary against them.
//!
//! The PKCS#11 module under test is SoftHSM2 unless `ZEROTH_TEST_MODULE` names another;
//! scripts/test.sh runs this suite once on SoftHSM2 and once on Kryoptic. Each test gets
//! its own token configuration, made the way its module wants it:
//!
//! - SoftHSM2: a token directory and a `softhsm2.conf` naming it (`SOFTHSM2_CONF`);
//!   tokens are made with `softhsm2-util --init-token --free`.
//! - Kryoptic: one sqlite database per token in the same directory, each a slot of a
//!   `kryoptic.conf` (`KRYOPTIC_CONF`); tokens are made with `pkcs11-tool --init-token`
//!   and `--init-pin`. (A bare `.sql` path in `KRYOPTIC_CONF` gives one slot only, and
//!   some tests need two tokens.)
//!
//! So tests run in parallel without sharing a token, no test touches the machine's own
//! tokens, and no test is written twice.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const PIN: &str = "246810";
pub const SO_PIN: &str = "13579111";
/// The operator every ceremony of the tests names (`ZEROTH_OPERATOR`).
pub const OPERATOR: &str = "test-operator";
/// The environment variables the bao and vault clients, and zeroth's vault commands, read.
pub const VAULT_ENV: [&str; 10] = [
    "BAO_ADDR",
    "VAULT_ADDR",
    "BAO_TOKEN",
    "VAULT_TOKEN",
    "BAO_CACERT",
    "VAULT_CACERT",
    "BAO_TLS_SERVER_NAME",
    "VAULT_TLS_SERVER_NAME",
    "BAO_NAMESPACE",
    "VAULT_NAMESPACE",
];
pub const CUSTODIANS: [&str; 7] = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"];

/// The PKCS#11 module under test: `ZEROTH_TEST_MODULE`, else SoftHSM2.
pub fn module() -> PathBuf {
    if let Some(m) = std::env::var_os("ZEROTH_TEST_MODULE") {
        return PathBuf::from(m);
    }
    for p in [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    ] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("SoftHSM2 is not installed: run scripts/test.sh, which installs it");
}

/// Which PKCS#11 implementation [`module`] is, and what the tests know of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    SoftHsm,
    Kryoptic,
}

/// The kind of the module under test, from its file name.
pub fn kind() -> Kind {
    let m = module();
    let name = m
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.contains("kryoptic") {
        Kind::Kryoptic
    } else if name.contains("softhsm") {
        Kind::SoftHsm
    } else {
        panic!(
            "ZEROTH_TEST_MODULE={}: the fixture prepares tokens for SoftHSM2 (libsofthsm2.so) and Kryoptic (libkryoptic_pkcs11.so) only",
            m.display()
        )
    }
}

impl Kind {
    /// The environment variable naming the module's configuration.
    pub fn conf_var(self) -> &'static str {
        match self {
            Kind::SoftHsm => "SOFTHSM2_CONF",
            Kind::Kryoptic => "KRYOPTIC_CONF",
        }
    }

    /// What `env init` picks with nothing denied: the first of zeroth's preference the
    /// module lists (SoftHSM 2.6 lists `CKM_AES_KEY_WRAP_PAD`, Kryoptic does not).
    pub fn default_wrap(self) -> &'static str {
        match self {
            Kind::SoftHsm => "CKM_AES_KEY_WRAP_PAD",
            Kind::Kryoptic => "CKM_AES_KEY_WRAP",
        }
    }

    /// A configuration that makes the module's `C_Initialize` fail, and the value it
    /// returns then: SoftHSM cannot read a missing config file; Kryoptic cannot open a
    /// token database in a directory that does not exist.
    pub fn broken_conf(self) -> (&'static str, &'static str) {
        match self {
            Kind::SoftHsm => ("/nonexistent/zeroth/softhsm2.conf", "CKR_GENERAL_ERROR"),
            Kind::Kryoptic => ("/nonexistent/zeroth/token.sql", "CKR_TOKEN_NOT_PRESENT"),
        }
    }

    /// How many wrong PINs in a row lock the user PIN, if the module ever locks it
    /// (SoftHSM 2.6 only raises `CKF_USER_PIN_COUNT_LOW`; Kryoptic locks after 10).
    pub fn pin_tries(self) -> Option<u32> {
        match self {
            Kind::SoftHsm => None,
            Kind::Kryoptic => Some(10),
        }
    }
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    /// The module's configuration for this test: `softhsm2.conf` or `kryoptic.conf`.
    pub conf: PathBuf,
    pub kind: Kind,
    /// Kryoptic: the token label of each slot, by slot number.
    slots: RefCell<Vec<String>>,
    /// Mechanisms the module is configured to hide (see [`Fixture::deny_mechanisms`]).
    denied: RefCell<Vec<String>>,
}

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code,
            0,
            "expected success; stderr:\n{}\nstdout:\n{}",
            self.stderr,
            self.stdout_str()
        );
        self
    }

    /// Asserts the exit code and that stderr contains every fragment.
    #[track_caller]
    pub fn fails(self, code: i32, fragments: &[&str]) -> Run {
        assert_eq!(self.code, code, "wrong exit code; stderr:\n{}", self.stderr);
        for f in fragments {
            assert!(
                self.stderr.contains(f),
                "stderr lacks {f:?}:\n{}",
                self.stderr
            );
        }
        self
    }
}

pub struct Cmd<'f> {
    fx: &'f Fixture,
    args: Vec<OsString>,
    env: Vec<(String, Option<OsString>)>,
    stdin: Option<Vec<u8>>,
    no_terminal: bool,
}

impl Cmd<'_> {
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, a: I) -> Self {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: &str, v: impl Into<OsString>) -> Self {
        self.env.push((k.to_string(), Some(v.into())));
        self
    }

    pub fn env_remove(mut self, k: &str) -> Self {
        self.env.push((k.to_string(), None));
        self
    }

    /// Runs with no PIN source at all: no `ZEROTH_PIN` and, through `setsid`, no
    /// controlling terminal to prompt on. A run that got as far as asking for the PIN
    /// fails with "no PIN for token".
    pub fn without_pin(mut self) -> Self {
        self.no_terminal = true;
        self.env_remove("ZEROTH_PIN")
    }

    /// Runs without a controlling terminal (through `setsid`), keeping `ZEROTH_PIN`:
    /// what CI and a pipe look like to the terminal ceremonies.
    pub fn no_terminal(mut self) -> Self {
        self.no_terminal = true;
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    pub fn run(self) -> Run {
        let mut c = if self.no_terminal {
            let mut c = Command::new("setsid");
            c.arg(env!("CARGO_BIN_EXE_zeroth"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_zeroth"))
        };
        c.args(&self.args)
            .current_dir(self.fx.path())
            .env("ZEROTH_STORE", self.fx.store())
            .env("XDG_CONFIG_HOME", self.fx.config_home())
            .env("XDG_CACHE_HOME", self.fx.cache_home())
            .env_remove("ZEROTH_TRUST")
            .env("ZEROTH_PIN", PIN)
            .env("ZEROTH_LOCK_WAIT_MS", "500")
            .env("ZEROTH_OPERATOR", OPERATOR)
            .env_remove("ZEROTH_NOW")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        self.fx.module_env(&mut c);
        // The caller's vault settings are not the test's (the vault tests set their own).
        for k in VAULT_ENV {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        let mut child = c.spawn().expect("run zeroth");
        if let Some(data) = self.stdin {
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        let out: Output = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Fixture {
    /// A fresh token set-up with one token, `prod`.
    pub fn new() -> Fixture {
        let fx = Fixture::empty();
        fx.init_token("prod");
        fx
    }

    /// A fresh token set-up with no token.
    pub fn empty() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::create_dir(dir.path().join("shares")).unwrap();
        let kind = kind();
        let conf = dir.path().join(match kind {
            Kind::SoftHsm => "softhsm2.conf",
            Kind::Kryoptic => "kryoptic.conf",
        });
        let fx = Fixture {
            dir,
            conf,
            kind,
            slots: RefCell::new(Vec::new()),
            denied: RefCell::new(Vec::new()),
        };
        fx.write_conf();
        fx
    }

    /// Where the module keeps this test's tokens: SoftHSM's token directory, or
    /// Kryoptic's sqlite databases.
    pub fn token_dir(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    /// Writes the module's configuration from the tokens made so far and the mechanisms
    /// denied. A module reads it at `C_Initialize`, so every later run sees it.
    fn write_conf(&self) {
        let tokens = self.token_dir();
        let denied = self.denied.borrow();
        let text = match self.kind {
            Kind::SoftHsm => {
                let template = std::fs::read_to_string(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/softhsm/softhsm2.conf"
                ))
                .unwrap();
                let mut text = template.replace("@TOKENDIR@", tokens.to_str().unwrap());
                if !denied.is_empty() {
                    // A leading '-' makes the list a deny list; SoftHSM 2.6 takes the
                    // whole first entry for that marker, so the names follow "-,".
                    text.push_str(&format!("slots.mechanisms = -,{}\n", denied.join(",")));
                }
                text
            }
            Kind::Kryoptic => {
                let slots = self.slots.borrow();
                if slots.is_empty() {
                    "slots = []\n".to_string()
                } else {
                    let mut text = String::new();
                    for (i, label) in slots.iter().enumerate() {
                        text.push_str(&format!(
                            "[[slots]]\nslot = {i}\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n",
                            tokens.join(format!("{label}.sql")).display()
                        ));
                        if !denied.is_empty() {
                            let list: Vec<String> = std::iter::once("DENY".to_string())
                                .chain(denied.iter().cloned())
                                .map(|m| format!("\"{m}\""))
                                .collect();
                            text.push_str(&format!("mechanisms = [{}]\n", list.join(", ")));
                        }
                        text.push('\n');
                    }
                    text
                }
            }
        };
        std::fs::write(&self.conf, text).unwrap();
    }

    /// Configures the module to hide `mechs` (PKCS#11 names) on every token from the
    /// next run on: what a token that lacks them looks like, on the real module.
    pub fn deny_mechanisms(&self, mechs: &[&str]) {
        self.denied
            .borrow_mut()
            .extend(mechs.iter().map(|m| m.to_string()));
        self.write_conf();
    }

    /// Undoes [`Fixture::deny_mechanisms`].
    pub fn allow_all_mechanisms(&self) {
        self.denied.borrow_mut().clear();
        self.write_conf();
    }

    /// Points `cmd` at this test's token set-up and trust file, and away from any
    /// other.
    pub fn module_env(&self, cmd: &mut Command) {
        for k in [Kind::SoftHsm, Kind::Kryoptic] {
            cmd.env_remove(k.conf_var());
        }
        cmd.env(self.kind.conf_var(), &self.conf)
            .env("XDG_CONFIG_HOME", self.config_home())
            .env("XDG_CACHE_HOME", self.cache_home())
            .env_remove("ZEROTH_TRUST");
        // The shim (see [`shim`]) forwards to the module under test; no fault or
        // record is asked for unless a test says so.
        for k in SHIM_CONTROLS {
            cmd.env_remove(k);
        }
        cmd.env("ZEROTH_SHIM_MODULE", module());
    }

    /// `env init` of `env` on `token` through the fault-injecting shim ([`shim`]), so
    /// that every later ceremony of `env` loads the shim in front of the module.
    pub fn env_init_through_shim(&self, env: &str, token: &str) -> Run {
        self.zeroth()
            .args(["env", "init", env, "--token", token, "--module"])
            .arg(shim())
            .run()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// This test's `XDG_CONFIG_HOME`: the trust file `env init` writes is
    /// `config/zeroth/trust.toml` under the test's directory.
    pub fn config_home(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// This test's `XDG_CACHE_HOME`, where `list` keeps its verified-record cache.
    pub fn cache_home(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// The trust file of this test (see [`Fixture::config_home`]).
    pub fn trust_file(&self) -> PathBuf {
        self.config_home().join("zeroth").join("trust.toml")
    }

    pub fn shares_dir(&self) -> PathBuf {
        self.dir.path().join("shares")
    }

    pub fn share(&self, seal: &str, custodian: &str) -> PathBuf {
        self.shares_dir().join(format!("{seal}.{custodian}.share"))
    }

    /// Makes a token labelled `label` with PIN and SO PIN, the way its module wants.
    pub fn init_token(&self, label: &str) {
        assert!(
            label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "fixture token labels are file names too: {label}"
        );
        match self.kind {
            Kind::SoftHsm => {
                let mut c = Command::new("softhsm2-util");
                c.args([
                    "--init-token",
                    "--free",
                    "--label",
                    label,
                    "--pin",
                    PIN,
                    "--so-pin",
                    SO_PIN,
                ]);
                self.module_env(&mut c);
                check_tool(c, "softhsm2-util --init-token");
            }
            Kind::Kryoptic => {
                let slot = {
                    let mut slots = self.slots.borrow_mut();
                    slots.push(label.to_string());
                    (slots.len() - 1).to_string()
                };
                self.write_conf();
                let mut c = self.pkcs11_tool();
                c.args(["--slot", &slot, "--init-token", "--label", label])
                    .args(["--so-pin", SO_PIN]);
                check_tool(c, "pkcs11-tool --init-token");
                let mut c = self.pkcs11_tool();
                c.args([
                    "--slot",
                    &slot,
                    "--init-pin",
                    "--login",
                    "--login-type",
                    "so",
                ])
                .args(["--so-pin", SO_PIN, "--pin", PIN]);
                check_tool(c, "pkcs11-tool --init-pin");
            }
        }
    }

    /// Initializes the token labelled `label` again, as a security officer resetting
    /// it would: every object on it is gone, the PINs are set anew.
    pub fn reinit_token(&self, label: &str) {
        match self.kind {
            Kind::SoftHsm => {
                let mut c = Command::new("softhsm2-util");
                c.args(["--init-token", "--token", label, "--label", label])
                    .args(["--pin", PIN, "--so-pin", SO_PIN]);
                self.module_env(&mut c);
                check_tool(c, "softhsm2-util --init-token --token");
            }
            Kind::Kryoptic => {
                let slot = self
                    .slots
                    .borrow()
                    .iter()
                    .position(|l| l == label)
                    .expect("a token this fixture made")
                    .to_string();
                let mut c = self.pkcs11_tool();
                c.args(["--slot", &slot, "--init-token", "--label", label])
                    .args(["--so-pin", SO_PIN]);
                check_tool(c, "pkcs11-tool --init-token");
                // Kryoptic's C_InitToken leaves the user PIN uninitialized.
                let mut c = self.pkcs11_tool();
                c.args([
                    "--slot",
                    &slot,
                    "--init-pin",
                    "--login",
                    "--login-type",
                    "so",
                ])
                .args(["--so-pin", SO_PIN, "--pin", PIN]);
                check_tool(c, "pkcs11-tool --init-pin");
            }
        }
    }

    /// The serial number of the token labelled `label`, as `pkcs11-tool -L` prints it.
    pub fn serial(&self, label: &str) -> String {
        let mut c = self.pkcs11_tool();
        c.arg("--list-slots");
        let out = check_tool(c, "pkcs11-tool --list-slots");
        let mut current = None;
        for line in out.lines() {
            if let Some((key, value)) = line.split_once(':') {
                match key.trim() {
                    "token label" => current = Some(value.trim().to_string()),
                    "serial num" if current.as_deref() == Some(label) => {
                        return value.trim().to_string();
                    }
                    _ => {}
                }
            }
        }
        panic!("no token labelled {label} in:\n{out}")
    }

    /// `pkcs11-tool` on the module under test, with this test's configuration.
    pub fn pkcs11_tool(&self) -> Command {
        let mut c = Command::new("pkcs11-tool");
        c.arg("--module").arg(module());
        self.module_env(&mut c);
        c
    }

    /// What `pkcs11-tool -M` prints for `token`: the mechanisms it lists.
    pub fn mechanisms(&self, token: &str) -> String {
        let mut c = self.pkcs11_tool();
        c.args(["--token-label", token, "--list-mechanisms"]);
        check_tool(c, "pkcs11-tool --list-mechanisms")
    }

    pub fn zeroth(&self) -> Cmd<'_> {
        Cmd {
            fx: self,
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            no_terminal: false,
        }
    }

    /// The zeroth binary with this test's store, PIN and module, for a caller that runs
    /// it itself (in a pseudo-terminal).
    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_zeroth"));
        c.current_dir(self.path())
            .env("ZEROTH_STORE", self.store())
            .env("XDG_CONFIG_HOME", self.config_home())
            .env("XDG_CACHE_HOME", self.cache_home())
            .env_remove("ZEROTH_TRUST")
            .env("ZEROTH_PIN", PIN)
            .env("ZEROTH_LOCK_WAIT_MS", "500")
            .env("ZEROTH_OPERATOR", OPERATOR)
            .env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .env_remove("ZEROTH_NOW");
        self.module_env(&mut c);
        c
    }

    pub fn env_init(&self, env: &str, token: &str) -> Run {
        self.zeroth()
            .args(["env", "init", env, "--token", token, "--module"])
            .arg(module())
            .run()
    }

    /// Generates `seal` in `env` for the first `n` custodians, threshold `t`.
    pub fn generate(&self, seal: &str, env: &str, t: u8, n: usize) -> Run {
        self.generate_cmd(seal, env, t, n).run()
    }

    pub fn generate_cmd(&self, seal: &str, env: &str, t: u8, n: usize) -> Cmd<'_> {
        let mut c = self
            .zeroth()
            .args([
                "generate",
                seal,
                "--env",
                env,
                "--owner",
                "platform",
                "--purpose",
                "unseal vault",
            ])
            .args(["--unlocks", &format!("app:{seal}")])
            .args([
                "--threshold",
                &t.to_string(),
                "--rotate-every",
                "90d",
                "--out-dir",
            ])
            .arg(self.shares_dir());
        for name in &CUSTODIANS[..n] {
            c = c.args(["--custodian", name]);
        }
        c
    }

    pub fn import_cmd(&self, seal: &str, env: &str, t: u8, n: usize, secret: &[u8]) -> Cmd<'_> {
        let mut c = self
            .zeroth()
            .args([
                "import",
                seal,
                "--env",
                env,
                "--owner",
                "platform",
                "--purpose",
                "root token",
            ])
            .args(["--unlocks", &format!("app:{seal}")])
            .args([
                "--threshold",
                &t.to_string(),
                "--rotate-every",
                "30d",
                "--out-dir",
            ])
            .arg(self.shares_dir())
            .stdin(secret.to_vec());
        for name in &CUSTODIANS[..n] {
            c = c.args(["--custodian", name]);
        }
        c
    }

    /// A store with env `prod` bound to token `prod` and seal `vault-root` 3-of-5.
    pub fn sealed() -> Fixture {
        let fx = Fixture::new();
        fx.env_init("prod", "prod").ok();
        fx.generate("vault-root", "prod", 3, 5).ok();
        fx
    }

    /// A drill of `vault-root` with all five shares (of a [`Fixture::sealed`] store).
    pub fn drill_all(&self) -> Run {
        self.zeroth()
            .args(["drill", "vault-root", "--share"])
            .args(CUSTODIANS[..5].iter().map(|w| self.share("vault-root", w)))
            .run()
            .ok()
    }

    /// A revocation drill of `seal` (`revoke --drill`), with the clock at `now` if given.
    pub fn revoke_drill(&self, seal: &str, now: Option<&str>) -> Run {
        let mut c = self.zeroth().args(["revoke", seal, "--drill"]);
        if let Some(t) = now {
            c = c.env("ZEROTH_NOW", t);
        }
        c.run().ok()
    }

    /// Unseals `seal` with the shares of `who` to stdout.
    pub fn unseal(&self, seal: &str, who: &[&str]) -> Run {
        self.unseal_cmd(seal, who).args(["--output", "-"]).run()
    }

    pub fn unseal_cmd(&self, seal: &str, who: &[&str]) -> Cmd<'_> {
        let mut c = self.zeroth().args(["unseal", seal]);
        for w in who {
            c = c.arg("--share").arg(self.share(seal, w));
        }
        c
    }

    pub fn record(&self, seal: &str) -> serde_json::Value {
        let p = self.store().join("seals").join(format!("{seal}.json"));
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    pub fn write_record(&self, seal: &str, v: &serde_json::Value) {
        let p = self.store().join("seals").join(format!("{seal}.json"));
        std::fs::write(p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    }

    /// Every file of the store and the shares directory, by path, with its bytes
    /// (the lock file aside).
    pub fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        for root in [self.store(), self.shares_dir()] {
            walk(&root, &mut out);
        }
        let logs = self.store().join("logs");
        out.retain(|p, _| p.file_name().is_none_or(|n| n != ".lock") && !p.starts_with(&logs));
        out
    }

    /// The lines of the ceremony log of `env`.
    pub fn log_lines(&self, env: &str) -> Vec<serde_json::Value> {
        let path = self.store().join("logs").join(format!("{env}.jsonl"));
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("log lines are JSON"))
            .collect()
    }

    /// Every log of the store, by environment.
    pub fn logs(&self) -> BTreeMap<String, Vec<serde_json::Value>> {
        let mut out = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(self.store().join("logs")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(env) = name.strip_suffix(".jsonl") {
                    out.insert(env.to_string(), self.log_lines(env));
                }
            }
        }
        out
    }

    /// Approves (signs with the HSM) what `zeroth.toml` holds now for `env`'s custodians
    /// and policy.
    pub fn approve_settings(&self, env: &str) -> Run {
        self.zeroth()
            .args(["settings", "approve", "--env", env, "--yes"])
            .run()
    }

    /// Runs `zeroth audit verify` and returns the run.
    pub fn audit_verify(&self) -> Run {
        self.zeroth().args(["audit", "verify"]).run()
    }

    /// The objects on `token`, as pkcs11-tool lists them after login. Kryoptic also
    /// lists its mechanisms as `CKO_MECHANISM` objects ("Object N, type 7"), in an order
    /// that changes from run to run: those lines are left out, so two listings of an
    /// unchanged token compare equal.
    pub fn token_objects(&self, token: &str) -> String {
        let mut c = self.pkcs11_tool();
        c.args([
            "--token-label",
            token,
            "--login",
            "--pin",
            PIN,
            "--list-objects",
        ]);
        check_tool(c, "pkcs11-tool --list-objects")
            .lines()
            .filter(|l| !is_mechanism_object(l))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// Every file the module keeps this test's tokens in (SoftHSM's object files,
    /// Kryoptic's sqlite databases), with its bytes. Never empty once a token exists.
    pub fn token_files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(&self.token_dir(), &mut out);
        assert!(
            !out.is_empty(),
            "no token files under {}",
            self.token_dir().display()
        );
        out
    }

    /// Snapshot of everything a refused ceremony must leave as it was.
    pub fn snapshot(&self, tokens: &[&str]) -> (BTreeMap<PathBuf, Vec<u8>>, Vec<Vec<String>>) {
        (
            self.files(),
            tokens
                .iter()
                .map(|t| without_log_anchor(&self.token_objects(t)))
                .collect(),
        )
    }
}

/// Runs `f`, which must be refused, and checks nothing changed on disk or token but
/// the ceremony log, which gains at most one entry per environment: the refusal.
#[track_caller]
pub fn unchanged(fx: &Fixture, tokens: &[&str], f: impl FnOnce() -> Run) -> Run {
    let before = fx.snapshot(tokens);
    let logs_before = fx.logs();
    let run = f();
    let logs_after = fx.logs();
    for (env, after) in &logs_after {
        let before = logs_before.get(env).cloned().unwrap_or_default();
        assert!(
            after.len() <= before.len() + 1,
            "more than one entry logged in {env}"
        );
        assert_eq!(
            &after[..before.len()],
            &before[..],
            "the log of {env} was rewritten"
        );
        if let Some(new) = after.get(before.len()) {
            assert_ne!(new["outcome"], "ok", "a refusal logged as ok: {new}");
        }
    }
    assert_ne!(run.code, 0, "expected a refusal: {}", run.stderr);
    assert!(
        run.stdout.is_empty() || run.stdout_str().trim_start().starts_with('{'),
        "stdout: {}",
        run.stdout_str()
    );
    let after = fx.snapshot(tokens);
    assert_eq!(
        before.0.keys().collect::<Vec<_>>(),
        after.0.keys().collect::<Vec<_>>(),
        "files added or removed"
    );
    assert!(before.0 == after.0, "a file changed");
    assert_eq!(before.1, after.1, "token objects changed");
    run
}

/// A `token_objects` listing as a set of objects, without the log anchor: the anchor
/// belongs to the ceremony log, which a refusal may extend by one entry (and the token
/// replaces the anchor object to follow it). Object numbers, which change when objects
/// come and go, are dropped; objects are sorted.
pub fn without_log_anchor(listing: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in listing.lines() {
        if !line.starts_with(' ') || blocks.is_empty() {
            blocks.push(String::new());
        }
        let line = match line.strip_prefix("Data object ") {
            Some(n) if n.bytes().all(|b| b.is_ascii_digit()) => "Data object",
            _ => line,
        };
        let last = blocks.last_mut().unwrap();
        last.push_str(line);
        last.push('\n');
    }
    blocks.retain(|b| !b.contains(":log-head'"));
    blocks.sort();
    blocks
}

/// Runs a token tool, asserts it succeeded and returns its stdout.
#[track_caller]
fn check_tool(mut c: Command, what: &str) -> String {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run it ({e}); scripts/test.sh installs it"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A line pkcs11-tool prints for a `CKO_MECHANISM` object (class 7).
fn is_mechanism_object(line: &str) -> bool {
    line.strip_prefix("Object ")
        .and_then(|rest| rest.strip_suffix(", type 7"))
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
}

/// Every subset of `0..n` of size `k`.
pub fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    fn go(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            go(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    go(0, n, k, &mut Vec::new(), &mut out);
    out
}

/// The environment variables that ask the shim for a record or a fault
/// (tests/pkcs11-shim/README.md).
pub const SHIM_CONTROLS: [&str; 5] = [
    "ZEROTH_SHIM_LOG",
    "ZEROTH_SHIM_FAIL_AT",
    "ZEROTH_SHIM_FAIL_RV",
    "ZEROTH_SHIM_FAIL_MODE",
    "ZEROTH_SHIM_ABORT_AT",
];

/// The fault-injecting, call-recording PKCS#11 module of tests/pkcs11-shim, built with
/// the system C compiler once per test run (and kept, by a hash of its source, in the
/// target directory). It forwards to `ZEROTH_SHIM_MODULE`, which the fixture sets to
/// [`module`].
pub fn shim() -> PathBuf {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(build_shim).clone()
}

const SHIM_FLAGS: [&str; 10] = [
    "-shared",
    "-fPIC",
    "-fvisibility=hidden",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-I/usr/include/p11-kit-1",
    "-Wl,-z,nodelete",
    "-ldl",
];

fn build_shim() -> PathBuf {
    use sha2::Digest;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pkcs11-shim/shim.c");
    let text = std::fs::read(&src).expect("tests/pkcs11-shim/shim.c");
    let mut hash = sha2::Sha256::new();
    hash.update(&text);
    hash.update(SHIM_FLAGS.join(" "));
    let hash = hex::encode(&hash.finalize()[..8]);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pkcs11-shim");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("libzeroth_pkcs11_shim-{hash}.so"));
    if out.exists() {
        return out;
    }
    // Built beside its final name and renamed: another test process building it at the
    // same time never sees half a library.
    let tmp = dir.join(format!(".build-{}-{hash}.so", std::process::id()));
    let built = Command::new("cc")
        .args(&SHIM_FLAGS[..SHIM_FLAGS.len() - 1])
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .arg(SHIM_FLAGS[SHIM_FLAGS.len() - 1])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run cc ({e}): the shim needs a C compiler; scripts/test.sh installs one")
        });
    assert!(
        built.status.success(),
        "building {}: {}(it needs a C compiler and libp11-kit-dev; scripts/test.sh installs them)",
        src.display(),
        String::from_utf8_lossy(&built.stderr)
    );
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// `text`, a share of `seal` as zeroth writes it now (version 2), written as version 1,
/// as zeroth wrote it before: the same point of the same set, with the seal id and set
/// in full. Its commitment is the same: it opens the seal just as well.
pub fn as_version_1(fx: &Fixture, seal: &str, text: &str) -> String {
    let mut share = zeroth::share::Share::from_armor(text).unwrap();
    assert_eq!(share.payload.version(), zeroth::share::FORMAT_V2);
    let id: [u8; 16] = hex::decode(fx.record(seal)["id"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    share.payload.binding = zeroth::share::Binding::Full {
        seal_id: id,
        set: share.claimed_set().unwrap(),
    };
    share.to_armor().to_string()
}
