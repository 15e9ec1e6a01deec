//! Flux-style markers: a YAML line whose comment is `{"$imagepolicy": "POLICY"}` (the whole
//! reference), `"POLICY:tag"`, `"POLICY:name"` or `"POLICY:digest"` (split fields, as Helm
//! values and kustomization `images:` entries have them); `NAMESPACE:POLICY[:field]` as
//! Flux writes them is read too. The marked scalar is rewritten through
//! [`crate::manifests::pin::pin_yaml`] (comments, quoting, indentation untouched).

use std::collections::BTreeMap;

use crate::manifests::pin::{self, PinEdit, PinError};

/// Which part of the reference a marker holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `repo:tag@sha256:…`.
    Whole,
    /// The repository.
    Name,
    /// The tag (`tag@sha256:…` unless a `:digest` marker of the policy is in the same
    /// document: then the tag alone).
    Tag,
    /// `sha256:…`.
    Digest,
}

/// One marked scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub policy: String,
    pub field: Field,
    pub document: usize,
    pub pointer: String,
    /// The scalar's current value.
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

impl Marker {
    /// The tag the scalar holds now (whole references and tags), without a digest.
    pub fn current_tag(&self) -> Option<String> {
        let v = self.value.split('@').next().unwrap_or_default();
        match self.field {
            Field::Tag => (!v.is_empty()).then(|| v.to_owned()),
            Field::Whole => {
                let slash = v.rfind('/').unwrap_or(0);
                v[slash..].rfind(':').map(|i| v[slash + i + 1..].to_owned())
            }
            Field::Name | Field::Digest => None,
        }
    }

    /// The digest the scalar pins now, if any.
    pub fn current_digest(&self) -> Option<String> {
        match self.field {
            Field::Digest => Some(self.value.clone()),
            Field::Whole | Field::Tag => self.value.split_once('@').map(|(_, d)| d.to_owned()),
            Field::Name => None,
        }
    }
}

/// Parses a marker comment's JSON: `(policy, field)`.
fn parse_comment(comment: &str) -> Option<Result<(String, Field), String>> {
    let start = comment.find('{')?;
    let end = comment[start..].find('}')? + start;
    let json = &comment[start..=end];
    if !json.contains("$imagepolicy") {
        return None;
    }
    let v: serde_json::Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => return Some(Err(format!("marker {json}: {e}"))),
    };
    let Some(name) = v.get("$imagepolicy").and_then(|n| n.as_str()) else {
        return Some(Err(format!(
            "marker {json}: \"$imagepolicy\" is not a string"
        )));
    };
    let mut parts: Vec<&str> = name.split(':').collect();
    let field = match parts.last().copied() {
        Some("tag") if parts.len() > 1 => Field::Tag,
        Some("name") if parts.len() > 1 => Field::Name,
        Some("digest") if parts.len() > 1 => Field::Digest,
        _ => Field::Whole,
    };
    if field != Field::Whole {
        parts.pop();
    }
    match parts.as_slice() {
        [policy] | [_, policy] if !policy.is_empty() => Some(Ok(((*policy).to_owned(), field))),
        _ => Some(Err(format!(
            "marker {json}: {name:?} is not POLICY[:field]"
        ))),
    }
}

/// The markers of a YAML text; problems (a marker with no scalar before it, unreadable
/// JSON) are returned beside them, never guessed at.
///
/// # Errors
/// [`PinError::ParseFailed`] when a file with markers is not YAML.
pub fn find(text: &str) -> Result<(Vec<Marker>, Vec<String>), PinError> {
    if !text.contains("$imagepolicy") {
        return Ok((Vec::new(), Vec::new()));
    }
    let scalars = pin::value_scalars(text)?;
    let mut markers = Vec::new();
    let mut problems = Vec::new();
    let mut offset = 0usize;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += line.len();
        let Some(hash) = comment_start(line) else {
            continue;
        };
        let Some(parsed) = parse_comment(&line[hash..]) else {
            continue;
        };
        let (policy, field) = match parsed {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("line {}: {e}", n + 1));
                continue;
            }
        };
        let abs = line_start + hash;
        let scalar = scalars
            .iter()
            .rfind(|s| s.start >= line_start && s.end <= abs);
        match scalar {
            Some(s) => markers.push(Marker {
                policy,
                field,
                document: s.document,
                pointer: s.pointer.clone(),
                value: s.value.clone(),
                line: n + 1,
            }),
            None => problems.push(format!(
                "line {}: the marker of {policy:?} has no value before it on its line",
                n + 1
            )),
        }
    }
    Ok((markers, problems))
}

/// Where a YAML comment starts on a line: a `#` at the start or after a space, outside
/// quotes.
fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double) = (false, false);
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'#' if !single && !double && (i == 0 || bytes[i - 1].is_ascii_whitespace()) => {
                return Some(i);
            }
            _ => {}
        }
    }
    None
}

/// The version a policy moves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The repository as the policy writes it.
    pub image: String,
    pub tag: String,
    /// `sha256:…`, the digest that was verified.
    pub digest: String,
}

/// Rewrites the markers of `text` whose policy moves (`targets` by policy name); `None`
/// when nothing changes.
///
/// # Errors
/// [`PinError`] when a marked scalar cannot be rewritten in place.
pub fn rewrite(
    text: &str,
    markers: &[Marker],
    targets: &BTreeMap<String, Target>,
) -> Result<Option<String>, PinError> {
    let mut edits = Vec::new();
    for m in markers {
        let Some(t) = targets.get(&m.policy) else {
            continue;
        };
        let split_digest = markers
            .iter()
            .any(|o| o.policy == m.policy && o.document == m.document && o.field == Field::Digest);
        let new = match m.field {
            Field::Whole => format!("{}:{}@{}", t.image, t.tag, t.digest),
            Field::Name => t.image.clone(),
            Field::Tag if split_digest => t.tag.clone(),
            Field::Tag => format!("{}@{}", t.tag, t.digest),
            Field::Digest => t.digest.clone(),
        };
        if new != m.value {
            edits.push(PinEdit {
                document: m.document,
                pointer: m.pointer.clone(),
                old: m.value.clone(),
                new,
            });
        }
    }
    if edits.is_empty() {
        return Ok(None);
    }
    pin::pin_yaml(text, &edits).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOY: &str = "# web\napiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: ghcr.io/acme/web:1.0.0 # {\"$imagepolicy\": \"web\"}\n        - name: side\n          image: \"ghcr.io/acme/side:2.0\"   # {\"$imagepolicy\": \"flux-system:side\"}\n";

    fn target(image: &str, tag: &str) -> Target {
        Target {
            image: image.into(),
            tag: tag.into(),
            digest: format!("sha256:{}", "a".repeat(64)),
        }
    }

    #[test]
    fn whole_references_are_rewritten_and_everything_else_stays_byte_identical() {
        let (m, problems) = find(DEPLOY).unwrap_or_else(|e| panic!("{e}"));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].policy.as_str(), m[0].field), ("web", Field::Whole));
        assert_eq!(m[0].current_tag().as_deref(), Some("1.0.0"));
        assert_eq!(m[1].policy, "side");
        let mut t = BTreeMap::new();
        t.insert("web".to_owned(), target("ghcr.io/acme/web", "1.1.0"));
        t.insert("side".to_owned(), target("ghcr.io/acme/side", "2.1"));
        let out = rewrite(DEPLOY, &m, &t)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("changed"));
        let want = DEPLOY
            .replace(
                "ghcr.io/acme/web:1.0.0",
                &format!("ghcr.io/acme/web:1.1.0@sha256:{}", "a".repeat(64)),
            )
            .replace(
                "\"ghcr.io/acme/side:2.0\"",
                &format!("\"ghcr.io/acme/side:2.1@sha256:{}\"", "a".repeat(64)),
            );
        assert_eq!(out, want);
        // the same again: nothing to change
        let (m2, _) = find(&out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            rewrite(&out, &m2, &t).unwrap_or_else(|e| panic!("{e}")),
            None
        );
        assert_eq!(
            m2[0].current_digest(),
            Some(format!("sha256:{}", "a".repeat(64)))
        );
    }

    #[test]
    fn split_fields_and_kustomization_entries() {
        let values = "image:\n  repository: ghcr.io/acme/web # {\"$imagepolicy\": \"web:name\"}\n  tag: 1.0.0 # {\"$imagepolicy\": \"web:tag\"}\n";
        let (m, _) = find(values).unwrap_or_else(|e| panic!("{e}"));
        let mut t = BTreeMap::new();
        t.insert("web".to_owned(), target("ghcr.io/acme/web", "1.1.0"));
        let out = rewrite(values, &m, &t).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.as_deref(),
            Some(
                format!("image:\n  repository: ghcr.io/acme/web # {{\"$imagepolicy\": \"web:name\"}}\n  tag: 1.1.0@sha256:{} # {{\"$imagepolicy\": \"web:tag\"}}\n", "a".repeat(64)).as_str()
            )
        );
        let kustomization = "images:\n  - name: ghcr.io/acme/web\n    newTag: 1.0.0 # {\"$imagepolicy\": \"web:tag\"}\n    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000 # {\"$imagepolicy\": \"web:digest\"}\n";
        let (m, _) = find(kustomization).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.len(), 2);
        let out = rewrite(kustomization, &m, &t)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_default();
        // a plain scalar that would read back as another type is written quoted
        assert!(out.contains("    newTag: \"1.1.0\" # {"), "{out}");
        assert!(
            out.contains(&format!("    digest: sha256:{} # {{", "a".repeat(64))),
            "{out}"
        );
    }

    #[test]
    fn bad_markers_are_problems_not_guesses() {
        let text = "a: 1\n# {\"$imagepolicy\": \"web\"}\nb: x # {\"$imagepolicy\": 3}\nc: y # {\"$imagepolicy\": \"a:b:c:d\"}\nd: '#x' # not a marker\n";
        let (m, problems) = find(text).unwrap_or_else(|e| panic!("{e}"));
        assert!(m.is_empty(), "{m:?}");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("line 2:"), "{problems:?}");
    }
}
