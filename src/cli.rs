//! The command line, defined with clap, and the dispatch from it to the library.

use std::ffi::OsString;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::{ArgValueCandidates, CompletionCandidate};
use zeroize::Zeroizing;

use crate::ceremony::distribute::Outlets;
use crate::ceremony::env::EnvInit;
use crate::ceremony::generate::{CustodianSpec, IMPORT_MAX, SealSpec, Source};
use crate::ceremony::pending::{NewCredential, Start};
use crate::ceremony::remote::{Purpose, RemoteOpts};
use crate::ceremony::unseal::UnsealArgs;
use crate::ceremony::{self, Context, Report};
use crate::clock;
use crate::deliver::Delivery;
use crate::error::{CeremonyError, Error, Result};
use crate::mechanism::WrapMechanism;
use crate::seal::PendingKind;
use crate::secret::{Credential, Encoding};

/// Secret zero, sealed in a PKCS#11 HSM and split among named custodians.
#[derive(Debug, Parser)]
#[command(name = "zeroth", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// The store directory.
    #[arg(
        long,
        global = true,
        env = "ZEROTH_STORE",
        default_value = "zeroth",
        value_name = "DIR"
    )]
    pub store: PathBuf,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Read the token PIN from this file (else ZEROTH_PIN, else a prompt on the terminal).
    #[arg(long, global = true, value_name = "FILE")]
    pub pin_file: Option<PathBuf>,
    /// The trust file pinning each environment's module, token and signing key, kept
    /// outside the store [default: ~/.config/zeroth/trust.toml, and
    /// /etc/zeroth/trust.toml when present].
    #[arg(long, global = true, env = "ZEROTH_TRUST", value_name = "FILE")]
    pub trust: Option<PathBuf>,
    /// Who runs this ceremony, as the log records them [default: ZEROTH_OPERATOR, else
    /// the login name].
    #[arg(long, global = true, value_name = "NAME")]
    pub operator: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bind tokens to environments, and list the bindings.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Generate a credential in the HSM, seal it, split its unseal key among custodians.
    Generate {
        /// Seal name.
        seal: String,
        /// Seal metadata, custodians and where shares go.
        #[command(flatten)]
        spec: SpecArgs,
        /// Length of the generated credential, in bytes.
        #[arg(long, default_value_t = 32, value_name = "BYTES")]
        length: usize,
    },
    /// Seal a credential read from stdin, as `generate` does.
    Import {
        /// Seal name.
        seal: String,
        /// Seal metadata, custodians and where shares go.
        #[command(flatten)]
        spec: SpecArgs,
        /// Read the secret from the terminal (typed twice, hidden) instead of a pipe.
        #[arg(long)]
        from_terminal: bool,
    },
    /// Recover the credential with a quorum of shares and the HSM, and deliver it.
    Unseal {
        /// Seal name.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
        /// A custodian's share file (repeat, or list several); without any, on a
        /// terminal, each custodian enters their share in turn.
        #[arg(long = "share", value_name = "FILE", num_args = 1..)]
        shares: Vec<PathBuf>,
        /// An age identity file or SSH private key that opens shares encrypted to a
        /// custodian (repeat); passphrase-protected shares ask on the terminal.
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// Write the credential to a new file (mode 0600), or '-' for stdout.
        #[arg(long, value_name = "FILE|-", conflicts_with = "exec")]
        output: Option<PathBuf>,
        /// Run the command given after '--' with the credential on its stdin, and exit
        /// with its exit code.
        #[arg(long, requires = "command")]
        exec: bool,
        /// Encoding of the delivered credential [default: hex if generated, raw if
        /// imported].
        #[arg(long, value_enum)]
        encoding: Option<EncodingArg>,
        /// Allow '--output -' when stdout is a terminal.
        #[arg(long)]
        allow_tty: bool,
        /// Why the credential is recovered, in one line: it goes into the signed log
        /// (a seal can require it: zeroth access SEAL --require-reason).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Custodians who are not in the room.
        #[command(flatten)]
        remote: RemoteArgs,
        /// The command for --exec.
        #[arg(last = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Write a new share set (custodians, threshold) as pending; confirm it with a quorum
    /// of the new shares, or cancel it.
    Rekey {
        /// Seal name.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
        /// Shares: a quorum of the current set to start; of the new set with --confirm.
        #[arg(long = "share", value_name = "FILE", num_args = 1..)]
        shares: Vec<PathBuf>,
        /// An age identity file or SSH private key that opens shares encrypted to a
        /// custodian (repeat); passphrase-protected shares ask on the terminal.
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// A custodian to add to the new set (repeat); NAME=RECIPIENT also encrypts
        /// their share (and, for a current custodian, changes where it goes).
        #[arg(long = "custodian", value_name = "NAME[=RECIPIENT]", conflicts_with_all = ["confirm", "cancel"])]
        add: Vec<String>,
        /// A custodian to leave out of the new set (repeat).
        #[arg(long, value_name = "NAME", conflicts_with_all = ["confirm", "cancel"])]
        without: Vec<String>,
        /// Threshold of the new set [default: the current one].
        #[arg(long, value_name = "T", conflicts_with_all = ["confirm", "cancel"])]
        threshold: Option<u8>,
        /// Directory for the new share files [default: show them on the terminal].
        #[arg(long, value_name = "DIR", conflicts_with_all = ["confirm", "cancel"])]
        out_dir: Option<PathBuf>,
        /// Directory for a printable card (SVG) per custodian.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["confirm", "cancel"])]
        paper: Option<PathBuf>,
        /// Keep a custodian's passphrase that zxcvbn judges weak (a warning instead of a
        /// refusal).
        #[arg(long, conflicts_with_all = ["confirm", "cancel"])]
        allow_weak_passphrase: bool,
        /// Make the pending set with this operation id current (needs its new shares).
        #[arg(long, value_name = "ID", conflicts_with = "cancel")]
        confirm: Option<String>,
        /// Drop the pending operation with this id.
        #[arg(long, value_name = "ID")]
        cancel: Option<String>,
        /// Custodians who are not in the room.
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Make a new credential version with its own share set, pending; confirming it
    /// delivers the new credential and retires the old one.
    Rotate {
        /// Seal name.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
        /// Shares: a quorum of the current set to start; of the new set with --confirm.
        #[arg(long = "share", value_name = "FILE", num_args = 1..)]
        shares: Vec<PathBuf>,
        /// An age identity file or SSH private key that opens shares encrypted to a
        /// custodian (repeat); passphrase-protected shares ask on the terminal.
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// Directory for the new share files [default: show them on the terminal].
        #[arg(long, value_name = "DIR", conflicts_with_all = ["confirm", "cancel"])]
        out_dir: Option<PathBuf>,
        /// Directory for a printable card (SVG) per custodian.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["confirm", "cancel"])]
        paper: Option<PathBuf>,
        /// Keep a custodian's passphrase that zxcvbn judges weak (a warning instead of a
        /// refusal).
        #[arg(long, conflicts_with_all = ["confirm", "cancel"])]
        allow_weak_passphrase: bool,
        /// Length of the new generated credential [default: the current length].
        #[arg(long, value_name = "BYTES", conflicts_with_all = ["confirm", "cancel", "import"])]
        length: Option<usize>,
        /// Seal a new secret read from stdin instead of generating one.
        #[arg(long, conflicts_with_all = ["confirm", "cancel"])]
        import: bool,
        /// Make the pending version with this operation id current and deliver it.
        #[arg(long, value_name = "ID", conflicts_with = "cancel")]
        confirm: Option<String>,
        /// Drop the pending operation with this id.
        #[arg(long, value_name = "ID")]
        cancel: Option<String>,
        /// With --confirm: write the new credential to a new file (0600), or '-' for stdout.
        #[arg(
            long,
            value_name = "FILE|-",
            requires = "confirm",
            conflicts_with = "exec"
        )]
        output: Option<PathBuf>,
        /// With --confirm: run the command after '--' with the new credential on its stdin.
        #[arg(long, requires_all = ["confirm", "command"])]
        exec: bool,
        /// Encoding of the delivered credential.
        #[arg(long, value_enum, requires = "confirm")]
        encoding: Option<EncodingArg>,
        /// Allow '--output -' when stdout is a terminal.
        #[arg(long)]
        allow_tty: bool,
        /// Custodians who are not in the room.
        #[command(flatten)]
        remote: RemoteArgs,
        /// The command for --exec.
        #[arg(last = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Destroy the seal's key at once (crypto-shredding): HSM and PIN, no quorum.
    Revoke {
        /// Seal name.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
        /// Why, in one line; goes into the record and the log.
        #[arg(long, required_unless_present = "drill")]
        reason: Option<String>,
        /// The seal's name again, to confirm.
        #[arg(long, value_name = "SEAL")]
        confirm_seal: Option<String>,
        /// Prove that revoking would work now, without revoking: the token and PIN, every
        /// key of the seal found and destroyable, a vault seal's server. Logged.
        #[arg(long, conflicts_with_all = ["reason", "confirm_seal"])]
        drill: bool,
    },
    /// Custodian bookkeeping.
    #[command(subcommand)]
    Custodian(CustodianCommand),
    /// The owners of seals: offboard a team, hand a seal to a new owner.
    #[command(subcommand)]
    Owner(OwnerCommand),
    /// When and how a seal is expected to be recovered (replacing what was set): a
    /// reason required, a rate, days and hours; check reports recoveries outside it. A
    /// signed record change: HSM and PIN.
    Access {
        /// Seal name.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
        /// unseal refuses to recover it without --reason.
        #[arg(long)]
        require_reason: bool,
        /// At most COUNT recoveries in any PERIOD: 2/30d.
        #[arg(long, value_name = "COUNT/PERIOD")]
        max_recoveries: Option<String>,
        /// When recoveries are expected: 'Mon-Fri 08:00-18:00 Europe/Berlin'.
        #[arg(long, value_name = "DAYS HOURS TZ")]
        window: Option<String>,
        /// Remove the seal's access policy.
        #[arg(long, conflicts_with_all = ["require_reason", "max_recoveries", "window"])]
        clear: bool,
    },
    /// Declare what a seal's credential unlocks (replacing what it declared): a signed
    /// record change. HSM and PIN.
    Reach {
        /// Seal name.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
        /// A system the credential unlocks, by name (repeat): vault:prod-cluster.
        #[arg(long = "unlocks", value_name = "SYSTEM", required = true)]
        unlocks: Vec<String>,
    },
    /// The trust file: what this machine pins for the store's environments.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// The custodians and policy each environment approved (signed by its HSM key).
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// List (and with --destroy, destroy) keys on a token that no record references,
    /// and stale pending operations.
    Cleanup {
        /// Environment.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: String,
        /// Destroy the orphan keys listed.
        #[arg(long)]
        destroy: bool,
    },
    /// Run the whole recovery with the HSM and discard the credential; proves the shares.
    Drill {
        /// Seal name.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
        /// A custodian's share file (give all of them to prove every share); without
        /// any, on a terminal, each custodian enters their share in turn.
        #[arg(long = "share", value_name = "FILE", num_args = 1..)]
        shares: Vec<PathBuf>,
        /// An age identity file or SSH private key that opens shares encrypted to a
        /// custodian (repeat); passphrase-protected shares ask on the terminal.
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// Custodians who are not in the room.
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Custodian checks on shares.
    #[command(subcommand)]
    Share(ShareCommand),
    /// The ceremony log: verify it, show it, file a transcript.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The inventory: every seal, its owner, quorum, custodians, last recovery, status.
    List {
        /// Only this environment.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: Option<String>,
        /// Only seals of this owner.
        #[arg(long)]
        owner: Option<String>,
        /// Only seals in which this custodian holds a share.
        #[arg(long)]
        custodian: Option<String>,
    },
    /// Governance findings (overdue, expired, untested, unsafe, reused …) for people
    /// and CI: exit 1 while an error-level finding remains.
    Check {
        /// Only this environment.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: Option<String>,
        /// Also inspect the tokens (needs the PIN): markers, orphan and revoked keys.
        #[arg(long)]
        hsm: bool,
        /// Also write the state as Prometheus metrics to FILE (replaced whole, for
        /// node_exporter's textfile collector), or to stdout with '-'.
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
        /// Only the seals this owner answers for (a team's view).
        #[arg(long)]
        owner: Option<String>,
    },
    /// OpenBao and Vault: initialize, unseal, rotate the unseal key, lend a time-bound
    /// root token, with the key recovered by a quorum and the HSM and sent by the API.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command to a directory.
    Man {
        /// Write zeroth.1 and a page per subcommand (zeroth-generate.1 …) here.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// `env` subcommands.
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Bind a token to an environment: marker, signing key, wrap mechanism.
    Init {
        /// Environment name (dev, test, prod …).
        env: String,
        /// Path of the PKCS#11 module.
        #[arg(long, value_name = "PATH")]
        module: PathBuf,
        /// Label of the token.
        #[arg(long, value_name = "LABEL")]
        token: String,
        /// Use this wrap mechanism instead of the token's best
        /// (CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP).
        #[arg(long, value_name = "MECHANISM")]
        wrap_mechanism: Option<String>,
        /// Take over a token already marked for this environment, with its signing key.
        #[arg(long)]
        adopt: bool,
    },
    /// List the environments.
    List,
    /// Pin, on this machine, the module, token and signing key of an environment (after
    /// a package upgrade changed the module, or on a new machine): shows the module's
    /// hash before loading it, then the token's key.
    Pin {
        /// Environment name.
        env: String,
        /// The module to pin [default: the one pinned now, else the one zeroth.toml names].
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
        /// Do not ask before loading the module (its hash is still shown).
        #[arg(long)]
        yes: bool,
    },
}

/// `settings` subcommands.
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Sign, with the environment's HSM key, the custodians and policy zeroth.toml holds
    /// now (the changes are shown first).
    Approve {
        /// Environment.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: String,
        /// Do not ask before signing (the changes are still shown).
        #[arg(long)]
        yes: bool,
    },
    /// Show what counts for each environment, and what zeroth.toml changes that is not
    /// approved.
    Show {
        /// Only this environment.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: Option<String>,
    },
}

/// `trust` subcommands.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Print this store's pins as a trust file (for CI: --key-only).
    Export {
        /// Only this environment.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: Option<String>,
        /// Only the signing keys: what verifying records and logs needs, no module.
        #[arg(long)]
        key_only: bool,
    },
}

/// Where the vault server is.
#[derive(Debug, Args)]
pub struct ServerOpts {
    /// The server's address, https://HOST:PORT (http only on loopback) [default:
    /// BAO_ADDR, VAULT_ADDR, else the address the record holds].
    #[arg(long = "addr", value_name = "URL")]
    pub addrs: Vec<String>,
    /// PEM file of the CA certificates the server's certificate must chain to
    /// [default: BAO_CACERT, VAULT_CACERT, else the system's roots].
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// The name the server's certificate must carry, when not the address's host
    /// [default: BAO_TLS_SERVER_NAME, VAULT_TLS_SERVER_NAME].
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Accept this new certificate fingerprint (sha256:…) for the recorded address,
    /// after checking it out of band; unseal records it.
    #[arg(long, value_name = "FINGERPRINT")]
    pub accept_certificate: Option<String>,
}

impl ServerOpts {
    fn server(&self) -> crate::vault::ServerArgs {
        crate::vault::ServerArgs {
            addrs: self.addrs.clone(),
            ca_cert: self.ca_cert.clone(),
            server_name: self.tls_server_name.clone(),
        }
    }
}

/// What `vault init` does with the init root token.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RootTokenArg {
    /// Seal it as its own seal (same custodians and threshold).
    Seal,
    /// Revoke it at once.
    Revoke,
}

/// `vault` subcommands.
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Initialize a new server with one key share (or recovery key), seal the key
    /// straight from the answer, unseal the server with it, record the server.
    Init {
        /// Seal name for the key.
        seal: String,
        /// Seal metadata, custodians and where shares go (--out-dir or --paper).
        #[command(flatten)]
        spec: SpecArgs,
        /// Where the server is.
        #[command(flatten)]
        server: ServerOpts,
        /// The init root token: sealed as its own seal, or revoked at once.
        #[arg(long, value_enum, default_value = "seal")]
        root_token: RootTokenArg,
        /// The seal name for the root token [default: SEAL.root-token].
        #[arg(long, value_name = "NAME")]
        root_token_seal: Option<String>,
    },
    /// Check each node against the record, recover the key with a quorum and the HSM,
    /// and unseal the nodes that are sealed.
    Unseal {
        /// Seal holding the server's unseal key.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
        /// A custodian's share file; without any, on a terminal, each custodian enters
        /// their share in turn.
        #[arg(long = "share", value_name = "FILE", num_args = 1..)]
        shares: Vec<PathBuf>,
        /// An age identity file or SSH private key that opens encrypted shares.
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// Where the server is (repeat --addr for each node).
        #[command(flatten)]
        server: ServerOpts,
        /// Clear an unseal attempt someone else left in progress before sending.
        #[arg(long)]
        reset: bool,
        /// Why the key is recovered, in one line: it goes into the signed log (a seal
        /// can require it: zeroth access SEAL --require-reason).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Custodians who are not in the room.
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Rotate the server's unseal key with verification: a pending new key and shares;
    /// --confirm ID with the new shares has the server verify it, then switches.
    Rotate {
        /// Seal holding the server's key.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
        /// Shares: a quorum of the current set to start; of the new set with --confirm.
        #[arg(long = "share", value_name = "FILE", num_args = 1..)]
        shares: Vec<PathBuf>,
        /// An age identity file or SSH private key that opens encrypted shares.
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// Directory for the new share files.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["confirm", "cancel"])]
        out_dir: Option<PathBuf>,
        /// Directory for a printable card (SVG) per custodian.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["confirm", "cancel"])]
        paper: Option<PathBuf>,
        /// Keep a custodian's passphrase that zxcvbn judges weak (a warning instead of a
        /// refusal).
        #[arg(long, conflicts_with_all = ["confirm", "cancel"])]
        allow_weak_passphrase: bool,
        /// Have the server verify the pending key of this operation, then switch.
        #[arg(long, value_name = "ID", conflicts_with = "cancel")]
        confirm: Option<String>,
        /// Drop the pending rotation with this id, and the server's.
        #[arg(long, value_name = "ID")]
        cancel: Option<String>,
        /// Where the server is.
        #[command(flatten)]
        server: ServerOpts,
        /// A file holding the operator's token for OpenBao's authenticated rotation API
        /// [default: BAO_TOKEN, VAULT_TOKEN].
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Cancel a rotation someone else left in progress on the server first.
        #[arg(long)]
        reset: bool,
    },
    /// Generate a root token with the key, exchange it for one that expires by itself
    /// (--ttl), run CMD with it in BAO_TOKEN/VAULT_TOKEN, revoke it, exit with CMD's code.
    Root {
        /// Seal holding the server's key.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
        /// A custodian's share file; without any, on a terminal, each custodian enters
        /// their share in turn.
        #[arg(long = "share", value_name = "FILE", num_args = 1..)]
        shares: Vec<PathBuf>,
        /// An age identity file or SSH private key that opens encrypted shares.
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// Where the server is.
        #[command(flatten)]
        server: ServerOpts,
        /// A file holding the operator's token for OpenBao's authenticated
        /// generate-root API [default: BAO_TOKEN, VAULT_TOKEN].
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// How long the root token lives: 15m, 1h, 90s (at most 24h).
        #[arg(long, default_value = "15m", value_name = "TTL")]
        ttl: String,
        /// Cancel a root token generation someone else left in progress first.
        #[arg(long)]
        reset: bool,
        /// Why a root token is needed, in one line: it goes into the signed log (a seal
        /// can require it: zeroth access SEAL --require-reason).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// The command to run with the token.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
}

/// `custodian` subcommands.
#[derive(Debug, Subcommand)]
pub enum CustodianCommand {
    /// Add a custodian (and the recipient their shares are encrypted to), approved in
    /// each environment whose token opens with the PIN at hand.
    Add {
        /// Custodian name.
        name: String,
        /// An age recipient (age1…), an SSH public key (quoted), or 'passphrase'.
        #[arg(long, value_name = "RECIPIENT")]
        recipient: Option<String>,
        /// Approve it in this environment (repeat) [default: every environment].
        #[arg(long = "env", value_name = "ENV")]
        envs: Vec<String>,
        /// Change the recipient of a custodian the store has.
        #[arg(long)]
        replace: bool,
    },
    /// List the custodians: recipient, where it is approved, seals held, last proven,
    /// offboarded.
    List {
        /// Only this environment.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: Option<String>,
    },
    /// Record that a custodian has left: every seal where they hold a share needs a rekey.
    Offboard {
        /// Custodian name.
        name: String,
    },
}

/// `owner` subcommands.
#[derive(Subcommand, Debug)]
pub enum OwnerCommand {
    /// Record that a team has left: each live seal it owns is marked (in its signed
    /// record), and check reports it until it is handed over or revoked. HSM and PIN.
    Offboard {
        /// The owner, as the seals name it (--owner at generate).
        team: String,
    },
    /// Hand a seal to a new owner (a signed record change). HSM and PIN.
    Transfer {
        /// Seal name.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
        /// The new owner.
        #[arg(long, value_name = "OWNER")]
        to: String,
    },
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every link and signature of the log; exit 0 only for a whole, valid log.
    Verify {
        /// Only this environment's log.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: Option<String>,
        /// Check signatures with this public key (PEM) instead of the store's.
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
        /// Check every entry's own signature, not only the last one (which covers the
        /// lines before it through the chain), and name the first that fails.
        #[arg(long)]
        every_signature: bool,
    },
    /// Show log entries as a table (or JSON).
    Show {
        /// Only this environment.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: Option<String>,
        /// Only entries about this seal.
        #[arg(long, add = ArgValueCandidates::new(seal_names))]
        seal: Option<String>,
        /// Only entries from this date on (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
    },
    /// Write the log in a SIEM's format (OCSF JSON, CEF, syslog), each entry with
    /// what its signature is worth.
    Export {
        /// Only this environment's log.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: Option<String>,
        /// The format.
        #[arg(long, value_enum)]
        format: crate::siem::Format,
        /// Only entries from this date on (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
    },
    /// Stream new log entries as JSON lines for a log shipper, from where the last run
    /// stopped (--state).
    Follow {
        /// The environment whose log to follow.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: String,
        /// Where to keep the position (the last entry written); without it, every
        /// entry from the first.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Return once caught up, instead of waiting for new entries.
        #[arg(long)]
        once: bool,
        /// How often to look for new entries, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 1000)]
        interval: u64,
    },
    /// A Markdown transcript of every ceremony of one seal, for an auditor to file.
    Report {
        /// Seal name.
        #[arg(add = ArgValueCandidates::new(seal_names))]
        seal: String,
    },
    /// Sign an entry covering the unsigned entries before it, after reviewing them.
    Attest {
        /// Environment.
        #[arg(long, add = ArgValueCandidates::new(env_names))]
        env: String,
    },
}

/// The first step of a rekey or rotation, its quorum collected remotely with `--remote`
/// when asked: the checks that need no share are made as the collection opens, so that
/// no custodian is asked for a hand-in the ceremony would refuse anyway.
fn start_remotely(ctx: &Context, mut start: Start, remote: &RemoteArgs) -> Result<Report> {
    if let Some(opts) = remote.opts() {
        let check = |ctx: &Context,
                     store: &crate::store::Store,
                     record: &crate::seal::SealRecord,
                     key: &crate::key::PublicKey| {
            ceremony::pending::precheck(ctx, store, record, key, &start)
        };
        let collected = ceremony::remote::collect_checked(
            ctx,
            Purpose::Start(start.kind),
            &start.seal,
            None,
            &start.shares,
            &start.identities,
            &opts,
            Some(&check),
        )?;
        start.remote = Some(collected);
        start.shares = Vec::new();
    }
    ceremony::pending::start(ctx, start)
}

/// `--remote` and what goes with it: custodians who are not in the room hand in their
/// shares from their own machines.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// Collect shares from custodians who are not in the room: write a request signed by
    /// the HSM, and take their hand-ins (`zeroth share send`) for this ceremony only.
    #[arg(long)]
    pub remote: bool,
    /// Where to write the request [default: SEAL.CEREMONY.request].
    #[arg(long, value_name = "FILE", requires = "remote")]
    pub request: Option<PathBuf>,
    /// A directory where hand-ins arrive (a shared or synced folder); each new file in it
    /// is read (repeat).
    #[arg(long, value_name = "DIR", requires = "remote")]
    pub watch: Vec<PathBuf>,
    /// A hand-in file, read once it exists (repeat).
    #[arg(long = "hand-in", value_name = "FILE", requires = "remote")]
    pub hand_ins: Vec<PathBuf>,
    /// How long the request takes hand-ins: 30m, 2h … (at most 24h) [default: 30m].
    #[arg(long, value_name = "DURATION", requires = "remote")]
    pub valid_for: Option<String>,
}

impl RemoteArgs {
    fn opts(&self) -> Option<RemoteOpts> {
        self.remote.then(|| RemoteOpts {
            request: self.request.clone(),
            watch: self.watch.clone(),
            hand_ins: self.hand_ins.clone(),
            valid_for: self.valid_for.clone(),
        })
    }
}

/// `share` subcommands.
#[derive(Debug, Subcommand)]
pub enum ShareCommand {
    /// Answer an operator's remote request with your share, from your own machine: the
    /// request's signature and your share are checked, you see what you authorise, and a
    /// hand-in encrypted for that one ceremony is written.
    Send {
        /// The request file the operator sent ('-': read it from stdin).
        request: PathBuf,
        /// Your share file (plain, or encrypted to you: give --identity).
        #[arg(long, value_name = "FILE")]
        share: PathBuf,
        /// An age identity file or SSH private key that opens your share.
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// Where to write the hand-in [default: SEAL.CUSTODIAN.CEREMONY.hand-in], or '-'
        /// for stdout.
        #[arg(long, value_name = "FILE|-")]
        out: Option<PathBuf>,
        /// Check the request with this public key (PEM) instead of the pinned one.
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
        /// Authorise without asking on the terminal (the summary is still printed).
        #[arg(long)]
        yes: bool,
    },
    /// Check share files against their records, without a quorum and without the HSM.
    Verify {
        /// Share files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check record signatures with this public key (PEM) instead of the store's.
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
        /// An age identity file or SSH private key that opens shares encrypted to a
        /// custodian (repeat); passphrase-protected shares ask on the terminal.
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
    },
}

/// What `generate` and `import` share.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Environment (hence token) to seal in.
    #[arg(long, add = ArgValueCandidates::new(env_names))]
    pub env: String,
    /// Who answers for the credential.
    #[arg(long)]
    pub owner: String,
    /// What the credential unlocks.
    #[arg(long)]
    pub purpose: String,
    /// How many custodians recover it (2 or more).
    #[arg(long, value_name = "T")]
    pub threshold: u8,
    /// A custodian, in share order (repeat). NAME=RECIPIENT encrypts their share file
    /// with age to RECIPIENT: an age recipient (age1…), an SSH public key (ssh-ed25519
    /// or ssh-rsa, quoted), or 'passphrase' (typed by the custodian on the terminal).
    #[arg(long = "custodian", value_name = "NAME[=RECIPIENT]", required = true)]
    pub custodians: Vec<String>,
    /// Rotation period: 90d, 12w, 1y.
    #[arg(long, value_name = "PERIOD")]
    pub rotate_every: String,
    /// Expiry: YYYY-MM-DD or RFC 3339.
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// Directory the share files are written to, as <seal>.<custodian>.share (.age when
    /// encrypted) [default: show each share on the terminal, one custodian at a time].
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Directory for a printable card (SVG) per custodian, <seal>.<custodian>.card.svg.
    #[arg(long, value_name = "DIR")]
    pub paper: Option<PathBuf>,
    /// Permit threshold 1: any single custodian recovers the credential.
    #[arg(long)]
    pub allow_threshold_one: bool,
    /// A system the credential unlocks, by name (repeat): vault:prod-cluster,
    /// db:orders-prod. check reports a seal that declares none.
    #[arg(long = "unlocks", value_name = "SYSTEM")]
    pub unlocks: Vec<String>,
    /// Keep a custodian's passphrase that zxcvbn judges weak (a warning instead of a
    /// refusal).
    #[arg(long)]
    pub allow_weak_passphrase: bool,
}

/// `--encoding`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum EncodingArg {
    /// Lower-case hexadecimal.
    Hex,
    /// The bytes as they are.
    Raw,
    /// Standard base64.
    Base64,
}

impl From<EncodingArg> for Encoding {
    fn from(e: EncodingArg) -> Encoding {
        match e {
            EncodingArg::Hex => Encoding::Hex,
            EncodingArg::Raw => Encoding::Raw,
            EncodingArg::Base64 => Encoding::Base64,
        }
    }
}

impl SpecArgs {
    fn into_spec(self, seal: String) -> Result<SealSpec> {
        Ok(SealSpec {
            seal,
            env: self.env,
            owner: self.owner,
            purpose: self.purpose,
            threshold: self.threshold,
            custodians: self
                .custodians
                .iter()
                .map(|c| CustodianSpec::parse(c))
                .collect::<Result<_>>()?,
            rotate_every_days: clock::parse_days(&self.rotate_every)
                .map_err(|e| Error::Usage(format!("--rotate-every: {}", e.message())))?,
            expires: self
                .expires
                .as_deref()
                .map(clock::parse_instant)
                .transpose()
                .map_err(|e| Error::Usage(format!("--expires: {}", e.message())))?,
            allow_threshold_one: self.allow_threshold_one,
            unlocks: self.unlocks,
            outlets: Outlets {
                out_dir: self.out_dir,
                paper: self.paper,
                allow_weak_passphrase: self.allow_weak_passphrase,
            },
        })
    }
}

impl Cli {
    /// Returns true if and only if the command writes the credential on stdout
    /// (`--output -`): then nothing else may go there, not even a JSON error.
    pub fn stdout_carries_secret(&self) -> bool {
        let dash = |o: &Option<PathBuf>| o.as_ref().is_some_and(|p| p.as_os_str() == "-");
        match &self.command {
            Command::Unseal { output, .. } | Command::Rotate { output, .. } => dash(output),
            _ => false,
        }
    }
}

/// Refuses a `--reason` that is not one line of at most 300 characters.
fn check_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() || reason.len() > 300 || reason.chars().any(char::is_control) {
        return Err(Error::Usage(
            "--reason must say why, in one line of at most 300 characters".into(),
        ));
    }
    Ok(())
}

/// The command line's definition, with the examples at the end of each command's help.
pub fn command() -> clap::Command {
    crate::help::with_examples(Cli::command())
}

/// Parses the process's arguments against [`command`].
pub fn parse() -> std::result::Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let matches = command().try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

/// Runs the parsed command line: `completions` and `man` need no store; every other
/// command runs in the context the global options make, through its own function below,
/// which turns its options into the library's arguments. A command with many options is
/// handed over whole, and its function takes it apart.
pub fn run(cli: Cli) -> Result<Report> {
    match &cli.command {
        Command::Completions { shell } => return completions(*shell),
        Command::Man { out_dir } => return man(out_dir.clone()),
        _ => {}
    }
    if let Some(name) = &cli.operator {
        crate::audit::name_operator(name)?;
    }
    let ctx = Context {
        store: cli.store,
        pin_file: cli.pin_file,
        trust: crate::trust::Trust::load(cli.trust.as_deref())?,
    };
    match cli.command {
        Command::Env(command) => run_env(&ctx, command),
        Command::Settings(command) => run_settings(&ctx, command),
        Command::Trust(command) => run_trust(&ctx, command),
        Command::Generate { seal, spec, length } => run_generate(&ctx, seal, spec, length),
        Command::Import {
            seal,
            spec,
            from_terminal,
        } => run_import(&ctx, seal, spec, from_terminal),
        command @ Command::Unseal { .. } => run_unseal(&ctx, command),
        command @ Command::Drill { .. } => run_drill(&ctx, command),
        command @ Command::Rekey { .. } => run_rekey(&ctx, command),
        command @ Command::Rotate { .. } => run_rotate(&ctx, command),
        command @ Command::Revoke { .. } => run_revoke(&ctx, command),
        Command::Custodian(command) => run_custodian(&ctx, command),
        Command::Owner(command) => run_owner(&ctx, command),
        command @ Command::Access { .. } => run_access(&ctx, command),
        Command::Reach { seal, unlocks } => ceremony::owner::reach(&ctx, &seal, &unlocks),
        Command::Cleanup { env, destroy } => ceremony::cleanup::run(&ctx, &env, destroy),
        Command::Share(command) => run_share(&ctx, command),
        Command::Audit(command) => run_audit(&ctx, command),
        Command::List {
            env,
            owner,
            custodian,
        } => crate::governance::list(&ctx, env.as_deref(), owner.as_deref(), custodian.as_deref()),
        Command::Check {
            env,
            hsm,
            metrics,
            owner,
        } => run_check(&ctx, env, hsm, metrics, owner),
        Command::Vault(command) => run_vault(&ctx, command),
        Command::Completions { .. } | Command::Man { .. } => unreachable!("handled above"),
    }
}

/// `completions SHELL`: the script, on stdout or in JSON.
fn completions(shell: clap_complete::Shell) -> Result<Report> {
    let script = completion_script(shell)?;
    Ok(Report::new(
        script.clone(),
        serde_json::json!({ "shell": shell.to_string(), "script": script }),
    ))
}

/// `env init`, `env list`, `env pin`.
fn run_env(ctx: &Context, command: EnvCommand) -> Result<Report> {
    match command {
        EnvCommand::Init {
            env,
            module,
            token,
            wrap_mechanism,
            adopt,
        } => ceremony::env::init(
            ctx,
            &EnvInit {
                env,
                module,
                token,
                wrap_mechanism: wrap_mechanism
                    .as_deref()
                    .map(WrapMechanism::parse)
                    .transpose()?,
                adopt,
            },
        ),
        EnvCommand::List => ceremony::env::list(ctx),
        EnvCommand::Pin { env, module, yes } => {
            ceremony::env::pin(ctx, &env, module.as_deref(), yes)
        }
    }
}

/// `settings approve`, `settings show`.
fn run_settings(ctx: &Context, command: SettingsCommand) -> Result<Report> {
    match command {
        SettingsCommand::Approve { env, yes } => ceremony::approve::approve(ctx, &env, yes),
        SettingsCommand::Show { env } => ceremony::approve::show(ctx, env.as_deref()),
    }
}

/// `trust export`.
fn run_trust(ctx: &Context, command: TrustCommand) -> Result<Report> {
    let TrustCommand::Export { env, key_only } = command;
    let store = crate::store::Store::open(&ctx.store)?;
    if let Some(e) = &env {
        store.env(e)?;
    }
    let text = ctx.trust.export(&store, env.as_deref(), key_only)?;
    Ok(Report::new(
        text.clone(),
        serde_json::json!({ "trust_file": text }),
    ))
}

/// `generate SEAL`.
fn run_generate(ctx: &Context, seal: String, spec: SpecArgs, length: usize) -> Result<Report> {
    let spec = spec.into_spec(seal)?;
    ceremony::generate::run(ctx, &spec, Source::Generate { length })
}

/// `import SEAL`: the spec is checked before the secret is read.
fn run_import(ctx: &Context, seal: String, spec: SpecArgs, from_terminal: bool) -> Result<Report> {
    let spec = spec.into_spec(seal)?;
    spec.validate(clock::now()?)?;
    let secret = read_secret(from_terminal)?;
    ceremony::generate::run(ctx, &spec, Source::Import(secret))
}

/// The quorum of a ceremony: with `--remote`, what the remote collection gathered (the
/// share files given, of custodians in the room, among it), and no share file left for
/// the ceremony to read; else the share files given.
fn gather(
    ctx: &Context,
    remote: &RemoteArgs,
    purpose: Purpose,
    seal: &str,
    operation: Option<&str>,
    shares: Vec<PathBuf>,
    identities: &[PathBuf],
) -> Result<(Vec<PathBuf>, Option<ceremony::remote::Collected>)> {
    let Some(opts) = remote.opts() else {
        return Ok((shares, None));
    };
    let collected =
        ceremony::remote::collect(ctx, purpose, seal, operation, &shares, identities, &opts)?;
    Ok((Vec::new(), Some(collected)))
}

/// `unseal SEAL`: the reason and where the credential goes are checked before any share
/// is collected.
fn run_unseal(ctx: &Context, command: Command) -> Result<Report> {
    let Command::Unseal {
        seal,
        shares,
        identities,
        output,
        exec,
        encoding,
        allow_tty,
        remote,
        command,
        reason,
    } = command
    else {
        unreachable!("run passes an unseal")
    };
    if let Some(r) = &reason {
        check_reason(r)?;
    }
    let delivery = delivery(output, exec, allow_tty, command)?;
    if remote.remote {
        delivery.preflight()?;
    }
    let (shares, remote) = gather(
        ctx,
        &remote,
        Purpose::Unseal,
        &seal,
        None,
        shares,
        &identities,
    )?;
    ceremony::unseal::run(
        ctx,
        &UnsealArgs {
            seal,
            shares,
            identities,
            delivery,
            encoding: encoding.map(Encoding::from),
            remote,
            reason,
        },
    )
}

/// `drill SEAL`.
fn run_drill(ctx: &Context, command: Command) -> Result<Report> {
    let Command::Drill {
        seal,
        shares,
        identities,
        remote,
    } = command
    else {
        unreachable!("run passes a drill")
    };
    let (shares, collected) = gather(
        ctx,
        &remote,
        Purpose::Drill,
        &seal,
        None,
        shares,
        &identities,
    )?;
    ceremony::drill::run(ctx, &seal, &shares, &identities, collected)
}

/// `rekey SEAL`: the first step (a new set, pending), `--confirm ID` or `--cancel ID`.
fn run_rekey(ctx: &Context, command: Command) -> Result<Report> {
    let Command::Rekey {
        seal,
        shares,
        identities,
        add,
        without,
        threshold,
        out_dir,
        paper,
        allow_weak_passphrase,
        confirm,
        cancel,
        remote,
    } = command
    else {
        unreachable!("run passes a rekey")
    };
    match (confirm, cancel) {
        (Some(id), _) => {
            let (shares, collected) = gather(
                ctx,
                &remote,
                Purpose::Confirm(PendingKind::Rekey),
                &seal,
                Some(&id),
                shares,
                &identities,
            )?;
            ceremony::pending::confirm(
                ctx,
                PendingKind::Rekey,
                &seal,
                &id,
                &shares,
                &identities,
                None,
                None,
                collected,
            )
        }
        (None, Some(id)) => ceremony::pending::cancel(ctx, PendingKind::Rekey, &seal, &id),
        (None, None) => {
            let start = Start {
                kind: PendingKind::Rekey,
                seal,
                shares: if remote.remote {
                    shares
                } else {
                    require_shares(shares, "rekey")?
                },
                identities,
                add: add
                    .iter()
                    .map(|c| CustodianSpec::parse(c))
                    .collect::<Result<_>>()?,
                without,
                threshold,
                outlets: Outlets {
                    out_dir,
                    paper,
                    allow_weak_passphrase,
                },
                credential: None,
                vault: None,
                remote: None,
            };
            start_remotely(ctx, start, &remote)
        }
    }
}

/// `rotate SEAL`: the first step (a new credential and set, pending), `--confirm ID`
/// (which delivers the new credential) or `--cancel ID`.
fn run_rotate(ctx: &Context, command: Command) -> Result<Report> {
    let Command::Rotate {
        seal,
        shares,
        identities,
        out_dir,
        paper,
        allow_weak_passphrase,
        length,
        import,
        confirm,
        cancel,
        output,
        exec,
        encoding,
        allow_tty,
        remote,
        command,
    } = command
    else {
        unreachable!("run passes a rotate")
    };
    match (confirm, cancel) {
        (Some(id), _) => {
            let delivery = delivery(output, exec, allow_tty, command)?;
            if remote.remote {
                delivery.preflight()?;
            }
            let (shares, collected) = gather(
                ctx,
                &remote,
                Purpose::Confirm(PendingKind::Rotate),
                &seal,
                Some(&id),
                shares,
                &identities,
            )?;
            ceremony::pending::confirm(
                ctx,
                PendingKind::Rotate,
                &seal,
                &id,
                &shares,
                &identities,
                Some(&delivery),
                encoding.map(Encoding::from),
                collected,
            )
        }
        (None, Some(id)) => ceremony::pending::cancel(ctx, PendingKind::Rotate, &seal, &id),
        (None, None) => {
            let shares = if remote.remote {
                shares
            } else {
                require_shares(shares, "rotate")?
            };
            let start = Start {
                kind: PendingKind::Rotate,
                seal,
                shares,
                identities,
                add: Vec::new(),
                without: Vec::new(),
                threshold: None,
                outlets: Outlets {
                    out_dir,
                    paper,
                    allow_weak_passphrase,
                },
                credential: new_credential(import, length)?,
                vault: None,
                remote: None,
            };
            start_remotely(ctx, start, &remote)
        }
    }
}

/// The new credential of a rotation: read from stdin with `--import`, else generated,
/// `--length` bytes long when given (else as long as the current one).
fn new_credential(import: bool, length: Option<usize>) -> Result<Option<NewCredential>> {
    if import {
        return Ok(Some(NewCredential::Import(read_secret(false)?)));
    }
    length
        .map(|l| {
            if crate::ceremony::generate::LENGTH_RANGE.contains(&l) {
                Ok(NewCredential::Generate(l))
            } else {
                Err(Error::Usage(format!(
                    "--length {l}: a generated credential has 16 to 1024 bytes"
                )))
            }
        })
        .transpose()
}

/// `revoke SEAL`, or its drill.
fn run_revoke(ctx: &Context, command: Command) -> Result<Report> {
    let Command::Revoke {
        seal,
        reason,
        confirm_seal,
        drill,
    } = command
    else {
        unreachable!("run passes a revoke")
    };
    if drill {
        return ceremony::revoke::drill(ctx, &seal);
    }
    ceremony::revoke::run(
        ctx,
        &seal,
        reason.as_deref().unwrap_or_default(),
        confirm_seal.as_deref(),
    )
}

/// `custodian add`, `custodian list`, `custodian offboard`.
fn run_custodian(ctx: &Context, command: CustodianCommand) -> Result<Report> {
    match command {
        CustodianCommand::Add {
            name,
            recipient,
            envs,
            replace,
        } => ceremony::custodian::add(ctx, &name, recipient.as_deref(), &envs, replace),
        CustodianCommand::List { env } => ceremony::custodian::list(ctx, env.as_deref()),
        CustodianCommand::Offboard { name } => ceremony::offboard::run(ctx, &name),
    }
}

/// `owner offboard`, `owner transfer`.
fn run_owner(ctx: &Context, command: OwnerCommand) -> Result<Report> {
    match command {
        OwnerCommand::Offboard { team } => ceremony::owner::offboard(ctx, &team),
        OwnerCommand::Transfer { seal, to } => ceremony::owner::transfer(ctx, &seal, &to),
    }
}

/// `access SEAL`: the policy set (at least one part of it), or cleared.
fn run_access(ctx: &Context, command: Command) -> Result<Report> {
    let Command::Access {
        seal,
        require_reason,
        max_recoveries,
        window,
        clear,
    } = command
    else {
        unreachable!("run passes an access")
    };
    let access = if clear {
        None
    } else {
        if !require_reason && max_recoveries.is_none() && window.is_none() {
            return Err(Error::Usage(
                "say what to set: --require-reason, --max-recoveries COUNT/PERIOD, --window 'DAYS HOURS TZ' (or --clear)".into(),
            ));
        }
        Some(crate::seal::SealAccess {
            require_reason,
            max_recoveries: max_recoveries
                .as_deref()
                .map(crate::seal::Rate::parse)
                .transpose()?,
            window: window
                .as_deref()
                .map(crate::seal::Window::parse)
                .transpose()?,
        })
    };
    ceremony::owner::access(ctx, &seal, access)
}

/// `share send`, `share verify`.
fn run_share(ctx: &Context, command: ShareCommand) -> Result<Report> {
    match command {
        ShareCommand::Send {
            request,
            share,
            identities,
            out,
            pubkey,
            yes,
        } => ceremony::share_send::run(
            ctx,
            &ceremony::share_send::SendArgs {
                request,
                share,
                identities,
                out,
                pubkey,
                yes,
            },
        ),
        ShareCommand::Verify {
            files,
            pubkey,
            identities,
        } => ceremony::share_verify::run(ctx, &files, pubkey.as_ref(), &identities),
    }
}

/// `check`.
fn run_check(
    ctx: &Context,
    env: Option<String>,
    hsm: bool,
    metrics: Option<PathBuf>,
    owner: Option<String>,
) -> Result<Report> {
    crate::governance::check(
        ctx,
        &crate::governance::CheckArgs {
            env: env.as_deref(),
            hsm,
            metrics: metrics.as_deref(),
            owner: owner.as_deref(),
        },
    )
}

/// `audit verify`, `show`, `report`, `export`, `follow`, `attest`.
fn run_audit(ctx: &Context, command: AuditCommand) -> Result<Report> {
    match command {
        AuditCommand::Verify {
            env,
            pubkey,
            every_signature,
        } => crate::transcript::verify(
            ctx,
            env.as_deref(),
            pubkey.as_deref(),
            if every_signature {
                crate::audit::SignatureCheck::Every
            } else {
                crate::audit::SignatureCheck::Checkpoints
            },
        ),
        AuditCommand::Show { env, seal, since } => {
            crate::transcript::show(ctx, env.as_deref(), seal.as_deref(), since.as_deref())
        }
        AuditCommand::Report { seal } => crate::transcript::report(ctx, &seal),
        AuditCommand::Export { env, format, since } => {
            crate::siem::export(ctx, env.as_deref(), format, since.as_deref())
        }
        AuditCommand::Follow {
            env,
            state,
            once,
            interval,
        } => crate::siem::follow(
            ctx,
            &env,
            state.as_deref(),
            once,
            std::time::Duration::from_millis(interval.max(10)),
        ),
        AuditCommand::Attest { env } => ceremony::attest::run(ctx, &env),
    }
}

/// `vault init`, `unseal`, `rotate`, `root`, each handed over whole.
fn run_vault(ctx: &Context, command: VaultCommand) -> Result<Report> {
    match command {
        command @ VaultCommand::Init { .. } => vault_init(ctx, command),
        command @ VaultCommand::Unseal { .. } => vault_unseal(ctx, command),
        command @ VaultCommand::Rotate { .. } => vault_rotate(ctx, command),
        command @ VaultCommand::Root { .. } => vault_root(ctx, command),
    }
}

/// `vault init SEAL`.
fn vault_init(ctx: &Context, command: VaultCommand) -> Result<Report> {
    use crate::ceremony::vault::init;
    let VaultCommand::Init {
        seal,
        spec,
        server,
        root_token,
        root_token_seal,
    } = command
    else {
        unreachable!("run_vault passes an init")
    };
    if server.accept_certificate.is_some() {
        return Err(Error::Usage(
            "--accept-certificate means nothing at vault init: no certificate is recorded yet"
                .into(),
        ));
    }
    init::run(
        ctx,
        &init::InitArgs {
            spec: spec.into_spec(seal)?,
            server: server.server(),
            root_token: match root_token {
                RootTokenArg::Seal => init::RootTokenMode::Seal,
                RootTokenArg::Revoke => init::RootTokenMode::Revoke,
            },
            root_token_seal,
        },
    )
}

/// `vault unseal SEAL`: shares are collected remotely only when a node needs the key.
fn vault_unseal(ctx: &Context, command: VaultCommand) -> Result<Report> {
    use crate::ceremony::vault::unseal;
    let VaultCommand::Unseal {
        seal,
        shares,
        identities,
        server,
        reset,
        reason,
        remote,
    } = command
    else {
        unreachable!("run_vault passes an unseal")
    };
    if let Some(r) = &reason {
        check_reason(r)?;
    }
    let mut args = unseal::UnsealArgs {
        seal,
        shares,
        identities,
        reset,
        accept_certificate: server.accept_certificate.clone(),
        server: server.server(),
        remote: None,
        reason,
    };
    if let Some(opts) = remote.opts()
        && unseal::needs_collection(ctx, &args)
    {
        args.remote = Some(crate::ceremony::remote::collect(
            ctx,
            Purpose::VaultUnseal,
            &args.seal,
            None,
            &args.shares,
            &args.identities,
            &opts,
        )?);
        args.shares = Vec::new();
    }
    unseal::run(ctx, &args)
}

/// `vault rotate SEAL`: the first step, `--confirm ID` or `--cancel ID`.
fn vault_rotate(ctx: &Context, command: VaultCommand) -> Result<Report> {
    use crate::ceremony::vault::rotate;
    let VaultCommand::Rotate {
        seal,
        shares,
        identities,
        out_dir,
        paper,
        allow_weak_passphrase,
        confirm,
        cancel,
        server,
        token_file,
        reset,
    } = command
    else {
        unreachable!("run_vault passes a rotate")
    };
    let args = rotate::RotateArgs {
        seal,
        shares,
        identities,
        outlets: Outlets {
            out_dir,
            paper,
            allow_weak_passphrase,
        },
        accept_certificate: server.accept_certificate.clone(),
        server: server.server(),
        token_file,
        reset,
    };
    match (confirm, cancel) {
        (Some(id), _) => rotate::confirm(ctx, &args, &id),
        (None, Some(id)) => rotate::cancel(ctx, &args, &id),
        (None, None) => rotate::start(ctx, &args),
    }
}

/// `vault root SEAL -- CMD`.
fn vault_root(ctx: &Context, command: VaultCommand) -> Result<Report> {
    use crate::ceremony::vault::root;
    let VaultCommand::Root {
        seal,
        shares,
        identities,
        server,
        token_file,
        ttl,
        reset,
        reason,
        command,
    } = command
    else {
        unreachable!("run_vault passes a root")
    };
    if let Some(r) = &reason {
        check_reason(r)?;
    }
    root::run(
        ctx,
        &root::RootArgs {
            seal,
            shares,
            identities,
            accept_certificate: server.accept_certificate.clone(),
            server: server.server(),
            token_file,
            ttl,
            reset,
            reason,
            command,
        },
    )
}

/// Where a recovered credential goes, from the delivery options.
fn delivery(
    output: Option<PathBuf>,
    exec: bool,
    allow_tty: bool,
    command: Vec<OsString>,
) -> Result<Delivery> {
    if !exec && !command.is_empty() {
        return Err(Error::Usage("a command after '--' needs --exec".into()));
    }
    match (output, exec) {
        (Some(p), _) if p.as_os_str() == "-" => Ok(Delivery::Stdout { allow_tty }),
        (Some(p), _) => Ok(Delivery::File(p)),
        (None, true) => Ok(Delivery::Exec(command)),
        (None, false) => Err(Error::Usage(
            "say where the credential goes: --output FILE, --output - (stdout) or --exec -- CMD ARGS".into(),
        )),
    }
}

fn require_shares(shares: Vec<PathBuf>, verb: &str) -> Result<Vec<PathBuf>> {
    if shares.is_empty() {
        return Err(Error::Usage(format!(
            "{verb} needs a quorum of the current shares: give --share FILE for each"
        )));
    }
    Ok(shares)
}

/// The manual: the top page on stdout, or every page written to `out_dir`.
fn man(out_dir: Option<PathBuf>) -> Result<Report> {
    // Without the help's examples (clap_mangen would print them as EXTRA): the pages
    // get their own EXAMPLES section, in roff.
    let cmd = Cli::command();
    match out_dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|source| CeremonyError::ManualRender { source })?;
            let mut page = String::from_utf8_lossy(&out).into_owned();
            page.push_str(&crate::help::man_sections(""));
            Ok(Report::new(
                page.clone(),
                serde_json::json!({ "page": "zeroth.1", "roff": page }),
            ))
        }
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Error::Usage(format!(
                    "--out-dir {} is not a directory",
                    dir.display()
                )));
            }
            clap_mangen::generate_to(cmd, &dir)
                .map_err(|e| Error::io("write manual pages to", &dir, e))?;
            let mut pages: Vec<String> = std::fs::read_dir(&dir)
                .map_err(|e| Error::io("read directory", &dir, e))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("zeroth") && n.ends_with(".1"))
                .collect();
            pages.sort();
            // Each page gains EXAMPLES, EXIT STATUS, ENVIRONMENT and FILES.
            for page in &pages {
                let path = dir.join(page);
                let command_path = page
                    .trim_end_matches(".1")
                    .trim_start_matches("zeroth")
                    .trim_start_matches('-')
                    .replace('-', " ");
                let mut text =
                    std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
                text.push_str(&crate::help::man_sections(&command_path));
                std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))?;
            }
            Ok(Report::new(
                format!(
                    "{} manual pages written to {}: {}\n",
                    pages.len(),
                    dir.display(),
                    pages.join(", ")
                ),
                serde_json::json!({ "dir": dir, "pages": pages }),
            ))
        }
    }
}

/// Returns true if and only if `bytes` read as text: UTF-8 without control characters
/// other than tab, carriage return and newline.
fn looks_like_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|t| {
        t.chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n'))
    })
}

/// Reads the secret to import: all of stdin (refused on a terminal unless
/// `from_terminal`, then typed twice without echo), at most 64 KiB, not empty.
fn read_secret(from_terminal: bool) -> Result<Credential> {
    let stdin = std::io::stdin();
    if from_terminal {
        let first = Zeroizing::new(
            rpassword::prompt_password("secret to seal (not shown): ")
                .map_err(|source| CeremonyError::SecretFromTerminal { source })?,
        );
        let second = Zeroizing::new(
            rpassword::prompt_password("again, to confirm: ")
                .map_err(|source| CeremonyError::SecretFromTerminal { source })?,
        );
        if *first != *second {
            return Err(CeremonyError::SecretEntriesDiffer.into());
        }
        if first.is_empty() {
            return Err(CeremonyError::SecretEmpty.into());
        }
        return Ok(Credential::new(first.as_bytes().to_vec()));
    }
    if stdin.is_terminal() {
        return Err(CeremonyError::StdinIsTerminal.into());
    }
    // Sized to the limit up front: a growing buffer would leave unwiped copies of the
    // secret behind in freed memory each time it moved.
    let mut buf = Zeroizing::new(Vec::with_capacity(IMPORT_MAX + 1));
    stdin
        .lock()
        .take(IMPORT_MAX as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|source| CeremonyError::SecretFromStdin { source })?;
    if buf.is_empty() {
        return Err(CeremonyError::StdinEmpty.into());
    }
    if buf.len() > IMPORT_MAX {
        return Err(CeremonyError::SecretTooLong { max: IMPORT_MAX }.into());
    }
    // Only a text secret is warned about: a binary one (a key, a blob) ends in 0x0a
    // as often as in anything else, and means it.
    if buf.ends_with(b"\n") && looks_like_text(&buf) {
        eprintln!(
            "note: the secret read from stdin ends with a newline, which is sealed with it; use printf '%s' to leave it out"
        );
    }
    Ok(Credential::new(std::mem::take(&mut *buf)))
}

/// The store a completion reads: `ZEROTH_STORE`, else `./zeroth` (a `--store` typed on
/// the line being completed is not seen).
fn completion_store() -> Option<crate::store::Store> {
    let root = std::env::var_os("ZEROTH_STORE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("zeroth"));
    crate::store::Store::open(&root).ok()
}

/// The seal names of the store, for shell completion: the records' file names (a
/// completion lists, it does not verify).
fn seal_names() -> Vec<CompletionCandidate> {
    let Some(store) = completion_store() else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir(store.root().join("seals")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|n| crate::names::check(crate::names::NameKind::Seal, n).is_ok())
                .map(String::from)
        })
        .collect();
    names.sort();
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// The environment names of the store, for shell completion.
fn env_names() -> Vec<CompletionCandidate> {
    completion_store()
        .map(|s| {
            s.config()
                .env
                .iter()
                .map(|(name, cfg)| {
                    CompletionCandidate::new(name.clone())
                        .help(Some(format!("token '{}'", cfg.token).into()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The registration script of `shell` for completions computed by zeroth itself
/// (`COMPLETE=SHELL zeroth`), so seal and environment names come from the store.
fn completion_script(shell: clap_complete::Shell) -> Result<String> {
    let name = shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(&name)
        .ok_or_else(|| Error::Usage(format!("no completion for shell '{name}'")))?;
    let mut out = Vec::new();
    completer
        .write_registration("COMPLETE", "zeroth", "zeroth", "zeroth", &mut out)
        .map_err(|source| CeremonyError::CompletionWrite { source })?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
