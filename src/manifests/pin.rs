//! Pinning: format-preserving rewrites of image references to digests.
//!
//! Pure text-to-text functions; the caller reads and writes the files. They locate scalars with
//! `granit_parser` (which gives every node's exact source span) and splice new text into exactly those
//! spans, so comments, key order, indentation, line endings and other documents stay byte-identical.
//! The replacement keeps the scalar's quoting style (plain, `'single'`, `"double"`); a plain scalar whose
//! new value would not read back as the same string is written double-quoted instead. Block scalars
//! (`|`, `>`) are refused. Every result is parsed again and checked before it is returned.
//!
//! JSON is YAML, so [`pin_yaml`] also rewrites `.json` manifests (its double-quoted strings use only
//! JSON-compatible escapes).

use serde_saphyr::granit_parser::{self, Event, Parser, ScalarStyle};

use super::images::{ImageOverride, array_index, unescape_segment};

/// One scalar to rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinEdit {
    /// Index of the document in the stream (as in [`super::Location::document`]).
    pub document: usize,
    /// JSON pointer of the scalar in that document.
    pub pointer: String,
    /// The value the scalar must have now.
    pub old: String,
    /// The value to write.
    pub new: String,
}

/// Why a pin could not be applied. The input text is never half-rewritten: on error nothing is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// The text is not valid YAML.
    #[error("cannot parse the YAML to pin: {message}")]
    ParseFailed {
        /// The parser's message.
        message: String,
    },
    /// No scalar at that pointer (missing, an alias, a merged key, a collection).
    #[error("document {document}: no scalar at {pointer} to pin")]
    ScalarNotFound {
        /// Document index.
        document: usize,
        /// JSON pointer.
        pointer: String,
    },
    /// The scalar's current value is not the expected one (the file changed).
    #[error("document {document}: {pointer} is {found:?}, expected {expected:?}")]
    ValueMismatch {
        /// Document index.
        document: usize,
        /// JSON pointer.
        pointer: String,
        /// What the edit expected.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// The scalar is written in a style that cannot be rewritten in place (a block scalar, an empty value).
    #[error(
        "document {document}: {pointer} is a {style} scalar, which cannot be rewritten in place"
    )]
    UnsupportedStyle {
        /// Document index.
        document: usize,
        /// JSON pointer.
        pointer: String,
        /// The style.
        style: &'static str,
    },
    /// Two edits of one scalar disagree.
    #[error("document {document}: conflicting edits of {pointer}")]
    ConflictingEdits {
        /// Document index.
        document: usize,
        /// JSON pointer.
        pointer: String,
    },
    /// The replacement value is empty or contains line breaks or control characters.
    #[error("invalid value to write: {value:?}")]
    InvalidValue {
        /// The value.
        value: String,
    },
    /// The kustomization has no such `images:` entry.
    #[error("kustomization has no images entry {index}")]
    ImageEntryNotFound {
        /// Entry index.
        index: usize,
    },
    /// The `images:` list or the entry is written in a layout this rewrite does not handle.
    #[error("kustomization images entry {index}: {reason}; set its digest by hand")]
    UnsupportedLayout {
        /// Entry index.
        index: usize,
        /// What is in the way.
        reason: &'static str,
    },
    /// The rewritten text did not read back as intended (a bug guard; nothing is written).
    #[error("the pinned text does not verify: {message}")]
    VerifyFailed {
        /// What differed.
        message: String,
    },
}

/// Rewrites only the scalars named by the edits; everything else (comments, key order, quoting style,
/// indentation, other documents) stays byte-identical.
///
/// Identical duplicate edits are applied once.
///
/// # Errors
/// [`PinError::ScalarNotFound`] if a scalar isn't found, [`PinError::ValueMismatch`] if its current value
/// differs from `old`, and the other [`PinError`]s for unparsable text, block scalars, conflicting edits or
/// values with control characters.
pub fn pin_yaml(text: &str, edits: &[PinEdit]) -> Result<String, PinError> {
    let mut unique: Vec<&PinEdit> = Vec::new();
    for edit in edits {
        match unique
            .iter()
            .find(|u| u.document == edit.document && u.pointer == edit.pointer)
        {
            Some(u) if u.old != edit.old || u.new != edit.new => {
                return Err(PinError::ConflictingEdits {
                    document: edit.document,
                    pointer: edit.pointer.clone(),
                });
            }
            Some(_) => {}
            None => unique.push(edit),
        }
    }
    if unique.is_empty() {
        return Ok(text.to_owned());
    }
    for edit in &unique {
        check_value(&edit.new)?;
    }
    let wanted = |i: usize| unique.iter().any(|e| e.document == i);
    let (doc_count, docs) = parse_documents(text, wanted)?;
    let mut splices: Vec<(usize, usize, String)> = Vec::new();
    for edit in &unique {
        let not_found = || PinError::ScalarNotFound {
            document: edit.document,
            pointer: edit.pointer.clone(),
        };
        let root = docs
            .iter()
            .find(|(i, _)| *i == edit.document)
            .map(|(_, n)| n)
            .ok_or_else(not_found)?;
        let node = find(root, &edit.pointer).ok_or_else(not_found)?;
        let NodeKind::Scalar { value, style } = &node.kind else {
            return Err(not_found());
        };
        if *value != edit.old {
            return Err(PinError::ValueMismatch {
                document: edit.document,
                pointer: edit.pointer.clone(),
                expected: edit.old.clone(),
                found: value.clone(),
            });
        }
        let unsupported = |style| PinError::UnsupportedStyle {
            document: edit.document,
            pointer: edit.pointer.clone(),
            style,
        };
        if node.start >= node.end {
            return Err(unsupported("empty"));
        }
        let rendered = render_scalar(&edit.new, *style, node.in_flow)
            .ok_or_else(|| unsupported(style_name(*style)))?;
        splices.push((node.start, node.end, rendered));
    }
    let out = splice(text, splices)?;

    // Read it back: every edited scalar holds its new value, and the document count is unchanged.
    let (new_count, new_docs) =
        parse_documents(&out, wanted).map_err(|e| PinError::VerifyFailed {
            message: e.to_string(),
        })?;
    if new_count != doc_count {
        return Err(PinError::VerifyFailed {
            message: format!("{doc_count} documents became {new_count}"),
        });
    }
    for edit in &unique {
        let value = new_docs
            .iter()
            .find(|(i, _)| *i == edit.document)
            .and_then(|(_, root)| find(root, &edit.pointer))
            .and_then(|n| match &n.kind {
                NodeKind::Scalar { value, .. } => Some(value.as_str()),
                _ => None,
            });
        if value != Some(edit.new.as_str()) {
            return Err(PinError::VerifyFailed {
                message: format!(
                    "document {}: {} reads back as {value:?}",
                    edit.document, edit.pointer
                ),
            });
        }
    }
    Ok(out)
}

/// A value scalar of a YAML stream (mapping keys excluded) with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueScalar {
    pub document: usize,
    /// JSON pointer of the scalar in its document.
    pub pointer: String,
    pub value: String,
    /// Byte span of the scalar in the text.
    pub start: usize,
    pub end: usize,
}

/// Every value scalar of every document, in text order (what [`pin_yaml`] can rewrite:
/// give it the `document` and `pointer`).
///
/// # Errors
/// [`PinError::ParseFailed`] for text that is not YAML.
pub fn value_scalars(text: &str) -> Result<Vec<ValueScalar>, PinError> {
    fn walk(node: &Node, document: usize, pointer: &str, out: &mut Vec<ValueScalar>) {
        match &node.kind {
            NodeKind::Scalar { value, .. } => out.push(ValueScalar {
                document,
                pointer: pointer.to_owned(),
                value: value.clone(),
                start: node.start,
                end: node.end,
            }),
            NodeKind::Seq { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, document, &format!("{pointer}/{i}"), out);
                }
            }
            NodeKind::Map { entries, .. } => {
                for (k, v) in entries {
                    if let NodeKind::Scalar { value: key, .. } = &k.kind {
                        let token = key.replace('~', "~0").replace('/', "~1");
                        walk(v, document, &format!("{pointer}/{token}"), out);
                    }
                }
            }
            NodeKind::Alias => {}
        }
    }
    let (_, docs) = parse_documents(text, |_| true)?;
    let mut out = Vec::new();
    for (i, root) in &docs {
        walk(root, *i, "", &mut out);
    }
    out.sort_by_key(|s| s.start);
    Ok(out)
}

/// For a kustomization.yaml: sets `digest: <digest>` on `images:` entry `index` — replaces an existing
/// digest value (keeping its quoting), or inserts a `digest:` line after the entry's last line, indented
/// like the entry's keys (with the file's line ending). Flow-style lists and entries are refused.
///
/// # Errors
/// [`PinError::ImageEntryNotFound`] when there is no such entry, [`PinError::UnsupportedLayout`] for
/// flow-style `images:` lists or entries, and the other [`PinError`]s as for [`pin_yaml`].
pub fn pin_kustomization(text: &str, index: usize, digest: &str) -> Result<String, PinError> {
    check_value(digest)?;
    let (_, docs) = parse_documents(text, |i| i == 0)?;
    let not_found = || PinError::ImageEntryNotFound { index };
    let layout = |reason| PinError::UnsupportedLayout { index, reason };
    let root = docs.first().map(|(_, n)| n).ok_or_else(not_found)?;
    let images = map_get(root, "images").ok_or_else(not_found)?;
    let NodeKind::Seq { flow, items } = &images.kind else {
        return Err(not_found());
    };
    if *flow {
        return Err(layout("the images list is in flow style ([...])"));
    }
    let entry = items.get(index).ok_or_else(not_found)?;
    let NodeKind::Map { flow, entries } = &entry.kind else {
        return Err(layout("the entry is not a mapping"));
    };
    if *flow {
        return Err(layout("the entry is in flow style ({...})"));
    }
    let existing = entries.iter().rev().find(|(k, _)| scalar_is(k, "digest"));
    let out = match existing {
        Some((key, value)) => match &value.kind {
            NodeKind::Scalar { style, .. } if value.start < value.end => {
                let rendered = render_scalar(digest, *style, value.in_flow)
                    .ok_or_else(|| layout("its digest is a block scalar"))?;
                splice(text, vec![(value.start, value.end, rendered)])?
            }
            NodeKind::Scalar { .. } => {
                // `digest:` with no value: write it after the colon.
                let colon = colon_after(text, key.end)
                    .ok_or_else(|| layout("unexpected layout of its digest key"))?;
                let rendered = render_scalar(digest, ScalarStyle::Plain, false)
                    .ok_or_else(|| layout("unexpected layout of its digest key"))?;
                splice(text, vec![(colon + 1, colon + 1, format!(" {rendered}"))])?
            }
            _ => return Err(layout("its digest is not a scalar")),
        },
        None => {
            let indent = entries
                .first()
                .map(|(k, _)| k.col)
                .ok_or_else(|| layout("the entry is empty"))?;
            let last = last_content_end(entry);
            let rendered = render_scalar(digest, ScalarStyle::Plain, false)
                .ok_or_else(|| layout("unexpected digest"))?;
            let (at, eol, lead) = insertion_point(text, last);
            let line = format!("{lead}{}digest: {rendered}{eol}", " ".repeat(indent));
            splice(text, vec![(at, at, line)])?
        }
    };
    verify_kustomization(text, &out, index, digest)?;
    Ok(out)
}

/// Checks that `out` differs from `before` only in the digest of entry `index`.
fn verify_kustomization(
    before: &str,
    out: &str,
    index: usize,
    digest: &str,
) -> Result<(), PinError> {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Images {
        images: Vec<ImageOverride>,
    }
    let read = |text: &str| {
        serde_saphyr::from_str::<Images>(text).map_err(|e| PinError::VerifyFailed {
            message: e.to_string(),
        })
    };
    let mut expected = match read(before) {
        Ok(images) => images.images,
        // The rewrite is verified structurally below even when the original does not deserialize.
        Err(_) => Vec::new(),
    };
    let got = read(out)?.images;
    if expected.is_empty() {
        return match got.get(index) {
            Some(entry) if entry.digest.as_deref() == Some(digest) => Ok(()),
            _ => Err(PinError::VerifyFailed {
                message: format!("images entry {index} does not read back with the digest"),
            }),
        };
    }
    if let Some(entry) = expected.get_mut(index) {
        entry.digest = Some(digest.to_owned());
    }
    if got == expected {
        Ok(())
    } else {
        Err(PinError::VerifyFailed {
            message: format!("images entries read back differently: {got:?}"),
        })
    }
}

/// Where to insert a new line after content ending at `last`: (byte offset, line ending, text to put
/// before the line when the file does not end with a line break).
fn insertion_point(text: &str, last: usize) -> (usize, &'static str, &'static str) {
    let crlf = text.contains("\r\n");
    let eol = if crlf { "\r\n" } else { "\n" };
    let before = text.get(..last).unwrap_or_default();
    if before.ends_with('\n') {
        return (last, eol, "");
    }
    match text.get(last..).and_then(|rest| rest.find('\n')) {
        Some(i) => {
            let at = last + i + 1;
            let line_eol = if text.get(..last + i).is_some_and(|t| t.ends_with('\r')) {
                "\r\n"
            } else {
                "\n"
            };
            (at, line_eol, "")
        }
        None => (text.len(), eol, eol),
    }
}

/// The offset of the `:` after a mapping key ending at `key_end` (only blanks in between).
fn colon_after(text: &str, key_end: usize) -> Option<usize> {
    let rest = text.get(key_end..)?;
    let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    rest.get(skipped..)?
        .starts_with(':')
        .then_some(key_end + skipped)
}

/// Applies non-overlapping `(start, end, replacement)` splices.
fn splice(text: &str, mut splices: Vec<(usize, usize, String)>) -> Result<String, PinError> {
    splices.sort_by_key(|(start, _, _)| *start);
    let mut out = String::with_capacity(text.len() + 128);
    let mut at = 0usize;
    for (start, end, replacement) in splices {
        let piece = text.get(at..start).ok_or_else(|| PinError::VerifyFailed {
            message: "overlapping or misplaced edits".to_owned(),
        })?;
        out.push_str(piece);
        out.push_str(&replacement);
        at = end;
    }
    out.push_str(text.get(at..).ok_or_else(|| PinError::VerifyFailed {
        message: "edit past the end of the text".to_owned(),
    })?);
    Ok(out)
}

fn check_value(value: &str) -> Result<(), PinError> {
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(PinError::InvalidValue {
            value: value.to_owned(),
        });
    }
    Ok(())
}

fn style_name(style: ScalarStyle) -> &'static str {
    match style {
        ScalarStyle::Plain => "plain",
        ScalarStyle::SingleQuoted => "single-quoted",
        ScalarStyle::DoubleQuoted => "double-quoted",
        ScalarStyle::Literal => "literal block",
        ScalarStyle::Folded => "folded block",
    }
}

/// The source text for `value` in `style`; `None` for block styles.
fn render_scalar(value: &str, style: ScalarStyle, in_flow: bool) -> Option<String> {
    match style {
        ScalarStyle::Plain if plain_safe(value, in_flow) => Some(value.to_owned()),
        ScalarStyle::Plain | ScalarStyle::DoubleQuoted => Some(double_quoted(value)),
        ScalarStyle::SingleQuoted if !value.chars().any(char::is_control) => {
            Some(format!("'{}'", value.replace('\'', "''")))
        }
        ScalarStyle::SingleQuoted => Some(double_quoted(value)),
        ScalarStyle::Literal | ScalarStyle::Folded => None,
    }
}

/// `"…"` with JSON-compatible escapes (valid YAML and valid JSON).
fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `value` written as a plain scalar reads back as the same string (conservatively).
fn plain_safe(value: &str, in_flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    if value.trim() != value
        || value
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'))
        || "-?:,[]{}#&*!|>'\"%@`.~+".contains(first)
        || first.is_ascii_digit() && looks_numeric(value)
        || value.contains(": ")
        || value.contains(" #")
        || value.ends_with(':')
        || (in_flow && value.contains([',', '[', ']', '{', '}']))
    {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    !matches!(
        lower.as_str(),
        "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    )
}

/// Whether a plain scalar starting with a digit might resolve to a number (or a sexagesimal/date).
fn looks_numeric(value: &str) -> bool {
    value.chars().all(|c| {
        c.is_ascii_hexdigit() || matches!(c, '.' | '_' | ':' | '-' | '+' | 'x' | 'X' | 'o' | 'O')
    })
}

/// A parsed node with its source span.
#[derive(Debug)]
struct Node {
    /// Byte offsets of the node's text (for scalars: the value, quotes included; tags and anchors excluded).
    start: usize,
    end: usize,
    /// Column (in characters) of `start`.
    col: usize,
    /// Whether the node sits inside a flow collection.
    in_flow: bool,
    kind: NodeKind,
}

#[derive(Debug)]
enum NodeKind {
    Scalar {
        value: String,
        style: ScalarStyle,
    },
    Seq {
        flow: bool,
        items: Vec<Node>,
    },
    Map {
        flow: bool,
        entries: Vec<(Node, Node)>,
    },
    Alias,
}

/// A collection being built.
struct Open {
    start: usize,
    col: usize,
    in_flow: bool,
    flow: bool,
    kind: OpenKind,
}

enum OpenKind {
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>, Option<Node>),
}

/// Parses a stream and builds the node trees of the documents `wanted` selects.
/// Returns the number of documents and `(index, root)` of the wanted ones.
fn parse_documents(
    text: &str,
    wanted: impl Fn(usize) -> bool,
) -> Result<(usize, Vec<(usize, Node)>), PinError> {
    let mut options = granit_parser::Options::default();
    options.set_emit_comments(false);
    let mut parser = Parser::new_from_str_with_options(text, options);
    let mut count = 0usize;
    let mut capture: Option<usize> = None;
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    let mut out = Vec::new();
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| PinError::ParseFailed {
            message: e.to_string(),
        })?;
        let start = span.start.byte_offset().unwrap_or(0);
        let end = span.end.byte_offset().unwrap_or(start);
        match event {
            Event::DocumentStart(..) => {
                capture = wanted(count).then_some(count);
                count += 1;
                stack.clear();
                root = None;
            }
            Event::DocumentEnd => {
                if let (Some(index), Some(node)) = (capture.take(), root.take()) {
                    out.push((index, node));
                }
            }
            _ if capture.is_none() => {}
            Event::Scalar(value, style, _, _) => {
                let in_flow = stack.last().is_some_and(|o| o.in_flow);
                let node = Node {
                    start,
                    end,
                    col: span.start.col(),
                    in_flow,
                    kind: NodeKind::Scalar {
                        value: value.into_owned(),
                        style,
                    },
                };
                attach(&mut stack, &mut root, node);
            }
            Event::Alias(_) => {
                let in_flow = stack.last().is_some_and(|o| o.in_flow);
                let node = Node {
                    start,
                    end,
                    col: span.start.col(),
                    in_flow,
                    kind: NodeKind::Alias,
                };
                attach(&mut stack, &mut root, node);
            }
            Event::SequenceStart(style, ..) | Event::MappingStart(style, ..) => {
                let flow = style == granit_parser::StructureStyle::Flow;
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    OpenKind::Seq(Vec::new())
                } else {
                    OpenKind::Map(Vec::new(), None)
                };
                let in_flow = flow || stack.last().is_some_and(|o| o.in_flow);
                stack.push(Open {
                    start,
                    col: span.start.col(),
                    in_flow,
                    flow,
                    kind,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = stack.pop() else {
                    return Err(PinError::ParseFailed {
                        message: "unbalanced collection end".to_owned(),
                    });
                };
                let parent_in_flow = stack.last().is_some_and(|o| o.in_flow);
                let kind = match open.kind {
                    OpenKind::Seq(items) => NodeKind::Seq {
                        flow: open.flow,
                        items,
                    },
                    OpenKind::Map(entries, _) => NodeKind::Map {
                        flow: open.flow,
                        entries,
                    },
                };
                let node = Node {
                    start: open.start,
                    end: end.max(open.start),
                    col: open.col,
                    in_flow: parent_in_flow,
                    kind,
                };
                attach(&mut stack, &mut root, node);
            }
            _ => {}
        }
    }
    Ok((count, out))
}

fn attach(stack: &mut [Open], root: &mut Option<Node>, node: Node) {
    match stack.last_mut() {
        None => *root = Some(node),
        Some(open) => match &mut open.kind {
            OpenKind::Seq(items) => items.push(node),
            OpenKind::Map(entries, key) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        },
    }
}

fn scalar_is(node: &Node, text: &str) -> bool {
    matches!(&node.kind, NodeKind::Scalar { value, .. } if value == text)
}

/// The value of the last entry with key `key` (the one a loader keeps).
fn map_get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.kind {
        NodeKind::Map { entries, .. } => entries
            .iter()
            .rev()
            .find(|(k, _)| scalar_is(k, key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// The node at a JSON pointer.
fn find<'n>(root: &'n Node, pointer: &str) -> Option<&'n Node> {
    if pointer.is_empty() {
        return Some(root);
    }
    let mut node = root;
    for token in pointer.strip_prefix('/')?.split('/') {
        let key = unescape_segment(token)?;
        node = match &node.kind {
            NodeKind::Map { .. } => map_get(node, &key)?,
            NodeKind::Seq { items, .. } => items.get(array_index(&key)?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Where the last content of a node ends (block collections end where their last child does).
fn last_content_end(node: &Node) -> usize {
    let mut node = node;
    loop {
        match &node.kind {
            NodeKind::Seq { flow: false, items } => match items.last() {
                Some(last) => node = last,
                None => return node.start,
            },
            NodeKind::Map {
                flow: false,
                entries,
            } => match entries.last() {
                Some((key, value)) => {
                    if value.start < key.end {
                        return key.end;
                    }
                    node = value;
                }
                None => return node.start,
            },
            _ => return node.end,
        }
    }
}

/// A manifest file with every passing image pinned to its digest.
#[derive(Debug, Clone)]
pub struct PinnedFile {
    pub path: std::path::PathBuf,
    pub text: String,
    /// References rewritten in it.
    pub references: usize,
}

/// Why pinning failed (the file is named; nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum PinFilesError {
    #[error("reading {path}")]
    ReadFailed {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("pinning {path}")]
    PinFailed {
        path: std::path::PathBuf,
        #[source]
        source: PinError,
    },
}

/// The rewrites that pin every passing, tag-only image reference to its digest, per file
/// (pure: computed from a report by [`crate::decision::pin_plan`]; [`apply`] reads and rewrites).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinPlan {
    /// Scalar rewrites (`name[:tag]` → `name[:tag]@digest`) per manifest file.
    pub scalars: std::collections::BTreeMap<std::path::PathBuf, Vec<PinEdit>>,
    /// Kustomization `images:` entries (index) that get a `digest:`, per file.
    pub kustomizations: std::collections::BTreeMap<std::path::PathBuf, Vec<(usize, String)>>,
}

/// Reads the files of a [`PinPlan`] and returns their new texts (format-preserving;
/// kustomization `images:` entries get a `digest:`). Writes nothing.
///
/// # Errors
/// [`PinFilesError`] naming the file.
pub fn apply(plan: &PinPlan) -> Result<Vec<PinnedFile>, PinFilesError> {
    let read = |path: &std::path::PathBuf| {
        std::fs::read_to_string(path).map_err(|source| PinFilesError::ReadFailed {
            path: path.clone(),
            source,
        })
    };
    let mut out = Vec::new();
    for (path, edits) in &plan.scalars {
        let text = pin_yaml(&read(path)?, edits).map_err(|source| PinFilesError::PinFailed {
            path: path.clone(),
            source,
        })?;
        out.push(PinnedFile {
            path: path.clone(),
            text,
            references: edits.len(),
        });
    }
    for (path, edits) in &plan.kustomizations {
        let mut text = read(path)?;
        for (index, digest) in edits {
            text = pin_kustomization(&text, *index, digest).map_err(|source| {
                PinFilesError::PinFailed {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        out.push(PinnedFile {
            path: path.clone(),
            text,
            references: edits.len(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(document: usize, pointer: &str, old: &str, new: &str) -> PinEdit {
        PinEdit {
            document,
            pointer: pointer.into(),
            old: old.into(),
            new: new.into(),
        }
    }

    const D: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn pin_yaml_keeps_everything_but_the_scalars() {
        let text = "\
# leading comment
apiVersion: apps/v1   # trailing comment
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
        - image: 'ghcr.io/acme/web:1.2'   # single
          name: web
        - {image: envoy:1.30, name: proxy}
        - name: plain
          image: nginx:1.25
      initContainers:
        - image: \"busybox:1.36\"
---
# second document untouched
kind: Pod
spec: {containers: [{image: nginx:1.25}]}
---
apiVersion: v1
kind: Pod
spec:
  containers:
    - image: nginx:1.25
";
        let edits = vec![
            edit(
                0,
                "/spec/template/spec/containers/0/image",
                "ghcr.io/acme/web:1.2",
                &format!("ghcr.io/acme/web:1.2@{D}"),
            ),
            edit(
                0,
                "/spec/template/spec/containers/1/image",
                "envoy:1.30",
                &format!("envoy:1.30@{D}"),
            ),
            edit(
                0,
                "/spec/template/spec/containers/2/image",
                "nginx:1.25",
                &format!("nginx:1.25@{D}"),
            ),
            edit(
                0,
                "/spec/template/spec/initContainers/0/image",
                "busybox:1.36",
                &format!("busybox:1.36@{D}"),
            ),
            edit(
                2,
                "/spec/containers/0/image",
                "nginx:1.25",
                &format!("nginx:1.25@{D}"),
            ),
            // A repeated identical edit is harmless.
            edit(
                2,
                "/spec/containers/0/image",
                "nginx:1.25",
                &format!("nginx:1.25@{D}"),
            ),
        ];
        let out = pin_yaml(text, &edits).unwrap();
        let expected = text
            .replacen(
                "'ghcr.io/acme/web:1.2'",
                &format!("'ghcr.io/acme/web:1.2@{D}'"),
                1,
            )
            .replacen(
                "{image: envoy:1.30,",
                &format!("{{image: envoy:1.30@{D},"),
                1,
            )
            .replacen(
                "image: nginx:1.25\n      init",
                &format!("image: nginx:1.25@{D}\n      init"),
                1,
            )
            .replacen("\"busybox:1.36\"", &format!("\"busybox:1.36@{D}\""), 1)
            .replacen(
                "    - image: nginx:1.25\n",
                &format!("    - image: nginx:1.25@{D}\n"),
                1,
            );
        assert_eq!(out, expected);
        // The second document still has the old reference.
        assert!(out.contains("spec: {containers: [{image: nginx:1.25}]}"));
        // Pinning again with the old values fails: the file changed.
        assert_eq!(
            pin_yaml(&out, &edits[..1]).unwrap_err(),
            PinError::ValueMismatch {
                document: 0,
                pointer: "/spec/template/spec/containers/0/image".into(),
                expected: "ghcr.io/acme/web:1.2".into(),
                found: format!("ghcr.io/acme/web:1.2@{D}"),
            }
        );
    }

    #[test]
    fn pin_yaml_on_json_keeps_formatting() {
        let text = "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"List\",\n\t\"items\": [{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"app:1\"}]}}]\n}\n";
        let out = pin_yaml(
            text,
            &[edit(
                0,
                "/items/0/spec/containers/0/image",
                "app:1",
                &format!("app:1@{D}"),
            )],
        )
        .unwrap();
        assert_eq!(out, text.replace("\"app:1\"", &format!("\"app:1@{D}\"")));
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            value["items"][0]["spec"]["containers"][0]["image"],
            format!("app:1@{D}")
        );
    }

    #[test]
    fn pin_yaml_errors() {
        let text = "a:\n  b: |\n    block\n  c: &x x\n  d: *x\n  e: [1]\n  'k/~': v\n";
        assert_eq!(
            pin_yaml(text, &[edit(0, "/a/b", "block\n", "y")]).unwrap_err(),
            PinError::UnsupportedStyle {
                document: 0,
                pointer: "/a/b".into(),
                style: "literal block"
            }
        );
        assert_eq!(
            pin_yaml(text, &[edit(0, "/a/zz", "x", "y")]).unwrap_err(),
            PinError::ScalarNotFound {
                document: 0,
                pointer: "/a/zz".into()
            }
        );
        assert_eq!(
            pin_yaml(text, &[edit(1, "/a/c", "x", "y")]).unwrap_err(),
            PinError::ScalarNotFound {
                document: 1,
                pointer: "/a/c".into()
            }
        );
        assert_eq!(
            pin_yaml(text, &[edit(0, "/a/e", "x", "y")]).unwrap_err(),
            PinError::ScalarNotFound {
                document: 0,
                pointer: "/a/e".into()
            }
        );
        assert_eq!(
            pin_yaml(
                text,
                &[edit(0, "/a/c", "x", "y"), edit(0, "/a/c", "x", "z")]
            )
            .unwrap_err(),
            PinError::ConflictingEdits {
                document: 0,
                pointer: "/a/c".into()
            }
        );
        assert_eq!(
            pin_yaml(text, &[edit(0, "/a/c", "x", "y\nz: 1")]).unwrap_err(),
            PinError::InvalidValue {
                value: "y\nz: 1".into()
            }
        );
        assert!(matches!(
            pin_yaml("a: [1\n", &[edit(0, "/a", "x", "y")]).unwrap_err(),
            PinError::ParseFailed { .. }
        ));
        // Escaped pointer tokens; values that need quoting when plain.
        assert_eq!(
            pin_yaml(text, &[edit(0, "/a/k~1~0", "v", "w")]).unwrap(),
            text.replace("'k/~': v", "'k/~': w")
        );
        assert_eq!(
            pin_yaml(text, &[edit(0, "/a/c", "x", "yes")]).unwrap(),
            text.replace("c: &x x", "c: &x \"yes\"")
        );
        assert_eq!(
            pin_yaml("i: [a]\n", &[edit(0, "/i/0", "a", "a,b")]).unwrap(),
            "i: [\"a,b\"]\n"
        );
        assert_eq!(
            pin_yaml("i: 'it''s'\n", &[edit(0, "/i", "it's", "it's2")]).unwrap(),
            "i: 'it''s2'\n"
        );
        assert_eq!(pin_yaml(text, &[]).unwrap(), text);
    }

    #[test]
    fn pin_kustomization_inserts_after_the_entry() {
        let text = "\
resources:
  - deploy.yaml
images:
  - name: app   # the app
    newName: ghcr.io/acme/app
    newTag: \"1.0\"
  # between entries
  - name: other
    newTag: v2
";
        let out = pin_kustomization(text, 0, D).unwrap();
        assert_eq!(
            out,
            text.replace(
                "    newTag: \"1.0\"\n",
                &format!("    newTag: \"1.0\"\n    digest: {D}\n")
            )
        );
        let out = pin_kustomization(text, 1, D).unwrap();
        assert_eq!(out, format!("{text}    digest: {D}\n"));
        // No trailing newline, CRLF line endings, dash-line-only entry, and a nested value last.
        assert_eq!(
            pin_kustomization("images:\r\n- name: a\r\n  newTag: v1", 0, D).unwrap(),
            format!("images:\r\n- name: a\r\n  newTag: v1\r\n  digest: {D}\r\n")
        );
        assert_eq!(
            pin_kustomization("images:\n- name: a\nresources: []\n", 0, D).unwrap(),
            format!("images:\n- name: a\n  digest: {D}\nresources: []\n")
        );
        assert_eq!(
            pin_kustomization("images:\n  - name: a\n    x:\n      y: 1\n\n# end\n", 0, D).unwrap(),
            format!("images:\n  - name: a\n    x:\n      y: 1\n    digest: {D}\n\n# end\n")
        );
    }

    #[test]
    fn pin_kustomization_replaces_an_existing_digest() {
        let old = "sha256:00000000000000000000000000000000000000000000000000000000000000ff";
        let text =
            format!("images:\n  - name: app\n    digest: '{old}'  # pinned\n    newTag: v1\n");
        assert_eq!(
            pin_kustomization(&text, 0, D).unwrap(),
            text.replace(&format!("'{old}'"), &format!("'{D}'"))
        );
        let plain = format!("images:\n- name: app\n  digest: {old}\n");
        assert_eq!(
            pin_kustomization(&plain, 0, D).unwrap(),
            plain.replace(old, D)
        );
        let empty = "images:\n- name: app\n  digest: # todo\n  newTag: v1\n";
        assert_eq!(
            pin_kustomization(empty, 0, D).unwrap(),
            format!("images:\n- name: app\n  digest: {D} # todo\n  newTag: v1\n")
        );
    }

    #[test]
    fn pin_kustomization_errors() {
        assert_eq!(
            pin_kustomization("images:\n- name: a\n", 1, D).unwrap_err(),
            PinError::ImageEntryNotFound { index: 1 }
        );
        assert_eq!(
            pin_kustomization("resources: [a.yaml]\n", 0, D).unwrap_err(),
            PinError::ImageEntryNotFound { index: 0 }
        );
        assert_eq!(
            pin_kustomization("images:\n- {name: a, newTag: v1}\n", 0, D).unwrap_err(),
            PinError::UnsupportedLayout {
                index: 0,
                reason: "the entry is in flow style ({...})"
            }
        );
        assert_eq!(
            pin_kustomization("images: [{name: a}]\n", 0, D).unwrap_err(),
            PinError::UnsupportedLayout {
                index: 0,
                reason: "the images list is in flow style ([...])"
            }
        );
        assert_eq!(
            pin_kustomization("images:\n- name: a\n", 0, "sha256:x y\n").unwrap_err(),
            PinError::InvalidValue {
                value: "sha256:x y\n".into()
            }
        );
    }

    #[test]
    fn pin_never_panics_on_garbage() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % u64::try_from(n).unwrap()).unwrap()
        };
        let alphabet: Vec<char> = "ab:- \n\t[]{},&*!|>'\"#%@`?~.01\\\ré😀\u{0}\u{feff}"
            .chars()
            .collect();
        let samples = [
            "images:\n  - name: app\n    newTag: v1\n    digest: sha256:aa # x\n",
            "a:\n  - image: 'x'\n  - {image: \"x\"}\n---\nb: [x, {c: x}]\n",
        ];
        for round in 0..600 {
            let text: String = if round % 2 == 0 {
                (0..next(120))
                    .map(|_| alphabet[next(alphabet.len())])
                    .collect()
            } else {
                let sample = samples[next(samples.len())];
                let cut = next(sample.len() + 1);
                sample.get(..cut).unwrap_or(sample).to_owned()
            };
            for pointer in [
                "",
                "/a/0/image",
                "/a/1/image",
                "/b/0",
                "/b/1/c",
                "/images/0/digest",
            ] {
                let _ = pin_yaml(&text, &[edit(0, pointer, "x", "y@sha256:1")]);
                let _ = pin_yaml(&text, &[edit(1, pointer, "x", "y")]);
            }
            let _ = pin_kustomization(&text, 0, D);
            let _ = pin_kustomization(&text, 1, D);
        }
    }

    #[test]
    fn pins_what_the_loader_found() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  spec:\n    containers:\n    - image: a:1 # keep\n    - image: \"b:2\"\n";
        let snap =
            super::super::load_stream("-", text.as_bytes(), &super::super::LoadOptions::default());
        let edits: Vec<PinEdit> = snap
            .images
            .iter()
            .map(|i| {
                edit(
                    i.location.document,
                    &i.location.pointer,
                    &i.reference,
                    &format!("{}@{D}", i.reference),
                )
            })
            .collect();
        let out = pin_yaml(text, &edits).unwrap();
        assert_eq!(
            out,
            text.replace("a:1 #", &format!("a:1@{D} #"))
                .replace("\"b:2\"", &format!("\"b:2@{D}\""))
        );
        let again =
            super::super::load_stream("-", out.as_bytes(), &super::super::LoadOptions::default());
        let refs: Vec<&str> = again.images.iter().map(|i| i.reference.as_str()).collect();
        assert_eq!(refs, vec![format!("a:1@{D}"), format!("b:2@{D}")]);
    }
}
