//! Reading, parsing and splitting manifest files: bounded reads, the parse pool's
//! batches, YAML document splitting, and path helpers.

#[allow(clippy::wildcard_imports)]
use super::*;
/// Why a file could not be read.
#[derive(Debug)]
pub(super) enum ReadError {
    Io(std::io::Error),
    TooLarge,
}

impl ReadError {
    pub(super) fn describe(&self, max: u64) -> (ProblemCode, String) {
        match self {
            Self::Io(e) => (ProblemCode::ManifestParseError, format!("cannot read: {e}")),
            Self::TooLarge => (
                ProblemCode::ManifestTooLarge,
                format!("file is over the limit of {max} bytes"),
            ),
        }
    }
}

/// Reads at most `max` bytes of a file (a larger one is an error, whatever `stat` said).
pub(super) fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let mut f = fs::File::open(path).map_err(ReadError::Io)?;
    let hint = f.metadata().map_or(0, |m| m.len()).min(max);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0).saturating_add(1));
    (&mut f)
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

/// Files parsed together in one parallel batch (bounds the bytes and values held at once).
pub(super) const PARSE_BATCH: usize = 4096;

/// A walk entry waiting for its parse: a file's bytes, or images already found (kustomizations).
pub(super) enum Slot {
    File {
        display: String,
        canonical: PathBuf,
        json: bool,
    },
    Images(Vec<FoundImage>),
    Problems(Vec<Problem>),
}

/// What parsing one file or stream gave.
pub(super) enum Parsed {
    BadUtf8(usize),
    /// The parsing thread failed (a bug): reported as a problem, so the file still blocks.
    Failed,
    Unreadable(ReadError),
    Documents(Vec<(usize, DocOutcome)>, bool),
}

pub(super) fn is_json(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Parses one file's bytes (pure). JSON files are one document, read by serde_json.
pub(super) fn parse_bytes(
    bytes: &[u8],
    json: bool,
    limits: &crate::manifests::yaml::Limits,
    extra: &[ImagePath],
    keep: Option<&crate::manifests::yaml::Keep>,
) -> Parsed {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.strip_prefix('\u{feff}').unwrap_or(t),
        Err(e) => return Parsed::BadUtf8(e.valid_up_to()),
    };
    if json {
        if text.trim().is_empty() {
            return Parsed::Documents(Vec::new(), false);
        }
        let result =
            serde_json::from_str::<Value>(text).map_err(|e| crate::manifests::yaml::DocError {
                line: e.line(),
                message: e.to_string(),
                limit: false,
            });
        return Parsed::Documents(vec![(0, outcome(result, extra))], false);
    }
    let (docs, more) = crate::manifests::yaml::parse_stream(text, limits, keep);
    Parsed::Documents(
        docs.into_iter()
            .map(|d| (d.index, outcome(d.result, extra)))
            .collect(),
        more,
    )
}

/// What one document holds, extracted where it was parsed (the value is dropped there).
pub(super) enum DocOutcome {
    Null,
    NotObject(&'static str),
    NotKubernetes,
    Objects(Vec<Extracted>),
    Error(crate::manifests::yaml::DocError),
}

/// One Kubernetes object's identity and images.
pub(super) struct Extracted {
    pub(super) kind: String,
    pub(super) namespace: Option<String>,
    pub(super) name: String,
    pub(super) images: Vec<(String, String)>,
}

pub(super) fn outcome(
    result: Result<Value, crate::manifests::yaml::DocError>,
    extra: &[ImagePath],
) -> DocOutcome {
    let value = match result {
        Err(e) => return DocOutcome::Error(e),
        Ok(v) => v,
    };
    let object = match &value {
        Value::Null => return DocOutcome::Null,
        Value::Object(o) => o,
        Value::Array(_) => return DocOutcome::NotObject("a sequence"),
        _ => return DocOutcome::NotObject("a scalar"),
    };
    if images::kubernetes_kind(object).is_none() {
        return DocOutcome::NotKubernetes;
    }
    DocOutcome::Objects(
        images::objects(&value, extra)
            .into_iter()
            .map(|o| Extracted {
                kind: o.kind().to_owned(),
                namespace: o.namespace().map(str::to_owned),
                name: o.name().to_owned(),
                images: o.images,
            })
            .collect(),
    )
}

/// Parses many files on up to `available_parallelism` threads; results in input order.
pub(super) fn parse_many(
    jobs: &[(&Path, bool)],
    limits: &crate::manifests::yaml::Limits,
    extra: &[ImagePath],
    max: u64,
) -> Vec<Parsed> {
    let keep = crate::manifests::yaml::Keep::for_extraction(extra);
    let keep = keep.as_ref();
    let one = |path: &Path, json: bool| match read_file(path, max) {
        Ok(bytes) => parse_bytes(&bytes, json, limits, extra, keep),
        Err(e) => Parsed::Unreadable(e),
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 8)
        .min(jobs.len().div_ceil(4).max(1));
    if threads <= 1 {
        return jobs.iter().map(|(b, j)| one(b, *j)).collect();
    }
    // Work stealing over one shared index: no barrier between files; this thread works too.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some((path, json)) = jobs.get(i) else {
                break;
            };
            done.push((i, one(path, *json)));
        }
        done
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .map(|_| {
                std::thread::Builder::new()
                    .name("manifests-parse".to_owned())
                    .stack_size(LOADER_STACK_BYTES)
                    .spawn_scoped(scope, work)
            })
            .collect();
        let mut results: Vec<Option<Parsed>> =
            std::iter::repeat_with(|| None).take(jobs.len()).collect();
        let mut store = |done: Vec<(usize, Parsed)>| {
            for (i, p) in done {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(p);
                }
            }
        };
        store(work());
        for h in helpers.into_iter().flatten() {
            // A helper that panicked leaves its files unset: they become problems below.
            if let Ok(done) = h.join() {
                store(done);
            }
        }
        // never silently lose a file
        results
            .into_iter()
            .map(|r| r.unwrap_or(Parsed::Failed))
            .collect()
    })
}

/// What a document's root node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Root {
    /// Empty document, `~`, `null`, `!!null`.
    Null,
    Mapping,
    Sequence,
    Scalar,
    Alias,
}

impl Root {
    pub(super) fn noun(self) -> &'static str {
        match self {
            Root::Null => "nothing",
            Root::Mapping => "a mapping",
            Root::Sequence => "a sequence",
            Root::Scalar => "a scalar",
            Root::Alias => "an alias",
        }
    }
}

/// A well-formed document: its index, its text range and what its root is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DocSpan {
    pub(super) index: usize,
    pub(super) start: usize,
    pub(super) end: usize,
    /// Line (1-based) on which `start` lies.
    pub(super) start_line: usize,
    pub(super) root: Root,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Split {
    Doc(DocSpan),
    /// A syntax error in document `index` at `line`.
    Error {
        index: usize,
        line: usize,
        message: String,
    },
}

/// Splits a YAML stream into documents (at most `max_documents`; the flag says whether there were more).
///
/// Each document's text runs from the end of the previous one (so it keeps its directives and comments)
/// to its own end, and can be deserialized on its own. After a syntax error the parser resynchronizes at
/// the next `---`, so the remaining documents are still read.
pub(super) fn split_documents(text: &str, max_documents: usize) -> (Vec<Split>, bool) {
    let mut options = granit_parser::Options::default();
    options.set_emit_comments(false);
    let mut parser = Parser::new_from_str_with_options(text, options);
    let mut out = Vec::new();
    let mut next_index = 0usize;
    // The open document, and whether its root node has been seen.
    let mut current: Option<(DocSpan, bool)> = None;
    let mut prev_end = 0usize;
    let mut prev_line = 1usize;
    let mut resync = false;
    loop {
        match parser.next_event() {
            None => break,
            Some(Ok((event, span))) => match event {
                Event::DocumentStart(..) => {
                    if next_index >= max_documents {
                        return (out, true);
                    }
                    let (start, start_line) = if resync {
                        resync = false;
                        (
                            span.start.byte_offset().unwrap_or(prev_end),
                            span.start.line(),
                        )
                    } else {
                        (prev_end, prev_line)
                    };
                    current = Some((
                        DocSpan {
                            index: next_index,
                            start,
                            end: start,
                            start_line,
                            root: Root::Null,
                        },
                        false,
                    ));
                    next_index += 1;
                }
                Event::DocumentEnd => {
                    if let Some((mut doc, _)) = current.take() {
                        let end = span.end.byte_offset().unwrap_or(text.len()).max(doc.start);
                        doc.end = end;
                        prev_end = end;
                        prev_line = span.end.line();
                        out.push(Split::Doc(doc));
                    }
                }
                Event::StreamEnd => break,
                Event::MappingStart(..)
                | Event::SequenceStart(..)
                | Event::Scalar(..)
                | Event::Alias(..) => {
                    if let Some((doc, root_seen)) = current.as_mut()
                        && !*root_seen
                    {
                        doc.root = root_kind(&event);
                        *root_seen = true;
                    }
                }
                _ => {}
            },
            Some(Err(e)) => {
                let index = match current.take() {
                    Some((doc, _)) => doc.index,
                    None => {
                        if next_index >= max_documents {
                            return (out, true);
                        }
                        next_index += 1;
                        next_index - 1
                    }
                };
                out.push(Split::Error {
                    index,
                    line: e.marker().line(),
                    message: e.info(),
                });
                resync = true;
                match parser.proceed_next_document() {
                    Ok(true) => {}
                    Ok(false) | Err(_) => break,
                }
            }
        }
    }
    (out, false)
}

pub(super) fn root_kind(event: &Event<'_>) -> Root {
    match event {
        Event::MappingStart(..) => Root::Mapping,
        Event::SequenceStart(..) => Root::Sequence,
        Event::Alias(..) => Root::Alias,
        Event::Scalar(value, style, _, tag) => {
            let null_tag = tag
                .as_ref()
                .is_some_and(|t| t.is_yaml_core_schema_tag("null"));
            let plain_null = tag.is_none()
                && *style == ScalarStyle::Plain
                && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL");
            if null_tag || plain_null {
                Root::Null
            } else {
                Root::Scalar
            }
        }
        _ => Root::Null,
    }
}

/// One line describing a serde-saphyr error in document `index` whose text starts on `start_line`.
pub(super) fn describe_yaml_error(
    err: &serde_saphyr::Error,
    index: usize,
    start_line: usize,
) -> String {
    use serde_saphyr::MessageFormatter;
    let mut inner = err;
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = inner
    {
        inner = error;
    }
    let text: String = serde_saphyr::DefaultMessageFormatter
        .format_message(inner)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let limit = matches!(
        inner,
        serde_saphyr::Error::Budget { .. }
            | serde_saphyr::Error::AliasReplayLimitExceeded { .. }
            | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
            | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
            | serde_saphyr::Error::AliasReplayCounterOverflow { .. }
    );
    let line = err
        .location()
        .and_then(|l| usize::try_from(l.line()).ok())
        .filter(|l| *l > 0)
        .map(|l| format!(", line {}", start_line.saturating_add(l - 1)))
        .unwrap_or_default();
    if limit {
        format!(
            "document {index}{line}: YAML exceeds the parser limits (alias expansion, size or nesting; an alias bomb?): {text}"
        )
    } else {
        format!("document {index}{line}: {text}")
    }
}

/// The kustomization file of a directory, if it has one.
pub(super) fn kustomization_file_in(dir: &Path) -> Option<&'static str> {
    KUSTOMIZATION_FILES
        .into_iter()
        .find(|name| dir.join(name).is_file())
}

pub(super) fn has_manifest_extension(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| {
            e.eq_ignore_ascii_case("yaml")
                || e.eq_ignore_ascii_case("yml")
                || e.eq_ignore_ascii_case("json")
        })
}

/// Whether a kustomization resource is remote (a URL or a Git repository) rather than a local path.
pub(super) fn is_remote(resource: &str) -> bool {
    resource.contains("://")
        || resource.starts_with("git@")
        || resource.starts_with("git::")
        || resource.starts_with("github.com/")
        || resource.starts_with("gitlab.com/")
        || resource.starts_with("bitbucket.org/")
        || resource.contains("?ref=")
}

/// A path for reports: `/` separators, `.` removed and `..` folded lexically (`.` when nothing is left).
pub(super) fn display_path(path: &Path) -> String {
    let mut absolute = false;
    let mut prefix = String::new();
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::Prefix(p) => prefix = p.as_os_str().to_string_lossy().into_owned(),
            Component::RootDir => absolute = true,
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.last().is_some_and(|p| p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..".to_owned());
                }
            }
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
        }
    }
    let body = parts.join("/");
    match (absolute, body.is_empty()) {
        (true, _) => format!("{prefix}/{body}"),
        (false, true) if prefix.is_empty() => ".".to_owned(),
        (false, _) => format!("{prefix}{body}"),
    }
}

/// `dir` joined with a relative path, for reports.
pub(super) fn join_display(dir: &str, rel: &str) -> String {
    display_path(&Path::new(dir).join(rel))
}
