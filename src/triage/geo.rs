//! Country and ASN of an IP address from MaxMind-format databases (any vendor: MaxMind's
//! GeoLite2 shape `country.iso_code`, or the `country_code` shape of other free databases).

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::error::AppError;

#[derive(Deserialize, Default)]
struct CountryRecord<'a> {
    #[serde(borrow, default)]
    country: Option<CountryField<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<CountryField<'a>>,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct CountryField<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct AsnRecord<'a> {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

/// The databases given on the command line (either may be absent).
#[derive(Default)]
pub struct GeoLookup {
    country: Option<maxminddb::Reader<Vec<u8>>>,
    asn: Option<maxminddb::Reader<Vec<u8>>>,
}

fn open(path: &Path, flag: &str) -> Result<maxminddb::Reader<Vec<u8>>, AppError> {
    maxminddb::Reader::open_readfile(path).map_err(|e| {
        AppError::Usage(format!(
            "{flag} {}: not a MaxMind-format database ({e})",
            path.display()
        ))
    })
}

/// Refuses a database whose type says it holds the other kind of data (an ASN database given
/// as `--geoip`, say): every lookup would silently come back empty.
fn expect_kind(
    reader: maxminddb::Reader<Vec<u8>>,
    path: &Path,
    flag: &str,
    wanted: &str,
    other: &str,
) -> Result<maxminddb::Reader<Vec<u8>>, AppError> {
    let kind = reader.metadata.database_type.to_lowercase();
    if kind.contains(other) && !kind.contains(wanted) {
        return Err(AppError::Usage(format!(
            "{flag} {}: a {} database holds no {wanted} data; give it as {}",
            path.display(),
            reader.metadata.database_type,
            if flag == "--geoip" {
                "--asn"
            } else {
                "--geoip"
            }
        )));
    }
    Ok(reader)
}

impl GeoLookup {
    pub fn open(country: Option<&Path>, asn: Option<&Path>) -> Result<Self, AppError> {
        Ok(GeoLookup {
            country: country
                .map(|p| expect_kind(open(p, "--geoip")?, p, "--geoip", "country", "asn"))
                .transpose()?,
            asn: asn
                .map(|p| expect_kind(open(p, "--asn")?, p, "--asn", "asn", "country"))
                .transpose()?,
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.country.is_some() || self.asn.is_some()
    }

    /// ISO country code of an address, when a database knows it.
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        let reader = self.country.as_ref()?;
        let record: CountryRecord = reader.lookup(ip).ok().flatten()?;
        record
            .country
            .and_then(|c| c.iso_code)
            .or(record.country_code)
            .or(record.registered_country.and_then(|c| c.iso_code))
            .map(str::to_string)
    }

    /// `AS<number> <organization>`, when a database knows it (the ASN database, or the
    /// country database if it carries ASN fields).
    pub fn asn(&self, ip: IpAddr) -> Option<String> {
        let reader = self.asn.as_ref().or(self.country.as_ref())?;
        let record: AsnRecord = reader.lookup(ip).ok().flatten()?;
        let number = record.autonomous_system_number?;
        Some(match record.autonomous_system_organization {
            Some(org) => format!("AS{number} {org}"),
            None => format!("AS{number}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name)
    }

    #[test]
    fn looks_up_the_fixture_databases() {
        let geo = GeoLookup::open(
            Some(&fixture("test-country.mmdb")),
            Some(&fixture("test-asn.mmdb")),
        )
        .unwrap();
        let ip: IpAddr = "105.112.96.14".parse().unwrap();
        assert_eq!(geo.country(ip).as_deref(), Some("NG"));
        assert_eq!(
            geo.asn(ip).as_deref(),
            Some("AS36873 Airtel Networks Limited")
        );
        assert_eq!(geo.country("10.0.0.1".parse().unwrap()), None);
        assert!(GeoLookup::open(Some(&fixture("hostile.csv")), None).is_err());
        let swapped = GeoLookup::open(Some(&fixture("test-asn.mmdb")), None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            swapped.contains("holds no country data; give it as --asn"),
            "{swapped}"
        );
        assert!(GeoLookup::open(None, Some(&fixture("test-country.mmdb"))).is_err());
    }
}
