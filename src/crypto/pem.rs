//! Strict-but-forgiving PEM (RFC 7468) decoding.
//!
//! Accepts CRLF or LF line endings, surrounding whitespace, any line width and missing `=`
//! padding. Rejects text outside the blocks, RFC 1421 encapsulated headers (`Proc-Type: …`),
//! mismatched `END` labels and bodies that are not base64. Pure; depends on `base64` only.

use base64::Engine as _;

/// Upper bound on the PEM text accepted, far above any key or certificate chain.
const MAX_PEM_LEN: usize = 1024 * 1024;
/// Upper bound on a label (`PUBLIC KEY`, `ENCRYPTED SIGSTORE PRIVATE KEY`, …).
const MAX_LABEL_LEN: usize = 64;

/// One decoded PEM block.
#[derive(Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label between `-----BEGIN ` and `-----`, e.g. `PUBLIC KEY`.
    pub label: String,
    /// The decoded body.
    pub contents: Vec<u8>,
}

impl std::fmt::Debug for PemBlock {
    // The contents may be a private key: show only their size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemBlock")
            .field("label", &self.label)
            .field("contents_len", &self.contents.len())
            .finish()
    }
}

/// Why PEM text could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    /// The text is longer than any key or chain we accept.
    #[error("PEM text is too large ({len} bytes, limit {MAX_PEM_LEN})")]
    TooLarge {
        /// Length of the input in bytes.
        len: usize,
    },
    /// No `-----BEGIN …-----` line was found.
    #[error("no PEM block found")]
    NoBlock,
    /// Exactly one block was required.
    #[error("expected exactly one PEM block, found {count}")]
    MultipleBlocks {
        /// Number of blocks found.
        count: usize,
    },
    /// Something other than whitespace appears outside the blocks.
    #[error("unexpected text outside a PEM block on line {line}")]
    TextOutsideBlock {
        /// 1-based line number.
        line: usize,
    },
    /// A `BEGIN` line has an empty, overlong or non-printable label.
    #[error("invalid PEM label on line {line}")]
    InvalidLabel {
        /// 1-based line number.
        line: usize,
    },
    /// The `END` label differs from the `BEGIN` label, or another boundary line appears inside.
    #[error("PEM block {label:?} is not closed by a matching END line (line {line})")]
    MismatchedEnd {
        /// Label of the open block.
        label: String,
        /// 1-based line number of the offending line.
        line: usize,
    },
    /// The text ends inside a block.
    #[error("PEM block {label:?} has no END line")]
    MissingEnd {
        /// Label of the open block.
        label: String,
    },
    /// RFC 1421 headers (e.g. legacy encrypted OpenSSL keys) are not supported.
    #[error("PEM block {label:?} has encapsulated headers, which are not supported")]
    HeadersUnsupported {
        /// Label of the block.
        label: String,
    },
    /// The body is not valid base64.
    #[error("PEM block {label:?} body is not valid base64")]
    Base64DecodeFailed {
        /// Label of the block.
        label: String,
        /// The decoding error.
        #[source]
        source: base64::DecodeError,
    },
}

/// Decode text that must contain exactly one PEM block (surrounding whitespace allowed).
///
/// # Errors
/// [`PemError::MultipleBlocks`] when there is more than one block, and every error of
/// [`parse_pem_blocks`].
pub fn parse_pem_block(text: &str) -> Result<PemBlock, PemError> {
    let mut blocks = parse_pem_blocks(text)?;
    match blocks.len() {
        1 => blocks.pop().ok_or(PemError::NoBlock),
        count => Err(PemError::MultipleBlocks { count }),
    }
}

/// Decode one or more consecutive PEM blocks (e.g. a certificate chain), separated only by
/// whitespace.
///
/// # Errors
/// See [`PemError`]; an input without any block is [`PemError::NoBlock`].
pub fn parse_pem_blocks(text: &str) -> Result<Vec<PemBlock>, PemError> {
    if text.len() > MAX_PEM_LEN {
        return Err(PemError::TooLarge { len: text.len() });
    }
    let mut blocks = Vec::new();
    // (label, accumulated base64 body) of the block being read.
    let mut open: Option<(String, String)> = None;
    for (index, raw_line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw_line.trim();
        match open.take() {
            None => {
                if line.is_empty() {
                    continue;
                }
                let label = boundary_label(line, "-----BEGIN ")
                    .ok_or(PemError::TextOutsideBlock { line: line_no })?;
                if !valid_label(label) {
                    return Err(PemError::InvalidLabel { line: line_no });
                }
                open = Some((label.to_owned(), String::new()));
            }
            Some((label, mut body)) => {
                if line.starts_with("-----") {
                    if boundary_label(line, "-----END ") != Some(label.as_str()) {
                        return Err(PemError::MismatchedEnd {
                            label,
                            line: line_no,
                        });
                    }
                    blocks.push(decode_body(label, &body)?);
                } else if line.contains(':') {
                    return Err(PemError::HeadersUnsupported { label });
                } else {
                    body.extend(line.chars().filter(|c| !c.is_ascii_whitespace()));
                    open = Some((label, body));
                }
            }
        }
    }
    if let Some((label, _)) = open {
        return Err(PemError::MissingEnd { label });
    }
    if blocks.is_empty() {
        return Err(PemError::NoBlock);
    }
    Ok(blocks)
}

/// Encode `contents` as a PEM block with 64-character lines and a trailing newline.
#[must_use]
pub(crate) fn encode_pem(label: &str, contents: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(contents);
    let mut out = format!("-----BEGIN {label}-----\n");
    // base64 output is ASCII, so splitting its bytes yields valid UTF-8 chunks.
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// `Some(label)` when `line` is `<prefix>label-----`.
fn boundary_label<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.strip_prefix(prefix)?.strip_suffix("-----")
}

/// RFC 7468 `label`: printable ASCII without `-` at either end; bounded length.
fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && label.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !label.starts_with(['-', ' '])
        && !label.ends_with(['-', ' '])
}

fn decode_body(label: String, body: &str) -> Result<PemBlock, PemError> {
    match super::decode_base64_lenient(body) {
        Ok(contents) => Ok(PemBlock { label, contents }),
        Err(source) => Err(PemError::Base64DecodeFailed { label, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "-----BEGIN PUBLIC KEY-----\naGVsbG8=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn decodes_one_block_with_any_line_endings_and_whitespace() {
        for text in [
            ONE.to_owned(),
            ONE.replace('\n', "\r\n"),
            format!("\n\n  {ONE}\n\t\n"),
            ONE.replace("aGVsbG8=", "aGVs\nbG8"),
            ONE.replace("aGVsbG8=", "  aGVsbG8=  "),
        ] {
            let block = parse_pem_block(&text).unwrap();
            assert_eq!(block.label, "PUBLIC KEY");
            assert_eq!(block.contents, b"hello");
        }
    }

    #[test]
    fn decodes_a_chain_and_round_trips_encoding() {
        let long = vec![7u8; 200];
        let text = format!(
            "{}\n{}",
            encode_pem("CERTIFICATE", &long),
            encode_pem("CERTIFICATE", b"x")
        );
        assert!(text.lines().all(|l| l.len() <= 64));
        let blocks = parse_pem_blocks(&text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].contents, long);
        assert_eq!(blocks[1].contents, b"x");
        assert!(matches!(
            parse_pem_block(&text),
            Err(PemError::MultipleBlocks { count: 2 })
        ));
        assert!(!format!("{:?}", blocks[0]).contains("7, 7"));
    }

    #[test]
    fn rejects_malformed_pem() {
        type Check = fn(&PemError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            (String::new(), |e| matches!(e, PemError::NoBlock)),
            ("   \n\r\n".into(), |e| matches!(e, PemError::NoBlock)),
            ("aGVsbG8=".into(), |e| {
                matches!(e, PemError::TextOutsideBlock { line: 1 })
            }),
            (format!("junk\n{ONE}"), |e| {
                matches!(e, PemError::TextOutsideBlock { line: 1 })
            }),
            (format!("{ONE}trailing"), |e| {
                matches!(e, PemError::TextOutsideBlock { .. })
            }),
            ("-----BEGIN PUBLIC KEY-----\naGVsbG8=\n".into(), |e| {
                matches!(e, PemError::MissingEnd { .. })
            }),
            (ONE.replace("END PUBLIC", "END PRIVATE"), |e| {
                matches!(e, PemError::MismatchedEnd { line: 3, .. })
            }),
            (
                ONE.replace("aGVsbG8=", "aGVsbG8=\n-----BEGIN X-----"),
                |e| matches!(e, PemError::MismatchedEnd { .. }),
            ),
            (
                ONE.replace("aGVsbG8=", "Proc-Type: 4,ENCRYPTED\n\naGVsbG8="),
                |e| matches!(e, PemError::HeadersUnsupported { .. }),
            ),
            (ONE.replace("aGVsbG8=", "aGVs*bG8="), |e| {
                matches!(e, PemError::Base64DecodeFailed { .. })
            }),
            (ONE.replace("PUBLIC KEY", ""), |e| {
                matches!(e, PemError::InvalidLabel { line: 1 })
            }),
            (ONE.replace("PUBLIC KEY", &"A".repeat(65)), |e| {
                matches!(e, PemError::InvalidLabel { .. })
            }),
            ("x".repeat(MAX_PEM_LEN + 1), |e| {
                matches!(e, PemError::TooLarge { .. })
            }),
        ];
        for (text, expected) in cases {
            let err = parse_pem_blocks(&text).unwrap_err();
            assert!(
                expected(&err),
                "{:?} -> {err:?}",
                &text[..text.len().min(80)]
            );
            assert!(!err.to_string().is_empty());
        }
    }
}
