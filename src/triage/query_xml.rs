//! The search text of a SearchResult: `/Query/RawQuery` of its Query XML, read with a real XML
//! parser, tolerating the service's cut at about 1 KB.

use quick_xml::events::Event;
use quick_xml::Reader;

/// The RawQuery text and whether the XML was cut off before it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawQuery {
    pub text: String,
    pub truncated: bool,
}

/// The text of a search: the Activities API's Query XML, or the plain text an audit log record
/// carries (`QueryText`).
pub fn search_query(query: &str) -> Option<RawQuery> {
    if query.trim_start().starts_with('<') {
        return raw_query(query);
    }
    Some(RawQuery {
        text: query.to_string(),
        truncated: false,
    })
}

pub fn raw_query(xml: &str) -> Option<RawQuery> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut text = String::new();
    let mut found = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => path.push(start.name().as_ref().to_vec()),
            Ok(Event::End(_)) => {
                let closing = path.pop();
                if found && closing.as_deref() == Some(b"RawQuery".as_slice()) && path.len() == 1 {
                    return Some(RawQuery {
                        text,
                        truncated: false,
                    });
                }
            }
            Ok(Event::Text(t))
                if path.len() == 2 && path[0] == b"Query" && path[1] == b"RawQuery" =>
            {
                found = true;
                match t.unescape() {
                    Ok(s) => text.push_str(&s),
                    Err(_) => text.push_str(&String::from_utf8_lossy(&t)),
                }
            }
            Ok(Event::CData(t)) if path.len() == 2 && path[1] == b"RawQuery" => {
                found = true;
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Ok(Event::Eof) | Err(_) => {
                // Cut off (or malformed): keep what the RawQuery held so far.
                return found.then_some(RawQuery {
                    text,
                    truncated: true,
                });
            }
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_blogs_example_and_entities() {
        let q = raw_query("<Query><RawQuery>payment</RawQuery><RankingQuery>any </RankingQuery><All>\n<Token>payment</Token></All></Query>").unwrap();
        assert_eq!(
            q,
            RawQuery {
                text: "payment".into(),
                truncated: false
            }
        );
        assert_eq!(
            raw_query("<Query><RawQuery>a &amp; b &lt;c&gt;</RawQuery></Query>")
                .unwrap()
                .text,
            "a & b <c>"
        );
    }

    #[test]
    fn tolerates_the_1kb_cut() {
        let cut = "<Query><RawQuery>wire transfer to new acc";
        assert_eq!(
            raw_query(cut).unwrap(),
            RawQuery {
                text: "wire transfer to new acc".into(),
                truncated: true
            }
        );
        let cut_later = "<Query><RawQuery>invoice</RawQuery><RankingQuery>an";
        assert_eq!(raw_query(cut_later).unwrap().text, "invoice");
        assert_eq!(
            raw_query("<Query><RankingQuery>x</RankingQuery></Query>"),
            None
        );
        assert_eq!(raw_query("not xml"), None);
    }
}
