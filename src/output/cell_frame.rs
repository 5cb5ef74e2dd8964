//! A record's cells as a frame: (column id, length, text) each, the numbers as LEB128 varints
//! (one byte each, mostly: the spool is written and read once more).

use std::io;
use std::ops::Range;

pub(super) fn put_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads the varint at `*at`, moving past it; `None` if the frame ends inside it.
fn take_varint(frame: &[u8], at: &mut usize) -> Option<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *frame.get(*at)?;
        *at += 1;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The cells of one frame as (column id, text range), in the order they were written.
pub(super) fn frame_cells(
    frame: &[u8],
) -> impl Iterator<Item = io::Result<(usize, Range<usize>)>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at == frame.len() {
            return None;
        }
        let cell = take_varint(frame, &mut at).and_then(|id| {
            let len = take_varint(frame, &mut at)? as usize;
            let text = at..at.checked_add(len).filter(|end| *end <= frame.len())?;
            at = text.end;
            Some((id as usize, text))
        });
        Some(cell.ok_or_else(|| invalid("a CSV frame is corrupt".into())))
    })
}

pub(super) fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn varints_read_back_as_written(values in proptest::collection::vec(proptest::num::u32::ANY, 0..8)) {
            let mut frame = Vec::new();
            values.iter().for_each(|v| put_varint(&mut frame, *v));
            let mut at = 0;
            let read: Vec<u32> = values.iter().map(|_| take_varint(&frame, &mut at).unwrap()).collect();
            proptest::prop_assert_eq!(read, values);
            proptest::prop_assert_eq!(at, frame.len());
        }
    }
}
