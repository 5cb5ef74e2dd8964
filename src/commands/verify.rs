//! `verify`: recompute every hash of a case (or of one pull) and report what does not match.
//!
//! Exit 0 only when everything is complete and intact; 4 when what is there is intact but not
//! complete (mailboxes not finished, a partial pull); 5 for missing, altered or extra files or
//! a manifest that cannot be read.

use crate::case::verify::{verify_case, verify_pull};
use crate::cli::VerifyArgs;
use crate::error::AppError;

pub fn run(args: &VerifyArgs, quiet: bool) -> Result<(), AppError> {
    let result = if args.case.is_dir() {
        verify_case(&args.case)?
    } else if args.case.is_file() {
        verify_pull(&args.case)?
    } else {
        return Err(AppError::Usage(format!(
            "{} does not exist: give a case folder or a pull's .manifest.json",
            args.case.display()
        )));
    };
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
    if !result.is_intact() {
        return Err(AppError::VerifyFailed(format!(
            "{}: {} missing, {} altered, {} extra files",
            args.case.display(),
            result.missing.len(),
            result.altered.len(),
            result.extra.len()
        )));
    }
    if !result.not_complete.is_empty() {
        return Err(AppError::Incomplete(format!(
            "{}: intact, but not complete ({})",
            args.case.display(),
            result.not_complete.join("; ")
        )));
    }
    Ok(())
}
