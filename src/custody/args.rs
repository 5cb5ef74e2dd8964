//! The chain-of-custody flags, one flattened group per command (pull and batch: `SignArgs`;
//! verify: `VerifyCustodyArgs`).

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Chain of custody")]
pub struct SignArgs {
    /// Sign each manifest with this OpenSSH ed25519 private key (`ssh-keygen -t ed25519`): a
    /// detached MANIFEST.sig beside it, in the SSH signature format and the namespace
    /// o365-activities. A passphrase comes from O365_SIGNING_PASSPHRASE or a prompt
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,

    /// Test hook: the complete manifest's write fails, as on a full disk
    #[arg(long, hide = true)]
    pub fail_manifest_write: bool,
}

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Chain of custody")]
pub struct VerifyCustodyArgs {
    /// Check the manifest's signature (MANIFEST.sig) against this allowed signers file
    /// (ssh-keygen's format: `PRINCIPALS ssh-ed25519 AAAA...`) before the hashes
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,

    /// After a check that finds the files intact, sign the manifest with this key if it has
    /// no signature yet (a collection made without --sign, signed on receipt); an existing
    /// signature is never replaced
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
}
