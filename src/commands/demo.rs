//! `demo`: the whole job on the built-in mock tenant, in one command.
//!
//! Generates a tenant with a planted compromise, serves it on loopback with throttling and a
//! few faults switched on, and pulls the victim's mailbox with the real client over HTTP: from
//! the Activities API, then from today's audit log (Graph audit log queries, signed in), and
//! triages both; then its sign-ins and directory audits from the Entra ID logs
//! (`demo_identity.rs`).

use std::future::Future;
use std::sync::Arc;

use crate::config::DemoConfig;
use crate::error::AppError;
use crate::http::Sleeper;

use crate::mock::demo_tenant::{DemoFaults, DemoTenant, DEMO_FAULTS};
use crate::output::OutputError;
use crate::triage::analyze::DEFAULT_KEYWORDS;
use crate::triage::geo::GeoLookup;
use crate::triage::{analyze_mailbox, load_inputs, report, Settings};

const DEMO_TOKEN: &str = "demo-token";

pub async fn run(
    config: &DemoConfig,
    sleeper: Arc<dyn Sleeper>,
    interrupt: impl Future<Output = ()> + Send,
) -> Result<(), AppError> {
    let (out_dir, quiet) = (&config.out_dir, config.quiet);
    std::fs::create_dir_all(out_dir).map_err(|e| OutputError::io("cannot create", out_dir, e))?;

    let tenant = DemoTenant::generate(config.seed, DEMO_TOKEN);
    tenant
        .write_files(out_dir)
        .map_err(|e| AppError::Other(e.to_string()))?;
    let (truth, audit_truth, tenant_now) =
        (tenant.truth.clone(), tenant.audit_truth.clone(), tenant.now);
    let audit_range = tenant.audit_range;
    let DemoFaults {
        fail_rate,
        truncate_rate,
        throttle,
        audit_record_limit,
        audit_throttle_every,
    } = DEMO_FAULTS;
    let server = tenant
        .start()
        .await
        .map_err(|e| AppError::Other(format!("cannot start the mock tenant on loopback: {e}")))?;
    if !quiet {
        eprintln!(
            "mock tenant at {}, with faults switched on: {:.0}% of requests answered 503, {:.0}% of \
             bodies cut off, at most {} requests per {} s per mailbox (429 beyond)",
            server.url,
            fail_rate * 100.0,
            truncate_rate * 100.0,
            throttle.0,
            throttle.1.as_secs()
        );
        eprintln!("pulling {} ...", truth.mailbox);
    }
    let output = out_dir.join(format!("{}.csv", truth.mailbox));
    let interrupt = futures::FutureExt::shared(Box::pin(interrupt));
    let pull = config.pull_config(&server.url, DEMO_TOKEN, &truth.mailbox, &output)?;
    let pulled =
        crate::pipeline::pull_to_destination(&pull, Arc::clone(&sleeper), interrupt.clone()).await;
    let requests = server.requests();
    // The same mailbox from today's audit log: Graph audit log queries, signed in.
    let audit_output = out_dir.join(format!("{}.audit-log.jsonl", truth.mailbox));
    let audit_pulled = match (&pulled, audit_range) {
        (Ok(_), Some(range)) => {
            if !quiet {
                eprintln!(
                    "pulling {} from the audit log (Graph audit log queries, signed in with the \
                     app's client secret; at most {audit_record_limit} records a query, every \
                     {audit_throttle_every}th request answered 429) ...",
                    truth.mailbox
                );
            }
            let pull =
                config.audit_pull_config(&server.url, &truth.mailbox, range, &audit_output)?;
            Some(
                crate::pipeline::pull_to_destination(
                    &pull,
                    Arc::clone(&sleeper),
                    interrupt.clone(),
                )
                .await,
            )
        }
        _ => None,
    };
    // Its sign-ins and directory audits from the Entra ID logs.
    let identity_pulled = match (&pulled, &audit_pulled) {
        (Ok(_), None | Some(Ok(_))) => Some(
            super::demo_identity::pull_identity_logs(
                config,
                &server.url,
                &truth.mailbox,
                tenant_now,
                sleeper,
                interrupt,
            )
            .await,
        ),
        _ => None,
    };
    let _ = server.shutdown().await;
    let summary = pulled?;
    let audit_summary = audit_pulled.transpose()?;
    let identity_pulls = identity_pulled.transpose()?;
    // Triage the pulled evidence, as an analyst would next.
    let evidence = output.with_extension("jsonl");
    let mailboxes = load_inputs(std::slice::from_ref(&evidence))?;
    let settings = Settings {
        home_countries: Vec::new(),
        keywords: DEFAULT_KEYWORDS.iter().map(|s| s.to_string()).collect(),
        geo: GeoLookup::default(),
    };
    let reports: Vec<_> = mailboxes
        .iter()
        .map(|m| analyze_mailbox(m, &settings))
        .collect();
    let report_path = out_dir.join("triage.html");
    let html = report::render(report::Html, &reports, &mailboxes)
        .map_err(|e| OutputError::io("cannot write", &report_path, e))?;
    std::fs::write(&report_path, html)
        .map_err(|e| OutputError::io("cannot write", &report_path, e))?;
    if !quiet {
        summary.print();
        // What the faults did, as the manifest counted it.
        if let Some(manifest) = summary
            .manifest
            .as_deref()
            .and_then(|path| crate::output::Manifest::read(path).ok())
        {
            let c = &manifest.counters;
            eprintln!(
                "  what happened: {} requests ({requests} answered by the mock tenant), {} retried \
                 after a fault, {} throttle waits ({:.1} s in all); the result is complete all the same",
                c.requests, c.retries, c.throttle_waits, c.throttle_wait_seconds
            );
        }
        eprintln!();
        print_text(config.colour, &reports, &mailboxes)?;
        // The same compromise, found through the audit log pulled over HTTP.
        if let Some(audit_summary) = &audit_summary {
            eprintln!();
            audit_summary.print();
            if let Some(manifest) = audit_summary
                .manifest
                .as_deref()
                .and_then(|path| crate::output::Manifest::read(path).ok())
            {
                let queries = manifest
                    .source_log_as::<crate::source::AuditQueryLog>()
                    .and_then(Result::ok)
                    .map(|log| log.queries)
                    .unwrap_or_default();
                let split = queries.iter().filter(|q| q.split).count();
                eprintln!(
                    "  what happened: {} audit log queries ({split} over the record limit, split \
                     where their records were dense and run again), {} requests, {} throttle \
                     waits; the manifest lists each query with its expected and retrieved counts",
                    queries.len(),
                    manifest.counters.requests,
                    manifest.counters.throttle_waits
                );
            }
            // With the victim's sign-ins and directory audits beside it: the attacker's session,
            // what it read and left behind, whether it is live, and what to revoke.
            let mut inputs = vec![audit_output.clone()];
            inputs.extend(identity_pulls.iter().flat_map(|p| {
                [
                    p.signins.evidence.clone(),
                    p.directory_audits.evidence.clone(),
                ]
            }));
            let (audit_report, audit_events) = triage_one(&inputs, &truth.mailbox, &settings)?;
            let session_report_path = out_dir.join("session-triage.html");
            let html = report::render(
                report::Html,
                std::slice::from_ref(&audit_report),
                std::slice::from_ref(&audit_events),
            )
            .map_err(|e| OutputError::io("cannot write", &session_report_path, e))?;
            std::fs::write(&session_report_path, html)
                .map_err(|e| OutputError::io("cannot write", &session_report_path, e))?;
            eprintln!(
                "\nThrough the audit log ({}) joined to the Entra ID logs by session (planted \
                 there too: an inbox rule and a forwarding to {}):\n",
                audit_output.display(),
                audit_truth
                    .as_ref()
                    .map(|t| t.forwarding_to.as_str())
                    .unwrap_or("-")
            );
            print_text(
                config.colour,
                std::slice::from_ref(&audit_report),
                std::slice::from_ref(&audit_events),
            )?;
        }
        eprintln!("Written to {}:", out_dir.display());
        eprintln!("  corpus.jsonl      the whole mock tenant (5 mailboxes)");
        eprintln!(
            "  truth.json        what was planted: attacker IPs {}",
            truth.attacker_ips.join(", ")
        );
        eprintln!(
            "  {}.csv   open in a spreadsheet; one column per property",
            truth.mailbox
        );
        eprintln!(
            "  {}.jsonl the raw evidence the CSV was derived from",
            truth.mailbox
        );
        eprintln!("  triage.html       the findings with charts; open it in a browser");
        eprintln!(
            "  session-triage.html  the audit log and Entra ID logs triaged together: the \
             attacker's session on top"
        );
        eprintln!(
            "  {}.audit-log.jsonl  the same mailbox pulled from the audit log (Graph auditLogRecords)",
            truth.mailbox
        );
        eprintln!(
            "  audit-log-export.csv  the tenant as a Purview audit search export (triage reads it)"
        );
        for log in identity_pulls
            .iter()
            .flat_map(|p| [&p.signins, &p.directory_audits])
        {
            eprintln!(
                "  {}  the same user's {} from the Entra ID logs, with its manifest",
                file_name(&log.evidence),
                log.source
            );
        }
        eprintln!(
            "Next: o365-activities triage {} --format html --output report.html",
            evidence.display()
        );
    }
    Ok(())
}

/// One mailbox of audit log records, analysed with the identity evidence among `inputs`.
fn triage_one(
    inputs: &[std::path::PathBuf],
    mailbox: &str,
    settings: &Settings,
) -> Result<(crate::triage::MailboxReport, crate::triage::MailboxEvents), AppError> {
    let plan = crate::triage::plan_triage(inputs)?;
    let input = plan
        .mailboxes
        .iter()
        .find(|input| input.mailbox == mailbox.to_lowercase())
        .ok_or_else(|| AppError::Other(format!("the audit log pull holds no {mailbox}")))?;
    let events = input.load()?;
    let report = crate::triage::analyze_with_identity(&events, settings, &plan.identity)?;
    Ok((report, events))
}

/// The text report of `reports` on standard output.
fn print_text(
    colour: bool,
    reports: &[crate::triage::MailboxReport],
    mailboxes: &[crate::triage::MailboxEvents],
) -> Result<(), OutputError> {
    crate::output::write_stdout_with(|out| {
        report::write(report::Text { colour }, reports, mailboxes, out)
    })
}

/// The last part of `path`, as the list of what was written shows it.
fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
