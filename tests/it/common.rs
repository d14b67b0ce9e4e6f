//! The test fixture: a SoftHSM2 token directory and a zeroth store in a temporary
//! folder per test, and a builder that runs the real binary against them.
//!
//! Every test gets its own `SOFTHSM2_CONF`, so tests run in parallel without sharing a
//! token, and no test touches the machine's own tokens.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const PIN: &str = "246810";
pub const SO_PIN: &str = "13579111";
pub const CUSTODIANS: [&str; 7] = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"];

/// The PKCS#11 module under test.
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

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
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

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    pub fn run(self) -> Run {
        let mut c = Command::new(env!("CARGO_BIN_EXE_zeroth"));
        c.args(&self.args)
            .current_dir(self.fx.path())
            .env("SOFTHSM2_CONF", &self.fx.conf)
            .env("ZEROTH_STORE", self.fx.store())
            .env("ZEROTH_PIN", PIN)
            .env("ZEROTH_LOCK_WAIT_MS", "500")
            .env_remove("ZEROTH_NOW")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
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
    /// A fresh SoftHSM directory with one token, `prod`.
    pub fn new() -> Fixture {
        let fx = Fixture::empty();
        fx.init_token("prod");
        fx
    }

    /// A fresh SoftHSM directory with no token.
    pub fn empty() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let template = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/softhsm/softhsm2.conf"
        ))
        .unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            template.replace("@TOKENDIR@", tokens.to_str().unwrap()),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("shares")).unwrap();
        Fixture { dir, conf }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn shares_dir(&self) -> PathBuf {
        self.dir.path().join("shares")
    }

    pub fn share(&self, seal: &str, custodian: &str) -> PathBuf {
        self.shares_dir().join(format!("{seal}.{custodian}.share"))
    }

    pub fn init_token(&self, label: &str) {
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                PIN,
                "--so-pin",
                SO_PIN,
            ])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("softhsm2-util is installed");
        assert!(
            out.status.success(),
            "init token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn zeroth(&self) -> Cmd<'_> {
        Cmd {
            fx: self,
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
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

    /// Runs `zeroth audit verify` and returns the run.
    pub fn audit_verify(&self) -> Run {
        self.zeroth().args(["audit", "verify"]).run()
    }

    /// The objects on `token`, as pkcs11-tool lists them after login.
    pub fn token_objects(&self, token: &str) -> String {
        let out = Command::new("pkcs11-tool")
            .arg("--module")
            .arg(module())
            .args([
                "--token-label",
                token,
                "--login",
                "--pin",
                PIN,
                "--list-objects",
            ])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("pkcs11-tool (Debian opensc) is installed");
        assert!(
            out.status.success(),
            "pkcs11-tool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Snapshot of everything a refused ceremony must leave as it was.
    pub fn snapshot(&self, tokens: &[&str]) -> (BTreeMap<PathBuf, Vec<u8>>, Vec<String>) {
        (
            self.files(),
            tokens.iter().map(|t| self.token_objects(t)).collect(),
        )
    }
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
