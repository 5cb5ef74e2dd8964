//! `triage`: findings from pulled activities, a mailbox at a time: each is loaded, analysed,
//! written to every output asked for, and dropped before the next is loaded.

use std::path::Path;

use crate::cli::{ReportDetail, TriageFormat};
use crate::config::TriageConfig;
use crate::error::AppError;
use crate::triage::exports::{ExposedList, FindingsJsonl, Indicators, TimesketchWriter};
use crate::triage::report::{
    CsvTables, Detail, Html, HtmlSummary, Json, JsonSummary, ReportFormat, StreamedReport, Text,
    TextSummary,
};
use crate::triage::{analyze_with_identity, plan_triage};

/// Where the main report goes.
enum Report {
    Streamed(StreamedReport),
    Tables(CsvTables),
}

pub fn run(config: &TriageConfig) -> Result<(), AppError> {
    let plan = plan_triage(&config.inputs)?;
    if config.exposed.is_some() && plan.identity.is_empty() {
        // Without sessions there is nothing to say what an attacker read: refused, not an
        // empty list passed off as "nothing read".
        return Err(AppError::Usage(
            "--exposed lists what attacker sessions read: give the sign-ins (pull --source signins) among the inputs".into(),
        ));
    }
    let inputs = plan.mailboxes;
    let detail = match config.detail {
        ReportDetail::Auto => Detail::auto(inputs.len()),
        ReportDetail::Summary => Detail::Summary,
        ReportDetail::Full => Detail::Full,
    };
    let streamed: Option<Box<dyn ReportFormat>> = match (config.format, detail) {
        (TriageFormat::Text, Detail::Full) => Some(Box::new(Text {
            colour: config.colour,
        })),
        (TriageFormat::Text, Detail::Summary) => Some(Box::new(TextSummary::new(config.colour))),
        (TriageFormat::Json, Detail::Full) => Some(Box::<Json>::default()),
        (TriageFormat::Json, Detail::Summary) => Some(Box::<JsonSummary>::default()),
        (TriageFormat::Html, Detail::Full) => Some(Box::new(Html)),
        (TriageFormat::Html, Detail::Summary) => Some(Box::new(HtmlSummary)),
        (TriageFormat::Jsonl, _) => Some(Box::new(FindingsJsonl)),
        (TriageFormat::Csv, _) => None,
    };
    let mut report = match streamed {
        // The configuration made sure a folder was given.
        None => Report::Tables(CsvTables::create(
            config.output.as_deref().unwrap_or(Path::new(".")),
            inputs.len(),
        )?),
        Some(format) => {
            let spool_folder = match config.output.as_deref().and_then(Path::parent) {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                Some(_) => Path::new(".").to_path_buf(),
                None => std::env::temp_dir(),
            };
            Report::Streamed(StreamedReport::new(format, &spool_folder)?)
        }
    };
    let mut timesketch = config
        .timesketch
        .as_deref()
        .map(TimesketchWriter::create)
        .transpose()?;
    let mut indicators = config.iocs.as_ref().map(|_| Indicators::default());
    let mut exposed = config.exposed.as_ref().map(|_| ExposedList::default());

    for input in &inputs {
        let events = input.load()?;
        let analysed = analyze_with_identity(&events, &config.settings, &plan.identity)?;
        match &mut report {
            Report::Streamed(streamed) => streamed.add(&analysed, &events)?,
            Report::Tables(tables) => tables.add(&analysed)?,
        }
        if let Some(timesketch) = &mut timesketch {
            timesketch.add(&analysed, &events)?;
        }
        if let Some(indicators) = &mut indicators {
            indicators.add(&analysed, &events, &config.settings.geo);
        }
        if let Some(exposed) = &mut exposed {
            exposed.add(&analysed);
        }
    }

    if let (Some(writer), Some(path)) = (timesketch, &config.timesketch) {
        let rows = writer.finish()?;
        if !config.quiet {
            eprintln!("wrote {rows} Timesketch rows to {}", path.display());
        }
    }
    if let (Some(indicators), Some(path)) = (indicators, &config.iocs) {
        let count = indicators.write(path)?;
        if !config.quiet {
            eprintln!("wrote {count} indicators to {}", path.display());
        }
    }
    if let (Some(exposed), Some(path)) = (exposed, &config.exposed) {
        let count = exposed.write(path)?;
        if !config.quiet {
            eprintln!(
                "wrote {count} rows of what attacker sessions read to {}",
                path.display()
            );
        }
    }
    match report {
        Report::Tables(tables) => {
            let written = tables.finish();
            if !config.quiet {
                let folder = config.output.as_deref().unwrap_or(Path::new("."));
                eprintln!("wrote {} tables to {}", written.len(), folder.display());
            }
        }
        Report::Streamed(streamed) => {
            streamed.finish(config.output.as_deref())?;
            if let (Some(path), false) = (&config.output, config.quiet) {
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
