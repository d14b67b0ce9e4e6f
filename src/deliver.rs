//! Handing the unsealed credential over: to a new file, to stdout, or on the stdin of a
//! command. Each way is checked before the ceremony starts, so a delivery that cannot
//! happen never costs a quorum.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result, VaultError};
use crate::secret::{Credential, Encoding};
use crate::store::{exists_error, write_new_secret};

/// Where the credential goes.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// A new file, mode 0600; an existing file is refused.
    File(PathBuf),
    /// Standard output; refused on a terminal unless `allow_tty`.
    Stdout {
        /// Write even when stdout is a terminal.
        allow_tty: bool,
    },
    /// The stdin of a command; zeroth exits with its exit code.
    Exec(Vec<OsString>),
}

impl Delivery {
    /// Checks that the delivery can happen, before any secret is recovered.
    pub fn preflight(&self) -> Result<()> {
        match self {
            Delivery::File(path) => {
                if path.symlink_metadata().is_ok() {
                    return Err(exists_error(path));
                }
                let dir = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                if !dir.is_dir() {
                    return Err(VaultError::OutputDirMissing {
                        path: path.clone(),
                        dir: dir.to_path_buf(),
                    }
                    .into());
                }
                Ok(())
            }
            Delivery::Stdout { allow_tty } => {
                if !allow_tty && std::io::stdout().is_terminal() {
                    return Err(VaultError::StdoutIsTerminal.into());
                }
                Ok(())
            }
            Delivery::Exec(cmd) => {
                let program = cmd.first().ok_or_else(|| {
                    Error::Usage("--exec needs a command after '--', as in: --exec -- bao write sys/unseal key=-".into())
                })?;
                if find_program(program).is_none() {
                    return Err(VaultError::CommandNotFound {
                        program: PathBuf::from(program),
                    }
                    .into());
                }
                Ok(())
            }
        }
    }

    /// Delivers `credential` encoded as `encoding`. Returns the exit code zeroth should
    /// end with: the command's for `Exec`, 0 otherwise.
    pub fn deliver(&self, credential: &Credential, encoding: Encoding) -> Result<u8> {
        let bytes = credential.encode(encoding);
        match self {
            Delivery::File(path) => {
                write_new_secret(path, &bytes)?;
                Ok(0)
            }
            Delivery::Stdout { .. } => {
                let mut out = std::io::stdout().lock();
                // On a terminal (--allow-tty), a newline after the value, so the
                // prompt that follows does not run into it; into a pipe, the value alone.
                let newline: &[u8] = if out.is_terminal() { b"\n" } else { b"" };
                match out
                    .write_all(&bytes)
                    .and_then(|_| out.write_all(newline))
                    .and_then(|_| out.flush())
                {
                    Ok(()) => Ok(0),
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
                    Err(source) => Err(VaultError::StdoutWrite { source }.into()),
                }
            }
            Delivery::Exec(cmd) => run_with_stdin(cmd, &bytes),
        }
    }
}

fn run_with_stdin(cmd: &[OsString], bytes: &[u8]) -> Result<u8> {
    let shown = Path::new(&cmd[0]).display().to_string();
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .env_remove(crate::pin::PIN_ENV)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|source| VaultError::CommandNotStarted {
            command: PathBuf::from(&cmd[0]),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        match stdin.write_all(bytes) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                eprintln!(
                    "warning: '{shown}' closed its input before reading the whole credential"
                );
            }
            Err(e) => eprintln!("warning: writing to '{shown}' failed: {e}"),
        }
    }
    let status = child
        .wait()
        .map_err(|source| VaultError::CommandNotAwaited {
            command: PathBuf::from(&cmd[0]),
            source,
        })?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(255),
        _ => 1,
    })
}

/// A command's exit code in words: "exited with 2", "was killed by signal 9".
pub fn exit_words(code: u8) -> String {
    if code > 128 {
        format!("was killed by signal {} (exit code {code})", code - 128)
    } else {
        format!("exited with {code}")
    }
}

/// Resolves a program the way `execvp` does: a path with a slash as is, else the first
/// executable match on `PATH`.
fn find_program(program: &OsString) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    let p = Path::new(program);
    if p.as_os_str().as_encoded_bytes().contains(&b'/') {
        return is_exec(p).then(|| p.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(p))
        .find(|c| is_exec(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_refuses_what_cannot_be_delivered() {
        let e = Delivery::File(PathBuf::from("/nonexistent-zeroth-dir/cred"))
            .preflight()
            .unwrap_err();
        assert!(
            matches!(e.cause(), Error::Vault(VaultError::OutputDirMissing { .. })),
            "{e:?}"
        );
        assert_eq!(
            e.message(),
            "cannot write /nonexistent-zeroth-dir/cred: directory /nonexistent-zeroth-dir does not exist"
        );
        let e = Delivery::Exec(vec!["/nonexistent-zeroth-dir/bao".into()])
            .preflight()
            .unwrap_err();
        assert!(
            matches!(e.cause(), Error::Vault(VaultError::CommandNotFound { .. })),
            "{e:?}"
        );
        assert_eq!(e.exit_code(), 2);
    }
}
