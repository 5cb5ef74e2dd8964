//! The flattened CSV. Its header needs every column of the result, known only at the end, so
//! each record is flattened once as it arrives (or as its page is read, with `SharedColumns`)
//! into a compact spool of cells (column id, text), kept in memory up to 2 MiB and in a file
//! past that, and the CSV is written from the spool when the pull is done. Memory holds column
//! names and at most that much of the spool.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rustc_hash::FxHashMap;

use super::cell_frame::{frame_cells, put_varint};
pub use super::csv_row::unsanitized;
use super::csv_row::RowEncoder;
use super::flatten::{
    custom_column, flatten_from, flatten_record, top_level_column, CellSink, RecordShape,
    AUDIT_DATA_PREFIX, CUSTOM,
};
use crate::record::{Activity, FrameMaker};

#[derive(Debug, Clone, Copy, Default)]
pub struct CsvOptions {
    /// Neutralize cells a spreadsheet would run as a formula.
    pub sanitize: bool,
    /// Start with a UTF-8 byte order mark: Excel reads non-ASCII text right only with it
    /// (other tools may show it as a stray character).
    pub bom: bool,
}

/// The UTF-8 byte order mark, for `CsvOptions::bom`.
pub(super) const BOM: &[u8] = "\u{feff}".as_bytes();

/// Encoded rows are handed to the output in blocks of about this size.
pub(super) const ROW_BLOCK: usize = 64 * 1024;

/// Every column seen so far, each with a stable id in order of first sight.
#[derive(Debug, Default)]
pub(super) struct Columns {
    names: Vec<String>,
    top_level: FxHashMap<Box<str>, u32>,
    audit_data: FxHashMap<Box<str>, u32>,
    custom_index: FxHashMap<Box<str>, usize>,
    custom: Vec<CustomColumns>,
    leftovers: Option<u32>,
    /// A column before all others (the timeline's `Mailbox`), always id 0 when present.
    leading: Option<String>,
    /// Counts records, so repeated custom names are numbered per record without a per-record set.
    record: u64,
    shape: RecordShape,
}

/// The columns of one custom property name: one per occurrence within a record.
#[derive(Debug, Default)]
struct CustomColumns {
    ids: Vec<u32>,
    last_record: u64,
    occurrences: u32,
}

impl Columns {
    /// The columns of a CSV of `shape` records: `leading` first, then the shape's fixed ones.
    pub(super) fn with_shape(leading: Option<&str>, shape: RecordShape) -> Self {
        let mut columns = Columns {
            shape,
            ..Columns::default()
        };
        if let Some(leading) = leading {
            columns.add(leading.to_string());
            columns.leading = Some(leading.to_string());
        }
        for name in shape.fixed_columns() {
            columns.top_level_id(name);
        }
        columns
    }

    /// How many columns have been seen.
    pub(super) fn len(&self) -> usize {
        self.names.len()
    }

    pub(super) fn name(&self, id: usize) -> &str {
        &self.names[id]
    }

    fn add(&mut self, name: String) -> u32 {
        self.names.push(name);
        (self.names.len() - 1) as u32
    }

    fn top_level_id(&mut self, key: &str) -> u32 {
        if let Some(&id) = self.top_level.get(key) {
            return id;
        }
        let id = self.add(top_level_column(key).into_owned());
        self.top_level.insert(key.into(), id);
        id
    }

    fn custom_id(&mut self, name: &str) -> u32 {
        let index = match self.custom_index.get(name) {
            Some(&index) => index,
            None => {
                self.custom.push(CustomColumns::default());
                self.custom_index.insert(name.into(), self.custom.len() - 1);
                self.custom.len() - 1
            }
        };
        let columns = &mut self.custom[index];
        if columns.last_record != self.record {
            columns.last_record = self.record;
            columns.occurrences = 0;
        }
        columns.occurrences += 1;
        let occurrence = columns.occurrences;
        if let Some(&id) = columns.ids.get(occurrence as usize - 1) {
            return id;
        }
        let id = self.add(custom_column(name, occurrence));
        self.custom[index].ids.push(id);
        id
    }

    fn audit_data_id(&mut self, key: &str) -> u32 {
        if let Some(&id) = self.audit_data.get(key) {
            return id;
        }
        let id = self.add(format!("{AUDIT_DATA_PREFIX}{key}"));
        self.audit_data.insert(key.into(), id);
        id
    }

    fn leftovers_id(&mut self) -> u32 {
        match self.leftovers {
            Some(id) => id,
            None => {
                let id = self.add(CUSTOM.to_string());
                self.leftovers = Some(id);
                id
            }
        }
    }

    /// Column ids in header order (see `header_rank`).
    fn header_order(&self) -> Vec<u32> {
        let has_leading = self.leading.is_some();
        let rank = |id: u32| {
            self.shape
                .header_rank(&self.names[id as usize], has_leading && id == 0)
        };
        let mut ids: Vec<u32> = (0..self.names.len() as u32).collect();
        ids.sort_by(|a, b| rank(*a).cmp(&rank(*b)));
        ids
    }

    /// A sink for the cells of the next record, into `frame` (cleared first).
    fn next_record<'a>(&'a mut self, frame: &'a mut Vec<u8>) -> FrameSink<'a> {
        frame.clear();
        self.record += 1;
        FrameSink {
            columns: self,
            frame,
        }
    }

    /// Flattens one record into `frame` (cleared first), the leading column's value first.
    pub(super) fn flatten_into(
        &mut self,
        leading: Option<&str>,
        raw: &str,
        frame: &mut Vec<u8>,
    ) -> io::Result<()> {
        let mut sink = self.next_record(frame);
        if let (Some(value), Some(_)) = (leading, &sink.columns.leading) {
            sink.cell(0, value);
        }
        flatten_record(raw, &mut sink)
            .map_err(|e| invalid(format!("a record is not a JSON object: {e}")))
    }
}

/// Writes each cell of a record as (column id, length, text) into a frame buffer; the numbers
/// as LEB128 varints (one byte each, mostly: the spool is written and read once more).
struct FrameSink<'a> {
    columns: &'a mut Columns,
    frame: &'a mut Vec<u8>,
}

impl FrameSink<'_> {
    fn cell(&mut self, id: u32, text: &str) {
        put_varint(self.frame, id);
        put_varint(self.frame, text.len() as u32);
        self.frame.extend_from_slice(text.as_bytes());
    }
}

impl CellSink for FrameSink<'_> {
    fn top_level(&mut self, key: &str, text: &str) {
        let id = self.columns.top_level_id(key);
        self.cell(id, text);
    }
    fn custom(&mut self, name: &str, text: &str) {
        let id = self.columns.custom_id(name);
        self.cell(id, text);
    }
    fn leftovers(&mut self, json: &str) {
        let id = self.columns.leftovers_id();
        self.cell(id, json);
    }
    fn audit_data(&mut self, key: &str, text: &str) {
        let id = self.columns.audit_data_id(key);
        self.cell(id, text);
    }
}

/// Cells of this many bytes stay in memory before the spool moves to its file: a mailbox of a
/// few thousand activities (a batch's usual) then never touches the disk for its cells, and a
/// large one still runs in constant memory.
const SPOOL_IN_MEMORY: usize = 2 * 1024 * 1024;

/// Where the cell frames wait for the header: memory first, the spool file past the limit.
enum CellSpool {
    Memory(Vec<u8>),
    File(BufWriter<File>),
}

impl CellSpool {
    /// Appends one frame with its length, moving the spool to `path` once memory is full.
    fn append(&mut self, path: &Path, frame: &[u8], in_memory: usize) -> io::Result<()> {
        let length = (frame.len() as u32).to_le_bytes();
        match self {
            CellSpool::Memory(cells) if cells.len() + frame.len() < in_memory => {
                cells.extend_from_slice(&length);
                cells.extend_from_slice(frame);
                Ok(())
            }
            CellSpool::Memory(cells) => {
                // The builder created the file, new and private: write into it.
                let file = std::fs::OpenOptions::new().write(true).open(path)?;
                let mut file = BufWriter::with_capacity(256 * 1024, file);
                file.write_all(cells)?;
                file.write_all(&length)?;
                file.write_all(frame)?;
                *self = CellSpool::File(file);
                Ok(())
            }
            CellSpool::File(file) => {
                file.write_all(&length)?;
                file.write_all(frame)
            }
        }
    }
}

/// A CSV builder's columns, shared with whoever parses records for it: a record flattened as
/// its page is read carries its frame (cells by column id) and is not parsed a second time.
#[derive(Debug, Clone)]
pub struct SharedColumns {
    /// Unique in the process (an address could be reused once a builder is gone).
    id: usize,
    columns: Arc<Mutex<Columns>>,
}

impl SharedColumns {
    fn new(columns: Columns) -> Self {
        static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
        SharedColumns {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            columns: Arc::new(Mutex::new(columns)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Columns> {
        // A panic while the lock was held left at worst a column named but not yet used.
        self.columns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FrameMaker for SharedColumns {
    /// Identifies these columns: a frame is only ever used with the columns that made it.
    fn id(&self) -> usize {
        self.id
    }

    /// The record's cells by column id (see `flatten_from`).
    fn frame_from<'de>(
        &self,
        record: &mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
        frame: &mut Vec<u8>,
        strings: &mut dyn FnMut(&str, &std::borrow::Cow<'de, str>),
    ) -> serde_json::Result<()> {
        let mut strings = strings;
        flatten_from(record, &mut self.lock().next_record(frame), &mut strings)
    }
}

/// Builds a CSV from records added one by one.
pub struct CsvBuilder {
    columns: SharedColumns,
    spool_path: PathBuf,
    spool: Option<CellSpool>,
    /// How many bytes of cells may stay in memory.
    in_memory: usize,
    /// The columns some spooled record has (and the standard ones): only these are written. A
    /// page parsed for frames names the columns of every record on it, including records the
    /// pager then drops (already written) and pages that are retried.
    used: Vec<bool>,
    frame: Vec<u8>,
}

impl CsvBuilder {
    /// Spools cells in memory, then to `spool_path` (removed when the builder is dropped).
    pub fn create(spool_path: PathBuf) -> io::Result<Self> {
        Self::create_for(spool_path, None, RecordShape::ACTIVITIES)
    }

    /// As `create`, with a first column (filled by `add_with_leading`).
    pub fn create_with_leading(spool_path: PathBuf, leading: Option<&str>) -> io::Result<Self> {
        Self::create_for(spool_path, leading, RecordShape::ACTIVITIES)
    }

    /// As `create`, for records of `shape`, with a first column if `leading` names one.
    pub fn create_for(
        spool_path: PathBuf,
        leading: Option<&str>,
        shape: RecordShape,
    ) -> io::Result<Self> {
        // Created now, though it may stay empty, so a path that cannot be written fails early.
        super::create_private(&spool_path)?;
        let columns = Columns::with_shape(leading, shape);
        Ok(CsvBuilder {
            used: vec![true; columns.len()],
            columns: SharedColumns::new(columns),
            spool_path,
            spool: Some(CellSpool::Memory(Vec::new())),
            in_memory: SPOOL_IN_MEMORY,
            frame: Vec::with_capacity(4096),
        })
    }

    /// Where the cells go once they outgrow memory.
    pub fn spool_path(&self) -> &Path {
        &self.spool_path
    }

    /// Flattens one record into the spool.
    pub fn add(&mut self, raw: &str) -> io::Result<()> {
        self.add_with_leading(None, raw)
    }

    /// The columns, to flatten records with as their pages are read (`PageReading`).
    pub fn shared_columns(&self) -> SharedColumns {
        self.columns.clone()
    }

    /// Pages read this way carry, for each record, its cells for this CSV: the record is
    /// parsed once, for its keys and its cells together.
    pub fn page_reading(&self) -> crate::record::PageReading {
        crate::record::PageReading::KeysAndFrames(Arc::new(self.shared_columns()))
    }

    /// Adds a record: its frame if it was flattened with these columns as its page was read,
    /// else its text, parsed now.
    pub fn add_activity(&mut self, record: &Activity) -> io::Result<()> {
        self.add_text_or_frame(record.raw_json(), record.frame())
    }

    /// Adds a record: `frame` if it was made with these columns (the id says), else `raw`,
    /// parsed now.
    pub fn add_text_or_frame(
        &mut self,
        raw: &str,
        frame: Option<(usize, &[u8])>,
    ) -> io::Result<()> {
        match frame {
            Some((columns, frame)) if columns == self.columns.id() => {
                self.frame.clear();
                self.frame.extend_from_slice(frame);
            }
            _ => self
                .columns
                .lock()
                .flatten_into(None, raw, &mut self.frame)?,
        }
        self.spool_frame()
    }

    /// Flattens one record, with the value of the leading column.
    pub fn add_with_leading(&mut self, leading: Option<&str>, raw: &str) -> io::Result<()> {
        self.columns
            .lock()
            .flatten_into(leading, raw, &mut self.frame)?;
        self.spool_frame()
    }

    fn spool_frame(&mut self) -> io::Result<()> {
        for cell in frame_cells(&self.frame) {
            let (id, _) = cell?;
            if id >= self.used.len() {
                self.used.resize(id + 1, false);
            }
            self.used[id] = true;
        }
        self.spool
            .as_mut()
            .ok_or_else(|| invalid("the CSV spool is closed".into()))?
            .append(&self.spool_path, &self.frame, self.in_memory)
    }

    pub fn header(&self) -> Vec<String> {
        let columns = self.columns.lock();
        self.header_ids(&columns)
            .into_iter()
            .map(|id| columns.names[id as usize].clone())
            .collect()
    }

    /// The ids of the columns written, in header order.
    fn header_ids(&self, columns: &Columns) -> Vec<u32> {
        let used = |id: &u32| self.used.get(*id as usize) == Some(&true);
        columns.header_order().into_iter().filter(used).collect()
    }

    /// Writes the CSV (header and one row per record). Returns the number of rows.
    pub fn write_csv(mut self, mut out: impl Write, options: CsvOptions) -> io::Result<u64> {
        let mut reader: Box<dyn Read> = match self.spool.take() {
            Some(CellSpool::Memory(cells)) => Box::new(io::Cursor::new(cells)),
            Some(CellSpool::File(file)) => {
                file.into_inner().map_err(|e| e.into_error())?;
                Box::new(BufReader::with_capacity(
                    256 * 1024,
                    File::open(&self.spool_path)?,
                ))
            }
            None => return Err(invalid("the CSV spool is closed".into())),
        };
        let columns = self.columns.lock();
        let order = self.header_ids(&columns);
        // A column not written has no position: a frame naming it is refused as corrupt.
        let mut position = vec![usize::MAX; columns.len()];
        for (pos, id) in order.iter().enumerate() {
            position[*id as usize] = pos;
        }
        let mut rows_out = RowEncoder::default();
        if options.bom {
            out.write_all(BOM)?;
        }
        // Header cells are record keys, as hostile as values: neutralised the same way.
        rows_out.row(
            order
                .iter()
                .map(|id| columns.names[*id as usize].as_bytes()),
            options.sanitize,
        );
        let mut frame = Vec::new();
        let mut cells: Vec<(usize, usize)> = vec![(0, 0); order.len()];
        let mut rows = 0u64;
        let mut length = [0u8; 4];
        loop {
            match reader.read_exact(&mut length) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            frame.resize(u32::from_le_bytes(length) as usize, 0);
            reader.read_exact(&mut frame)?;
            rows_out.frame_row(&frame, &position, &mut cells, options.sanitize)?;
            rows += 1;
            if rows_out.buffer.len() >= ROW_BLOCK {
                out.write_all(&rows_out.buffer)?;
                rows_out.buffer.clear();
            }
        }
        out.write_all(&rows_out.buffer)?;
        out.flush()?;
        Ok(rows)
    }
}

impl CsvBuilder {
    /// Writes the CSV to `path` (created or replaced) and returns its SHA-256 and size.
    pub fn write_csv_file(
        self,
        path: &std::path::Path,
        options: CsvOptions,
    ) -> Result<(String, u64), super::OutputError> {
        use super::OutputError;
        // Rows are encoded here while another thread hashes and writes them.
        let mut file = super::BackgroundFile::create(path)
            .map_err(|e| OutputError::io("cannot create", path, e))?;
        self.write_csv(&mut file, options)
            .map_err(|e| OutputError::io("cannot write", path, e))?;
        file.finish()
            .map_err(|e| OutputError::io("cannot write", path, e))
    }
}

impl Drop for CsvBuilder {
    fn drop(&mut self) {
        self.spool.take();
        let _ = std::fs::remove_file(&self.spool_path);
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(lines: &[&str], sanitize: bool) -> String {
        convert_spooling_after(lines, sanitize, SPOOL_IN_MEMORY)
    }

    fn convert_spooling_after(lines: &[&str], sanitize: bool, in_memory: usize) -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = CsvBuilder::create(dir.path().join("spool")).unwrap();
        builder.in_memory = in_memory;
        for line in lines {
            builder.add(line).unwrap();
        }
        let mut out = Vec::new();
        builder
            .write_csv(
                &mut out,
                CsvOptions {
                    sanitize,
                    ..Default::default()
                },
            )
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    proptest::proptest! {
        #[test]
        fn rows_are_encoded_as_the_csv_crate_encodes_them(
            fields in proptest::collection::vec("[a-c,\"\r\n\t =+é☃-]{0,8}", 2..8)
        ) {
            let mut encoder = RowEncoder::default();
            encoder.row(fields.iter().map(|f| f.as_bytes()), false);
            let mut writer = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::new());
            writer.write_record(&fields).unwrap();
            proptest::prop_assert_eq!(encoder.buffer, writer.into_inner().unwrap());
        }
    }

    #[test]
    fn a_truncated_frame_is_an_error_not_a_panic() {
        let mut frame = Vec::new();
        put_varint(&mut frame, 300);
        put_varint(&mut frame, 5);
        frame.extend_from_slice(b"abc");
        assert!(frame_cells(&frame).any(|cell| cell.is_err()));
        assert!(frame_cells(&frame[..1]).any(|cell| cell.is_err()));
    }

    const HOSTILE_PAGE: &str = r#"{"value":[
        {"Id":"a","TimeStamp":"2018-07-02T12:14:13Z","Zed":{"n":[1,2.5e3,null]},"B":true,
         "CustomProperties":[{"Name":"S","Value":"=1+2, \"q\"\r\n\u00e9"},{"Name":"S","Value":null},{"Odd":1},{"Name":"N","Value":7}]},
        {"Id":"b","TimeStamp":null,"CustomProperties.S":"pose","\\x":"y","CustomProperties":{"not":"an array"}},
        {"Id":"c","CustomProperties":[{"Name":"T\u0041b","Value":"\t-lead"}],"Id":"ignored"}
    ]}"#;

    fn write(builder: CsvBuilder) -> String {
        let mut out = Vec::new();
        builder
            .write_csv(
                &mut out,
                CsvOptions {
                    sanitize: true,
                    ..Default::default()
                },
            )
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn records_flattened_as_their_page_is_read_give_the_csv_their_text_gives() {
        use crate::record::parse_page_for;
        let dir = tempfile::tempdir().unwrap();
        let mut from_text = CsvBuilder::create(dir.path().join("text")).unwrap();
        let mut from_frames = CsvBuilder::create(dir.path().join("frames")).unwrap();
        let reading = from_frames.page_reading();
        let records = parse_page_for(HOSTILE_PAGE.as_bytes().to_vec(), &reading).unwrap();
        for record in &records {
            assert_eq!(
                record.frame().map(|(columns, _)| columns),
                Some(from_frames.shared_columns().id())
            );
            from_text.add(record.raw_json()).unwrap();
            from_frames.add_activity(record).unwrap();
        }
        let expected = write(from_text);
        assert_eq!(expected.lines().count(), 4 + 1, "a cell holds a line break");
        assert_eq!(write(from_frames), expected);

        // Frames made with another builder's columns are not trusted: the text is parsed.
        let mut other = CsvBuilder::create(dir.path().join("other")).unwrap();
        assert_ne!(
            records[0].frame().map(|(columns, _)| columns),
            Some(other.shared_columns().id())
        );
        for record in records.iter().rev() {
            other.add_activity(record).unwrap();
        }
        let reversed = write(other);
        let mut reversed_rows: Vec<&str> = reversed.split("\r\n").collect();
        let mut expected_rows: Vec<&str> = expected.split("\r\n").collect();
        assert_eq!(reversed_rows[0], expected_rows[0], "same header");
        reversed_rows.sort();
        expected_rows.sort();
        assert_eq!(reversed_rows, expected_rows);
    }

    #[test]
    fn columns_named_only_by_records_never_added_are_not_written() {
        use crate::record::parse_page_for;
        let dir = tempfile::tempdir().unwrap();
        let mut csv = CsvBuilder::create(dir.path().join("cells")).unwrap();
        let reading = csv.page_reading();
        // As a pager dropping the second record (already written, or on a page retried).
        let page = r#"{"value":[{"Id":"a","Kept":"1"},{"Id":"b","Dropped":"2","CustomProperties":[{"Name":"Gone","Value":"3"}]}]}"#;
        let records = parse_page_for(page.as_bytes().to_vec(), &reading).unwrap();
        csv.add_activity(&records[0]).unwrap();
        assert_eq!(
            csv.header(),
            [crate::output::STANDARD_COLUMNS.as_slice(), &["Id", "Kept"]].concat()
        );
        let text = write(csv);
        assert_eq!(
            text.split("\r\n").next().unwrap(),
            "TimeStamp,ActivityIdType,AppIdType,ActivityItemId,ActivityCreationTime,ClientSessionId,Id,Kept"
        );
        assert_eq!(text.split("\r\n").nth(1).unwrap(), ",,,,,,a,1");
    }

    #[test]
    fn cells_moved_to_the_spool_file_part_way_give_the_same_csv() {
        let lines: Vec<String> = (0..50)
            .map(|i| format!(r#"{{"TimeStamp":"t{i}","Id":"{i}","CustomProperties":[{{"Name":"N{}","Value":"v,{i}"}}]}}"#, i % 7))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let in_memory = convert_spooling_after(&lines, true, SPOOL_IN_MEMORY);
        assert_eq!(in_memory.lines().count(), 51);
        for limit in [0, 1, 200, 1000] {
            assert_eq!(
                convert_spooling_after(&lines, true, limit),
                in_memory,
                "limit {limit}"
            );
        }
    }

    #[test]
    fn the_spool_file_holds_the_cells_only_past_the_memory_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let line = r#"{"TimeStamp":"t","Id":"a"}"#;
        let mut builder = CsvBuilder::create(path.clone()).unwrap();
        builder.in_memory = 100;
        builder.add(line).unwrap();
        assert!(matches!(builder.spool, Some(CellSpool::Memory(_))));
        for _ in 0..10 {
            builder.add(line).unwrap();
        }
        assert!(matches!(builder.spool, Some(CellSpool::File(_))));
        drop(builder);
        assert!(!path.exists(), "the spool file outlived its builder");
    }

    #[test]
    fn neutralizes_formulas_only_when_asked() {
        let line = r#"{"TimeStamp":"t","CustomProperties":[{"Name":"Subject","Value":"=HYPERLINK(\"x\")"}]}"#;
        assert!(convert(&[line], true).contains(r#"'=HYPERLINK(""x"")"#));
        assert!(convert(&[line], false).contains(r#","=HYPERLINK(""x"")""#));
    }

    #[test]
    fn rows_round_trip_through_a_csv_reader() {
        let line = r#"{"TimeStamp":"t","Id":"a","CustomProperties":[{"Name":"S","Value":"a,b \"c\"\r\n\td ☃ مرحبا 日本"}]}"#;
        let text = convert(&[line], false);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let row = reader.records().next().unwrap().unwrap();
        let s = headers
            .iter()
            .position(|h| h == "CustomProperties.S")
            .unwrap();
        assert_eq!(&row[s], "a,b \"c\"\r\n\td ☃ مرحبا 日本");
    }

    #[test]
    fn header_order_is_fixed_whatever_order_columns_appear_in() {
        let text = convert(
            &[
                r#"{"Zed":1,"Id":"a","CustomProperties":[{"Name":"B","Value":"1"},{"Name":"A","Value":"2"},{"Name":"A","Value":"3"}]}"#,
                r#"{"TenantId":"t","CustomProperties":[7]}"#,
            ],
            true,
        );
        let mut lines = text.split("\r\n");
        assert_eq!(
            lines.next().unwrap(),
            "TimeStamp,ActivityIdType,AppIdType,ActivityItemId,ActivityCreationTime,ClientSessionId,Id,TenantId,Zed,\
             CustomProperties,CustomProperties.A,CustomProperties.A#2,CustomProperties.B"
        );
        assert_eq!(lines.next().unwrap(), ",,,,,,a,,1,,2,3,1");
        assert_eq!(lines.next().unwrap(), ",,,,,,,t,,[7],,,");
    }
}
