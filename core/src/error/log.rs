//! The log area: the ceremony log's lines, chain, signatures and anchor, and what is
//! read out of it (`audit follow`, transcripts).

use std::path::PathBuf;

use super::{Kind, area};

/// What is wrong with the ceremony log, or with reading it out.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A log entry could not be encoded as JSON.
    #[error("cannot encode a log entry: {source}")]
    EntryEncode {
        /// The encoder's reason.
        source: serde_json::Error,
    },
    /// The log's head file is not a valid signed head of this environment's log.
    #[error("{}: {why}", .path.display())]
    HeadInvalid {
        /// The head file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// An entry could not be encoded for `audit follow`.
    #[error("cannot encode entry {seq} of '{env}': {source}")]
    EntryExport {
        /// The environment.
        env: String,
        /// The entry's sequence number.
        seq: u64,
        /// The encoder's reason.
        source: serde_json::Error,
    },
    /// The `--state` file of `audit follow` does not hold a position it wrote.
    #[error(
        "{} is not a position audit follow wrote ({source}): give another --state file, or remove it to start from the first entry",
        .path.display()
    )]
    FollowStateUnreadable {
        /// The state file.
        path: PathBuf,
        /// The parser's reason.
        source: serde_json::Error,
    },
    /// The `--state` file of `audit follow` holds a position in another environment's
    /// log.
    #[error(
        "{} holds a position in the log of '{found}', not '{env}': give each environment its own --state file",
        .path.display()
    )]
    FollowStateOtherEnv {
        /// The state file.
        path: PathBuf,
        /// The environment whose position it holds.
        found: String,
        /// The environment followed.
        env: String,
    },
    /// The position of `audit follow` could not be encoded as JSON.
    #[error("{source}")]
    FollowStateEncode {
        /// The encoder's reason.
        source: serde_json::Error,
    },
    /// The log is shorter than where `audit follow` stopped: it was cut or replaced.
    #[error(
        "{} is shorter than where audit follow stopped (byte {offset}, entry {seq}): the log was cut or replaced; run zeroth audit verify",
        .path.display()
    )]
    FollowLogShorter {
        /// The log.
        path: PathBuf,
        /// The byte offset `audit follow` stopped at.
        offset: u64,
        /// The last entry it wrote.
        seq: u64,
    },
    /// A new entry does not follow the one `audit follow` wrote before it: the log was
    /// rewritten.
    #[error(
        "{}: entry {seq} does not follow entry {after} that audit follow wrote before: the log was rewritten; run zeroth audit verify",
        .path.display()
    )]
    FollowLogRewritten {
        /// The log.
        path: PathBuf,
        /// The entry read.
        seq: u64,
        /// The last entry written before it.
        after: u64,
    },
    /// Entries could not be written to standard output.
    #[error("cannot write to stdout: {source}")]
    StdoutWrite {
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl LogError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        use LogError::*;
        match self {
            FollowStateUnreadable { .. } | FollowStateOtherEnv { .. } => Kind::Usage,
            HeadInvalid { .. } | FollowLogShorter { .. } | FollowLogRewritten { .. } => {
                Kind::Refused
            }
            EntryEncode { .. }
            | EntryExport { .. }
            | FollowStateEncode { .. }
            | StdoutWrite { .. } => Kind::Failed,
        }
    }
}

area!(LogError, Log);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn exit_codes_follow_the_kind_of_fault() {
        let shorter = Error::from(LogError::FollowLogShorter {
            path: "logs/prod.log".into(),
            offset: 120,
            seq: 3,
        });
        assert_eq!(shorter.exit_code(), 3);
        assert_eq!(
            shorter.message(),
            "logs/prod.log is shorter than where audit follow stopped (byte 120, entry 3): the log was cut or replaced; run zeroth audit verify"
        );
        let other = Error::from(LogError::FollowStateOtherEnv {
            path: "follow.json".into(),
            found: "dev".into(),
            env: "prod".into(),
        });
        assert_eq!(other.exit_code(), 2);
        let stdout = Error::from(LogError::StdoutWrite {
            source: std::io::ErrorKind::BrokenPipe.into(),
        });
        assert_eq!(stdout.exit_code(), 4);
    }
}
