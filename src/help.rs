//! What the help and the manual pages teach beyond the options: two or three real
//! examples per command (the end of each `--help`, and the EXAMPLES section of its
//! manual page), and the sections every manual page of a tool like this has: EXIT
//! STATUS, ENVIRONMENT and FILES.

use clap::Command;

/// Examples per command, by its path of subcommand names.
const EXAMPLES: &[(&str, &[(&str, &str)])] = &[
    (
        "env init",
        &[
            (
                "Bind the production token to 'prod' (the store is created if needed):",
                "zeroth env init prod --module /usr/lib/softhsm/libsofthsm2.so --token prod-hsm",
            ),
            (
                "Take over a token already marked for 'prod', with its signing key:",
                "zeroth env init prod --module /usr/lib/softhsm/libsofthsm2.so --token prod-hsm --adopt",
            ),
        ],
    ),
    (
        "env list",
        &[("Which token serves which environment:", "zeroth env list")],
    ),
    (
        "env pin",
        &[
            (
                "After a package upgrade changed the module, re-pin it:",
                "zeroth env pin prod",
            ),
            (
                "On a new machine with a copy of the store:",
                "zeroth env pin prod --module /usr/lib/softhsm/libsofthsm2.so",
            ),
        ],
    ),
    (
        "trust export",
        &[(
            "The signing keys a CI job pins (kept in the CI's settings, not the repository):",
            "zeroth trust export --key-only",
        )],
    ),
    (
        "settings approve",
        &[(
            "Review and sign what zeroth.toml changes for 'prod':",
            "zeroth settings approve --env prod",
        )],
    ),
    (
        "settings show",
        &[(
            "What counts in each environment, and what is not approved:",
            "zeroth settings show",
        )],
    ),
    (
        "generate",
        &[
            (
                "3 of 5 custodians, shares written to files:",
                "zeroth generate platform-root --env prod --owner platform-team --purpose 'bootstrap token' --rotate-every 90d --threshold 3 --custodian alice --custodian bob --custodian carol --custodian dave --custodian erin --out-dir ./shares",
            ),
            (
                "Shares shown on this terminal, one custodian at a time (nothing written):",
                "zeroth generate platform-root --env prod --owner platform-team --purpose 'bootstrap token' --rotate-every 90d --threshold 2 --custodian alice --custodian bob --custodian carol",
            ),
            (
                "A passphrase for dave, an age key for alice, paper cards for all:",
                "zeroth generate platform-root --env prod --owner platform-team --purpose 'bootstrap token' --rotate-every 90d --threshold 2 --custodian alice=age1… --custodian dave=passphrase --custodian erin --out-dir ./shares --paper ./cards",
            ),
        ],
    ),
    (
        "import",
        &[(
            "Seal a token you have, from a pipe:",
            "printf '%s' \"$ROOT_TOKEN\" | zeroth import vault-token --env prod --owner platform-team --purpose 'root token' --rotate-every 30d --threshold 2 --custodian alice --custodian bob --custodian carol --out-dir ./shares",
        )],
    ),
    (
        "unseal",
        &[
            (
                "Hand the credential to the command that needs it, on its stdin:",
                "zeroth unseal platform-root --share alice.share --share carol.share --share erin.share --exec -- ./bootstrap.sh",
            ),
            (
                "A vault's unseal key, through the API (never an argument):",
                "zeroth unseal vault-unseal --share a.share --share b.share --share c.share --exec -- bao write sys/unseal key=-",
            ),
            (
                "The custodians enter their shares at this terminal, the result to a new file:",
                "zeroth unseal platform-root --identity ~/.config/age/alice.key --output ./credential",
            ),
            (
                "Custodians away hand in from their own machines (zeroth share send), into a shared folder:",
                "zeroth unseal platform-root --remote --watch /srv/handins --output ./credential",
            ),
        ],
    ),
    (
        "drill",
        &[
            (
                "Prove every share, the credential thrown away:",
                "zeroth drill platform-root --share ./shares/platform-root.*.share",
            ),
            (
                "Each custodian enters their share at this terminal:",
                "zeroth drill platform-root",
            ),
        ],
    ),
    (
        "rekey",
        &[
            (
                "bob leaves, frank joins: a pending set, the old one still works:",
                "zeroth rekey platform-root --share alice.share --share bob.share --share carol.share --without bob --custodian frank --out-dir ./new-shares",
            ),
            (
                "Make it current with a quorum of the new shares:",
                "zeroth rekey platform-root --confirm 3f9a2c1b7d4e8f60 --share new-shares/platform-root.alice.share --share new-shares/platform-root.frank.share --share new-shares/platform-root.erin.share",
            ),
        ],
    ),
    (
        "rotate",
        &[
            (
                "A new credential version, pending:",
                "zeroth rotate platform-root --share alice.share --share bob.share --share carol.share --out-dir ./v2-shares",
            ),
            (
                "Deliver it and switch, with the new shares:",
                "zeroth rotate platform-root --confirm ID --share v2-shares/platform-root.alice.share --share v2-shares/platform-root.bob.share --share v2-shares/platform-root.carol.share --exec -- ./install-token.sh",
            ),
        ],
    ),
    (
        "revoke",
        &[
            (
                "Prove that revoking would work, without revoking (check counts it):",
                "zeroth revoke platform-root --drill",
            ),
            (
                "Destroy the key at once (HSM and PIN, no quorum):",
                "zeroth revoke platform-root --reason 'custodian laptop stolen' --confirm-seal platform-root",
            ),
        ],
    ),
    (
        "custodian add",
        &[
            (
                "A custodian with an age key, approved where the token opens with ZEROTH_PIN:",
                "zeroth custodian add frank --recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
            ),
            (
                "With an SSH key, in 'prod' only:",
                "zeroth custodian add grace --recipient \"$(cat grace_ed25519.pub)\" --env prod",
            ),
        ],
    ),
    (
        "custodian list",
        &[(
            "Who holds what, and when it was last proven:",
            "zeroth custodian list",
        )],
    ),
    (
        "custodian offboard",
        &[(
            "bob left: every seal he holds a share of needs a rekey:",
            "zeroth custodian offboard bob",
        )],
    ),
    (
        "cleanup",
        &[
            (
                "What crashes left on the token:",
                "zeroth cleanup --env prod",
            ),
            (
                "Destroy the keys verified state says are dead:",
                "zeroth cleanup --env prod --destroy",
            ),
        ],
    ),
    (
        "share send",
        &[
            (
                "Answer the operator's request with your share, on your own machine:",
                "zeroth share send platform-root.e0f73fa4.request --share platform-root.bob.share",
            ),
            (
                "An encrypted share, the hand-in printed to paste in a chat:",
                "zeroth share send request.txt --share platform-root.carol.share.age --identity ~/.ssh/id_ed25519 --out -",
            ),
        ],
    ),
    (
        "share verify",
        &[
            (
                "A custodian checks their share, alone (no quorum, no HSM):",
                "zeroth share verify platform-root.alice.share",
            ),
            (
                "An encrypted one, against a key obtained at the ceremony:",
                "zeroth share verify platform-root.carol.share.age --identity ~/.ssh/id_ed25519 --pubkey prod.pem",
            ),
        ],
    ),
    (
        "audit verify",
        &[
            (
                "Every log, with the public keys alone:",
                "zeroth audit verify",
            ),
            (
                "In CI, against pins kept outside the repository:",
                "zeroth --trust \"$RUNNER_TEMP/trust.toml\" audit verify",
            ),
        ],
    ),
    (
        "audit show",
        &[
            (
                "One seal's ceremonies:",
                "zeroth audit show --seal platform-root",
            ),
            (
                "Since a date, as JSON:",
                "zeroth --json audit show --env prod --since 2026-01-01",
            ),
        ],
    ),
    (
        "audit report",
        &[(
            "The transcript an auditor files:",
            "zeroth audit report platform-root > platform-root-transcript.md",
        )],
    ),
    (
        "audit export",
        &[
            (
                "Every log as OCSF events, one per line, for a SIEM:",
                "zeroth audit export --format ocsf > zeroth-ocsf.jsonl",
            ),
            (
                "One environment as CEF, from a date:",
                "zeroth audit export --env prod --format cef --since 2026-01-01",
            ),
        ],
    ),
    (
        "audit follow",
        &[(
            "Stream new entries to a log shipper, resuming where it stopped:",
            "zeroth audit follow --env prod --state /var/lib/zeroth/follow.state | vector --config vector.toml",
        )],
    ),
    (
        "access",
        &[(
            "Break-glass only: a reason, twice a month at most, on working days:",
            "zeroth access platform-root --require-reason --max-recoveries 2/30d --window 'Mon-Fri 08:00-18:00 Europe/Berlin'",
        )],
    ),
    (
        "reach",
        &[(
            "Say what a seal's credential unlocks (check reports a seal that does not):",
            "zeroth reach platform-root --unlocks vault:prod-cluster",
        )],
    ),
    (
        "owner offboard",
        &[(
            "A team leaves: its seals need a new owner or their revocation:",
            "zeroth owner offboard payments-team",
        )],
    ),
    (
        "owner transfer",
        &[(
            "Hand a seal to the team that answers for it now:",
            "zeroth owner transfer platform-root --to platform-team",
        )],
    ),
    (
        "audit attest",
        &[(
            "Sign over an unsigned tail, after reviewing it:",
            "zeroth audit attest --env prod",
        )],
    ),
    (
        "list",
        &[
            ("The inventory:", "zeroth list"),
            (
                "Only the seals alice holds a share of:",
                "zeroth list --custodian alice",
            ),
        ],
    ),
    (
        "check",
        &[
            (
                "Governance findings, exit 1 on an error (for CI):",
                "zeroth --json check",
            ),
            (
                "Also the tokens (needs the PIN):",
                "zeroth check --hsm --env prod",
            ),
            (
                "Metrics for node_exporter's textfile collector (from cron):",
                "zeroth check --metrics /var/lib/node_exporter/zeroth.prom",
            ),
            ("One team's seals:", "zeroth check --owner platform-team"),
        ],
    ),
    (
        "vault init",
        &[(
            "Initialize a new OpenBao server, its key sealed 3 of 5:",
            "zeroth vault init vault-unseal --env prod --owner platform-team --purpose 'unseal OpenBao' --rotate-every 180d --threshold 3 --custodian alice --custodian bob --custodian carol --custodian dave --custodian erin --out-dir ./shares",
        )],
    ),
    (
        "vault unseal",
        &[(
            "Three custodians and the HSM unseal every sealed node:",
            "zeroth vault unseal vault-unseal --share alice.share --share carol.share --share erin.share --addr https://bao-1:8200 --addr https://bao-2:8200",
        )],
    ),
    (
        "vault rotate",
        &[
            (
                "Rotate the server's key with verification:",
                "zeroth vault rotate vault-unseal --share a.share --share b.share --share c.share --out-dir ./new-shares",
            ),
            (
                "Have the server verify it, then switch:",
                "zeroth vault rotate vault-unseal --confirm ID --share new-shares/vault-unseal.alice.share --share new-shares/vault-unseal.bob.share --share new-shares/vault-unseal.carol.share",
            ),
        ],
    ),
    (
        "vault root",
        &[(
            "A 15-minute root token for one command:",
            "zeroth vault root vault-unseal --share a.share --share b.share --share c.share --ttl 15m -- bao secrets enable -path=kv kv-v2",
        )],
    ),
    (
        "completions",
        &[
            (
                "Completions that know the store's seals and environments (bash):",
                "echo 'source <(zeroth completions bash)' >> ~/.bashrc",
            ),
            ("zsh:", "zeroth completions zsh > \"${fpath[1]}/_zeroth\""),
        ],
    ),
    (
        "man",
        &[
            ("Read the top page:", "zeroth man | man -l -"),
            (
                "Install a page per command:",
                "zeroth man --out-dir /usr/local/share/man/man1",
            ),
        ],
    ),
];

/// The examples of the command at `path` ("custodian add"), if any.
fn examples(path: &str) -> Option<&'static [(&'static str, &'static str)]> {
    EXAMPLES.iter().find(|(p, _)| *p == path).map(|(_, e)| *e)
}

/// The examples as `--help` shows them: each command folded with shell line
/// continuations, so no line is wrapped by the help's own wrapping and every example
/// can be copied as it stands.
fn help_text(examples: &[(&str, &str)]) -> String {
    let mut out = String::from("Examples:\n");
    for (what, how) in examples {
        out.push_str(&format!("  # {what}\n"));
        out.push_str(&fold(how, 76));
    }
    out
}

/// `command` on lines of at most `width` characters (a longer word stays whole),
/// joined with ` \` continuations and indented.
fn fold(command: &str, width: usize) -> String {
    let mut lines: Vec<String> = vec![String::new()];
    for word in shell_words(command) {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word);
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
        }
    }
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let indent = if i == 0 { "  " } else { "      " };
        let cont = if i + 1 < lines.len() { " \\" } else { "" };
        out.push_str(&format!("{indent}{l}{cont}\n"));
    }
    out
}

/// Splits a command at spaces outside quotes (the examples' quoting is simple).
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match (quote, c) {
            (None, ' ') => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// `cmd` with the examples at the end of each subcommand's help.
pub fn with_examples(cmd: Command) -> Command {
    fn walk(cmd: Command, path: &str) -> Command {
        let mut cmd = cmd;
        if let Some(e) = examples(path) {
            cmd = cmd.after_help(help_text(e));
        }
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for name in names {
            let sub_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path} {name}")
            };
            cmd = cmd.mut_subcommand(&name, |s| walk(s, &sub_path));
        }
        cmd
    }
    walk(cmd, "")
}

/// Escapes text for roff.
fn roff(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('-', "\\-")
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sections a manual page of command `path` ("" for the top page) gets after what
/// clap_mangen renders: EXAMPLES, EXIT STATUS, ENVIRONMENT, FILES.
pub fn man_sections(path: &str) -> String {
    let mut out = String::new();
    let examples: Vec<(&str, &str)> = match examples(path) {
        Some(e) => e.to_vec(),
        None if path.is_empty() => ["generate", "unseal", "drill", "check"]
            .iter()
            .filter_map(|p| examples(p).and_then(|e| e.first().copied()))
            .collect(),
        None => Vec::new(),
    };
    if !examples.is_empty() {
        out.push_str(".SH EXAMPLES\n");
        for (what, how) in examples {
            out.push_str(&format!(
                ".PP\n{}\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE\n",
                roff(what),
                roff(how)
            ));
        }
    }
    // These three are written in roff already.
    out.push_str(&format!(".SH \"EXIT STATUS\"\n{EXIT_STATUS}\n"));
    out.push_str(&format!(".SH ENVIRONMENT\n{ENVIRONMENT}\n"));
    out.push_str(&format!(".SH FILES\n{FILES}\n"));
    out
}

const EXIT_STATUS: &str = ".TP\n0\nsuccess\n.TP\n1\ngovernance findings of error level (check)\n.TP\n2\nusage: malformed or inconsistent arguments, an unknown seal or environment, a missing share file, no PIN source\n.TP\n3\nrefused: a bad share, a bad signature, a wrong PIN, a revoked or expired seal, a wrong environment or token, a file zeroth will not overwrite, a name already taken\n.TP\n4\nHSM or I/O failure: a module missing or failing, a token not found, the store busy, a disk error\n.TP\n130\nstopped with Ctrl\\-C at the terminal (a share on screen is cleared first)\n.PP\nunseal \\-\\-exec and rotate \\-\\-confirm \\-\\-exec exit with the command's exit code (128 + signal when it was killed).";

const ENVIRONMENT: &str = ".TP\nZEROTH_STORE\nthe store directory (\\-\\-store; default ./zeroth)\n.TP\nZEROTH_TRUST\nthe trust file (\\-\\-trust; default ~/.config/zeroth/trust.toml, and /etc/zeroth/trust.toml)\n.TP\nZEROTH_PIN\nthe token PIN (else \\-\\-pin\\-file, else a prompt on the terminal); removed from the environment of an \\-\\-exec command\n.TP\nZEROTH_OPERATOR\nwho runs the ceremony, as the log records them (\\-\\-operator; default the login name, which check reports as operator\\-unnamed)\n.TP\nZEROTH_LOCK_WAIT_MS\nhow long to wait for the store lock (10000)\n.TP\nSOFTHSM2_CONF, KRYOPTIC_CONF\nwhere SoftHSM2 and Kryoptic read their token configuration (read by the module, not by zeroth)\n.TP\nBAO_ADDR, VAULT_ADDR, BAO_CACERT, VAULT_CACERT, BAO_TLS_SERVER_NAME, VAULT_TLS_SERVER_NAME, BAO_TOKEN, VAULT_TOKEN\nthe vault server, its CA, its certificate's name and an operator token (zeroth vault)\n.TP\nNO_COLOR\nno colour or bold on the terminal when set and not empty\n.TP\nCOMPLETE\nset by the completion scripts (zeroth completions) to ask zeroth for completions";

const FILES: &str = ".TP\n./zeroth/\nthe store: zeroth.toml, seals/, keys/, logs/, settings/ (plain files, fit for git)\n.TP\n~/.config/zeroth/trust.toml\nwhat this machine pins for each environment: module, token, signing key";

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command a person runs (every subcommand without subcommands of its own)
    /// ends its help with examples, and every example names it.
    #[test]
    fn every_command_has_examples_that_use_it() {
        fn leaves(cmd: &Command, path: &str, out: &mut Vec<String>) {
            let subs: Vec<&Command> = cmd
                .get_subcommands()
                .filter(|s| s.get_name() != "help")
                .collect();
            if subs.is_empty() && !path.is_empty() {
                out.push(path.to_string());
            }
            for s in subs {
                let p = if path.is_empty() {
                    s.get_name().to_string()
                } else {
                    format!("{path} {}", s.get_name())
                };
                leaves(s, &p, out);
            }
        }
        let mut paths = Vec::new();
        leaves(&crate::cli::command(), "", &mut paths);
        assert!(paths.len() >= 30, "{paths:?}");
        for path in &paths {
            let e = examples(path).unwrap_or_else(|| panic!("no examples for '{path}'"));
            assert!(!e.is_empty(), "{path}");
            for (_, how) in e {
                assert!(
                    how.contains(&format!("zeroth {path}"))
                        || how.contains("zeroth completions")
                        || how.contains("zeroth --"),
                    "{path}: {how}"
                );
            }
        }
    }

    #[test]
    fn folded_examples_keep_quoted_words_whole() {
        let folded = fold(
            "zeroth generate x --purpose 'a long purpose' --threshold 3",
            30,
        );
        assert!(folded.contains("'a long purpose'"), "{folded}");
        assert!(folded.lines().all(|l| l.len() <= 30 + 8), "{folded}");
        assert!(
            folded.lines().rev().skip(1).all(|l| l.ends_with(" \\")),
            "{folded}"
        );
    }
}
