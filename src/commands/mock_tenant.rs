//! `mock-tenant generate` and `mock-tenant serve`.

use std::future::Future;
use std::io::Write;

use crate::config::{GenerateConfig, ServeConfig};
use crate::error::AppError;
use crate::mock::store::{load_corpus, load_corpus_indexed, Mailbox};
use crate::mock::{
    corpus_by_mailbox, default_corpus, generate as generate_corpus, generate_to_file, write_corpus,
    AuditRecords, Corpus,
};
use crate::output::write_atomically;

pub fn generate(config: &GenerateConfig) -> Result<(), AppError> {
    // Without the audit log, which needs the whole tenant, the corpus is written a mailbox at
    // a time as it is generated (memory independent of the tenant's size).
    let (records, mailboxes, truth) = if config.audit_log.is_none() {
        let written = generate_to_file(&config.spec, &config.out)
            .map_err(|e| AppError::Other(e.to_string()))?;
        (written.records, written.mailboxes, written.truth)
    } else {
        let corpus = generate_corpus(&config.spec);
        let records =
            write_corpus(&corpus, &config.out).map_err(|e| AppError::Other(e.to_string()))?;
        if let Some(path) = &config.audit_log {
            let (records, _) = crate::mock::audit_log::audit_records(&corpus);
            crate::mock::audit_log::write_export(&records, path)
                .map_err(|e| AppError::Other(e.to_string()))?;
            if !config.quiet {
                eprintln!(
                    "wrote {} audit log records to {}",
                    records.len(),
                    path.display()
                );
            }
        }
        (records, corpus.mailboxes.len(), corpus.truth)
    };
    if let Some(path) = &config.truth {
        let truth = truth.clone().unwrap_or_default();
        write_atomically(path, &serde_json::to_vec_pretty(&truth).unwrap_or_default())?;
    }
    if !config.quiet {
        eprintln!(
            "wrote {records} activities in {mailboxes} mailboxes to {}",
            config.out.display()
        );
        if let Some(truth) = &truth {
            eprintln!(
                "planted a {} compromise in {}",
                truth.scenario, truth.mailbox
            );
        }
    }
    Ok(())
}

pub async fn serve(config: ServeConfig, signal: impl Future<Output = ()>) -> Result<(), AppError> {
    let addr = config.settings.addr;
    // A corpus file is indexed (its lines read again when served) and its audit log made on
    // the first audit log request; the default corpus is generated and held.
    let (mailboxes, audit_records, audit_count) = match &config.corpus {
        Some(path) => {
            let mailboxes = load_corpus_indexed(path).map_err(AppError::Usage)?;
            let path = path.clone();
            let (seed, entra) = (config.seed, config.settings.audit.entra.clone());
            let later = AuditRecords::Later(Box::new(move || {
                // The file was read once already: an error now leaves the audit log empty.
                let corpus = Corpus {
                    mailboxes: load_corpus(&path)
                        .map(|m| m.into_iter().collect())
                        .unwrap_or_default(),
                    truth: None,
                };
                // Its Entra ID sign-ins and directory audits are made with it.
                set_identity_logs(&entra, &corpus, seed);
                crate::mock::audit_log::audit_records(&corpus).0
            }));
            (mailboxes, later, None)
        }
        None => {
            let corpus = default_corpus(config.seed);
            // The same tenant as the Unified Audit Log holds it, for the audit log APIs, and its
            // Entra ID sign-ins and directory audits.
            set_identity_logs(&config.settings.audit.entra, &corpus, config.seed);
            let (audit_records, _) = crate::mock::audit_log::audit_records(&corpus);
            let count = audit_records.len();
            let mailboxes = corpus_by_mailbox(corpus)
                .into_iter()
                .map(|(upn, activities)| (upn, Mailbox::new(activities)))
                .collect::<std::collections::BTreeMap<_, _>>();
            (mailboxes, AuditRecords::Ready(audit_records), Some(count))
        }
    };
    let summary: Vec<String> = mailboxes
        .iter()
        .map(|(upn, a)| format!("{upn} ({})", a.len()))
        .collect();
    let tenant_id = config.settings.audit.tenant_id.clone();
    let server = crate::mock::start_with_audit_log(mailboxes, audit_records, config.settings)
        .await
        .map_err(|e| AppError::Usage(format!("cannot listen on {addr}: {e}")))?;
    if let Some(path) = &config.url_file {
        write_atomically(path, format!("{}\n", server.url).as_bytes())?;
    }
    println!("{}", server.url);
    let _ = std::io::stdout().flush();
    eprintln!(
        "mock tenant serving {} mailboxes: {}",
        summary.len(),
        summary.join(", ")
    );
    eprintln!(
        "audit log: {} through Graph audit log queries ({url}/v1.0/security/auditLog/queries) \
         and the Management Activity API (tenant {tenant_id}); sign in at {url}/{tenant_id}/oauth2/v2.0/token",
        audit_count.map_or("the corpus's records (made on the first request)".to_string(), |n| format!("{n} records")),
        url = server.url
    );
    eprintln!("tokens: {}; stop with Ctrl-C", config.tokens.join(", "));
    server
        .serve_until(signal)
        .await
        .map_err(|e| AppError::Other(format!("the mock tenant stopped with an error: {e}")))
}

/// Fills the mock's Entra ID logs with those of `corpus`.
fn set_identity_logs(entra: &crate::mock::EntraSettings, corpus: &Corpus, seed: u64) {
    let identity = crate::mock::generate::identity::identity_logs_of(corpus, seed);
    *entra.signins.lock().unwrap_or_else(|e| e.into_inner()) = identity.signins;
    *entra
        .directory_audits
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = identity.directory_audits;
}
