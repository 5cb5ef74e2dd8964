//! `triage`: findings from pulled activities.

use std::io::IsTerminal;

use crate::cli::{TriageArgs, TriageFormat};
use crate::error::AppError;
use crate::output::{commit, OutputError, OutputPlan};
use crate::triage::analyze::DEFAULT_KEYWORDS;
use crate::triage::geo::GeoLookup;
use crate::triage::{analyze_mailbox, load_inputs, render, Settings};

pub fn run(args: &TriageArgs, quiet: bool) -> Result<(), AppError> {
    let keywords = match &args.keywords {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                AppError::Usage(format!("cannot read --keywords {}: {e}", path.display()))
            })?;
            let words: Vec<String> = text
                .lines()
                .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            if words.is_empty() {
                return Err(AppError::Usage(format!(
                    "--keywords {} holds no keyword (one per line)",
                    path.display()
                )));
            }
            words
        }
        None => DEFAULT_KEYWORDS.iter().map(|s| s.to_string()).collect(),
    };
    let settings = Settings {
        home_countries: args.home_country.iter().map(|c| c.to_uppercase()).collect(),
        keywords,
        geo: GeoLookup::open(args.geoip.as_deref(), args.asn.as_deref())?,
    };
    if !args.home_country.is_empty() && !settings.geo.is_enabled() {
        return Err(AppError::Usage(
            "--home-country needs a country database: pass --geoip MMDB".into(),
        ));
    }
    let mailboxes = load_inputs(&args.inputs)?;
    let reports: Vec<_> = mailboxes
        .iter()
        .map(|m| analyze_mailbox(m, &settings))
        .collect();
    let text = match args.format {
        TriageFormat::Text => {
            let colour = args.output.is_none() && std::io::stdout().is_terminal();
            render::text(&reports, colour)
        }
        TriageFormat::Json => render::json(&reports)?,
        TriageFormat::Html => render::html(&reports),
        TriageFormat::Csv => {
            let folder = args.output.as_ref().ok_or_else(|| {
                AppError::Usage(
                    "--format csv writes one file per table: give --output FOLDER".into(),
                )
            })?;
            let written = render::csv_folder(&reports, folder)?;
            if !quiet {
                eprintln!("wrote {} tables to {}", written.len(), folder.display());
            }
            return Ok(());
        }
    };
    match &args.output {
        None => {
            print!("{text}");
            Ok(())
        }
        Some(path) => {
            if path.exists() && !args.force {
                return Err(OutputError::Exists {
                    path: path.display().to_string(),
                }
                .into());
            }
            let temporary = OutputPlan::temporary(path);
            std::fs::write(&temporary, text)
                .map_err(|e| OutputError::io("cannot write", &temporary, e))?;
            commit(&temporary, path)?;
            if !quiet {
                eprintln!("wrote {}", path.display());
            }
            Ok(())
        }
    }
}
