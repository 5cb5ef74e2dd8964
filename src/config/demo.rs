//! `demo`'s configuration: an empty output folder, checked before anything is generated; and
//! the pull the demo runs, as the CLI would configure it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use crate::cli::{ColorChoice, DemoArgs};
use crate::error::AppError;
use crate::http::{
    Backoff, ClientOptions, Credentials, RateBudget, RetryPolicy, DEFAULT_MAX_PAGE_BYTES,
};
use crate::odata::ActivityFilter;
use crate::output::OutputPlan;
use crate::pipeline::{Destination, PullConfig};
use crate::progress::ProgressMode;
use crate::secret::SecretString;
use crate::source::{PagingMode, QueryConfig};

pub struct DemoConfig {
    pub out_dir: PathBuf,
    pub seed: u64,
    pub quiet: bool,
    /// The instant the demo's pull treats as "now" (the end of its range).
    pub now: DateTime<Utc>,
    /// Colour in the findings printed (on a terminal, as --color and NO_COLOR allow).
    pub colour: bool,
}

impl DemoConfig {
    pub fn from_args(
        args: &DemoArgs,
        now: DateTime<Utc>,
        quiet: bool,
        color: ColorChoice,
    ) -> Result<Self, AppError> {
        let out_dir = &args.out_dir;
        let occupied = out_dir.exists()
            && std::fs::read_dir(out_dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true);
        if occupied {
            return Err(AppError::Usage(format!(
                "{} is not an empty folder: choose another --out-dir (the demo writes a whole folder)",
                out_dir.display()
            )));
        }
        Ok(DemoConfig {
            out_dir: out_dir.clone(),
            seed: args.seed,
            quiet,
            now,
            colour: color.enabled(std::io::IsTerminal::is_terminal(&std::io::stdout())),
        })
    }

    /// The pull of `mailbox`'s audit log records between `start` and `end` from the mock
    /// tenant at `base_url` into `output`: Graph audit log queries, signed in as the mock
    /// tenant's application with its client secret, as an analyst's app would be.
    pub fn audit_pull_config(
        &self,
        base_url: &str,
        mailbox: &str,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        output: &Path,
    ) -> Result<PullConfig, AppError> {
        let mut config = self.pull_config(base_url, "", mailbox, output)?;
        config.client.api_version = "v1.0".into();
        config.client.credentials = mock_app_sign_in(base_url)?;
        config.query.filter.start = Some(start);
        config.query.filter.end = end;
        config.query.source = std::sync::Arc::new(crate::source::AuditQueryOptions {
            api_version: "v1.0".into(),
            operations: vec![],
            record_types: vec![],
            poll_interval: Duration::from_millis(200),
            query_timeout: Duration::from_secs(600),
            min_split: Duration::from_secs(1),
            query_concurrency: crate::source::args::DEFAULT_QUERY_CONCURRENCY as usize,
            split: crate::source::SplitStrategy::Planned,
            case_slots: None,
            mailboxes_per_query: crate::source::MAILBOXES_PER_QUERY,
            groups: None,
        });
        Ok(config)
    }

    /// The pull of `mailbox`'s Entra ID log `source` (`signins`, `directory-audits`) from the
    /// mock tenant at `base_url` into `output`, configured from the words an analyst would type
    /// (`pull --source SOURCE --user MAILBOX --graph-url URL --output FILE`, so through the same
    /// flags, defaults and retention), signed in as the mock tenant's application; `now` is the
    /// pull's clock's (the end of its range, and what the retention counts back from).
    pub fn identity_pull_config(
        &self,
        source: &str,
        base_url: &str,
        mailbox: &str,
        output: &Path,
        now: DateTime<Utc>,
    ) -> Result<PullConfig, AppError> {
        let output_text = output.display().to_string();
        let words = [
            "o365-activities",
            "pull",
            "--source",
            source,
            "--user",
            mailbox,
            "--graph-url",
            base_url,
            "--output",
            &output_text,
            // Replaced by the sign-in below; a token keeps the parse from asking for a secret.
            "--token",
            "unused",
        ];
        let cli = crate::cli::parse_from(words)
            .map_err(|e| AppError::Other(format!("the demo's {source} pull: {e}")))?;
        let crate::cli::Command::Pull(args) = cli.command else {
            return Err(AppError::Other(format!(
                "the demo's {source} pull is not a pull"
            )));
        };
        let mut config = PullConfig::from_args(&args, now, self.quiet)?;
        config.client.credentials = mock_app_sign_in(base_url)?;
        config.progress = ProgressMode::for_stderr(self.quiet, Duration::from_secs(10));
        config.custody = demo_custody();
        Ok(config)
    }

    /// The pull of `mailbox` from the mock tenant at `base_url` into `output`.
    pub fn pull_config(
        &self,
        base_url: &str,
        token: &str,
        mailbox: &str,
        output: &Path,
    ) -> Result<PullConfig, AppError> {
        Ok(PullConfig {
            client: ClientOptions {
                base_url: base_url.to_string(),
                api_version: "v2.0".into(),
                user: mailbox.to_string(),
                credentials: Credentials::Bearer(SecretString::new(token)),
                timeout: Duration::from_secs(60),
                retry: RetryPolicy {
                    max_retries: 8,
                    max_server_wait: Duration::from_secs(600),
                    backoff: Backoff {
                        base: Duration::from_millis(100),
                        cap: Duration::from_secs(5),
                    },
                },
                budget: RateBudget::default(),
                max_page_bytes: DEFAULT_MAX_PAGE_BYTES,
            },
            query: QueryConfig {
                filter: ActivityFilter {
                    start: None,
                    end: self.now.trunc_subsecs(3),
                    before: None,
                    types: vec![],
                    app_types: vec![],
                },
                select: None,
                page_size: 100,
                paging: PagingMode::Keyset,
                mailbox_concurrency: 4,
                source: std::sync::Arc::new(crate::source::ActivitiesSpec),
                end_clamped_from: None,
            },
            destination: Destination::Files(OutputPlan::new(output, None, false)?),
            sanitize: true,
            csv_bom: false,
            dry_run: false,
            notes: Vec::new(),
            progress: ProgressMode::for_stderr(self.quiet, Duration::from_secs(10)),
            custody: demo_custody(),
        })
    }
}

/// Signed in as the mock tenant's application with its client secret, to Microsoft Graph, at
/// the mock's identity platform (`base_url`), as an analyst's app signs in to a tenant.
fn mock_app_sign_in(base_url: &str) -> Result<Credentials, AppError> {
    let app = crate::mock::AppSpec::default();
    let sign_in = crate::signin::SignIn::new(
        base_url,
        crate::mock::MOCK_TENANT_ID,
        &app.client_id,
        "https://graph.microsoft.com",
        crate::signin::Flow::Secret(SecretString::new(app.secret)),
    )
    .map_err(AppError::Other)?;
    Ok(Credentials::SignIn(std::sync::Arc::new(sign_in)))
}

/// The chain of custody of the demo's pulls: its command line, unsigned.
fn demo_custody() -> crate::custody::Custody {
    crate::custody::Custody {
        command_line: crate::custody::redact_command_line(std::env::args()),
        ..Default::default()
    }
}
