//! What every record writer takes: a record as parsed from its page, or a record spooled by a
//! time window (its JSON Lines text, and the frame its page was read for, if any). The JSON
//! Lines evidence and the CSV are the implementations; the pipeline writes through this trait.

use std::io::{self, Write};

use super::{CsvBuilder, JsonlWriter};
use crate::record::Activity;

pub trait RecordSink {
    /// Writes a record as parsed from its page.
    fn write_record(&mut self, record: &Activity) -> io::Result<()>;

    /// Writes a spooled record: `line` is its JSON Lines text (no line break), `frame` what its
    /// page was read for, and by whom (see `crate::record::FrameMaker`).
    fn write_spooled(&mut self, line: &str, frame: Option<(usize, &[u8])>) -> io::Result<()>;
}

impl<W: Write> RecordSink for JsonlWriter<W> {
    fn write_record(&mut self, record: &Activity) -> io::Result<()> {
        self.write(record)
    }

    fn write_spooled(&mut self, line: &str, _: Option<(usize, &[u8])>) -> io::Result<()> {
        self.write_line(line)
    }
}

impl RecordSink for CsvBuilder {
    fn write_record(&mut self, record: &Activity) -> io::Result<()> {
        self.add_activity(record)
    }

    fn write_spooled(&mut self, line: &str, frame: Option<(usize, &[u8])>) -> io::Result<()> {
        self.add_text_or_frame(line, frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sinks write a parsed record and the same record spooled alike.
    #[test]
    fn a_spooled_record_is_written_as_its_parsed_self() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"Id":"a","TimeStamp":"2018-01-01T00:00:00Z","X":"y"}"#;
        let record = Activity::from_json(text).unwrap();
        let (mut parsed, mut spooled) =
            (JsonlWriter::new(Vec::new()), JsonlWriter::new(Vec::new()));
        parsed.write_record(&record).unwrap();
        spooled.write_spooled(text, None).unwrap();
        assert_eq!(parsed.finish().unwrap().0, spooled.finish().unwrap().0);
        let csv_of = |spool: &str, spooled: bool| {
            let mut csv = CsvBuilder::create(dir.path().join(spool)).unwrap();
            if spooled {
                csv.write_spooled(text, None).unwrap();
            } else {
                csv.write_record(&record).unwrap();
            }
            let mut out = Vec::new();
            csv.write_csv(
                &mut out,
                super::super::CsvOptions {
                    sanitize: true,
                    ..Default::default()
                },
            )
            .unwrap();
            out
        };
        assert_eq!(csv_of("a", false), csv_of("b", true));
    }
}
