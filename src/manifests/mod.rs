//! Manifests: find every container image reference in a tree of Kubernetes manifests, and pin references
//! to digests without disturbing the files' formatting.
//!
//! This is the "manifests → images" stage of the pipeline. It is pure apart from reading the files it is
//! pointed at ([`load`]): no network, no clock, no Git. It depends only on `serde`, `serde_json`,
//! `serde-saphyr` (YAML, with its `granit_parser` event parser), `thiserror` and `tracing`.
//!
//! - [`load`]: the safe tree walk (symlinks stay inside the root, size limits, hidden entries skipped),
//!   multi-document YAML and JSON parsing with bounded alias expansion, and kustomize `images:` overrides.
//!   Nothing in it fails: every bad input becomes a [`Problem`] in the returned [`Snapshot`].
//! - [`images`]: the pure extractors over `serde_json::Value` (pod-spec kinds, `List`s, extra JSON-pointer
//!   paths) and kustomize's image-override arithmetic.
//! - [`pin`]: the format-preserving rewrite of image scalars and kustomization `digest:` fields.

pub mod images;
pub mod load;
pub mod pin;
pub mod yaml;

pub use images::{ImagePath, ImagePathError, parse_image_path};
pub use load::{LoadOptions, load_paths, load_stream};
pub use pin::{PinEdit, PinError, pin_kustomization, pin_yaml};

/// Where an image reference was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// The path as given by the user joined with the path below it, with `/` separators and `.`/`..`
    /// components resolved lexically (`./apps/web.yaml` is reported as `apps/web.yaml`); `-` for stdin.
    pub file: String,
    /// Index of the YAML document in the file (every `---` counts, empty documents included).
    pub document: usize,
    /// `kind` of the object holding the image (for `List` items: the item's kind).
    pub kind: String,
    /// `metadata.namespace` of that object, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name` of that object (empty when it has none).
    pub name: String,
    /// RFC 6901 JSON pointer of the image scalar inside the document.
    pub pointer: String,
}

/// One occurrence of an image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundImage {
    /// The reference as written, after kustomize `images:` overrides.
    pub reference: String,
    /// Where the scalar holding it sits.
    pub location: Location,
    /// How to pin it: where the scalar that holds the reference lives.
    pub origin: Origin,
}

/// The text that determines an image reference, i.e. what [`pin`] has to rewrite to pin it.
///
/// Paths are canonical (absolute, symbolic links resolved): a file included by several kustomizations has
/// one path, so all its edits can be applied in one [`pin::pin_yaml`] call, and rewriting it leaves
/// symbolic links intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The image scalar itself at `location.pointer` of document `location.document` of `path` (a real file;
    /// `None` for stdin).
    Scalar {
        /// The file to rewrite (canonical path).
        path: Option<std::path::PathBuf>,
    },
    /// The reference came from a kustomization `images:` override: entry `index` of kustomization file `path`.
    Kustomize {
        /// The kustomization file holding the override (canonical path).
        path: std::path::PathBuf,
        /// Index of the entry in its `images:` list.
        index: usize,
    },
}

/// Stable codes of manifest problems (contract: "Problems").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ProblemCode {
    /// A file or document could not be read or parsed (syntax, encoding, alias bomb, not an object, …).
    ManifestParseError,
    /// A file, the whole input, or a file's document count is over its limit.
    ManifestTooLarge,
    /// A symbolic link or kustomization resource points outside the checked root.
    UnsafePath,
}

impl ProblemCode {
    /// The code as written in reports (`"ManifestParseError"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManifestParseError => "ManifestParseError",
            Self::ManifestTooLarge => "ManifestTooLarge",
            Self::UnsafePath => "UnsafePath",
        }
    }
}

/// A manifest that could not be (fully) read; it blocks the decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file, in the same form as [`Location::file`].
    pub file: String,
    /// The document the problem is in, when it is about one document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// What kind of problem.
    pub code: ProblemCode,
    /// Human-readable detail.
    pub message: String,
}

/// Everything found in the manifests of one check.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Manifest files read (kustomization files themselves are not counted; stdin counts as one).
    pub files: usize,
    /// Kubernetes object documents seen (have `apiVersion` and `kind`); `List` items counted individually.
    pub manifests: usize,
    /// In input order: files sorted by path, documents in order, pointers in document order.
    pub images: Vec<FoundImage>,
    /// Files and documents that could not be read.
    pub problems: Vec<Problem>,
    /// `file#doc: reason` for documents that parse but are not Kubernetes objects, and `file: reason` for
    /// files and kustomization resources passed over on purpose (for `-v`).
    pub skipped: Vec<String>,
    /// PATH arguments that do not exist (the CLI exits 2 on them).
    pub missing: Vec<String>,
}

impl Snapshot {
    /// Appends `other` (for example the stdin snapshot) to this one, keeping the order.
    pub fn extend(&mut self, other: Snapshot) {
        self.files += other.files;
        self.manifests += other.manifests;
        self.images.extend(other.images);
        self.problems.extend(other.problems);
        self.skipped.extend(other.skipped);
        self.missing.extend(other.missing);
    }
}
