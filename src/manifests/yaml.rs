//! Single-pass YAML stream → JSON values, straight from the granit parser's events (the
//! parser serde-saphyr is built on), with the limits the gate needs.
//!
//! One pass splits the stream into documents and builds each document's value: scalars
//! are resolved by the YAML 1.2 core schema (as Kubernetes' YAML reader does for the
//! fields we read), anchors and aliases are expanded under a node budget (a "billion
//! laughs" document fails in microseconds), merge keys (`<<`) are applied, duplicate keys
//! are an error (a second `image:` must not slip past the gate), nesting depth and event
//! counts are bounded. After a syntax error the parser resynchronizes at the next `---`.
//! Pure: no I/O.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{self, Event, Parser, ScalarStyle};

/// Limits for one stream.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_documents: usize,
    /// Nodes per document, aliases expanded.
    pub max_nodes: usize,
    pub max_depth: usize,
    /// Parser events per document.
    pub max_events: usize,
    pub max_aliases: usize,
    pub max_anchors: usize,
}

/// Which mapping keys are worth materializing. Subtrees under other keys are parsed (and
/// checked for syntax) but not built, except anchored nodes, which are built in full so
/// that an alias elsewhere still sees them. `None` builds everything.
#[derive(Debug, Clone, Default)]
pub struct Keep {
    /// Literal segments of extra image paths (few; compared linearly).
    extra: Vec<String>,
}

impl Keep {
    /// What image extraction reads, plus the literal segments of extra image paths; `None`
    /// (build everything) when an extra path has a wildcard that may match object keys.
    pub fn for_extraction(extra: &[super::ImagePath]) -> Option<Self> {
        let mut keys = Vec::new();
        for p in extra {
            for seg in p.pointer.split('/').skip(1) {
                if seg == "*" {
                    return None;
                }
                let seg = seg.replace("~1", "/").replace("~0", "~");
                if !Self::base(&seg) && !keys.contains(&seg) {
                    keys.push(seg);
                }
            }
        }
        Some(Self { extra: keys })
    }

    /// The keys image extraction reads (`images.rs`), and the merge key.
    fn base(k: &str) -> bool {
        matches!(
            k,
            "apiVersion"
                | "kind"
                | "metadata"
                | "name"
                | "namespace"
                | "items"
                | "spec"
                | "template"
                | "jobTemplate"
                | "containers"
                | "initContainers"
                | "ephemeralContainers"
                | "volumes"
                | "image"
                | "reference"
                | "<<"
        )
    }

    /// Whether the value under mapping key `k` is built.
    pub fn keeps(&self, k: &str) -> bool {
        Self::base(k) || self.extra.iter().any(|e| e == k)
    }
}

/// One document: its index, the line it starts on and its value or error.
#[derive(Debug)]
pub struct Document {
    pub index: usize,
    pub result: Result<Value, DocError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError {
    pub line: usize,
    pub message: String,
    /// A limit (alias expansion, size, nesting) was exceeded.
    pub limit: bool,
}

enum Frame {
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        /// The key just read is not kept: its value is skipped (no key string is built).
        skip_next: bool,
        anchor: usize,
        /// Merge sources (`<<`), applied at the end (explicit keys win).
        merges: Vec<Map<String, Value>>,
        /// Build every key (no pruning below).
        full: bool,
        /// Only built for its anchor: not attached to a parent.
        discard: bool,
    },
    Seq {
        items: Vec<Value>,
        anchor: usize,
        full: bool,
        discard: bool,
    },
    /// A pruned subtree being parsed but not built.
    Skip,
}

struct Builder<'l> {
    limits: &'l Limits,
    keep: Option<&'l Keep>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    events: usize,
    aliases: usize,
    root: Option<Value>,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits, keep: Option<&'l Keep>) -> Self {
        Self {
            limits,
            keep,
            stack: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            events: 0,
            aliases: 0,
            root: None,
        }
    }

    fn limit(&self, line: usize, what: String) -> DocError {
        DocError {
            line,
            message: format!(
                "YAML exceeds the parser limits (alias expansion, size or nesting; an alias bomb?): {what}"
            ),
            limit: true,
        }
    }

    fn count(&mut self, n: usize, line: usize) -> Result<(), DocError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            return Err(self.limit(line, format!("more than {} nodes", self.limits.max_nodes)));
        }
        Ok(())
    }

    fn remember(
        &mut self,
        anchor: usize,
        value: &Value,
        size: usize,
        line: usize,
    ) -> Result<(), DocError> {
        if anchor != 0 {
            if self.anchors.len() >= self.limits.max_anchors && !self.anchors.contains_key(&anchor)
            {
                return Err(self.limit(
                    line,
                    format!("more than {} anchors", self.limits.max_anchors),
                ));
            }
            self.anchors.insert(anchor, (value.clone(), size));
        }
        Ok(())
    }

    /// Adds a finished node to its parent (or as the root).
    fn push(&mut self, value: Value, line: usize) -> Result<(), DocError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(value);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(value);
                Ok(())
            }
            Some(Frame::Skip) => Ok(()),
            Some(Frame::Map {
                map, key, merges, ..
            }) => match key.take() {
                None => {
                    let k = match value {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_string(),
                        Value::Array(_) | Value::Object(_) => {
                            return Err(DocError {
                                line,
                                message: "complex mapping keys are not supported".into(),
                                limit: false,
                            });
                        }
                    };
                    *key = Some(k);
                    Ok(())
                }
                Some(k) if k == "<<" => {
                    match value {
                        Value::Object(m) => merges.push(m),
                        Value::Array(items) => {
                            for it in items {
                                match it {
                                    Value::Object(m) => merges.push(m),
                                    _ => {
                                        return Err(DocError {
                                            line,
                                            message: "merge key `<<` needs mappings".into(),
                                            limit: false,
                                        });
                                    }
                                }
                            }
                        }
                        _ => {
                            return Err(DocError {
                                line,
                                message: "merge key `<<` needs a mapping or a list of mappings"
                                    .into(),
                                limit: false,
                            });
                        }
                    }
                    Ok(())
                }
                Some(k) => {
                    if map.contains_key(&k) {
                        return Err(DocError {
                            line,
                            message: format!("duplicate mapping key: {k}"),
                            limit: false,
                        });
                    }
                    map.insert(k, value);
                    Ok(())
                }
            },
        }
    }

    /// Where the next node goes: built (with `full` for its children), built only for its
    /// anchor, or skipped. A pending mapping key whose value is not kept is consumed here.
    fn placement(&mut self, anchor: usize) -> Place {
        let keep = self.keep;
        match self.stack.last_mut() {
            None => Place::Build {
                full: keep.is_none(),
            },
            Some(Frame::Seq { full, discard, .. }) => {
                if *discard {
                    Place::Build { full: true }
                } else {
                    Place::Build { full: *full }
                }
            }
            Some(Frame::Skip) => {
                if anchor != 0 {
                    Place::Anchor
                } else {
                    Place::Skip
                }
            }
            Some(Frame::Map { skip_next, .. }) if *skip_next => {
                *skip_next = false;
                if anchor != 0 {
                    Place::Anchor
                } else {
                    Place::Skip
                }
            }
            Some(Frame::Map { key, full, .. }) => match key {
                None => Place::Build { full: true }, // a key
                Some(k) => {
                    let kept = *full || keep.is_none_or(|kp| kp.keeps(k));
                    if kept {
                        Place::Build { full: *full }
                    } else {
                        *key = None;
                        if anchor != 0 {
                            Place::Anchor
                        } else {
                            Place::Skip
                        }
                    }
                }
            },
        }
    }

    fn event(&mut self, event: Event<'_>, line: usize) -> Result<(), DocError> {
        self.events += 1;
        if self.events > self.limits.max_events {
            return Err(self.limit(line, format!("more than {} events", self.limits.max_events)));
        }
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                // A key whose value extraction never reads: remember to skip the value, build nothing.
                if anchor == 0
                    && tag.is_none()
                    && let Some(kp) = self.keep
                    && let Some(Frame::Map {
                        key: None,
                        skip_next,
                        full: false,
                        ..
                    }) = self.stack.last_mut()
                    && !*skip_next
                    && !kp.keeps(&text)
                {
                    *skip_next = true;
                    return Ok(());
                }
                let place = self.placement(anchor);
                if matches!(place, Place::Skip) {
                    return Ok(());
                }
                self.count(1, line)?;
                let value = resolve_scalar(&text, style, tag.as_deref());
                self.remember(anchor, &value, 1, line)?;
                match place {
                    Place::Build { .. } => self.push(value, line),
                    _ => Ok(()),
                }
            }
            Event::MappingStart(_, anchor, _) | Event::SequenceStart(_, anchor, _) => {
                if self.stack.len() >= self.limits.max_depth {
                    return Err(self.limit(
                        line,
                        format!("nesting deeper than {}", self.limits.max_depth),
                    ));
                }
                let (full, discard) = match self.placement(anchor) {
                    Place::Skip => {
                        self.stack.push(Frame::Skip);
                        return Ok(());
                    }
                    Place::Anchor => (true, true),
                    Place::Build { full } => (full, false),
                };
                self.count(1, line)?;
                let frame = if matches!(event, Event::MappingStart(..)) {
                    Frame::Map {
                        map: Map::new(),
                        key: None,
                        skip_next: false,
                        anchor,
                        merges: Vec::new(),
                        full,
                        discard,
                    }
                } else {
                    Frame::Seq {
                        items: Vec::new(),
                        anchor,
                        full,
                        discard,
                    }
                };
                self.stack.push(frame);
                Ok(())
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let (value, anchor, discard) = match frame {
                    Frame::Skip => return Ok(()),
                    Frame::Map {
                        mut map,
                        anchor,
                        merges,
                        discard,
                        ..
                    } => {
                        for m in merges {
                            for (k, v) in m {
                                if !map.contains_key(&k) {
                                    let size = node_count(&v);
                                    self.count(size, line)?;
                                    map.insert(k, v);
                                }
                            }
                        }
                        (Value::Object(map), anchor, discard)
                    }
                    Frame::Seq {
                        items,
                        anchor,
                        discard,
                        ..
                    } => (Value::Array(items), anchor, discard),
                };
                if anchor != 0 {
                    let size = node_count(&value);
                    self.remember(anchor, &value, size, line)?;
                }
                if discard {
                    Ok(())
                } else {
                    self.push(value, line)
                }
            }
            Event::Alias(id) => {
                if matches!(self.placement(0), Place::Skip) {
                    return Ok(());
                }
                self.aliases += 1;
                if self.aliases > self.limits.max_aliases {
                    return Err(self.limit(
                        line,
                        format!("more than {} aliases", self.limits.max_aliases),
                    ));
                }
                let Some((value, size)) = self.anchors.get(&id).map(|(v, s)| (v.clone(), *s))
                else {
                    return Err(DocError {
                        line,
                        message: "alias to an unknown anchor".into(),
                        limit: false,
                    });
                };
                self.count(size, line)?;
                self.push(value, line)
            }
            _ => Ok(()),
        }
    }
}

enum Place {
    Build {
        full: bool,
    },
    /// Built for its anchor only.
    Anchor,
    Skip,
}

fn node_count(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(node_count).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(node_count).sum::<usize>(),
        _ => 1,
    }
}

/// YAML 1.2 core schema resolution of a scalar.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&granit_parser::Tag>) -> Value {
    if let Some(t) = tag {
        if t.is_yaml_core_schema_tag("str") || t.is_yaml_core_schema_tag("binary") {
            return Value::String(text.to_string());
        }
        if t.is_yaml_core_schema_tag("null") {
            return Value::Null;
        }
        if t.is_yaml_core_schema_tag("bool")
            || t.is_yaml_core_schema_tag("int")
            || t.is_yaml_core_schema_tag("float")
        {
            return resolve_plain(text);
        }
        // other and local tags: the content decides
    }
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    resolve_plain(text)
}

fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = text.as_bytes().first().copied().unwrap_or(b' ');
    if first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.') {
        if let Some(n) = parse_int(text) {
            return Value::Number(n);
        }
        let looks_float = text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
            && text.bytes().any(|b| b.is_ascii_digit());
        if looks_float && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    // .inf / .nan and everything else stay strings
    Value::String(text.to_string())
}

fn parse_int(text: &str) -> Option<Number> {
    let (neg, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if body.is_empty()
        || !body.bytes().all(|b| b.is_ascii_hexdigit())
        || (radix == 10 && !body.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let v = i128::from_str_radix(body, radix).ok()?;
    let v = if neg { -v } else { v };
    if let Ok(i) = i64::try_from(v) {
        Some(Number::from(i))
    } else {
        u64::try_from(v).ok().map(Number::from)
    }
}

/// Parses a stream into at most `limits.max_documents` documents; the flag says whether
/// there were more.
pub fn parse_stream(text: &str, limits: &Limits, keep: Option<&Keep>) -> (Vec<Document>, bool) {
    let mut options = granit_parser::Options::default();
    options.set_emit_comments(false);
    let mut parser = Parser::new_from_str_with_options(text, options);
    let mut out = Vec::new();
    let mut next_index = 0usize;
    // the open document: (index, builder or the error it already hit)
    let mut current: Option<(usize, Result<Builder<'_>, DocError>)> = None;
    loop {
        match parser.next_event() {
            None => break,
            Some(Ok((event, span))) => {
                let line = span.start.line();
                match event {
                    Event::DocumentStart(..) => {
                        if next_index >= limits.max_documents {
                            return (out, true);
                        }
                        current = Some((next_index, Ok(Builder::new(limits, keep))));
                        next_index += 1;
                    }
                    Event::DocumentEnd => {
                        if let Some((index, b)) = current.take() {
                            let result = b.map(|b| b.root.unwrap_or(Value::Null));
                            out.push(Document { index, result });
                        }
                    }
                    Event::StreamEnd => break,
                    other => {
                        if let Some((_, state)) = current.as_mut()
                            && let Ok(b) = state
                            && let Err(e) = b.event(other, line)
                        {
                            *state = Err(e);
                        }
                    }
                }
            }
            Some(Err(e)) => {
                let index = match current.take() {
                    Some((i, _)) => i,
                    None => {
                        if next_index >= limits.max_documents {
                            return (out, true);
                        }
                        next_index += 1;
                        next_index - 1
                    }
                };
                let message: String = e
                    .info()
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                out.push(Document {
                    index,
                    result: Err(DocError {
                        line: e.marker().line(),
                        message,
                        limit: false,
                    }),
                });
                match parser.proceed_next_document() {
                    Ok(true) => {}
                    Ok(false) | Err(_) => break,
                }
            }
        }
    }
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const L: Limits = Limits {
        max_documents: 100,
        max_nodes: 10_000,
        max_depth: 64,
        max_events: 100_000,
        max_aliases: 1000,
        max_anchors: 1000,
    };

    fn docs(y: &str) -> Vec<Result<Value, DocError>> {
        parse_stream(y, &L, None)
            .0
            .into_iter()
            .map(|d| d.result)
            .collect()
    }

    #[test]
    fn builds_values_like_a_yaml_1_2_reader() {
        let d = docs(
            "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: '1'\ng: \"x\"\nh: 0x1F\ni: 1e3\nj: .inf\nk: 1.2.3\nl: !!str 7\nm: [1, two, {x: y}]\nn: |\n  block\n",
        );
        assert_eq!(
            d[0].as_ref().unwrap(),
            &json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": "1", "g": "x", "h": 31, "i": 1000.0,
                    "j": ".inf", "k": "1.2.3", "l": "7", "m": [1, "two", {"x": "y"}], "n": "block\n"})
        );
    }

    #[test]
    fn multi_document_streams_and_empty_documents() {
        let d = docs("---\na: 1\n---\n---\n- x\n...\n---\nplain\n");
        assert_eq!(d.len(), 4);
        assert_eq!(d[0].as_ref().unwrap(), &json!({"a": 1}));
        assert_eq!(d[1].as_ref().unwrap(), &Value::Null);
        assert_eq!(d[2].as_ref().unwrap(), &json!(["x"]));
        assert_eq!(d[3].as_ref().unwrap(), &json!("plain"));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let d = docs("base: &b {image: nginx, name: a}\nc1: *b\nc2:\n  <<: *b\n  name: override\n");
        assert_eq!(
            d[0].as_ref().unwrap(),
            &json!({"base": {"image": "nginx", "name": "a"}, "c1": {"image": "nginx", "name": "a"},
                    "c2": {"name": "override", "image": "nginx"}})
        );
    }

    #[test]
    fn duplicate_keys_and_bombs_are_errors() {
        let d = docs("a: 1\na: 2\n");
        assert_eq!(
            d[0].as_ref().unwrap_err().message,
            "duplicate mapping key: a"
        );
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
        for w in ["a", "b", "c", "d", "e", "f", "g", "h", "i"].windows(2) {
            bomb.push_str(&format!(
                "{}: &{} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n",
                w[1],
                w[1],
                p = w[0]
            ));
        }
        let e = docs(&bomb).remove(0).unwrap_err();
        assert!(e.limit && e.message.contains("nodes"), "{e:?}");
        let deep = format!("{}x{}", "[".repeat(100), "]".repeat(100));
        assert!(docs(&deep).remove(0).unwrap_err().limit);
    }

    #[test]
    fn syntax_errors_resynchronize_at_the_next_document() {
        let d = docs("a: 1\n---\nb: [unclosed\n---\nc: 3\n");
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].is_ok());
        assert!(d[1].is_err());
        assert_eq!(d[2].as_ref().unwrap(), &json!({"c": 3}));
    }

    #[test]
    fn pruning_keeps_what_extraction_reads_and_anchors_from_pruned_parts() {
        let keep = Keep::for_extraction(&[]).unwrap();
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {a: b}, annotations: {x: y}}\nx-defaults:\n  sidecar: &side {name: s, image: envoy:1, env: [{name: A, value: b}]}\nspec:\n  containers:\n    - name: a\n      image: app:1\n      env: [{name: X, value: y}]\n    - *side\n";
        let (d, _) = parse_stream(y, &L, Some(&keep));
        let v = d[0].result.as_ref().unwrap();
        assert_eq!(
            v["metadata"],
            json!({"name": "p"}),
            "labels and annotations are not built"
        );
        assert!(v.get("x-defaults").is_none());
        assert_eq!(
            v["spec"]["containers"][0],
            json!({"name": "a", "image": "app:1"})
        );
        assert_eq!(
            v["spec"]["containers"][1]["image"], "envoy:1",
            "an anchor in a pruned part still resolves"
        );
        // a duplicate key where images live is still an error
        let (d, _) = parse_stream(
            "kind: Pod\nspec:\n  containers:\n    - image: a\n      image: b\n",
            &L,
            Some(&keep),
        );
        assert!(d[0].result.is_err());
        // a wildcard over object keys turns pruning off
        let extra =
            [crate::manifests::parse_image_path("HelmRelease=/spec/values/*/image").unwrap()];
        assert!(Keep::for_extraction(&extra).is_none());
    }

    #[test]
    fn too_many_documents_is_flagged() {
        let y = "a: 1\n---\n".repeat(150);
        let (d, more) = parse_stream(&y, &L, None);
        assert_eq!(d.len(), 100);
        assert!(more);
    }
}
