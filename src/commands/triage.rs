//! `triage`: findings from pulled activities.

use crate::cli::TriageFormat;
use crate::config::TriageConfig;
use crate::error::AppError;
use crate::output::{write_atomically, write_stdout};
use crate::triage::{analyze_mailbox, exports, load_inputs, render};

pub fn run(config: &TriageConfig) -> Result<(), AppError> {
    let mailboxes = load_inputs(&config.inputs)?;
    let reports: Vec<_> = mailboxes
        .iter()
        .map(|m| analyze_mailbox(m, &config.settings))
        .collect();
    if let Some(path) = &config.timesketch {
        let rows = exports::timesketch(&reports, &mailboxes, path)?;
        if !config.quiet {
            eprintln!("wrote {rows} Timesketch rows to {}", path.display());
        }
    }
    if let Some(path) = &config.iocs {
        let count = exports::iocs(&reports, &mailboxes, &config.settings.geo, path)?;
        if !config.quiet {
            eprintln!("wrote {count} indicators to {}", path.display());
        }
    }
    let text = match config.format {
        TriageFormat::Text => render::text(&reports, config.colour),
        TriageFormat::Json => render::json(&reports)?,
        TriageFormat::Html => render::html(&reports),
        TriageFormat::Jsonl => exports::findings_jsonl(&reports, &mailboxes),
        TriageFormat::Csv => {
            // The configuration made sure a folder was given.
            let folder = config
                .output
                .as_deref()
                .unwrap_or(std::path::Path::new("."));
            let written = render::csv_folder(&reports, folder)?;
            if !config.quiet {
                eprintln!("wrote {} tables to {}", written.len(), folder.display());
            }
            return Ok(());
        }
    };
    match &config.output {
        None => write_stdout(&text)?,
        Some(path) => {
            write_atomically(path, text.as_bytes())?;
            if !config.quiet {
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
