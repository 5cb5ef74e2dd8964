//! The signing key: an OpenSSH ed25519 private key (as `ssh-keygen -t ed25519` makes it),
//! decrypted with a passphrase from `O365_SIGNING_PASSPHRASE` or a prompt, and the detached
//! SSH signature (SSHSIG, `ssh-keygen -Y sign`) of a manifest. The crypto is the `ssh-key`
//! crate's (ed25519-dalek, bcrypt-pbkdf); nothing here is hand-written.

use std::fmt;
use std::path::{Path, PathBuf};

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};

use super::NAMESPACE;
use crate::error::AppError;
use crate::secret::SecretString;

/// The environment variable a passphrase-protected key's passphrase is read from.
pub const PASSPHRASE_ENV: &str = "O365_SIGNING_PASSPHRASE";

/// A decrypted signing key. Its `Debug` shows the public fingerprint only.
pub struct Signer {
    key: PrivateKey,
    path: PathBuf,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl Signer {
    /// Reads the key at `path` (`--sign`), asking for its passphrase if it has one.
    pub fn load(path: &Path) -> Result<Self, AppError> {
        Self::load_with(path, || passphrase(path))
    }

    /// Reads the key at `path`, with `passphrase` called only if the key is encrypted.
    pub fn load_with(
        path: &Path,
        passphrase: impl FnOnce() -> Result<SecretString, AppError>,
    ) -> Result<Self, AppError> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| AppError::Usage(format!("cannot read the --sign key {shown}: {e}")))?;
        let key = PrivateKey::from_openssh(text.trim()).map_err(|e| {
            AppError::Usage(format!(
                "--sign {shown} is not an OpenSSH private key ({e}): make one with \
                 `ssh-keygen -t ed25519 -f {shown}` and give the private key (not the .pub)"
            ))
        })?;
        let key = if key.is_encrypted() {
            let secret = passphrase()?;
            key.decrypt(secret.expose().as_bytes()).map_err(|_| {
                AppError::Usage(format!(
                    "cannot decrypt the --sign key {shown}: wrong passphrase (from \
                     {PASSPHRASE_ENV} or the prompt)"
                ))
            })?
        } else {
            key
        };
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(AppError::Usage(format!(
                "--sign {shown} is an {} key: give an ed25519 key (`ssh-keygen -t ed25519`)",
                key.algorithm()
            )));
        }
        Ok(Signer {
            key,
            path: path.to_path_buf(),
        })
    }

    /// A signer of a key held in memory (tests, and keys made by the crate).
    pub fn from_key(key: PrivateKey) -> Self {
        Signer {
            key,
            path: PathBuf::from("(in memory)"),
        }
    }

    /// The public key's SHA-256 fingerprint as ssh-keygen prints it (`SHA256:...`).
    pub fn fingerprint(&self) -> String {
        self.key
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string()
    }

    /// The public key in OpenSSH form (`ssh-ed25519 AAAA... comment`).
    pub fn public_key(&self) -> String {
        self.key
            .public_key()
            .to_openssh()
            .unwrap_or_else(|_| self.fingerprint())
    }

    /// The armored SSH signature (`-----BEGIN SSH SIGNATURE-----`) of `message` in the
    /// `o365-activities` namespace, as `ssh-keygen -Y sign -n o365-activities` writes it.
    pub fn sign(&self, message: &[u8]) -> Result<String, AppError> {
        let signature = self
            .key
            .sign(NAMESPACE, HashAlg::Sha512, message)
            .map_err(|e| {
                AppError::Other(format!("cannot sign with {}: {e}", self.path.display()))
            })?;
        let mut armored = signature
            .to_pem(LineEnding::LF)
            .map_err(|e| AppError::Other(format!("cannot encode the signature: {e}")))?;
        if !armored.ends_with('\n') {
            armored.push('\n');
        }
        Ok(armored)
    }
}

/// The passphrase of an encrypted key: `O365_SIGNING_PASSPHRASE`, or typed at a prompt on a
/// terminal; never a flag (the process list, the shell's history).
fn passphrase(path: &Path) -> Result<SecretString, AppError> {
    if let Ok(value) = std::env::var(PASSPHRASE_ENV) {
        if !value.is_empty() {
            return Ok(SecretString::new(value));
        }
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(AppError::Usage(format!(
            "the --sign key {} is passphrase-protected: set {PASSPHRASE_ENV}, or run on a \
             terminal to be asked",
            path.display()
        )));
    }
    rpassword::prompt_password(format!("Passphrase of {}: ", path.display()))
        .map(SecretString::new)
        .map_err(|e| AppError::Usage(format!("cannot read the passphrase: {e}")))
}
