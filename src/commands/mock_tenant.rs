//! `mock-tenant generate` and `mock-tenant serve`.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use crate::error::AppError;
use crate::mock::store::load_corpus;
use crate::mock::{
    corpus_by_mailbox, default_corpus, generate as generate_corpus, write_corpus, CorpusSpec,
    FaultSettings, GenerateArgs, ServeArgs, ServerSettings, TokenSpec,
};
use crate::output::{write_atomically, OutputError};
use crate::timespec::{parse_time, RangeEnd};

pub fn generate(args: &GenerateArgs, quiet: bool) -> Result<(), AppError> {
    let end = match &args.end {
        Some(text) => parse_time(text, chrono::Utc::now(), RangeEnd::End)
            .map_err(|e| AppError::Usage(format!("--end: {e}")))?,
        None => crate::mock::generate::default_end(),
    };
    if args.users == 0 {
        return Err(AppError::Usage("--users must be at least 1".into()));
    }
    for path in std::iter::once(&args.out).chain(args.truth.as_ref()) {
        if path.exists() && !args.force {
            return Err(OutputError::Exists {
                path: path.display().to_string(),
            }
            .into());
        }
    }
    let spec = CorpusSpec {
        users: args.users,
        per_user: args.per_user,
        days: args.days,
        end,
        seed: args.seed,
        scenario: args.scenario,
    };
    let corpus = generate_corpus(&spec);
    let records = write_corpus(&corpus, &args.out)?;
    if let Some(path) = &args.truth {
        let truth = corpus.truth.clone().unwrap_or_default();
        write_atomically(path, &serde_json::to_vec_pretty(&truth).unwrap_or_default())?;
    }
    if !quiet {
        eprintln!(
            "wrote {records} activities in {} mailboxes to {}",
            corpus.mailboxes.len(),
            args.out.display()
        );
        if let Some(truth) = &corpus.truth {
            eprintln!(
                "planted a {} compromise in {}",
                truth.scenario, truth.mailbox
            );
        }
    }
    Ok(())
}

/// Turns `serve`'s flags into server settings.
pub fn server_settings(args: &ServeArgs, log_requests: bool) -> Result<ServerSettings, AppError> {
    let addr = args.addr.parse().map_err(|e| {
        AppError::Usage(format!(
            "--addr {:?} is not an address like 127.0.0.1:0: {e}",
            args.addr
        ))
    })?;
    let tokens = args
        .tokens
        .iter()
        .map(|t| TokenSpec::parse(t.trim()).map_err(AppError::Usage))
        .collect::<Result<Vec<_>, _>>()?;
    let throttle = args.throttle.as_deref().map(parse_throttle).transpose()?;
    for (flag, rate) in [
        ("--fail-rate", args.fail_rate),
        ("--reset-rate", args.reset_rate),
        ("--truncate-rate", args.truncate_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(AppError::Usage(format!(
                "{flag} {rate} must be between 0 and 1"
            )));
        }
    }
    if args.fail_rate + args.reset_rate + args.truncate_rate > 1.0 {
        return Err(AppError::Usage(
            "--fail-rate, --reset-rate and --truncate-rate add up to more than 1".into(),
        ));
    }
    Ok(ServerSettings {
        addr,
        tokens,
        throttle,
        max_concurrent: args.max_concurrent,
        faults: FaultSettings {
            latency: Duration::from_millis(args.latency),
            fail_rate: args.fail_rate,
            reset_rate: args.reset_rate,
            truncate_rate: args.truncate_rate,
            token_ttl: args.token_ttl.map(Duration::from_secs),
            insert_per_request: args.insert_per_request,
            age_per_request: args.age_per_request,
            seed: args.seed,
        },
        log_requests,
    })
}

fn parse_throttle(text: &str) -> Result<(usize, Duration), AppError> {
    let bad = || {
        AppError::Usage(format!(
            "--throttle {text:?} must be LIMIT/SECONDS, e.g. 10000/600"
        ))
    };
    let (limit, seconds) = text.split_once('/').ok_or_else(bad)?;
    let limit: usize = limit.trim().parse().map_err(|_| bad())?;
    let seconds: u64 = seconds.trim().parse().map_err(|_| bad())?;
    if limit == 0 || seconds == 0 {
        return Err(bad());
    }
    Ok((limit, Duration::from_secs(seconds)))
}

pub async fn serve(
    args: &ServeArgs,
    verbose: u8,
    signal: impl Future<Output = ()>,
) -> Result<(), AppError> {
    let settings = server_settings(args, verbose > 0)?;
    let mailboxes = match &args.corpus {
        Some(path) => load_corpus(path).map_err(AppError::Usage)?,
        None => corpus_by_mailbox(default_corpus(args.seed)),
    };
    let summary: Vec<String> = mailboxes
        .iter()
        .map(|(upn, a)| format!("{upn} ({})", a.len()))
        .collect();
    let server = crate::mock::start(mailboxes, settings)
        .await
        .map_err(|e| AppError::Usage(format!("cannot listen on {}: {e}", args.addr)))?;
    if let Some(path) = &args.url_file {
        write_atomically(path, format!("{}\n", server.url).as_bytes())?;
    }
    println!("{}", server.url);
    let _ = std::io::stdout().flush();
    eprintln!(
        "mock tenant serving {} mailboxes: {}",
        summary.len(),
        summary.join(", ")
    );
    eprintln!("tokens: {}; stop with Ctrl-C", args.tokens.join(", "));
    server
        .serve_until(signal)
        .await
        .map_err(|e| AppError::Other(format!("the mock tenant stopped with an error: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_specs() {
        assert_eq!(
            parse_throttle("10000/600").unwrap(),
            (10000, Duration::from_secs(600))
        );
        assert!(parse_throttle("10000").is_err());
        assert!(parse_throttle("0/5").is_err());
    }
}
