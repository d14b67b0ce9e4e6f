//! Handing a new share set to its custodians, for generate, import, rekey and rotate.
//!
//! Three ways, chosen by the command line:
//!
//! - `--out-dir DIR`: one file per custodian, `<seal>.<custodian>.share`, or, for a
//!   custodian with a recipient, `<seal>.<custodian>.share.age`: the same text
//!   encrypted with age to their key or passphrase;
//! - `--paper DIR`: one printable card per custodian, `<seal>.<custodian>.card.svg`;
//! - neither, on a terminal: each custodian in turn sees their share alone, types back a
//!   group of it to prove they recorded it, and the screen is cleared before the next.
//!   Nothing is written to disk.
//!
//! Everything that can be refused is checked before the HSM is touched
//! ([`Plan::prepare`]): directories, files in the way, a terminal where one is needed,
//! and passphrases, typed twice. Files are written 0600, never over a file, and those
//! written are removed again if a later one fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;

use crate::error::{CeremonyError, Error, Result};
use crate::recipient::CustodianSpec;
use crate::recipient::Recipient;
use crate::share::Share;
use crate::store::{exists_error, sync_directory, write_new_secret_unsynced};
use crate::terminal::Tty;

/// Where a new share set goes, as the command line says.
#[derive(Debug, Clone, Default)]
pub struct Outlets {
    /// `--out-dir`: share files.
    pub out_dir: Option<PathBuf>,
    /// `--paper`: printable cards.
    pub paper: Option<PathBuf>,
    /// `--allow-weak-passphrase`: keep a passphrase zxcvbn judges weak, with a warning.
    pub allow_weak_passphrase: bool,
}

impl Outlets {
    /// Returns true if and only if the shares are shown on the terminal.
    pub fn terminal(&self) -> bool {
        self.out_dir.is_none() && self.paper.is_none()
    }
}

/// Where the share file of `custodian` goes in `dir`.
pub(crate) fn share_path(dir: &Path, seal: &str, custodian: &str, encrypted: bool) -> PathBuf {
    dir.join(format!(
        "{seal}.{custodian}.share{}",
        if encrypted { ".age" } else { "" }
    ))
}

/// Where the paper card of `custodian` goes in `dir`.
pub(crate) fn card_path(dir: &Path, seal: &str, custodian: &str) -> PathBuf {
    dir.join(format!("{seal}.{custodian}.card.svg"))
}

/// Checks, before anything is generated, everything about the outlets that needs no
/// terminal: the directories exist, no file is in the way, and a custodian with a
/// recipient gets a file to encrypt.
pub(crate) fn preflight(outlets: &Outlets, seal: &str, custodians: &[CustodianSpec]) -> Result<()> {
    for (flag, dir) in [("--out-dir", &outlets.out_dir), ("--paper", &outlets.paper)] {
        if let Some(dir) = dir {
            // A directory that does not exist yet is made (0700) when the shares are
            // written; something else in its place, or under a file, is refused.
            let in_the_way = dir
                .ancestors()
                .filter(|a| !a.as_os_str().is_empty())
                .find(|a| a.symlink_metadata().is_ok());
            if let Some(found) = in_the_way
                && !found.is_dir()
            {
                return Err(CeremonyError::OutputNotDirectory {
                    flag: flag.to_string(),
                    dir: dir.to_path_buf(),
                    found: found.to_path_buf(),
                }
                .into());
            }
        }
    }
    for c in custodians {
        if let Some(r) = &c.recipient
            && outlets.out_dir.is_none()
        {
            return Err(CeremonyError::RecipientNeedsOutDir {
                custodian: c.name.clone(),
                passphrase: r == crate::recipient::PASSPHRASE,
                terminal: outlets.terminal(),
            }
            .into());
        }
        if let Some(dir) = &outlets.out_dir {
            let path = share_path(dir, seal, &c.name, c.recipient.is_some());
            if path.symlink_metadata().is_ok() {
                return Err(exists_error(&path));
            }
        }
        if let Some(dir) = &outlets.paper {
            let path = card_path(dir, seal, &c.name);
            if path.symlink_metadata().is_ok() {
                return Err(exists_error(&path));
            }
        }
    }
    Ok(())
}

/// A checked plan for handing out one share set: recipients parsed, the terminal open
/// when it is needed, passphrases typed.
pub(crate) struct Plan {
    outlets: Outlets,
    recipients: BTreeMap<String, Recipient>,
    passphrases: BTreeMap<String, SecretString>,
    tty: Option<Tty>,
}

/// What was handed out: per custodian, their share file and card, if any; and every
/// file written, to remove again should the ceremony fail after this.
#[derive(Debug, Default)]
pub(crate) struct Delivered {
    /// Custodian, share file, card.
    pub custodians: Vec<(String, Option<PathBuf>, Option<PathBuf>)>,
    /// Every file written.
    pub written: Vec<PathBuf>,
    /// True when the shares were shown on the terminal.
    pub on_terminal: bool,
    /// Directories made for `--out-dir` and `--paper`, outermost first.
    pub made_dirs: Vec<PathBuf>,
}

impl Delivered {
    /// Removes what was written, and the directories made for it, when the ceremony
    /// fails after the shares went out.
    pub fn undo(&self) {
        remove(&self.written);
        for dir in self.made_dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }

    /// How the shares went out, for the log: "files, cards", "shown on the terminal".
    pub fn how(&self) -> String {
        let mut how = Vec::new();
        if self.custodians.iter().any(|(_, f, _)| f.is_some()) {
            how.push("share files");
        }
        if self.custodians.iter().any(|(_, _, c)| c.is_some()) {
            how.push("paper cards");
        }
        if self.on_terminal {
            how.push("shown on the terminal, one custodian at a time");
        }
        how.join(", ")
    }
}

impl Plan {
    /// Whether dealing to these custodians needs the terminal: shares shown on it, or a
    /// passphrase chosen on it.
    fn needs_tty(outlets: &Outlets, recipients: &BTreeMap<String, Recipient>) -> bool {
        outlets.terminal()
            || recipients
                .values()
                .any(|r| matches!(r, Recipient::Passphrase))
    }

    /// Why dealing cannot go on without a terminal.
    fn no_terminal(
        outlets: &Outlets,
        recipients: &BTreeMap<String, Recipient>,
        verb: &str,
    ) -> Error {
        Error::from(if outlets.terminal() {
            CeremonyError::NoTerminalForShares {
                verb: verb.to_string(),
            }
        } else {
            CeremonyError::NoTerminalForPassphrase {
                custodians: recipients
                    .iter()
                    .filter(|(_, r)| matches!(r, Recipient::Passphrase))
                    .map(|(n, _)| n.clone())
                    .collect(),
                verb: verb.to_string(),
            }
        })
    }

    /// Refuses, as [`Plan::prepare`] would, a deal that needs a terminal, for a caller
    /// that has none and checks before anything else happens.
    pub fn needs_no_terminal(
        outlets: &Outlets,
        custodians: &[CustodianSpec],
        verb: &str,
    ) -> Result<()> {
        let recipients = Self::recipients(custodians)?;
        if Self::needs_tty(outlets, &recipients) {
            return Err(Self::no_terminal(outlets, &recipients, verb));
        }
        Ok(())
    }

    /// The custodians' recipients, by name.
    fn recipients(custodians: &[CustodianSpec]) -> Result<BTreeMap<String, Recipient>> {
        let mut recipients = BTreeMap::new();
        for c in custodians {
            if let Some(r) = &c.recipient {
                recipients.insert(
                    c.name.clone(),
                    Recipient::parse(&c.name, r, "the seal record")?,
                );
            }
        }
        Ok(recipients)
    }

    /// Checks `outlets` for `custodians` of `seal` ([`preflight`]), opens the terminal
    /// when the shares are to be shown on it, and asks each custodian with a passphrase
    /// recipient to type theirs twice. Refused without a terminal where one is needed.
    pub fn prepare(
        outlets: &Outlets,
        seal: &str,
        custodians: &[CustodianSpec],
        verb: &str,
    ) -> Result<Plan> {
        preflight(outlets, seal, custodians)?;
        let recipients = Self::recipients(custodians)?;
        let mut tty = None;
        if Self::needs_tty(outlets, &recipients) {
            tty = Tty::open();
            if tty.is_none() {
                return Err(Self::no_terminal(outlets, &recipients, verb));
            }
        }
        let mut passphrases = BTreeMap::new();
        if let Some(tty) = tty.as_mut() {
            tty.quiet()?;
            for c in custodians {
                if matches!(recipients.get(&c.name), Some(Recipient::Passphrase)) {
                    tty.say(&format!(
                        "{}: choose the passphrase that protects your share of '{seal}'; you will type it at every ceremony.\n",
                        tty.bold(&c.name)
                    ))?;
                    let p = choose_passphrase(tty, &c.name, seal, outlets)?;
                    passphrases.insert(c.name.clone(), SecretString::from(p.to_string()));
                }
            }
            tty.loud();
        }
        Ok(Plan {
            outlets: outlets.clone(),
            recipients,
            passphrases,
            tty,
        })
    }

    /// Hands out `shares`: writes files and cards, or shows them on the terminal.
    /// `created` is the date printed on cards. On failure, removes what it wrote.
    pub fn deliver(&mut self, shares: &[(String, Share)], created: &str) -> Result<Delivered> {
        let mut out = Delivered::default();
        let result = self.deliver_into(shares, created, &mut out);
        if let Err(e) = result {
            out.undo();
            return Err(e);
        }
        Ok(out)
    }

    fn deliver_into(
        &mut self,
        shares: &[(String, Share)],
        created: &str,
        out: &mut Delivered,
    ) -> Result<()> {
        for dir in [&self.outlets.out_dir, &self.outlets.paper]
            .into_iter()
            .flatten()
        {
            make_dir(dir, &mut out.made_dirs)?;
        }
        for (name, share) in shares {
            let mut file = None;
            if let Some(dir) = &self.outlets.out_dir {
                let text = share.to_armor();
                let recipient = self.recipients.get(name);
                let path = share_path(dir, &share.seal, name, recipient.is_some());
                match recipient {
                    Some(r) => {
                        let sealed = r.encrypt(text.as_bytes(), self.passphrases.get(name))?;
                        write_new_secret_unsynced(&path, sealed.as_bytes())?;
                    }
                    None => write_new_secret_unsynced(&path, text.as_bytes())?,
                }
                out.written.push(path.clone());
                file = Some(path);
            }
            let mut card = None;
            if let Some(dir) = &self.outlets.paper {
                let path = card_path(dir, &share.seal, name);
                let svg = crate::paper::card(share, created)?;
                write_new_secret_unsynced(&path, svg.as_bytes())?;
                out.written.push(path.clone());
                card = Some(path);
            }
            out.custodians.push((name.clone(), file, card));
        }
        // Each file was synced as it was written; each directory once, after the last,
        // and before the ceremony goes on to its record.
        for dir in [&self.outlets.out_dir, &self.outlets.paper]
            .into_iter()
            .flatten()
        {
            sync_directory(dir);
        }
        if self.outlets.terminal() {
            let tty = self
                .tty
                .as_mut()
                .ok_or(CeremonyError::NoTerminalToShowShares)?;
            show(tty, shares)?;
            out.on_terminal = true;
        }
        Ok(())
    }
}

/// Asks custodian `name` to choose the passphrase of their share of `seal`: typed twice,
/// and strong enough by zxcvbn ([`crate::passphrase::weakness`]) unless the ceremony
/// allows weak ones. Three weak passphrases refuse the ceremony before anything is made.
fn choose_passphrase(
    tty: &mut Tty,
    name: &str,
    seal: &str,
    outlets: &Outlets,
) -> Result<zeroize::Zeroizing<String>> {
    let mut last = String::new();
    for _ in 0..3 {
        let p = tty.read_new_secret(
            &format!("passphrase for {name} (not shown): "),
            "the same again: ",
        )?;
        match crate::passphrase::weakness(&p, &[name, seal]) {
            None => return Ok(p),
            Some(why) if outlets.allow_weak_passphrase => {
                let msg = tty.bad(&format!(
                    "  warning: a weak passphrase, kept as --allow-weak-passphrase says: {why}"
                ));
                tty.say(&format!("{msg}\n"))?;
                eprintln!(
                    "warning: custodian '{name}' protects their share of '{seal}' with a weak passphrase (--allow-weak-passphrase)"
                );
                return Ok(p);
            }
            Some(why) => {
                let msg = tty.bad(&format!("  too weak: {why}"));
                tty.say(&format!(
                    "{msg}\n  choose a stronger one: four or five uncommon words, or a long random string\n"
                ))?;
                last = why;
            }
        }
    }
    Err(CeremonyError::WeakPassphrases {
        custodian: name.to_string(),
        weakness: last,
    }
    .into())
}

/// Makes `dir` and the parents it lacks, mode 0700 (share files and cards are
/// secrets), noting each one made in `made`.
fn make_dir(dir: &Path, made: &mut Vec<PathBuf>) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .take_while(|a| a.symlink_metadata().is_err())
        .map(Path::to_path_buf)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))?;
    made.extend(missing.into_iter().rev());
    Ok(())
}

/// Removes files written by a ceremony that then failed.
pub(crate) fn remove(paths: &[PathBuf]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

/// A random number below `n` from the OS generator.
fn below(n: usize) -> Result<usize> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|e| CeremonyError::RandomFailed {
        detail: e.to_string(),
    })?;
    Ok(u32::from_le_bytes(b) as usize % n.max(1))
}

/// Shows each share alone on the terminal, asks its custodian to type back two groups
/// of it chosen at random among those only their share has (proof that what they wrote
/// down is right: [`crate::share::challenge_groups`]), clears the screen and moves to
/// the next. An empty answer shows the share again; Ctrl-C (exit 130) or Ctrl-D stops
/// the ceremony, which then seals nothing. Whatever ends it, a share on screen is
/// cleared first (see [`Tty::show_secret`]).
fn show(tty: &mut Tty, shares: &[(String, Share)]) -> Result<()> {
    tty.quiet()?;
    let shown = show_each(tty, shares);
    if shown.is_err() && tty.secret_on_screen() {
        let _ = tty.clear();
    }
    tty.loud();
    shown
}

/// Picks `k` distinct items of `from` at random (all of them when there are fewer).
fn pick<T: Copy>(from: &[T], k: usize) -> Result<Vec<T>> {
    let mut pool = from.to_vec();
    let mut out = Vec::new();
    while out.len() < k && !pool.is_empty() {
        out.push(pool.remove(below(pool.len())?));
    }
    Ok(out)
}

/// How many groups each custodian types back.
const CHALLENGES: usize = 2;

fn show_each(tty: &mut Tty, shares: &[(String, Share)]) -> Result<()> {
    let n = shares.len();
    let set: Vec<Share> = shares.iter().map(|(_, s)| s.clone()).collect();
    for (i, (name, share)) in shares.iter().enumerate() {
        tty.clear()?;
        tty.say(&format!(
            "{}\n\nCustodian {} of {n}: {}\nEveryone else: look away from the screen now.\n{name}: press Enter to see your share.\n",
            tty.bold(&format!(
                "zeroth: dealing the shares of '{}' ({}), any {} of {n} recover it",
                share.seal, share.env, share.payload.threshold
            )),
            i + 1,
            tty.bold(name),
        ))?;
        tty.wait_enter()?;
        let armor = share.to_armor();
        let mut eligible = crate::share::challenge_groups(&set, i);
        if eligible.is_empty() {
            // Only when every group past the set's common fields collides with another
            // custodian's (threshold 1, where all y are equal, and a checksum clash):
            // the last group, which holds checksum bits.
            let lines = share.payload_lines();
            let last = lines.last().map_or(0, |l| l.len().div_ceil(5));
            eligible.push((lines.len(), last));
        }
        loop {
            tty.clear()?;
            tty.say(&format!(
                "Share of {}: write it down exactly, or keep it in your password manager.\nThe numbered lines are what you will type back; the last two characters of each line check it.\n\n",
                tty.bold(name)
            ))?;
            tty.show_secret(&armor)?;
            tty.say("\nPress Enter once you have recorded it: the screen is cleared first.\n")?;
            tty.wait_enter()?;
            tty.clear()?;
            let mut again = false;
            for (line, group) in pick(&eligible, CHALLENGES)? {
                let expected = crate::share::group_text(share, line, group)
                    .ok_or(CeremonyError::ShareGroupOutOfRange)?;
                loop {
                    tty.say(&format!(
                        "{name}: from your copy, type group {group} of line {line} (not shown),\nor press Enter alone to see your share again: "
                    ))?;
                    let typed = tty.read_hidden()?;
                    let typed = crate::share::normalize_typed(&typed);
                    if typed.is_empty() {
                        again = true;
                        break;
                    }
                    if *typed == *expected {
                        break;
                    }
                    let msg = tty.bad(&format!(
                        "  that is not group {group} of line {line}: check your copy and type it again"
                    ));
                    tty.say(&format!("{msg}\n"))?;
                }
                if again {
                    break;
                }
            }
            if !again {
                break;
            }
        }
        tty.clear()?;
        let done = tty.good(&format!(
            "{name} has confirmed their share ({} of {n}).",
            i + 1
        ));
        tty.say(&format!("{done}\n"))?;
        if i + 1 < n {
            tty.say("Press Enter, then hand the terminal to the next custodian.\n")?;
            tty.wait_enter()?;
        }
    }
    tty.clear()?;
    tty.say(&format!(
        "All {n} custodians have their shares; nothing was written to disk.\n"
    ))?;
    Ok(())
}
