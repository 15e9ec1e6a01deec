//! Loading: the safe walk over manifest trees and the parsing of their documents into a [`Snapshot`].
//!
//! Depends on `std::fs` (reading only), `serde-saphyr`/`granit_parser` (YAML), `serde_json` (JSON files) and
//! [`super::images`]. Nothing here returns an error or panics: every file or document that cannot be read
//! becomes a [`Problem`], which blocks the decision.
//!
//! # The walk
//! - Each PATH is a file or a directory. Directories are walked recursively in sorted order; only `.yaml`,
//!   `.yml` and `.json` files are read (a file named explicitly as a PATH is read whatever its extension);
//!   entries whose name starts with `.` are skipped. A FIFO, socket or device with a manifest
//!   extension is never opened (a FIFO would block the read) and is a `ManifestParseError` problem.
//! - Symbolic links are followed only when they resolve inside the boundary (the PATH itself, or
//!   [`LoadOptions::boundary`]); one pointing outside is an `UnsafePath` problem. Each directory is entered
//!   once (links cannot loop) and each file is read on its own at most once.
//! - A PATH that does not exist is listed in [`Snapshot::missing`], not in the problems.
//!
//! # Kustomize
//! A directory holding `kustomization.yaml`, `kustomization.yml` or `Kustomization` is a kustomization: only
//! its `resources` (and legacy `bases`) are loaded, through it, and its `images:` overrides are applied to
//! the images they yield (inner kustomizations first, then outer; see [`super::images::apply_override`]).
//! Resource files are not read again on their own, and a kustomization that another kustomization in the
//! same PATH includes is only built through that one. Remote resources (URLs, `github.com/…`) are skipped
//! (listed in [`Snapshot::skipped`]); local resources must stay inside the boundary. `patches`,
//! `components`, generators and every other transformer are out of scope: images set by them are not seen.
//!
//! # Documents
//! YAML streams are split into documents with `granit_parser` (so document indices count every `---`,
//! empty documents included) and each document is deserialized with `serde-saphyr` under the budget of
//! [`LoadOptions`] (alias-bomb protection), with duplicate keys rejected. Empty documents are skipped
//! silently, top-level scalars and sequences are `ManifestParseError`s, documents without
//! `apiVersion`/`kind` are listed in [`Snapshot::skipped`]. A `.json` file is one JSON document.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use serde_json::Value;
use serde_saphyr::granit_parser::{self, Event, Parser, ScalarStyle};

use super::images::{self, ImageOverride, ImagePath};
use super::{FoundImage, Location, Origin, Problem, ProblemCode, Snapshot};

/// Limits and settings for loading manifests.
///
/// The parser budget knobs are named as in `serde_saphyr::Budget` and `serde_saphyr::options::AliasLimits`;
/// they apply to each YAML document separately.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Largest manifest file read (default 8 MiB); larger files are `ManifestTooLarge`.
    pub max_file_bytes: u64,
    /// Largest total of bytes read over all files, and largest stdin stream (default 512 MiB); once
    /// exceeded, every remaining file is `ManifestTooLarge`.
    pub max_total_bytes: u64,
    /// Most documents read from one file or stream (default 10 000).
    pub max_documents: usize,
    /// `AliasLimits::max_total_replayed_events`: events replayed from aliases (default 50 000).
    pub max_total_replayed_events: usize,
    /// `AliasLimits::max_replay_stack_depth`: nesting of alias replays (default 32).
    pub max_replay_stack_depth: usize,
    /// `AliasLimits::max_alias_expansions_per_anchor` (default 10 000).
    pub max_alias_expansions_per_anchor: usize,
    /// `Budget::max_aliases`: alias (`*a`) uses (default 10 000).
    pub max_aliases: usize,
    /// `Budget::max_anchors`: anchor (`&a`) definitions (default 10 000).
    pub max_anchors: usize,
    /// `Budget::max_events`: parser events (default 1 000 000).
    pub max_events: usize,
    /// `Budget::max_nodes`: nodes (default 250 000).
    pub max_nodes: usize,
    /// `Budget::max_depth`: nesting depth (default 128, as serde_json's limit for `.json` files; CRD
    /// schemas nest deeply).
    pub max_depth: usize,
    /// `Budget::enforce_alias_anchor_ratio`: reject documents with 100+ aliases and more than ten aliases
    /// per anchor (default true).
    pub enforce_alias_anchor_ratio: bool,
    /// Directory that symbolic links and kustomization resources must stay inside. `None` (default): each
    /// PATH itself (its directory, for a file). The standalone gate sets it to the checkout root so that
    /// overlays may refer to `../../base`.
    pub boundary: Option<PathBuf>,
    /// Extra `KIND=POINTER` image paths (policy `spec.extraImagePaths`, `--image-path`).
    pub extra_image_paths: Vec<ImagePath>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_file_bytes: 8 * 1024 * 1024,
            max_total_bytes: 512 * 1024 * 1024,
            max_documents: 10_000,
            max_total_replayed_events: 50_000,
            max_replay_stack_depth: 32,
            max_alias_expansions_per_anchor: 10_000,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_events: 1_000_000,
            max_nodes: 250_000,
            max_depth: 128,
            enforce_alias_anchor_ratio: true,
            boundary: None,
            extra_image_paths: Vec::new(),
        }
    }
}

impl LoadOptions {
    fn saphyr_options(&self) -> serde_saphyr::Options {
        let mut budget = serde_saphyr::Budget::default();
        budget.max_events = self.max_events;
        budget.max_aliases = self.max_aliases;
        budget.max_anchors = self.max_anchors;
        budget.max_nodes = self.max_nodes;
        budget.max_depth = self.max_depth;
        budget.enforce_alias_anchor_ratio = self.enforce_alias_anchor_ratio;
        let mut limits = serde_saphyr::options::AliasLimits::default();
        limits.max_total_replayed_events = self.max_total_replayed_events;
        limits.max_replay_stack_depth = self.max_replay_stack_depth;
        limits.max_alias_expansions_per_anchor = self.max_alias_expansions_per_anchor;
        let mut options = serde_saphyr::Options::default();
        options.budget = Some(budget);
        options.alias_limits = limits;
        options.with_snippet = false;
        options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::AsString;
        options
    }
}

/// Loads every manifest under `paths` (files or directories; see the module docs for the rules).
///
/// `-` is not special here: the CLI reads stdin and calls [`load_stream`].
///
/// # Guarantees
/// Never panics and never fails: unreadable, oversize, unsafe or unparsable input is reported in
/// [`Snapshot::problems`], non-existent PATHs in [`Snapshot::missing`].
pub fn load_paths(paths: &[PathBuf], opts: &LoadOptions) -> Snapshot {
    on_loader_stack(&|| {
        let mut loader = Loader::new(opts);
        for path in paths {
            loader.load_root(path);
        }
        loader.snap
    })
}

/// Loads one multi-document stream (stdin); `name` is what locations and problems call it (`-`).
///
/// The stream is limited by [`LoadOptions::max_total_bytes`] (it is the whole input) and parsed as YAML
/// (JSON is YAML).
///
/// # Guarantees
/// Never panics and never fails; see [`load_paths`].
pub fn load_stream(name: &str, bytes: &[u8], opts: &LoadOptions) -> Snapshot {
    on_loader_stack(&|| stream_snapshot(name, bytes, opts))
}

fn stream_snapshot(name: &str, bytes: &[u8], opts: &LoadOptions) -> Snapshot {
    let mut loader = Loader::new(opts);
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > opts.max_total_bytes {
        loader.problem(
            name,
            None,
            ProblemCode::ManifestTooLarge,
            format!(
                "input is {} bytes, over the limit of {} bytes",
                bytes.len(),
                opts.max_total_bytes
            ),
        );
        return loader.snap;
    }
    loader.snap.files += 1;
    let mut found = Vec::new();
    loader.load_bytes(name, None, bytes, false, &mut found);
    loader.snap.images.extend(found);
    loader.snap
}

/// Stack of the loading thread. serde-saphyr deserializes recursively (about 20 KiB per nesting level in
/// debug builds), and the caller may be a thread with a small stack (tokio workers have 2 MiB); nesting is
/// capped at 255 by the parser, so 32 MiB (address space, committed only when touched) always suffices.
const LOADER_STACK_BYTES: usize = 32 * 1024 * 1024;

/// Runs `run` on a scoped thread with [`LOADER_STACK_BYTES`] of stack (inline if no thread can be made).
fn on_loader_stack(run: &(dyn Fn() -> Snapshot + Sync)) -> Snapshot {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("manifests-load".to_owned())
            .stack_size(LOADER_STACK_BYTES)
            .spawn_scoped(scope, run);
        match spawned {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                let mut snap = Snapshot::default();
                snap.problems.push(Problem {
                    file: String::new(),
                    document: None,
                    code: ProblemCode::ManifestParseError,
                    message: "internal error while loading manifests".to_owned(),
                });
                snap
            }),
            Err(e) => {
                tracing::debug!(error = %e, "cannot start the manifest loading thread; loading inline");
                run()
            }
        }
    })
}

/// Names of a kustomization file, in kustomize's order of preference.
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
/// Deepest directory nesting walked.
const MAX_DIR_DEPTH: usize = 128;
/// Deepest kustomization nesting built.
const MAX_KUSTOMIZE_DEPTH: usize = 32;

/// A thing found by the walk, in walk order.
enum Entry {
    File {
        real: PathBuf,
        display: String,
        canonical: PathBuf,
    },
    Kustomization(KDir),
}

/// A kustomization directory: how to open it, how to show it, and its identity.
#[derive(Clone)]
struct KDir {
    real: PathBuf,
    display: String,
    canonical: PathBuf,
}

/// The parts of a kustomization file that matter here.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct KustomizationFile {
    resources: Vec<String>,
    bases: Vec<String>,
    images: Vec<ImageOverride>,
    // Out of scope: noted in `Snapshot::skipped` when present.
    components: Option<serde::de::IgnoredAny>,
    helm_charts: Option<serde::de::IgnoredAny>,
    patches: Option<serde::de::IgnoredAny>,
    patches_strategic_merge: Option<serde::de::IgnoredAny>,
    #[serde(rename = "patchesJson6902")]
    patches_json6902: Option<serde::de::IgnoredAny>,
    replacements: Option<serde::de::IgnoredAny>,
    generators: Option<serde::de::IgnoredAny>,
    transformers: Option<serde::de::IgnoredAny>,
}

impl KustomizationFile {
    /// The fields present that this loader does not apply.
    fn unsupported(&self) -> Vec<&'static str> {
        [
            ("components", self.components.is_some()),
            ("helmCharts", self.helm_charts.is_some()),
            ("patches", self.patches.is_some()),
            (
                "patchesStrategicMerge",
                self.patches_strategic_merge.is_some(),
            ),
            ("patchesJson6902", self.patches_json6902.is_some()),
            ("replacements", self.replacements.is_some()),
            ("generators", self.generators.is_some()),
            ("transformers", self.transformers.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
    }
}

/// A parsed kustomization.
struct Kustomization {
    file_name: &'static str,
    /// Canonical path of the kustomization file (for [`Origin::Kustomize`]).
    file_canonical: PathBuf,
    /// Fields present that are not applied (`patches`, `helmCharts`, …).
    unsupported: Vec<&'static str>,
    resources: Vec<String>,
    images: Vec<ImageOverride>,
}

struct Loader<'o> {
    opts: &'o LoadOptions,
    saphyr: serde_saphyr::Options,
    snap: Snapshot,
    total_read: u64,
    total_exhausted: bool,
    /// Canonical files already read on their own (walk entries).
    read_raw: HashSet<PathBuf>,
    /// Parsed kustomizations by (canonical directory, boundary); `None` when it could not be parsed
    /// (already reported).
    kustomizations: HashMap<(PathBuf, PathBuf), Option<Rc<Kustomization>>>,
    /// Canonical kustomization directories built during the current PATH.
    built: HashSet<PathBuf>,
}

impl<'o> Loader<'o> {
    fn new(opts: &'o LoadOptions) -> Self {
        Loader {
            opts,
            saphyr: opts.saphyr_options(),
            snap: Snapshot::default(),
            total_read: 0,
            total_exhausted: false,
            read_raw: HashSet::new(),
            kustomizations: HashMap::new(),
            built: HashSet::new(),
        }
    }

    fn problem(&mut self, file: &str, document: Option<usize>, code: ProblemCode, message: String) {
        tracing::debug!(file, ?document, ?code, %message, "manifest problem");
        self.snap.problems.push(Problem {
            file: file.to_owned(),
            document,
            code,
            message,
        });
    }

    fn skip(&mut self, entry: String) {
        tracing::debug!(%entry, "skipped");
        self.snap.skipped.push(entry);
    }

    fn load_root(&mut self, path: &Path) {
        let display = display_path(path);
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.snap.missing.push(display);
                return;
            }
            Err(e) => {
                self.problem(
                    &display,
                    None,
                    ProblemCode::ManifestParseError,
                    format!("cannot read: {e}"),
                );
                return;
            }
        };
        let canonical = match fs::canonicalize(path) {
            Ok(c) => c,
            Err(e) => {
                self.problem(
                    &display,
                    None,
                    ProblemCode::ManifestParseError,
                    format!("cannot resolve path: {e}"),
                );
                return;
            }
        };
        let boundary = match &self.opts.boundary {
            Some(b) => match fs::canonicalize(b) {
                Ok(b) => {
                    if !canonical.starts_with(&b) {
                        self.problem(
                            &display,
                            None,
                            ProblemCode::UnsafePath,
                            "path resolves outside the allowed root directory".to_owned(),
                        );
                        return;
                    }
                    b
                }
                Err(e) => {
                    self.problem(
                        &display_path(b),
                        None,
                        ProblemCode::ManifestParseError,
                        format!("cannot resolve the root directory: {e}"),
                    );
                    return;
                }
            },
            None if meta.is_dir() => canonical.clone(),
            None => canonical
                .parent()
                .map_or_else(|| canonical.clone(), Path::to_path_buf),
        };
        self.built.clear();
        let mut entries = Vec::new();
        if meta.is_dir() {
            if kustomization_file_in(path).is_some() {
                entries.push(Entry::Kustomization(KDir {
                    real: path.to_path_buf(),
                    display,
                    canonical,
                }));
            } else {
                let mut visited = HashSet::from([canonical.clone()]);
                let root = canonical.clone();
                self.walk_dir(
                    path,
                    &root,
                    &display,
                    &boundary,
                    &mut visited,
                    &mut entries,
                    0,
                );
            }
        } else if meta.is_file() {
            let is_kustomization = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| KUSTOMIZATION_FILES.contains(&n));
            match (is_kustomization, path.parent(), canonical.parent()) {
                (true, Some(dir), Some(canonical_dir)) => {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    entries.push(Entry::Kustomization(KDir {
                        real: dir.to_path_buf(),
                        display: display_path(dir),
                        canonical: canonical_dir.to_path_buf(),
                    }));
                }
                _ => entries.push(Entry::File {
                    real: path.to_path_buf(),
                    display,
                    canonical,
                }),
            }
        } else {
            self.problem(
                &display,
                None,
                ProblemCode::ManifestParseError,
                format!(
                    "not a regular file or directory ({}); not read",
                    crate::base::files::kind_name(meta.file_type())
                ),
            );
            return;
        }
        self.process_entries(entries, &boundary);
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_dir(
        &mut self,
        dir: &Path,
        dir_canonical: &Path,
        dir_display: &str,
        boundary: &Path,
        visited: &mut HashSet<PathBuf>,
        entries: &mut Vec<Entry>,
        depth: usize,
    ) {
        let read = match fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) => {
                self.problem(
                    dir_display,
                    None,
                    ProblemCode::ManifestParseError,
                    format!("cannot read directory: {e}"),
                );
                return;
            }
        };
        // (name, whether it is a symbolic link, from the directory entry; None: unknown)
        let mut names: Vec<(OsString, Option<bool>)> = Vec::new();
        for entry in read {
            match entry {
                Ok(e) => names.push((e.file_name(), e.file_type().ok().map(|t| t.is_symlink()))),
                Err(e) => self.problem(
                    dir_display,
                    None,
                    ProblemCode::ManifestParseError,
                    format!("cannot read directory: {e}"),
                ),
            }
        }
        names.sort();
        for (name, is_link) in names {
            let name_str = name.to_string_lossy().into_owned();
            if name_str.starts_with('.') {
                continue;
            }
            let real = dir.join(&name);
            let display = join_display(dir_display, &name_str);
            let manifest_name = has_manifest_extension(&name_str);
            let (canonical, meta) = if is_link == Some(false) {
                // Not a symbolic link: its canonical path is the (canonical) directory's plus
                // its name, inside the boundary by construction; one `lstat` tells its type.
                let Ok(meta) = fs::symlink_metadata(&real) else {
                    continue;
                };
                (dir_canonical.join(&name), meta)
            } else {
                let lmeta = match fs::symlink_metadata(&real) {
                    Ok(m) => m,
                    Err(e) => {
                        self.problem(
                            &display,
                            None,
                            ProblemCode::ManifestParseError,
                            format!("cannot read: {e}"),
                        );
                        continue;
                    }
                };
                let Ok(canonical) = fs::canonicalize(&real) else {
                    if lmeta.file_type().is_symlink() && manifest_name {
                        self.problem(
                            &display,
                            None,
                            ProblemCode::ManifestParseError,
                            "broken symbolic link".to_owned(),
                        );
                    }
                    continue;
                };
                let Ok(meta) = fs::metadata(&canonical) else {
                    continue;
                };
                if !canonical.starts_with(boundary) {
                    if meta.is_dir() || (meta.is_file() && manifest_name) {
                        self.problem(
                            &display,
                            None,
                            ProblemCode::UnsafePath,
                            "symbolic link resolves outside the checked root".to_owned(),
                        );
                    }
                    continue;
                }
                (canonical, meta)
            };
            if meta.is_dir() {
                if !visited.insert(canonical.clone()) {
                    self.skip(format!(
                        "{display}: directory already visited (symbolic link loop)"
                    ));
                    continue;
                }
                if depth >= MAX_DIR_DEPTH {
                    self.problem(
                        &display,
                        None,
                        ProblemCode::ManifestParseError,
                        format!("directory nesting deeper than {MAX_DIR_DEPTH} levels"),
                    );
                    continue;
                }
                if kustomization_file_in(&real).is_some() {
                    entries.push(Entry::Kustomization(KDir {
                        real,
                        display,
                        canonical,
                    }));
                } else {
                    self.walk_dir(
                        &real,
                        &canonical,
                        &display,
                        boundary,
                        visited,
                        entries,
                        depth + 1,
                    );
                }
            } else if meta.is_file() && manifest_name {
                entries.push(Entry::File {
                    real,
                    display,
                    canonical,
                });
            } else if manifest_name {
                // a FIFO, socket or device named like a manifest: never opened (reading a
                // FIFO would block), and never passed over silently either
                self.problem(
                    &display,
                    None,
                    ProblemCode::ManifestParseError,
                    format!(
                        "not a regular file ({}); not read",
                        crate::base::files::kind_name(meta.file_type())
                    ),
                );
            }
        }
    }

    /// Builds the kustomizations and reads the plain files of one PATH, in walk order.
    fn process_entries(&mut self, entries: Vec<Entry>, boundary: &Path) {
        // Which files and kustomizations are reached through some kustomization of this PATH.
        let mut consumed_files = HashSet::new();
        let mut consumed_dirs = HashSet::new();
        let mut queue: VecDeque<KDir> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Kustomization(k) => Some(k.clone()),
                Entry::File { .. } => None,
            })
            .collect();
        let mut seen = HashSet::new();
        while let Some(k) = queue.pop_front() {
            if !seen.insert(k.canonical.clone()) {
                continue;
            }
            let Some(parsed) = self.kustomization(&k, boundary) else {
                continue;
            };
            for resource in &parsed.resources {
                if is_remote(resource) {
                    continue;
                }
                let real = k.real.join(resource);
                let Ok(canonical) = fs::canonicalize(&real) else {
                    continue;
                };
                if !canonical.starts_with(boundary) {
                    continue;
                }
                if canonical.is_dir() {
                    if kustomization_file_in(&real).is_some() {
                        consumed_dirs.insert(canonical.clone());
                        queue.push_back(KDir {
                            display: join_display(&k.display, resource),
                            real,
                            canonical,
                        });
                    }
                } else {
                    consumed_files.insert(canonical);
                }
            }
        }

        let mut deferred = Vec::new();
        // Files are read in walk order, parsed in parallel batches, and recorded in walk order.
        let mut slots: Vec<Slot> = Vec::new();
        let mut queued = 0usize;
        for entry in entries {
            match entry {
                Entry::File {
                    real,
                    display,
                    canonical,
                } => {
                    if consumed_files.contains(&canonical) {
                        self.skip(format!("{display}: read through a kustomization"));
                    } else if !self.read_raw.insert(canonical.clone()) {
                        self.skip(format!("{display}: same file as one already read"));
                    } else if let Some(len) = {
                        // keep the problems of admission in walk order with those of parsing
                        let before = self.snap.problems.len();
                        let admitted = self.admit(&canonical, &display);
                        if self.snap.problems.len() > before {
                            let problems = self.snap.problems.split_off(before);
                            slots.push(Slot::Problems(problems));
                        }
                        admitted
                    } {
                        // counted at its stat size; a file that grew is cut at the per-file limit
                        self.total_read = self.total_read.saturating_add(len);
                        slots.push(Slot::File {
                            json: is_json(&real),
                            display,
                            canonical,
                        });
                        queued += 1;
                        if queued >= PARSE_BATCH {
                            self.flush(&mut slots);
                            queued = 0;
                        }
                    }
                }
                Entry::Kustomization(k) => {
                    if consumed_dirs.contains(&k.canonical) {
                        self.skip(format!(
                            "{}: built as a resource of another kustomization",
                            k.display
                        ));
                        deferred.push(k);
                    } else {
                        let found = self.build(&k, boundary, &mut Vec::new());
                        slots.push(Slot::Images(found));
                    }
                }
            }
        }
        self.flush(&mut slots);
        // Kustomizations that only include each other (a cycle) were never built: build them now so
        // that the cycle is reported.
        for k in deferred {
            if !self.built.contains(&k.canonical) {
                let found = self.build(&k, boundary, &mut Vec::new());
                self.snap.images.extend(found);
            }
        }
    }

    /// Parses (once) the kustomization file of a directory.
    fn kustomization(&mut self, k: &KDir, boundary: &Path) -> Option<Rc<Kustomization>> {
        let key = (k.canonical.clone(), boundary.to_path_buf());
        if let Some(cached) = self.kustomizations.get(&key) {
            return cached.clone();
        }
        let parsed = self.parse_kustomization(k, boundary).map(Rc::new);
        self.kustomizations.insert(key, parsed.clone());
        parsed
    }

    fn parse_kustomization(&mut self, k: &KDir, boundary: &Path) -> Option<Kustomization> {
        let name = kustomization_file_in(&k.real)?;
        let file_real = k.real.join(name);
        let file_display = join_display(&k.display, name);
        let file_canonical = match fs::canonicalize(&file_real) {
            Ok(c) if c.starts_with(boundary) => c,
            Ok(_) => {
                self.problem(
                    &file_display,
                    None,
                    ProblemCode::UnsafePath,
                    "symbolic link resolves outside the checked root".to_owned(),
                );
                return None;
            }
            Err(e) => {
                self.problem(
                    &file_display,
                    None,
                    ProblemCode::ManifestParseError,
                    format!("cannot read: {e}"),
                );
                return None;
            }
        };
        let bytes = self.read_bounded(&file_canonical, &file_display)?;
        let text = self.utf8(&file_display, &bytes)?;
        let (docs, _) = split_documents(text, 1);
        let file = match docs.first() {
            None => KustomizationFile::default(),
            Some(Split::Error { line, message, .. }) => {
                self.problem(
                    &file_display,
                    Some(0),
                    ProblemCode::ManifestParseError,
                    format!("document 0, line {line}: {message}"),
                );
                return None;
            }
            Some(Split::Doc(d)) => match d.root {
                Root::Null => KustomizationFile::default(),
                Root::Mapping => {
                    let slice = text.get(d.start..d.end).unwrap_or_default();
                    match serde_saphyr::from_str_with_options::<KustomizationFile>(
                        slice,
                        self.saphyr.clone(),
                    ) {
                        Ok(f) => f,
                        Err(e) => {
                            self.problem(
                                &file_display,
                                Some(0),
                                ProblemCode::ManifestParseError,
                                describe_yaml_error(&e, 0, d.start_line),
                            );
                            return None;
                        }
                    }
                }
                other => {
                    self.problem(
                        &file_display,
                        Some(0),
                        ProblemCode::ManifestParseError,
                        format!("kustomization is not a mapping (found {})", other.noun()),
                    );
                    return None;
                }
            },
        };
        let unsupported = file.unsupported();
        let mut resources = file.resources;
        resources.extend(file.bases);
        Some(Kustomization {
            file_name: name,
            file_canonical,
            unsupported,
            resources,
            images: file.images,
        })
    }

    /// Loads the resources of a kustomization and applies its `images:` overrides to what they yield.
    fn build(&mut self, k: &KDir, boundary: &Path, stack: &mut Vec<PathBuf>) -> Vec<FoundImage> {
        if stack.contains(&k.canonical) {
            self.problem(
                &k.display,
                None,
                ProblemCode::ManifestParseError,
                "kustomization includes itself (resource cycle)".to_owned(),
            );
            return Vec::new();
        }
        if stack.len() >= MAX_KUSTOMIZE_DEPTH {
            self.problem(
                &k.display,
                None,
                ProblemCode::ManifestParseError,
                format!("kustomizations nested deeper than {MAX_KUSTOMIZE_DEPTH} levels"),
            );
            return Vec::new();
        }
        self.built.insert(k.canonical.clone());
        let Some(kust) = self.kustomization(k, boundary) else {
            return Vec::new();
        };
        // How this build reached the kustomization file, for messages.
        let file_display = join_display(&k.display, kust.file_name);
        for field in &kust.unsupported {
            self.skip(format!(
                "{file_display}: {field} not applied (only resources and images are); images they set are not seen"
            ));
        }
        stack.push(k.canonical.clone());
        let mut found = Vec::new();
        for resource in &kust.resources {
            if is_remote(resource) {
                self.skip(format!(
                    "{file_display}: remote resource {resource} is not loaded"
                ));
                continue;
            }
            let real = k.real.join(resource);
            let display = join_display(&k.display, resource);
            let canonical = match fs::canonicalize(&real) {
                Ok(c) => c,
                Err(e) => {
                    let reason = if e.kind() == std::io::ErrorKind::NotFound {
                        "no such file or directory".to_owned()
                    } else {
                        e.to_string()
                    };
                    self.problem(
                        &file_display,
                        None,
                        ProblemCode::ManifestParseError,
                        format!("resource {resource}: {reason}"),
                    );
                    continue;
                }
            };
            if !canonical.starts_with(boundary) {
                self.problem(
                    &file_display,
                    None,
                    ProblemCode::UnsafePath,
                    format!("resource {resource} resolves outside the checked root"),
                );
                continue;
            }
            if canonical.is_dir() {
                if kustomization_file_in(&real).is_some() {
                    let child = KDir {
                        real,
                        display,
                        canonical,
                    };
                    let images = self.build(&child, boundary, stack);
                    found.extend(images);
                } else {
                    self.problem(
                        &file_display,
                        None,
                        ProblemCode::ManifestParseError,
                        format!("resource {resource} is a directory without a kustomization file"),
                    );
                }
            } else if canonical.is_file() {
                self.read_manifest(&real, &canonical, &display, &mut found);
            } else {
                self.problem(
                    &file_display,
                    None,
                    ProblemCode::ManifestParseError,
                    format!("resource {resource} is not a regular file or directory"),
                );
            }
        }
        stack.pop();
        for image in &mut found {
            for (index, ov) in kust.images.iter().enumerate() {
                if let Some(new) = images::apply_override(&image.reference, ov) {
                    image.reference = new;
                    image.origin = Origin::Kustomize {
                        path: kust.file_canonical.clone(),
                        index,
                    };
                }
            }
        }
        found
    }

    /// Reads a file within the size limits; `None` (with a problem) when it cannot or may not be read.
    fn read_bounded(&mut self, real: &Path, display: &str) -> Option<Vec<u8>> {
        self.admit(real, display)?;
        match read_file(real, self.opts.max_file_bytes) {
            Ok(bytes) => {
                self.total_read = self
                    .total_read
                    .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
                Some(bytes)
            }
            Err(e) => {
                let (code, message) = e.describe(self.opts.max_file_bytes);
                self.problem(display, None, code, message);
                None
            }
        }
    }

    /// Checks a file's size against the per-file and total limits (one `stat`); `None` (with a
    /// problem) when it may not be read. Counts it against the total.
    fn admit(&mut self, real: &Path, display: &str) -> Option<u64> {
        let max = self.opts.max_file_bytes;
        let len = match fs::metadata(real) {
            Ok(m) => m.len(),
            Err(e) => {
                self.problem(
                    display,
                    None,
                    ProblemCode::ManifestParseError,
                    format!("cannot read: {e}"),
                );
                return None;
            }
        };
        if len > max {
            self.problem(
                display,
                None,
                ProblemCode::ManifestTooLarge,
                format!("file is {len} bytes, over the limit of {max} bytes"),
            );
            return None;
        }
        if self.total_exhausted || self.total_read.saturating_add(len) > self.opts.max_total_bytes {
            self.total_exhausted = true;
            self.problem(
                display,
                None,
                ProblemCode::ManifestTooLarge,
                format!(
                    "not read: the manifests together exceed the limit of {} bytes",
                    self.opts.max_total_bytes
                ),
            );
            return None;
        }
        Some(len)
    }

    fn utf8<'b>(&mut self, display: &str, bytes: &'b [u8]) -> Option<&'b str> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Some(text.strip_prefix('\u{feff}').unwrap_or(text)),
            Err(e) => {
                self.problem(
                    display,
                    None,
                    ProblemCode::ManifestParseError,
                    format!("invalid UTF-8 at byte offset {}", e.valid_up_to()),
                );
                None
            }
        }
    }

    /// Reads a manifest file: `real` is the path as reached (its extension picks JSON or YAML),
    /// `canonical` the resolved file that is read and recorded as the origin.
    fn read_manifest(
        &mut self,
        real: &Path,
        canonical: &Path,
        display: &str,
        found: &mut Vec<FoundImage>,
    ) {
        let Some(bytes) = self.read_bounded(canonical, display) else {
            return;
        };
        self.snap.files += 1;
        self.load_bytes(display, Some(canonical), &bytes, is_json(real), found);
    }

    fn load_bytes(
        &mut self,
        display: &str,
        origin: Option<&Path>,
        bytes: &[u8],
        json: bool,
        found: &mut Vec<FoundImage>,
    ) {
        let keep = super::yaml::Keep::for_extraction(&self.opts.extra_image_paths);
        let parsed = parse_bytes(
            bytes,
            json,
            &self.limits(),
            &self.opts.extra_image_paths,
            keep.as_ref(),
        );
        self.apply(display, origin, parsed, found);
    }

    fn limits(&self) -> super::yaml::Limits {
        super::yaml::Limits {
            max_documents: self.opts.max_documents,
            max_nodes: self.opts.max_nodes,
            max_depth: self.opts.max_depth,
            max_events: self.opts.max_events,
            max_aliases: self.opts.max_aliases,
            max_anchors: self.opts.max_anchors,
        }
    }

    /// Records what [`parse_bytes`] found in one file or stream.
    fn apply(
        &mut self,
        display: &str,
        origin: Option<&Path>,
        parsed: Parsed,
        found: &mut Vec<FoundImage>,
    ) {
        let (docs, too_many) = match parsed {
            Parsed::BadUtf8(offset) => {
                self.problem(
                    display,
                    None,
                    ProblemCode::ManifestParseError,
                    format!("invalid UTF-8 at byte offset {offset}"),
                );
                return;
            }
            Parsed::Documents(docs, too_many) => (docs, too_many),
            Parsed::Unreadable(e) => {
                let (code, message) = e.describe(self.opts.max_file_bytes);
                self.problem(display, None, code, message);
                return;
            }
            Parsed::Failed => {
                self.problem(
                    display,
                    None,
                    ProblemCode::ManifestParseError,
                    "internal error while parsing this file".to_owned(),
                );
                return;
            }
        };
        for (index, doc) in docs {
            match doc {
                DocOutcome::Null => {}
                DocOutcome::Objects(objects) => {
                    self.document(display, origin, index, objects, found)
                }
                DocOutcome::NotKubernetes => {
                    self.skip(format!(
                        "{display}#{index}: not a Kubernetes object (no apiVersion/kind)"
                    ));
                }
                DocOutcome::NotObject(noun) => self.problem(
                    display,
                    Some(index),
                    ProblemCode::ManifestParseError,
                    format!("document is not an object (found {noun})"),
                ),
                DocOutcome::Error(e) => self.problem(
                    display,
                    Some(index),
                    ProblemCode::ManifestParseError,
                    format!("document {index}, line {}: {}", e.line, e.message),
                ),
            }
        }
        if too_many {
            self.problem(
                display,
                None,
                ProblemCode::ManifestTooLarge,
                format!(
                    "more than {} documents; the rest of the file was not read",
                    self.opts.max_documents
                ),
            );
        }
    }

    /// Parses the queued files (in parallel) and records them in walk order.
    fn flush(&mut self, slots: &mut Vec<Slot>) {
        let limits = self.limits();
        let jobs: Vec<(&Path, bool)> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::File {
                    canonical, json, ..
                } => Some((canonical.as_path(), *json)),
                Slot::Images(_) | Slot::Problems(_) => None,
            })
            .collect();
        let max = self.opts.max_file_bytes;
        let mut parsed = parse_many(&jobs, &limits, &self.opts.extra_image_paths, max).into_iter();
        drop(jobs);
        for slot in std::mem::take(slots) {
            match slot {
                Slot::Images(images) => self.snap.images.extend(images),
                Slot::Problems(problems) => self.snap.problems.extend(problems),
                Slot::File {
                    display, canonical, ..
                } => {
                    let p = parsed.next().unwrap_or(Parsed::Failed);
                    if !matches!(p, Parsed::Unreadable(..)) {
                        self.snap.files += 1;
                    }
                    let mut found = Vec::new();
                    self.apply(&display, Some(&canonical), p, &mut found);
                    self.snap.images.extend(found);
                }
            }
        }
    }

    /// Records one parsed document: its objects, its images, or why it is skipped.
    fn document(
        &mut self,
        display: &str,
        origin: Option<&Path>,
        index: usize,
        objects: Vec<Extracted>,
        found: &mut Vec<FoundImage>,
    ) {
        self.snap.manifests += objects.len();
        for object in objects {
            for (reference, pointer) in object.images {
                found.push(FoundImage {
                    reference,
                    location: Location {
                        file: display.to_owned(),
                        document: index,
                        kind: object.kind.clone(),
                        namespace: object.namespace.clone(),
                        name: object.name.clone(),
                        pointer,
                    },
                    origin: Origin::Scalar {
                        path: origin.map(Path::to_path_buf),
                    },
                });
            }
        }
    }
}

mod files;
use files::*;

#[cfg(test)]
mod tests;
