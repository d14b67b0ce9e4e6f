//! Collecting shares on the terminal, for `unseal` and `drill` without `--share`: each
//! custodian in turn pastes their share (zeroth's armored text, or the age file of an
//! encrypted share) or types its numbered lines, with input hidden.
//!
//! Each typed line is checked the moment it is entered: a typo is named with its line,
//! and with its group when that can be told, and only that line is typed again. Each
//! share is checked against the record as soon as it is complete (seal, set,
//! commitment, a custodian given twice), and progress says how many are in and who is
//! still needed. Ctrl-C or Ctrl-D stops the ceremony: nothing is combined.
//!
//! An encrypted share pasted when no identity given opens it (none was given, or not
//! this custodian's) is not the end of the ceremony: its custodian is asked for the path
//! of their identity file, there and then. Or they decrypt it on their own machine
//! (`age -d -i KEY FILE`) and paste the plain text.

use std::path::PathBuf;

use super::shares::{Accepted, check_share};
use crate::audit::{Draft, RejectedShare};
use crate::error::{CeremonyError, Error, Kind, RecordError, Result};
use crate::recipient::{AGE_BEGIN, Keyring};
use crate::seal::SealRecord;
use crate::share::{self, BEGIN, END, Share};
use crate::store::Store;
use crate::terminal::Tty;

const AGE_END: &str = "-----END AGE ENCRYPTED FILE-----";
/// What the log and messages call a share entered at the terminal.
pub(crate) const SOURCE: &str = "(terminal)";

/// What one custodian entered.
pub(crate) enum Entry {
    /// A complete share, parsed.
    Share(Share),
    /// An empty line: no more custodians (a drill past the threshold).
    Done,
    /// Something that is not a share: the reason was shown, ask again.
    Again,
}

/// Collects shares of `record` on the terminal until the threshold is reached (or,
/// with `all`, until every custodian has entered theirs or an empty line ends it once
/// the threshold is reached). Returns the accepted shares, as `collect` does for files.
pub(crate) fn collect(
    store: &Store,
    record: &SealRecord,
    verb: &str,
    keys: &Keyring,
    all: bool,
    draft: &mut Draft,
) -> Result<Vec<Accepted>> {
    let Some(mut tty) = Tty::open() else {
        return Err(CeremonyError::NoSharesNoTerminal {
            verb: verb.to_string(),
            threshold: record.threshold,
        }
        .into());
    };
    let t = usize::from(record.threshold);
    let n = record.custodians.len();
    let names: Vec<&str> = record.custodians.iter().map(|c| c.name.as_str()).collect();
    tty.say(&format!(
        "{}\nCustodians: {}.\nEach in turn pastes their share (the armored text) or types its numbered lines,\nline 1 first, with the check characters at the end. Input is hidden. Ctrl-C stops.\n",
        tty.bold(&format!(
            "zeroth {verb} '{}' ({}): any {t} of {n} custodians",
            record.name, record.env
        )),
        names.join(", ")
    ))?;
    let mut accepted: Vec<Accepted> = Vec::new();
    tty.quiet()?;
    let result = (|| -> Result<()> {
        loop {
            let have = accepted.len();
            if (!all && have >= t) || have == n {
                return Ok(());
            }
            let missing: Vec<&str> = names
                .iter()
                .copied()
                .filter(|c| !accepted.iter().any(|a| a.custodian == *c))
                .collect();
            if have < t {
                tty.say(&format!(
                    "\n{} {have} of {t} shares in; still needed: {} more, from any of: {}\n",
                    tty.bold("progress:"),
                    t - have,
                    missing.join(", ")
                ))?;
            } else {
                tty.say(&format!(
                    "\n{} {have} of {n} shares in, the threshold ({t}) is reached; {} may still prove theirs.\nPress Enter on an empty line to finish.\n",
                    tty.bold("progress:"),
                    missing.join(", ")
                ))?;
            }
            tty.say("Next custodian: your share (paste it, or type line 1):\n")?;
            let share = match read_entry(&mut tty, keys, record)? {
                Entry::Done if have >= t => return Ok(()),
                Entry::Done | Entry::Again => continue,
                Entry::Share(s) => s,
            };
            match check_share(record, &share) {
                Ok(custodian) if accepted.iter().any(|a| a.custodian == custodian) => {
                    let msg = tty.bad(&format!(
                        "  {custodian}'s share was entered already: the next custodian, please"
                    ));
                    tty.say(&format!("{msg}\n"))?;
                }
                Ok(custodian) => {
                    let msg = tty.good(&format!(
                        "  share of {custodian} accepted (share {} of {n})",
                        share.payload.point.x
                    ));
                    tty.say(&format!("{msg}\n"))?;
                    accepted.push(Accepted {
                        path: PathBuf::from(SOURCE),
                        custodian,
                        share,
                    });
                }
                Err((custodian, reason)) => {
                    // Typed lines carry no header naming their seal: say which it is.
                    let reason = match super::shares::identify_elsewhere(store, record, &share) {
                        Some(elsewhere) if share.set.is_none() => elsewhere,
                        _ => reason,
                    };
                    let msg = tty.bad(&format!("  refused: {reason}"));
                    tty.say(&format!(
                        "{msg}\n  enter a share of '{}', please\n",
                        record.name
                    ))?;
                    draft.rejected.push(RejectedShare {
                        custodian,
                        file: SOURCE.into(),
                        reason,
                    });
                }
            }
        }
    })();
    tty.loud();
    draft.custodians = accepted.iter().map(|a| a.custodian.clone()).collect();
    if let Err(e) = result {
        let _ = tty.say("\n");
        let entered = if accepted.is_empty() {
            "none".to_string()
        } else {
            draft.custodians.join(", ")
        };
        let n_in = accepted.len();
        let stop = |m: &str| {
            format!(
                "{verb} refused: {m} with {n_in} of {t} shares entered ({entered}); nothing was combined"
            )
        };
        return Err(match e {
            // Ctrl-C keeps its exit code (130); anything else refuses the ceremony.
            Error::Interrupted(_) => e.map_message(stop),
            other => CeremonyError::CollectStopped {
                verb: verb.to_string(),
                detail: other.message(),
                entered: draft.custodians.clone(),
                threshold: t,
            }
            .into(),
        });
    }
    tty.say(&format!(
        "{}\n",
        tty.good(&format!(
            "{} shares in ({}): recovering in the HSM",
            accepted.len(),
            draft.custodians.join(", ")
        ))
    ))?;
    Ok(accepted)
}

/// Reads one custodian's share: an armored paste, an age paste, or typed lines.
fn read_entry(tty: &mut Tty, keys: &Keyring, record: &SealRecord) -> Result<Entry> {
    let first = loop {
        let line = tty.read_hidden()?;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Ok(Entry::Done);
        }
        // Headers copied from a card are not needed: the record has them.
        if is_header(trimmed) {
            continue;
        }
        break line;
    };
    read_entry_after(tty, &first, keys, record)
}

/// Reads the rest of one custodian's share once its first line (not empty, not a
/// header) was read: an armored paste, an age paste, or typed lines.
pub(crate) fn read_entry_after(
    tty: &mut Tty,
    first: &str,
    keys: &Keyring,
    record: &SealRecord,
) -> Result<Entry> {
    let first = first.trim();
    if first == BEGIN || first == AGE_BEGIN {
        let end = if first == BEGIN { END } else { AGE_END };
        let mut text = zeroize::Zeroizing::new(format!("{first}\n"));
        loop {
            let line = tty.read_hidden()?;
            text.push_str(line.trim());
            text.push('\n');
            if line.trim() == end {
                break;
            }
        }
        let plain = if first == AGE_BEGIN {
            match open_pasted(tty, keys, &text)? {
                Some(p) => p,
                None => return Ok(Entry::Again),
            }
        } else {
            text
        };
        return match Share::from_armor(&plain) {
            Ok(s) => Ok(Entry::Share(s)),
            Err(reason) => {
                let msg = tty.bad(&format!("  the pasted share: {reason}"));
                tty.say(&format!("{msg}\n  paste it again, or type its lines\n"))?;
                Ok(Entry::Again)
            }
        };
    }
    // Typed lines, each checked as it comes. Line 1 is as long in every version and
    // says which version the share is, hence how many lines follow.
    let mut encoded = zeroize::Zeroizing::new(String::new());
    let mut line = zeroize::Zeroizing::new(first.to_string());
    let mut version = share::CURRENT_FORMAT;
    let mut k = 1;
    while k <= share::lines(version) {
        let parsed = share::parse_line(version, k, &line).and_then(|chars| {
            if k == 1 {
                version = share::version_of_first_line(&chars)?;
            }
            Ok(chars)
        });
        match parsed {
            Ok(chars) => {
                encoded.push_str(&chars);
                tty.say(&format!("  line {k} of {} ok\n", share::lines(version)))?;
                k += 1;
            }
            Err(fault) => {
                let where_ = if fault.starts_with("group ") {
                    format!("line {k}, {fault}")
                } else {
                    format!("line {k}: {fault}")
                };
                let msg = tty.bad(&format!("  {where_}"));
                tty.say(&format!("{msg}\n  type line {k} again\n"))?;
            }
        }
        if k <= share::lines(version) {
            line = tty.read_hidden()?;
            if line.trim().is_empty() {
                tty.say("  (an empty line: that share is dropped; start again from line 1)\n")?;
                return Ok(Entry::Again);
            }
        }
    }
    match share::Payload::from_encoded(&encoded) {
        // Typed lines carry no headers: the record gives them, and the payload (seal
        // and set, x) is checked against the record all the same.
        Ok(payload) => Ok(Entry::Share(Share {
            seal: record.name.clone(),
            env: record.env.clone(),
            custodian: record
                .custodian_at(payload.point.x)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            n: u8::try_from(record.custodians.len()).unwrap_or(u8::MAX),
            set: None,
            payload,
        })),
        Err(reason) => {
            let msg = tty.bad(&format!("  {reason}"));
            tty.say(&format!("{msg}\n  start again from line 1\n"))?;
            Ok(Entry::Again)
        }
    }
}

/// Opens a pasted age share: with a passphrase asked on the terminal, or with the
/// identities given; when none was given, or none opens it, asks its custodian for the
/// path of their identity file (three tries; Enter alone gives up on this share).
/// Returns `None` when the share stays closed: the reason was shown, the next
/// custodian is asked.
fn open_pasted(
    tty: &mut Tty,
    keys: &Keyring,
    text: &str,
) -> Result<Option<zeroize::Zeroizing<String>>> {
    const SOURCE: &str = "the pasted share";
    let as_text = |p: zeroize::Zeroizing<Vec<u8>>| {
        Some(zeroize::Zeroizing::new(
            String::from_utf8_lossy(&p).into_owned(),
        ))
    };
    let mut tries = 0;
    let mut just_added = false;
    loop {
        let needs_key = match keys.decrypt(SOURCE, text.as_bytes()) {
            Ok(p) => return Ok(as_text(p)),
            // No identity given at all, or none of them opens it: ask for one.
            Err(e) if e.kind() == Kind::Usage && keys.is_empty() => true,
            Err(e) if matches!(e.cause(), Error::Record(RecordError::ShareNotOurs { .. })) => {
                if just_added {
                    let msg = tty.bad("  that identity does not open it either");
                    tty.say(&format!("{msg}\n"))?;
                }
                true
            }
            Err(e @ Error::Interrupted(_)) => return Err(e),
            Err(e) => {
                let msg = tty.bad(&format!("  {SOURCE}: {}", e.message()));
                tty.say(&format!("{msg}\n"))?;
                false
            }
        };
        if !needs_key || tries == 3 {
            tty.say(
                "  this share stays closed: its custodian can decrypt it on their own machine\n  (age -d -i KEY FILE) and paste the plain text; the next custodian, please\n",
            )?;
            return Ok(None);
        }
        tries += 1;
        tty.say(
            "  this share is encrypted to its custodian's key: type the path of their identity\n  file (an age key, or an SSH private key), or press Enter alone to skip it: ",
        )?;
        let path = tty.read_hidden()?;
        let path = path.trim();
        if path.is_empty() {
            tty.say(
                "  skipped: its custodian can decrypt it on their own machine (age -d -i KEY FILE)\n  and paste the plain text; the next custodian, please\n",
            )?;
            return Ok(None);
        }
        let path = std::path::PathBuf::from(shell_path(path));
        tty.say(&format!("  identity file: {}\n", path.display()))?;
        if let Err(e) = keys.add(&path) {
            let msg = tty.bad(&format!(
                "  {}",
                e.message().replace("--identity ", "identity file ")
            ));
            tty.say(&format!("{msg}\n"))?;
            just_added = false;
            continue;
        }
        just_added = true;
    }
}

/// A path typed at the terminal, with a leading `~/` read as the home directory, as a
/// shell would.
fn shell_path(typed: &str) -> String {
    match (typed.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => typed.to_string(),
    }
}

pub(crate) fn is_header(line: &str) -> bool {
    ["Seal:", "Environment:", "Custodian:", "Share:"]
        .iter()
        .any(|h| line.starts_with(h))
}
