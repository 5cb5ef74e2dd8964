//! The command line. Doc comments are the help text.

use std::path::PathBuf;

mod mock_tenant;

pub use crate::source::args::{ApiVersion, GraphVersion, SourceArgs};
pub use crate::source::PagingMode;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
pub use mock_tenant::{GenerateArgs, ServeArgs};

use crate::output::OutputFormat;
use crate::secret::SecretString;

#[derive(Debug, Parser)]
#[command(
    name = "o365-activities",
    version,
    about = "Pull Office 365 mailbox activity (the Outlook Activities API, or today's Unified Audit Log) as evidence-grade CSV and JSON Lines, and triage it",
    after_help = "Examples:\n  o365-activities demo\n  o365-activities pull --user victim@contoso.com --output activities.csv --types MessageDelivered --start 2018-01-01T00:00:00Z\n  o365-activities mock-tenant serve --throttle 10000/600"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Log more (-v: each request; -vv: everything)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Colour on stderr and in triage's text: auto (a terminal, unless NO_COLOR is set), always
    /// or never
    #[arg(long, value_enum, default_value = "auto", global = true)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream that is (or is not) a terminal: `NO_COLOR` (any non-empty
    /// value, as no-color.org says) turns `auto` off.
    pub fn enabled(self, terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull one mailbox's activities into CSV or JSON Lines, with a manifest of hashes
    #[command(after_help = PULL_EXAMPLES)]
    Pull(PullArgs),
    /// A mock Activities API tenant: generate a corpus, or serve one over HTTP
    #[command(subcommand)]
    MockTenant(MockTenantCommand),
    /// Pull every mailbox of a user list into one verifiable case folder (resumable)
    Batch(BatchArgs),
    /// Recompute every hash of a case folder; report missing, altered or extra files
    Verify(VerifyArgs),
    /// The blog's hunting techniques over pulled activities: findings an analyst can act on
    Triage(TriageArgs),
    /// One command end to end: generate a compromised mock tenant, serve it, pull the victim
    Demo(DemoArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `o365-activities man > o365-activities.1`
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TriageFormat {
    /// A short summary for the terminal, most important first
    Text,
    /// Every finding and table, machine-readable
    Json,
    /// One CSV per table, in the --output folder
    Csv,
    /// One self-contained page with charts and tables
    Html,
    /// Every finding as one JSON line (for a SIEM)
    Jsonl,
}

/// How much of a case the text, JSON and HTML reports show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportDetail {
    /// Everything for a case of up to 20 mailboxes, the summary for a larger one
    Auto,
    /// The case overview, flagged mailboxes in full, clean ones as one row each, low findings
    /// as counts per kind (every finding is in --format jsonl, every table in --format csv)
    Summary,
    /// Every mailbox, finding and table, whatever the case size
    Full,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  o365-activities triage victim.jsonl\n  o365-activities triage case-42 --geoip GeoLite2-Country.mmdb --asn GeoLite2-ASN.mmdb --home-country US --format html --output report.html"
)]
pub struct TriageArgs {
    /// JSON Lines or CSV written by pull, a batch case folder, or Unified Audit Log records (a
    /// Purview audit search export, or JSON Lines of AuditData or Graph auditLogRecords)
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// Country database in MaxMind format (any vendor), for countries of source IPs
    #[arg(long, value_name = "MMDB")]
    pub geoip: Option<PathBuf>,

    /// ASN database in MaxMind format, for networks of source IPs
    #[arg(long, value_name = "MMDB")]
    pub asn: Option<PathBuf>,

    /// Countries the mailbox owner is expected in (ISO codes); others are flagged
    #[arg(long, value_name = "CC", num_args = 1.., value_delimiter = ',')]
    pub home_country: Vec<String>,

    /// Search terms to flag, one per line (default: finance terms such as wire, invoice, payment, bank)
    #[arg(long, value_name = "FILE")]
    pub keywords: Option<PathBuf>,

    #[arg(long, value_enum, default_value = "text")]
    pub format: TriageFormat,

    /// How much of a case the text, JSON and HTML reports show
    #[arg(long, value_enum, default_value = "auto")]
    pub detail: ReportDetail,

    /// Write here instead of standard output (a folder for --format csv)
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Also write a Timesketch timeline of every activity and finding (.jsonl for JSON Lines,
    /// CSV otherwise)
    #[arg(long, value_name = "FILE")]
    pub timesketch: Option<PathBuf>,

    /// Also write the indicators of the high and medium findings (addresses, user agents,
    /// senders, domains, attachment names) as CSV
    #[arg(long, value_name = "FILE")]
    pub iocs: Option<PathBuf>,

    /// Also write what attacker sessions read as CSV (message, folder, when, session, how:
    /// bind, sync or throttled, evidence id); needs sign-ins among the inputs
    #[arg(long, value_name = "FILE")]
    pub exposed: Option<PathBuf>,

    /// Replace an existing --output file
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  o365-activities batch --users users.txt --out-dir case-42 --start 90d\n  o365-activities batch --users users.txt --out-dir case-42 --start 90d --resume   # after an interruption"
)]
pub struct BatchArgs {
    /// File of mailboxes: one UPN per line; blank lines and # comments are ignored
    #[arg(long, value_name = "FILE")]
    pub users: PathBuf,

    /// The case folder to create (or to continue with --resume)
    #[arg(long, value_name = "CASE")]
    pub out_dir: PathBuf,

    /// Mailboxes pulled at once (each keeps its own per-mailbox budget)
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,

    /// Continue an interrupted case: complete mailboxes are verified and skipped, the others
    /// continue from their checkpoints
    #[arg(long)]
    pub resume: bool,

    /// Per-mailbox output: csv (with the JSON Lines beside it) or jsonl only
    #[arg(long, value_enum, default_value = "csv")]
    pub format: OutputFormat,

    /// Keep cells that start with = + - @ as they are
    #[arg(long)]
    pub no_sanitize: bool,

    /// Test hook: abort at the n-th crash point (to prove resume from any point)
    #[arg(long, hide = true)]
    pub crash_at: Option<u64>,

    #[command(flatten)]
    pub query: QueryArgs,

    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub custody: crate::custody::SignArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A case folder written by batch, or a pull's manifest (OUTPUT.manifest.json)
    #[arg(value_name = "CASE|MANIFEST")]
    pub case: PathBuf,

    #[command(flatten)]
    pub custody: crate::custody::VerifyCustodyArgs,
}

const PULL_EXAMPLES: &str = "Examples (the blog's three pulls):
  o365-activities pull --user victim@contoso.com --output activities.csv --types MessageDelivered --start 2018-01-01T00:00:00Z
  o365-activities pull --user victim@contoso.com --output activities.csv --types ServerLogon SearchResult --start 2018-05-01T00:00:00Z --end 2018-05-31T23:59:59Z
  o365-activities pull --user victim@contoso.com --output activities.csv

Today's Unified Audit Log (the secret from O365_CLIENT_SECRET or a prompt):
  o365-activities pull --source audit --user victim@contoso.com --output victim-ual.jsonl --start 90d --tenant contoso.onmicrosoft.com --client-id APP-ID
  o365-activities pull --source feed --user victim@contoso.com --output feed.csv --tenant TENANT-ID --client-id APP-ID --state feed-state.json

The Activities API's token comes from --token or the OAUTH_TOKEN environment variable.";

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Target mailbox: a user principal name, or `me` for the caller's own (with --source feed:
    /// the users to keep, repeatable; every user when absent)
    #[arg(long, value_name = "UPN|me")]
    pub user: Vec<String>,

    /// Output file: .csv, .jsonl or .ndjson; `-` writes to standard output
    #[arg(long, value_name = "PATH")]
    pub output: PathBuf,

    /// Output format (default: from the --output extension; JSON Lines for `-`)
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,

    /// Replace existing output files (only once the new pull has completed)
    #[arg(long)]
    pub force: bool,

    /// Keep cells that start with = + - @ as they are (by default a ' is put before them so
    /// spreadsheets do not run them as formulas; the JSON Lines always keep the raw value)
    #[arg(long)]
    pub no_sanitize: bool,

    /// Print the first request (credentials redacted) and send nothing
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub query: QueryArgs,

    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub custody: crate::custody::SignArgs,
}

/// The time range to retrieve (every source's).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Time range")]
pub struct QueryArgs {
    /// Start of the time range: ISO 8601 (Z or an offset), a date, or an age like 30d or 12h
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,

    /// End of the time range (default: the moment the pull starts, frozen for the whole pull)
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
}

/// How to reach and authenticate to the service, and how hard to try (every source's).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// OAuth 2.0 access token (Bearer)
    #[arg(
        long,
        env = "OAUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<SecretString>,

    /// Retries of one request before giving up
    #[arg(long, default_value_t = 8)]
    pub max_retries: u32,

    /// Seconds before one request is abandoned (and retried)
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Longest server-requested wait (Retry-After) honoured, in seconds
    #[arg(long, default_value_t = 600)]
    pub max_wait: u64,

    /// Seconds between progress lines when stderr is not a terminal (a log, a pipe)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub progress_interval: u64,

    /// Start CSV files with a UTF-8 byte order mark, so that Excel reads non-ASCII text right
    #[arg(long)]
    pub csv_bom: bool,

    /// Largest response body accepted, in bytes (a larger one is retried, then the pull stops
    /// with its partial result)
    #[arg(long, default_value_t = crate::http::DEFAULT_MAX_PAGE_BYTES,
          value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_page_bytes: u64,
}

#[derive(Debug, Subcommand)]
pub enum MockTenantCommand {
    /// Write a deterministic corpus of mailbox activities (JSON Lines)
    Generate(GenerateArgs),
    /// Serve a corpus over HTTP as the Activities API does
    Serve(Box<ServeArgs>),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the corpus, the truth file and the pulled evidence
    #[arg(long, default_value = "demo-output")]
    pub out_dir: PathBuf,

    /// Seed of the generated tenant
    #[arg(long, default_value_t = 2018)]
    pub seed: u64,
}

/// The command line as declared, with `--source`'s values and help read from the sources'
/// registry.
pub fn command() -> clap::Command {
    let names: Vec<&'static str> = crate::source::registry::names().collect();
    let mut sources_help = String::from("Which API to read:");
    for source in crate::source::registry::SOURCES {
        sources_help.push_str(&format!("\n  {}: {}", source.name, source.summary));
    }
    let with_sources = |command: clap::Command| {
        command.mut_arg("source", |arg| {
            arg.value_parser(clap::builder::PossibleValuesParser::new(names.clone()))
                .help(sources_help.clone())
        })
    };
    Cli::command()
        .mut_subcommand("pull", with_sources)
        .mut_subcommand("batch", with_sources)
}

/// Parses `args` (the program's name first), noting which source flags were given on the
/// command line, so that one another source reads is refused rather than ignored.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let given = |matches: &clap::ArgMatches| -> Vec<String> {
        matches
            .ids()
            .filter(|id| {
                matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
            })
            .map(|id| id.as_str().to_string())
            .collect()
    };
    match (&mut cli.command, matches.subcommand()) {
        (Command::Pull(args), Some((_, sub))) => args.source.given = given(sub),
        (Command::Batch(args), Some((_, sub))) => args.source.given = given(sub),
        _ => {}
    }
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn retriever_py_flags_work_unchanged() {
        let cli = parse_from([
            "o365-activities",
            "pull",
            "--user",
            "victim@contoso.com",
            "--output",
            "activities.csv",
            "--types",
            "ServerLogon",
            "SearchResult",
            "--start",
            "2018-05-01T00:00:00Z",
            "--end",
            "2018-05-31T23:59:59Z",
            "--token",
            "t",
        ])
        .unwrap();
        let Command::Pull(pull) = cli.command else {
            panic!("not pull")
        };
        assert_eq!(
            pull.source.activities.types,
            vec!["ServerLogon", "SearchResult"]
        );
        assert_eq!(pull.connection.token.unwrap().expose(), "t");
    }
}
