//! `mock-tenant`'s configurations: the corpus to generate, the server to run.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{GenerateArgs, ServeArgs};
use crate::error::AppError;
use crate::mock::{AppSpec, AuditSettings, CorpusSpec, FaultSettings, ServerSettings, TokenSpec};
use crate::timespec::{parse_time, RangeEnd};

pub struct GenerateConfig {
    pub spec: CorpusSpec,
    pub out: PathBuf,
    pub truth: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    pub quiet: bool,
}

impl GenerateConfig {
    pub fn from_args(args: &GenerateArgs, quiet: bool) -> Result<Self, AppError> {
        // The wall clock (`crate::clock`): the mock tenant's own present, not a pull's.
        let end = match &args.end {
            Some(text) => parse_time(text, chrono::Utc::now(), RangeEnd::End)
                .map_err(|e| AppError::Usage(format!("--end: {e}")))?,
            None => crate::mock::generate::default_end(),
        };
        if args.users == 0 {
            return Err(AppError::Usage("--users must be at least 1".into()));
        }
        let outputs = [
            ("--out", Some(&args.out)),
            ("--truth", args.truth.as_ref()),
            ("--audit-log", args.audit_log.as_ref()),
        ];
        for (flag, path) in outputs {
            if let Some(path) = path.filter(|p| p.exists() && !args.force) {
                return Err(AppError::Usage(format!(
                    "{} already exists: choose another {flag}, or pass --force to replace it",
                    path.display()
                )));
            }
        }
        Ok(GenerateConfig {
            spec: CorpusSpec {
                users: args.users,
                per_user: args.per_user,
                days: args.days,
                end,
                seed: args.seed,
                scenario: args.scenario,
            },
            out: args.out.clone(),
            truth: args.truth.clone(),
            audit_log: args.audit_log.clone(),
            quiet,
        })
    }
}

pub struct ServeConfig {
    pub settings: ServerSettings,
    /// The corpus file to serve; the default tenant (of `seed`) when absent.
    pub corpus: Option<PathBuf>,
    pub seed: u64,
    pub url_file: Option<PathBuf>,
    /// The tokens as given, for the banner (they are the mock's own, not secrets).
    pub tokens: Vec<String>,
}

impl ServeConfig {
    pub fn from_args(args: &ServeArgs, verbose: u8) -> Result<Self, AppError> {
        Ok(ServeConfig {
            settings: server_settings(args, verbose > 0)?,
            corpus: args.corpus.clone(),
            seed: args.seed,
            url_file: args.url_file.clone(),
            tokens: args.tokens.clone(),
        })
    }
}

/// Turns `serve`'s flags into server settings.
fn server_settings(args: &ServeArgs, log_requests: bool) -> Result<ServerSettings, AppError> {
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
    let audit = audit_settings(args, &tokens)?;
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
        page_cap: args.page_cap.map(|cap| cap as usize),
        page_cap_without_link: false,
        audit,
    })
}

/// The identity platform's and the audit log APIs' settings.
fn audit_settings(args: &ServeArgs, tokens: &[TokenSpec]) -> Result<AuditSettings, AppError> {
    let public_key = args
        .client_public_key
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).map_err(|e| {
                AppError::Usage(format!(
                    "cannot read --client-public-key {}: {e}",
                    path.display()
                ))
            })
        })
        .transpose()?;
    let now = args
        .feed_now
        .as_deref()
        .map(|t| {
            // The wall clock: the mock tenant's present (see `from_args` above).
            crate::timespec::parse_time(t, chrono::Utc::now(), crate::timespec::RangeEnd::Start)
                .map_err(|e| AppError::Usage(format!("--feed-now: {e}")))
        })
        .transpose()?;
    let defaults = AuditSettings::default();
    Ok(AuditSettings {
        tenant_id: args.tenant_id.clone(),
        apps: vec![AppSpec {
            client_id: args.client_id.clone(),
            secret: args.client_secret.clone(),
            public_key,
        }],
        token_ttl: args
            .token_ttl
            .map(Duration::from_secs)
            .unwrap_or(defaults.token_ttl),
        query_polls: args.query_polls,
        record_limit: args.record_limit,
        page_size: args.audit_page_size as usize,
        feed_page_size: args.feed_page_size as usize,
        throttle_every: args.audit_throttle_every,
        now,
        static_tokens: tokens
            .iter()
            .filter(|t| !t.withdrawn)
            .map(|t| t.token.clone())
            .collect(),
        ..defaults
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
