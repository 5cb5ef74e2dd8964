//! `mock-tenant generate` and `mock-tenant serve`.

use std::future::Future;
use std::io::Write;

use crate::config::{GenerateConfig, ServeConfig};
use crate::error::AppError;
use crate::mock::store::load_corpus;
use crate::mock::{
    corpus_by_mailbox, default_corpus, generate as generate_corpus, write_corpus, Corpus,
};
use crate::output::write_atomically;

pub fn generate(config: &GenerateConfig) -> Result<(), AppError> {
    let corpus = generate_corpus(&config.spec);
    let records = write_corpus(&corpus, &config.out).map_err(|e| AppError::Other(e.to_string()))?;
    if let Some(path) = &config.truth {
        let truth = corpus.truth.clone().unwrap_or_default();
        write_atomically(path, &serde_json::to_vec_pretty(&truth).unwrap_or_default())?;
    }
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
    if !config.quiet {
        eprintln!(
            "wrote {records} activities in {} mailboxes to {}",
            corpus.mailboxes.len(),
            config.out.display()
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

pub async fn serve(config: ServeConfig, signal: impl Future<Output = ()>) -> Result<(), AppError> {
    let addr = config.settings.addr;
    let corpus = match &config.corpus {
        Some(path) => Corpus {
            mailboxes: load_corpus(path)
                .map_err(AppError::Usage)?
                .into_iter()
                .collect(),
            truth: None,
        },
        None => default_corpus(config.seed),
    };
    // The same tenant as the Unified Audit Log holds it, for the audit log APIs.
    let (audit_records, _) = crate::mock::audit_log::audit_records(&corpus);
    let audit_count = audit_records.len();
    // And its Entra ID sign-ins and directory audits.
    let identity = crate::mock::generate::identity::identity_logs_of(&corpus, config.seed);
    *config
        .settings
        .audit
        .entra
        .signins
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = identity.signins;
    *config
        .settings
        .audit
        .entra
        .directory_audits
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = identity.directory_audits;
    let mailboxes = corpus_by_mailbox(corpus);
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
        "audit log: {audit_count} records through Graph audit log queries ({url}/v1.0/security/auditLog/queries) \
         and the Management Activity API (tenant {tenant_id}); sign in at {url}/{tenant_id}/oauth2/v2.0/token",
        url = server.url
    );
    eprintln!("tokens: {}; stop with Ctrl-C", config.tokens.join(", "));
    server
        .serve_until(signal)
        .await
        .map_err(|e| AppError::Other(format!("the mock tenant stopped with an error: {e}")))
}
