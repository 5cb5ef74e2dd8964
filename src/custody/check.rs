//! Checking a manifest's detached signature (`MANIFEST.sig`) against an allowed signers file,
//! as `ssh-keygen -Y verify -f ALLOWED -I IDENTITY -n o365-activities -s MANIFEST.sig` does.

use std::path::Path;

use chrono::Utc;
use ssh_key::{HashAlg, PublicKey, SshSig};

use super::{signature_path, AllowedSigners, NAMESPACE};

/// What the signature of one manifest shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// A valid signature, in our namespace, by a key the allowed signers file allows.
    Signed {
        fingerprint: String,
        principals: Vec<String>,
    },
    /// No signature beside the manifest, and the manifest names no signing key.
    Unsigned,
    /// The signature is missing (while the manifest says it was signed), unreadable, invalid,
    /// of another namespace, or by a key not allowed.
    Bad(String),
}

/// Checks the signature of the manifest at `manifest`, whose text is `message` (read once by
/// the caller, which then checks the files against these very bytes); `claimed` is the signing
/// key's fingerprint as the manifest's provenance records it, if it does.
pub fn check_signature(
    manifest: &Path,
    message: &[u8],
    allowed: &AllowedSigners,
    claimed: Option<&str>,
) -> SignatureCheck {
    let sig_path = signature_path(manifest);
    let shown = sig_path.display();
    let armored = match std::fs::read_to_string(&sig_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match claimed {
                Some(fingerprint) => SignatureCheck::Bad(format!(
                    "{shown} is missing, though the manifest says it was signed by {fingerprint}"
                )),
                None => SignatureCheck::Unsigned,
            };
        }
        Err(e) => return SignatureCheck::Bad(format!("cannot read {shown}: {e}")),
    };
    let signature = match SshSig::from_pem(armored.trim()) {
        Ok(signature) => signature,
        Err(e) => {
            return SignatureCheck::Bad(format!("{shown} is not an SSH signature ({e})"));
        }
    };
    if signature.namespace() != NAMESPACE {
        return SignatureCheck::Bad(format!(
            "{shown} was made for the namespace {:?}, not {NAMESPACE:?}",
            signature.namespace()
        ));
    }
    let key = PublicKey::from(signature.public_key().clone());
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    if let Err(e) = key.verify(NAMESPACE, message, &signature) {
        return SignatureCheck::Bad(format!(
            "{shown} does not match the manifest ({e}): the manifest was changed after it was \
             signed by {fingerprint}, or the signature was"
        ));
    }
    // The wall clock (`crate::clock`): a signer's validity is checked at the time of checking.
    let principals = allowed.principals_for(key.key_data(), NAMESPACE, Utc::now());
    if principals.is_empty() {
        return SignatureCheck::Bad(format!(
            "the manifest is signed by {fingerprint}, a key the allowed signers file does not \
             allow for the namespace {NAMESPACE}"
        ));
    }
    SignatureCheck::Signed {
        fingerprint,
        principals,
    }
}
