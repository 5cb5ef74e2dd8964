//! Bytes and text from the wire, for every client (the APIs' and the identity platform's):
//! bodies read with a cap, and a server's text made safe to show.

/// Why a body was not read whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the answer was cut off: {0}")]
    CutOff(String),
}

/// Reads a response body of at most `limit` bytes: a larger one is refused as soon as its
/// announced length or the bytes read pass the limit, so memory stays near the limit whatever
/// the server sends. Every answer the tool reads comes through here (the APIs' and the
/// identity platform's).
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(err) => return Err(BodyError::CutOff(error_chain(&err))),
        }
    }
}

/// A server's text made safe for a terminal: control characters (escape sequences that could
/// rewrite the screen or the title) shown as `\u{..}` escapes instead of acted upon.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A server's prose made readable on one line and safe for a terminal: line breaks and tabs
/// (the identity platform's descriptions go on with `\r\nTrace ID: ...`) become one space, other
/// control characters are shown as `\u{..}` escapes, as `printable` shows them.
pub fn readable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars() {
        if matches!(c, '\r' | '\n' | '\t') {
            gap = true;
            continue;
        }
        if std::mem::take(&mut gap) && !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// An error with its sources, for a one-line log.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
