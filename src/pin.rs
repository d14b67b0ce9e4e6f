//! Where the token PIN comes from: `--pin-file`, `ZEROTH_PIN`, or a prompt on the
//! terminal. Never the command line, where every user of the machine can read it.

use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result, StoreError};
use crate::secret::Pin;

/// The environment variable a PIN may come from.
pub const PIN_ENV: &str = "ZEROTH_PIN";

/// Reads the PIN for `token`: from `pin_file` if given, else `ZEROTH_PIN`, else a prompt
/// on the terminal.
pub fn read_pin(pin_file: Option<&Path>, token: &str) -> Result<Pin> {
    if let Some(path) = pin_file {
        let meta = std::fs::metadata(path).map_err(|e| Error::io("read the PIN file", path, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: PIN file {} can be read by other users (mode {:o}); chmod 600 it",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
        let raw = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| Error::io("read the PIN file", path, e))?,
        );
        let pin = raw.strip_suffix('\n').unwrap_or(&raw);
        let pin = pin.strip_suffix('\r').unwrap_or(pin);
        if pin.is_empty() {
            return Err(StoreError::PinFileEmpty {
                path: path.to_path_buf(),
            }
            .into());
        }
        return Ok(Pin::new(pin.to_string()));
    }
    if let Ok(pin) = std::env::var(PIN_ENV) {
        let pin = Zeroizing::new(pin);
        if pin.is_empty() {
            return Err(StoreError::PinVariableEmpty {
                variable: PIN_ENV.to_string(),
            }
            .into());
        }
        return Ok(Pin::new(pin.to_string()));
    }
    if (std::io::stderr().is_terminal() || std::fs::File::open("/dev/tty").is_ok())
        && let Ok(pin) = rpassword::prompt_password(format!("PIN for token '{token}': "))
    {
        let pin = Zeroizing::new(pin);
        if !pin.is_empty() {
            return Ok(Pin::new(pin.to_string()));
        }
    }
    Err(StoreError::NoPin {
        token: token.to_string(),
        variable: PIN_ENV.to_string(),
    }
    .into())
}
