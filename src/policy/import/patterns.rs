//! Image patterns and identity regular expressions, translated exactly or not at all.
//!
//! sealgate globs match the normalized **repository** (`docker.io/library/nginx`): `*` within
//! one segment, `**` across segments. The sources match the whole reference *with* its tag or
//! digest, so a pattern translates exactly only when its match does not depend on the tag or
//! digest; a pattern that names tags is widened to the repository (every tag and digest is
//! then verified: stricter), and any other shape is dropped with the reason.
//!
//! * Kyverno (`imageReferences`, go-wildcard v2): `*` any run of characters including `/`,
//!   `?` one character; compared with `registry/path:tag` or `registry/path@digest`, where
//!   Docker Hub images read `docker.io/library/nginx:latest`.
//! * policy-controller (`images[].glob`): `*` any run without `/`, `**` any run; compared with
//!   the fully qualified reference (`index.docker.io/library/nginx:latest`, `…@sha256:…`);
//!   `*` alone means `index.docker.io/library/*` and `*/*` means `index.docker.io/*/*`.

use crate::policy::glob::Glob;

/// How one source pattern translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Translated {
    Exact(Vec<String>),
    /// The globs check more images than the source (why).
    Stricter(Vec<String>, String),
    /// Not translated (why).
    Dropped(String),
}

fn is_host(segment: &str) -> bool {
    !segment.contains(['*', '?'])
        && (segment.contains('.') || segment.contains(':') || segment == "localhost")
}

/// The repository of a literal reference (tag and digest removed).
fn repository_of(reference: &str) -> &str {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

fn checked(globs: Vec<String>, ok: impl FnOnce(Vec<String>) -> Translated) -> Translated {
    for g in &globs {
        if let Err(e) = Glob::new(g) {
            return Translated::Dropped(format!("no sealgate glob for it: {e}"));
        }
    }
    ok(globs)
}

/// A Kyverno `imageReferences` entry.
pub(crate) fn kyverno(pattern: &str) -> Translated {
    let p = pattern.trim();
    if p == "*" {
        return Translated::Exact(vec!["**".into()]);
    }
    let Some((host, rest)) = p.split_once('/') else {
        return Translated::Dropped(format!(
            "{p:?} matches no image: Kyverno compares with the full reference \
             (docker.io/library/nginx:TAG); write the registry"
        ));
    };
    if !is_host(host) || host == "index.docker.io" {
        return Translated::Dropped(format!(
            "{p:?} matches no image or depends on a wildcard registry: Kyverno compares with \
             the full reference (docker.io/library/nginx:TAG, ghcr.io/org/app@sha256:…)"
        ));
    }
    let wild = rest.matches(['*', '?']).count();
    if wild == 0 {
        let repo = repository_of(p).to_string();
        let why = if repo == p {
            format!(
                "{p:?} without a tag matches no image in Kyverno (it compares REF:TAG or \
                 REF@DIGEST); sealgate verifies every tag and digest of {repo}"
            )
        } else {
            format!("Kyverno matches only {p:?}; sealgate verifies every tag and digest of {repo}")
        };
        return checked(vec![repo], |g| Translated::Stricter(g, why));
    }
    if wild == 1 && p.ends_with('*') {
        let prefix = &p[..p.len() - 1];
        let last = prefix.rsplit('/').next().unwrap_or(prefix);
        if prefix.ends_with('/') {
            return checked(vec![format!("{prefix}**")], Translated::Exact);
        }
        if last.contains([':', '@']) {
            let repo = repository_of(prefix).to_string();
            let after = &last[last.find([':', '@']).unwrap_or(0) + 1..];
            let why = if after.is_empty() {
                format!(
                    "Kyverno matches only tagged references of {repo} (a digest reference, \
                     {repo}@sha256:…, does not match); sealgate verifies every tag and digest \
                     of {repo}"
                )
            } else {
                format!(
                    "Kyverno matches only references of {repo} whose tag or digest starts \
                     with {after:?}; sealgate verifies every tag and digest of {repo}"
                )
            };
            return checked(vec![repo], |g| Translated::Stricter(g, why));
        }
        return checked(
            vec![format!("{prefix}*"), format!("{prefix}*/**")],
            Translated::Exact,
        );
    }
    Translated::Dropped(format!(
        "{p:?}: only a trailing `*` translates exactly (Kyverno's `*` also crosses `/` and \
         matches tags); write it as REGISTRY/PATH/* or REGISTRY/PATH/NAME*"
    ))
}

/// A policy-controller `images[].glob`.
pub(crate) fn policy_controller(glob: &str) -> Translated {
    let g = glob.trim();
    match g {
        "**" => return Translated::Exact(vec!["**".into()]),
        "*" => return Translated::Exact(vec!["docker.io/library/*".into()]),
        "*/*" => return Translated::Exact(vec!["docker.io/*/*".into()]),
        _ => {}
    }
    if g.is_empty()
        || !g
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:/*.".contains(&b))
    {
        return Translated::Dropped(format!("{g:?} is not a valid policy-controller glob"));
    }
    let Some((host, rest)) = g.split_once('/') else {
        return Translated::Dropped(format!(
            "{g:?} matches only references written exactly so: policy-controller compares \
             with the fully qualified reference (index.docker.io/library/…); write the registry"
        ));
    };
    if !is_host(host) {
        return Translated::Dropped(format!(
            "{g:?}: the registry must be written out (policy-controller compares with the \
             fully qualified reference, index.docker.io/… for Docker Hub)"
        ));
    }
    if host == "docker.io" {
        return Translated::Dropped(format!(
            "{g:?} never matches a normalized reference: policy-controller spells Docker Hub \
             index.docker.io"
        ));
    }
    let normalized = if host == "index.docker.io" {
        format!("docker.io/{rest}")
    } else {
        g.to_string()
    };
    let g = normalized.as_str();
    let body_stars = |s: &str| s.contains("**");
    if let Some(prefix) = g.strip_suffix("**") {
        if body_stars(prefix) || prefix.ends_with('*') {
            return dropped_shape(g);
        }
        let last = prefix.rsplit('/').next().unwrap_or(prefix);
        if prefix.ends_with('/') {
            return checked(vec![format!("{prefix}**")], Translated::Exact);
        }
        if last.contains([':', '@']) {
            return tag_pattern(prefix);
        }
        return checked(
            vec![format!("{prefix}*"), format!("{prefix}*/**")],
            Translated::Exact,
        );
    }
    if body_stars(g) {
        return dropped_shape(g);
    }
    let last = g.rsplit('/').next().unwrap_or(g);
    if let Some(prefix) = g.strip_suffix('*') {
        if last.contains([':', '@']) {
            return tag_pattern(prefix);
        }
        return checked(vec![g.to_string()], Translated::Exact);
    }
    // no trailing wildcard: compared with REF:TAG / REF@DIGEST, it matches one reference
    let repo = repository_of(g).to_string();
    let why = format!(
        "policy-controller matches only the reference {g:?} exactly (it compares with the \
         tag or digest); sealgate verifies every tag and digest of {repo}"
    );
    checked(vec![repo], |r| Translated::Stricter(r, why))
}

fn tag_pattern(prefix: &str) -> Translated {
    let repo = repository_of(prefix).to_string();
    let why = format!(
        "policy-controller matches only tagged references of {repo} (it validates digest \
         references, {repo}@sha256:…, which a tag pattern never matches); sealgate verifies \
         every tag and digest of {repo}"
    );
    checked(vec![repo], |g| Translated::Stricter(g, why))
}

fn dropped_shape(g: &str) -> Translated {
    Translated::Dropped(format!(
        "{g:?}: `**` translates exactly only at the end (REGISTRY/PATH/** or \
         REGISTRY/PATH/NAME**)"
    ))
}

/// A Go regular expression as cosign uses it (unanchored `MatchString`) as a sealgate
/// `…RegExp` (anchored): `.*(?:EXPR).*`, or the expression itself when it is anchored at both
/// ends and has no alternation. `Err` when the Rust engine does not accept it.
pub(crate) fn unanchored_regex(expr: &str) -> Result<String, String> {
    let plain = !expr.contains('|');
    let ends_any = expr.ends_with(".*") && !expr.ends_with("\\.*");
    let ends_anchor = expr.ends_with('$') && !expr.ends_with("\\$");
    let out = if plain && expr.starts_with('^') && ends_anchor && expr.len() >= 2 {
        expr[1..expr.len() - 1].to_string()
    } else if plain {
        let pre = if expr.starts_with('^') || expr.starts_with(".*") {
            ""
        } else {
            ".*"
        };
        let post = if ends_anchor || ends_any { "" } else { ".*" };
        if pre.is_empty() && post.is_empty() {
            expr.to_string()
        } else {
            format!("{pre}(?:{expr}){post}")
        }
    } else {
        format!(".*(?:{expr}).*")
    };
    crate::sigstore::verify::Matcher::regex(&out)
        .map(|_| out)
        .map_err(|e| format!("not a regular expression sealgate accepts: {e}"))
}
