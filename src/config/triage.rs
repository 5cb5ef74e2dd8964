//! `triage`'s configuration: keywords, databases and the output checked before any analysis.

use std::path::PathBuf;

use crate::cli::{ColorChoice, ReportDetail, TriageArgs, TriageFormat};
use crate::error::AppError;
use crate::output::OutputError;
use crate::triage::analyze::DEFAULT_KEYWORDS;
use crate::triage::geo::GeoLookup;
use crate::triage::Settings;

pub struct TriageConfig {
    pub inputs: Vec<PathBuf>,
    pub settings: Settings,
    pub format: TriageFormat,
    pub detail: ReportDetail,
    /// A file, or for `--format csv` a folder; standard output when absent.
    pub output: Option<PathBuf>,
    pub timesketch: Option<PathBuf>,
    pub iocs: Option<PathBuf>,
    /// What attacker sessions read, as CSV.
    pub exposed: Option<PathBuf>,
    pub quiet: bool,
    /// Colour in the text report (on a terminal, as --color and NO_COLOR allow).
    pub colour: bool,
}

impl TriageConfig {
    pub fn from_args(args: &TriageArgs, quiet: bool, color: ColorChoice) -> Result<Self, AppError> {
        let keywords = match &args.keywords {
            Some(path) => read_keywords(path)?,
            None => DEFAULT_KEYWORDS.iter().map(|s| s.to_string()).collect(),
        };
        let home_countries = args
            .home_country
            .iter()
            .map(|c| home_country(c))
            .collect::<Result<Vec<_>, _>>()?;
        let settings = Settings {
            home_countries,
            keywords,
            geo: GeoLookup::open(args.geoip.as_deref(), args.asn.as_deref())?,
        };
        if !args.home_country.is_empty() && !settings.geo.is_enabled() {
            return Err(AppError::Usage(
                "--home-country needs a country database: pass --geoip MMDB".into(),
            ));
        }
        if let (TriageFormat::Csv, None) = (&args.format, &args.output) {
            return Err(AppError::Usage(
                "--format csv writes one file per table: give --output FOLDER".into(),
            ));
        }
        let files = [
            (
                "--output",
                args.output
                    .as_ref()
                    .filter(|_| args.format != TriageFormat::Csv),
            ),
            ("--timesketch", args.timesketch.as_ref()),
            ("--iocs", args.iocs.as_ref()),
            ("--exposed", args.exposed.as_ref()),
        ];
        for (flag, path) in files {
            let Some(path) = path else { continue };
            let same = |input: &PathBuf| {
                std::fs::canonicalize(input).ok() == std::fs::canonicalize(path).ok()
            };
            if path.exists() && args.inputs.iter().any(same) {
                return Err(AppError::Usage(format!(
                    "{flag} {} is one of the inputs: writing it would destroy the evidence; \
                     choose another {flag}",
                    path.display()
                )));
            }
            if path.exists() && !args.force {
                return Err(OutputError::Exists {
                    path: path.display().to_string(),
                }
                .into());
            }
        }
        Ok(TriageConfig {
            inputs: args.inputs.clone(),
            settings,
            format: args.format,
            detail: args.detail,
            output: args.output.clone(),
            timesketch: args.timesketch.clone(),
            iocs: args.iocs.clone(),
            exposed: args.exposed.clone(),
            quiet,
            colour: args.output.is_none()
                && color.enabled(std::io::IsTerminal::is_terminal(&std::io::stdout())),
        })
    }
}

/// An ISO 3166-1 alpha-2 code, as GeoIP databases give countries; an alpha-3 code or a name
/// is refused with the alpha-2 code it stands for.
fn home_country(text: &str) -> Result<String, AppError> {
    use isocountry::CountryCode;
    let text = text.trim();
    if let Ok(code) = CountryCode::for_alpha2_caseless(text) {
        return Ok(code.alpha2().to_string());
    }
    let suggestion = CountryCode::for_alpha3_caseless(text)
        .ok()
        .or_else(|| {
            CountryCode::iter()
                .find(|c| c.name().eq_ignore_ascii_case(text))
                .copied()
        })
        .map(|c| format!(": did you mean {} ({})?", c.alpha2(), c.name()))
        .unwrap_or_else(|| ": use a two-letter ISO 3166-1 code such as US, GB or DE".into());
    Err(AppError::Usage(format!(
        "--home-country {text:?} is not an ISO 3166-1 alpha-2 country code{suggestion}"
    )))
}

/// One keyword a line; `#` starts a comment.
fn read_keywords(path: &std::path::Path) -> Result<Vec<String>, AppError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AppError::Usage(format!("cannot read --keywords {}: {e}", path.display())))?;
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
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_countries_are_alpha_2_codes_with_the_right_one_suggested() {
        assert_eq!(home_country("us").unwrap(), "US");
        let usa = home_country("USA").unwrap_err().to_string();
        assert!(usa.contains("did you mean US"), "{usa}");
        let xx = home_country("XX").unwrap_err().to_string();
        assert!(xx.contains("two-letter ISO 3166-1 code"), "{xx}");
        let name = home_country("Germany").unwrap_err().to_string();
        assert!(name.contains("did you mean DE"), "{name}");
    }
}
