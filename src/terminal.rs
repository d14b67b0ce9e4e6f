//! The terminal a ceremony talks to custodians on: `/dev/tty`, never stdin or stdout,
//! which may carry the credential, JSON, or a pipe.
//!
//! Everything read here may be secret (a share, a passphrase, a group typed back), so
//! every line lands in a zeroizing buffer, read a byte at a time without a buffer of
//! our own that could keep a copy. Hidden input turns echo off and, while it is off,
//! signals too: Ctrl-C then arrives as a character, and zeroth stops the ceremony
//! itself after putting the terminal back the way it was, instead of dying with echo
//! off. A ceremony that reads many lines (a pasted share arrives as a burst) stays
//! quiet from its first prompt to its last ([`Tty::quiet`]), so no line of a paste
//! lands between two reads while echo is on. Colour and bold are used only when
//! `NO_COLOR` is unset or empty.
//!
//! A share on screen ([`Tty::show_secret`]) is never left there: every way out clears
//! the screen and its scrollback first — Enter, Ctrl-C (which stops the ceremony with
//! exit 130), Ctrl-D, an error, a panic (the `Tty` is dropped), and a SIGTERM, SIGHUP,
//! SIGQUIT or SIGINT sent from elsewhere ([`Tty::show_secret`] watches for them until
//! the screen is cleared).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};
use zeroize::Zeroizing;

use crate::error::{CeremonyError, Error, Result};

/// Ctrl-C, as a character.
const CTRL_C: u8 = 3;

/// The controlling terminal.
pub struct Tty {
    file: File,
    color: bool,
    /// The settings to restore, while quiet.
    saved: Option<Termios>,
    /// Set while a secret is on screen.
    on_screen: bool,
}

impl Drop for Tty {
    fn drop(&mut self) {
        if self.on_screen {
            let _ = self.clear();
        }
        self.loud();
    }
}

/// What the signal watcher knows: whether a secret is on screen, and the terminal
/// settings to put back.
struct Watch {
    on_screen: AtomicBool,
    restore: Mutex<Option<Termios>>,
}

/// The signal watcher, started the first time a secret is shown: a thread waits for
/// SIGTERM, SIGHUP, SIGQUIT and SIGINT; on one, if a secret is on screen, it clears
/// the screen and its scrollback and puts the terminal's settings back, then lets the
/// signal do what it would have done (end the process). What a ceremony made meanwhile
/// is then what a crash leaves: no record, and a key `zeroth cleanup` lists. It stays
/// for the life of the process (signal-hook cannot give a signal its default handler
/// back), so it is started only by ceremonies that show shares or collect them remotely
/// ([`watch_signals`]), none of which ignores those signals (as `vault root` does while
/// its command runs).
fn watch() -> Option<&'static Watch> {
    static WATCH: OnceLock<Option<Watch>> = OnceLock::new();
    WATCH
        .get_or_init(|| {
            use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
            let mut signals =
                signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGQUIT, SIGINT]).ok()?;
            std::thread::spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    if let Some(w) = watch()
                        && w.on_screen.load(Ordering::SeqCst)
                        && let Ok(mut tty) = OpenOptions::new().write(true).open("/dev/tty")
                    {
                        let _ = tty.write_all(CLEAR.as_bytes());
                        let _ = tty.flush();
                        if let Ok(saved) = w.restore.lock()
                            && let Some(saved) = saved.as_ref()
                        {
                            let _ = termios::tcsetattr(&tty, OptionalActions::Now, saved);
                        }
                    }
                    let _ = signal_hook::low_level::emulate_default_handler(sig);
                    std::process::exit(128 + sig);
                }
            });
            Some(Watch {
                on_screen: AtomicBool::new(false),
                restore: Mutex::new(None),
            })
        })
        .as_ref()
}

/// Starts the signal watcher ([`watch`]) now, before any secret is shown: a remote
/// collection hands its signals over to it when it ends, so that a signal during the
/// ceremony that follows does what it does in every ceremony (a share on screen is
/// cleared first, then the signal ends zeroth). Returns false if it cannot be started.
pub fn watch_signals() -> bool {
    watch().is_some()
}

/// Home, erase the screen, erase the scrollback (xterm's E3, which most terminal
/// emulators and tmux honour).
const CLEAR: &str = "\x1b[H\x1b[2J\x1b[3J";

impl std::fmt::Debug for Tty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tty(/dev/tty)")
    }
}

/// Returns true if and only if `NO_COLOR` asks for no colour (set and not empty, as
/// <https://no-color.org> says).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The error of a ceremony stopped with Ctrl-C at the terminal (exit 130).
fn interrupted() -> Error {
    Error::Interrupted("stopped at the terminal (Ctrl-C)".into())
}

/// The error of a ceremony stopped with Ctrl-D (end of input) at the terminal.
fn ended() -> Error {
    CeremonyError::StoppedAtTerminal.into()
}

impl Tty {
    /// Opens the controlling terminal, or returns `None` when the process has none.
    pub fn open() -> Option<Tty> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        termios::tcgetattr(&file).ok()?;
        Some(Tty {
            file,
            color: !no_color(),
            saved: None,
            on_screen: false,
        })
    }

    /// Returns true if and only if there is a controlling terminal to talk to.
    pub fn available() -> bool {
        Tty::open().is_some()
    }

    /// Waits at most `timeout` for a line to read, and returns true if and only if one
    /// is there (or Ctrl-C, or the end of input): for a ceremony that watches other
    /// inputs meanwhile. A signal that interrupts the wait returns false.
    pub fn line_ready(&self, timeout: std::time::Duration) -> Result<bool> {
        use rustix::event::{PollFd, PollFlags, poll};
        let mut fds = [PollFd::new(&self.file, PollFlags::IN)];
        let ts = rustix::event::Timespec {
            tv_sec: timeout.as_secs() as _,
            tv_nsec: timeout.subsec_nanos() as _,
        };
        match poll(&mut fds, Some(&ts)) {
            Ok(n) => Ok(n > 0),
            Err(rustix::io::Errno::INTR) => Ok(false),
            Err(e) => Err(Error::from(CeremonyError::TerminalFailed {
                action: "wait on the terminal",
                reason: e.to_string(),
            })),
        }
    }

    /// Writes `text` as it is.
    pub fn say(&mut self, text: &str) -> Result<()> {
        self.file
            .write_all(text.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| {
                Error::from(CeremonyError::TerminalFailed {
                    action: "write to the terminal",
                    reason: e.to_string(),
                })
            })
    }

    /// Clears the screen and its scrollback, so a share shown before is gone from it.
    pub fn clear(&mut self) -> Result<()> {
        let cleared = self.say(CLEAR);
        if cleared.is_ok() && self.on_screen {
            self.on_screen = false;
            if let Some(w) = watch() {
                w.on_screen.store(false, Ordering::SeqCst);
            }
        }
        cleared
    }

    /// Writes `text`, a secret (a share), which stays on screen until [`Tty::clear`]:
    /// until then every way out of zeroth clears the screen first.
    pub fn show_secret(&mut self, text: &str) -> Result<()> {
        let w = watch().ok_or_else(|| Error::from(CeremonyError::SignalWatchMissing))?;
        if let Ok(mut restore) = w.restore.lock() {
            *restore = self.saved.clone();
        }
        w.on_screen.store(true, Ordering::SeqCst);
        self.on_screen = true;
        self.say(text)
    }

    /// Returns true if and only if a secret is on screen.
    pub fn secret_on_screen(&self) -> bool {
        self.on_screen
    }

    /// `text` in bold, unless `NO_COLOR`.
    pub fn bold(&self, text: &str) -> String {
        self.style("1", text)
    }

    /// `text` in green, unless `NO_COLOR`.
    pub fn good(&self, text: &str) -> String {
        self.style("32", text)
    }

    /// `text` in red, unless `NO_COLOR`.
    pub fn bad(&self, text: &str) -> String {
        self.style("31", text)
    }

    fn style(&self, sgr: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Turns echo and signals off until [`Tty::loud`] (or the end of this `Tty`):
    /// every line read meanwhile is hidden, Ctrl-C ends a line as a character (`VEOL`)
    /// instead of killing zeroth, so zeroth, not a signal, stops the ceremony: it then
    /// destroys what it made and logs the refusal.
    pub fn quiet(&mut self) -> Result<()> {
        if self.saved.is_some() {
            return Ok(());
        }
        let saved = termios::tcgetattr(&self.file).map_err(|e| {
            Error::from(CeremonyError::TerminalFailed {
                action: "read the terminal's settings",
                reason: e.to_string(),
            })
        })?;
        let mut mode: Termios = saved.clone();
        mode.local_modes.remove(LocalModes::ISIG | LocalModes::ECHO);
        mode.local_modes.insert(LocalModes::ECHONL);
        mode.special_codes[SpecialCodeIndex::VEOL] = CTRL_C;
        termios::tcsetattr(&self.file, OptionalActions::Now, &mode).map_err(|e| {
            Error::from(CeremonyError::TerminalFailed {
                action: "turn the terminal's echo off",
                reason: e.to_string(),
            })
        })?;
        self.saved = Some(saved);
        Ok(())
    }

    /// Puts the terminal's settings back as they were before [`Tty::quiet`].
    pub fn loud(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = termios::tcsetattr(&self.file, OptionalActions::Now, &saved);
        }
    }

    /// Reads one line with echo off (the newline is still shown). Ctrl-C stops the
    /// ceremony (exit 130), Ctrl-D refuses it; either way a secret on screen is cleared
    /// first. Unless the terminal was quiet already, its settings are restored
    /// afterwards.
    pub fn read_hidden(&mut self) -> Result<Zeroizing<String>> {
        let was_quiet = self.saved.is_some();
        self.quiet()?;
        let line = self.read_raw_line();
        if !was_quiet {
            self.loud();
        }
        let stop = match line {
            Ok(line) if !line.as_bytes().contains(&CTRL_C) => return Ok(line),
            Ok(_) => interrupted(),
            Err(e) => e,
        };
        if self.secret_on_screen() {
            let _ = self.clear();
        } else {
            let _ = self.say("\n");
        }
        Err(stop)
    }

    /// Asks `question` and returns true if and only if the answer is `yes` (shown as
    /// it is typed). Ctrl-D refuses.
    pub fn confirm(&mut self, question: &str) -> Result<bool> {
        self.say(&format!("{question} type 'yes': "))?;
        let answer = self.read_raw_line()?;
        Ok(answer.trim() == "yes")
    }

    /// Waits for Enter (input hidden: nothing need be seen).
    pub fn wait_enter(&mut self) -> Result<()> {
        self.read_hidden().map(drop)
    }

    /// Asks twice for a hidden value (a passphrase) until both entries agree and are
    /// not empty, at most three times.
    pub fn read_new_secret(&mut self, prompt: &str, again: &str) -> Result<Zeroizing<String>> {
        for _ in 0..3 {
            self.say(prompt)?;
            let first = self.read_hidden()?;
            if first.is_empty() {
                self.say("  empty: type a passphrase\n")?;
                continue;
            }
            self.say(again)?;
            let second = self.read_hidden()?;
            if *first == *second {
                return Ok(first);
            }
            let msg = self.bad("  the two entries differ; again");
            self.say(&format!("{msg}\n"))?;
        }
        Err(CeremonyError::PassphraseEntriesDiffer.into())
    }

    fn read_raw_line(&mut self) -> Result<Zeroizing<String>> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(128));
        let mut byte = [0u8; 1];
        loop {
            match self.file.read(&mut byte) {
                Ok(0) => {
                    if bytes.is_empty() {
                        return Err(ended());
                    }
                    break;
                }
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) if byte[0] == CTRL_C => {
                    bytes.push(CTRL_C);
                    break;
                }
                Ok(_) => {
                    if bytes.len() >= 64 * 1024 {
                        return Err(CeremonyError::TerminalLineTooLong.into());
                    }
                    bytes.push(byte[0]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::from(CeremonyError::TerminalFailed {
                        action: "read from the terminal",
                        reason: e.to_string(),
                    }));
                }
            }
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        Ok(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()))
    }
}
