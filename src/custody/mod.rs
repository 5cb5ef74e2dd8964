//! Chain of custody: manifests signed with an OpenSSH key in the SSH signature format (so
//! `ssh-keygen -Y verify` checks them with no tool of ours), the provenance recorded inside
//! them, and the check of a signature against an allowed signers file.
//!
//! A manifest `M` is signed by a detached `M.sig` beside it: the armored SSHSIG of M's exact
//! bytes in the namespace `o365-activities`, as `ssh-keygen -Y sign -n o365-activities -f KEY M`
//! writes it.

mod allowed;
mod args;
mod check;
mod key;
mod provenance;

pub use allowed::{AllowedSigner, AllowedSigners};
pub use args::{SignArgs, VerifyCustodyArgs};
pub use check::{check_signature, SignatureCheck};
pub use key::{Signer, PASSPHRASE_ENV};
pub use provenance::{
    redact_command_line, redact_url, CollectionClock, Endpoint, Provenance, SignedIn, GIT_COMMIT,
};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::AppError;
use crate::output::{write_atomically, OutputError};

/// The SSHSIG namespace of every signature this tool makes or accepts.
pub const NAMESPACE: &str = "o365-activities";

/// The detached signature of the manifest at `manifest`: `MANIFEST.sig`.
pub fn signature_path(manifest: &Path) -> PathBuf {
    let mut name = manifest.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// What a run records and signs for the chain of custody, validated before any work.
#[derive(Debug, Clone, Default)]
pub struct Custody {
    /// The key of `--sign`, decrypted.
    pub signer: Option<Arc<Signer>>,
    /// The command line, every secret removed.
    pub command_line: Vec<String>,
    /// Test hook: the complete manifest's write fails as a full disk would.
    pub fail_manifest_write: bool,
}

impl Custody {
    /// Reads the `--sign` key (asking for its passphrase if it has one) and records this
    /// process's command line without its secrets.
    pub fn from_args(args: &SignArgs) -> Result<Self, AppError> {
        let signer = match &args.sign {
            Some(path) => Some(Arc::new(Signer::load(path)?)),
            None => None,
        };
        Ok(Custody {
            signer,
            command_line: redact_command_line(
                std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
            ),
            fail_manifest_write: args.fail_manifest_write,
        })
    }

    /// The signing key's fingerprint, for the manifest's provenance.
    pub fn signer_fingerprint(&self) -> Option<String> {
        self.signer.as_ref().map(|s| s.fingerprint())
    }

    /// Signs the manifest at `manifest` (if `--sign` was given), writing `MANIFEST.sig`
    /// atomically beside it; without a key, removes a stale signature there (a signature of
    /// other bytes would only mislead). Returns the signature's path when one was written.
    pub fn sign_manifest(&self, manifest: &Path) -> Result<Option<PathBuf>, AppError> {
        let sig_path = signature_path(manifest);
        let Some(signer) = &self.signer else {
            remove_signature(manifest)?;
            return Ok(None);
        };
        let bytes = std::fs::read(manifest)
            .map_err(|e| OutputError::io("cannot read the manifest to sign", manifest, e))?;
        let armored = signer.sign(&bytes)?;
        write_atomically(&sig_path, armored.as_bytes())?;
        Ok(Some(sig_path))
    }
}

/// Removes the signature of `manifest`, if there is one (the manifest is about to change).
pub fn remove_signature(manifest: &Path) -> Result<(), AppError> {
    let sig_path = signature_path(manifest);
    match std::fs::remove_file(&sig_path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(OutputError::io("cannot remove the stale signature", &sig_path, e).into()),
    }
}

/// The signer fingerprint the manifest text `manifest` records in its provenance, if it
/// records one (in the last provenance entry, for a case's list).
pub fn claimed_signer(manifest: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    let provenance = match value.get("provenance")? {
        serde_json::Value::Array(runs) => runs.last()?.clone(),
        one => one.clone(),
    };
    provenance
        .get("signer")
        .and_then(|s| s.as_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_sits_beside_its_manifest() {
        assert_eq!(
            signature_path(Path::new("case/manifest.json")),
            PathBuf::from("case/manifest.json.sig")
        );
        assert_eq!(
            signature_path(Path::new("out.csv.manifest.json")),
            PathBuf::from("out.csv.manifest.json.sig")
        );
    }
}
