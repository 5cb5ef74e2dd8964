//! `verify`: recompute every hash of a case (or of one pull) and report what does not match;
//! with `--allowed-signers`, check the manifest's signature first.
//!
//! Exit 0 only when everything is complete and intact (and, with `--allowed-signers`, signed
//! by an allowed signer); 4 when what is there is intact but not complete (mailboxes not
//! finished, a partial pull); 5 for missing, altered or extra files or a manifest that cannot
//! be read or is missing. With `--allowed-signers`: 7 when the signature is missing (the
//! manifest says it was signed), invalid or not by an allowed signer, whatever the files; 6
//! when the files are intact but the manifest is not signed. Without it, signatures are not
//! looked at and the codes are those above.

use std::path::{Path, PathBuf};

use crate::case::verify::{verify_case, verify_case_manifest, verify_pull_manifest, Verification};
use crate::case::MANIFEST;
use crate::cli::VerifyArgs;
use crate::custody::{
    check_signature, claimed_signer, signature_path, AllowedSigners, SignatureCheck, Signer,
};
use crate::error::AppError;

pub fn run(args: &VerifyArgs, quiet: bool) -> Result<(), AppError> {
    match crate::case::source_cases(&args.case) {
        Some(cases) => verify_cases(args, &cases, quiet),
        None => verify_one(args, quiet),
    }
}

/// A folder of cases (one per source): each verified as on its own; the outcome is the worst
/// of theirs (a bad signature, then altered files, then unsigned, then incomplete), naming
/// every case that did not pass.
fn verify_cases(args: &VerifyArgs, cases: &[PathBuf], quiet: bool) -> Result<(), AppError> {
    let rank = |error: &AppError| match error {
        AppError::BadSignature(_) => 1,
        AppError::VerifyFailed(_) => 2,
        AppError::Unsigned(_) => 3,
        AppError::Incomplete(_) => 4,
        // Anything else (a manifest that cannot be read, bad input) is the worst.
        _ => 0,
    };
    let mut worst: Option<AppError> = None;
    let mut failed = Vec::new();
    for case in cases {
        if !quiet {
            println!("CASE        {}", case.display());
        }
        let one = VerifyArgs {
            case: case.clone(),
            custody: args.custody.clone(),
        };
        if let Err(error) = verify_one(&one, quiet) {
            failed.push(error.to_string());
            if worst.as_ref().is_none_or(|w| rank(&error) < rank(w)) {
                worst = Some(error);
            }
        }
    }
    let Some(worst) = worst else {
        if !quiet {
            println!(
                "ALL {} CASES of {} verified",
                cases.len(),
                args.case.display()
            );
        }
        return Ok(());
    };
    let summary = format!(
        "{}: {} of {} cases did not verify: {}",
        args.case.display(),
        failed.len(),
        cases.len(),
        failed.join("; ")
    );
    Err(match worst {
        AppError::BadSignature(_) => AppError::BadSignature(summary),
        AppError::VerifyFailed(_) => AppError::VerifyFailed(summary),
        AppError::Unsigned(_) => AppError::Unsigned(summary),
        AppError::Incomplete(_) => AppError::Incomplete(summary),
        other => other,
    })
}

fn verify_one(args: &VerifyArgs, quiet: bool) -> Result<(), AppError> {
    let manifest_path = if args.case.is_dir() {
        args.case.join(MANIFEST)
    } else if args.case.is_file() {
        args.case.clone()
    } else {
        return Err(AppError::Usage(format!(
            "{} does not exist: give a case folder or a pull's .manifest.json",
            args.case.display()
        )));
    };
    // Read before any work, so a bad file or key fails at the door.
    let allowed = match &args.custody.allowed_signers {
        Some(path) => {
            let allowed = AllowedSigners::read(path)?;
            if allowed.is_empty() {
                return Err(AppError::Usage(format!(
                    "--allowed-signers {} lists no key: add a line `PRINCIPAL ssh-ed25519 AAAA...`",
                    path.display()
                )));
            }
            Some(allowed)
        }
        None => None,
    };
    let signer = args.custody.sign.as_deref().map(Signer::load).transpose()?;

    // The manifest is read once: its signature and the files are checked against the same
    // bytes. A case folder without one is missing its manifest (exit 5).
    let text = match std::fs::read(&manifest_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && args.case.is_dir() => None,
        Err(e) => {
            return Err(AppError::VerifyFailed(format!(
                "the manifest cannot be read: cannot read {}: {e}",
                manifest_path.display()
            )))
        }
    };
    // The signature first: a manifest it does not vouch for vouches for nothing.
    let check = |text: &[u8]| {
        allowed.as_ref().map(|allowed| {
            check_signature(
                &manifest_path,
                text,
                allowed,
                claimed_signer(text).as_deref(),
            )
        })
    };
    let mut signature = text.as_deref().and_then(check);
    let verified = match &text {
        None => verify_case(&args.case),
        Some(text) if args.case.is_dir() => verify_case_manifest(&args.case, text),
        Some(text) => verify_pull_manifest(&args.case, text),
    };
    let result = match (verified, &signature) {
        (Ok(result), _) => result,
        // A manifest its signature does not vouch for is reported as such, readable or not.
        (Err(error), Some(SignatureCheck::Bad(reason))) => {
            print_signature(&SignatureCheck::Bad(reason.clone()), quiet);
            return Err(AppError::BadSignature(format!(
                "{}: the signature does not vouch for the manifest: {reason} (and {error})",
                args.case.display()
            )));
        }
        (Err(error), _) => return Err(error),
    };
    print_result(&result, signature.as_ref(), quiet);

    if let (Some(signer), Some(text)) = (&signer, &text) {
        if let Some(written) = sign_on_receipt(&manifest_path, text, signer, &result, &signature)? {
            if !quiet {
                println!(
                    "SIGNED NOW  {} by {}",
                    written.display(),
                    signer.fingerprint()
                );
            }
            signature = check(text);
            if let Some(check) = &signature {
                print_signature(check, quiet);
            }
        }
    }

    let shown = args.case.display();
    if let Some(SignatureCheck::Bad(reason)) = &signature {
        return Err(AppError::BadSignature(format!(
            "{shown}: the signature does not vouch for the manifest: {reason}"
        )));
    }
    if !result.is_intact() {
        return Err(AppError::VerifyFailed(format!(
            "{shown}: {} missing, {} altered, {} extra files",
            result.missing.len(),
            result.altered.len(),
            result.extra.len()
        )));
    }
    if let Some(SignatureCheck::Unsigned) = &signature {
        return Err(AppError::Unsigned(format!(
            "{shown}: intact, but the manifest is not signed (no {})",
            signature_path(&manifest_path).display()
        )));
    }
    if !result.not_complete.is_empty() {
        return Err(AppError::Incomplete(format!(
            "{shown}: intact, but not complete ({})",
            result.not_complete.join("; ")
        )));
    }
    Ok(())
}

/// `verify --sign`: signs a manifest that has no signature yet, once its files were found
/// intact (a collection made without `--sign`, signed by whoever received and checked it). A
/// signature already there is never replaced: it is the collector's.
fn sign_on_receipt(
    manifest: &Path,
    text: &[u8],
    signer: &Signer,
    result: &Verification,
    signature: &Option<SignatureCheck>,
) -> Result<Option<PathBuf>, AppError> {
    let sig_path = signature_path(manifest);
    if sig_path.exists() {
        eprintln!(
            "note: {} already exists: it is kept, and the manifest is not signed again",
            sig_path.display()
        );
        return Ok(None);
    }
    if !result.is_intact() || matches!(signature, Some(SignatureCheck::Bad(_))) {
        eprintln!("note: not signed: the check above did not find the files intact");
        return Ok(None);
    }
    // The very bytes that were checked.
    let armored = signer.sign(text)?;
    crate::output::write_atomically(&sig_path, armored.as_bytes())?;
    Ok(Some(sig_path))
}

fn print_signature(check: &SignatureCheck, quiet: bool) {
    match check {
        SignatureCheck::Signed {
            fingerprint,
            principals,
        } if !quiet => {
            println!(
                "SIGNATURE OK  by {fingerprint} (allowed as {})",
                principals.join("; ")
            )
        }
        SignatureCheck::Signed { .. } => {}
        SignatureCheck::Unsigned => println!("UNSIGNED  the manifest has no signature"),
        SignatureCheck::Bad(reason) => println!("BAD SIGNATURE  {reason}"),
    }
}

fn print_result(result: &Verification, signature: Option<&SignatureCheck>, quiet: bool) {
    if let Some(check) = signature {
        print_signature(check, quiet);
    }
    for (label, list) in [
        ("MISSING", &result.missing),
        ("ALTERED", &result.altered),
        ("EXTRA", &result.extra),
    ] {
        for item in list {
            println!("{label}  {item}");
        }
    }
    if !quiet {
        for item in &result.in_progress {
            println!("UNVERIFIED  {item} (mailbox not complete)");
        }
        for item in &result.set_aside {
            println!("SET ASIDE  {item} (damaged partial evidence, kept for inspection)");
        }
        for item in &result.not_complete {
            println!("INCOMPLETE  {item}");
        }
        println!("{} files verified", result.verified);
    }
}
