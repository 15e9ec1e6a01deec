//! Verified image automation, the pure half (docs/updates.md): update policies
//! (`imageUpdates:` of a GateConfig, `spec.imageUpdates` of a DeploymentGate), tag
//! selection ([`select`]), Flux-style `$imagepolicy` markers and their rewrite
//! ([`markers`]). The scan itself — tags listing, verification, commit — is the reconcile
//! core's step `reconcile::updates`.

pub mod markers;
pub mod select;

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::base::reference::{ImageRef, Repository};
use select::{Direction, Exclude, Order, Range, Selection};

/// Candidates verified per policy and scan at most (newest first).
pub const DEFAULT_MAX_CANDIDATES: usize = 10;
/// How long rejections and the current tag's digest stand by default.
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(300);
/// Rejected candidates kept per policy in the status.
pub const MAX_REJECTED: usize = 10;

/// `imageUpdates:` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageUpdatesSpec {
    /// How often to scan (`5m`; default: the source's interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Where and as whom the update commit is written.
    pub commit: CommitSpec,
    /// Candidates verified per policy and scan at most (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_candidates: Option<usize>,
    /// How long a rejected candidate, and the digest the current tag was found at, stand
    /// before a scan checks them again (default `5m`; `0s`: every scan). Within it a scan
    /// with nothing new costs only the tags listings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck: Option<String>,
    pub policies: Vec<UpdatePolicySpec>,
}

/// `imageUpdates.commit`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommitSpec {
    /// The branch the update is committed to (default: the watched branch; another branch
    /// for pull-request flows: it starts from the watched branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    pub author: AuthorSpec,
}

/// A commit author.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorSpec {
    pub name: String,
    pub email: String,
}

/// One update policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdatePolicySpec {
    /// What markers name (`# {"$imagepolicy": "NAME"}`).
    pub name: String,
    /// The repository whose tags are scanned (`ghcr.io/acme/web`, no tag or digest).
    pub image: String,
    pub select: SelectSpec,
}

/// How the newest tag is chosen (exactly one of `semver`, `regex`, `alphabetical`,
/// `numerical`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SelectSpec {
    /// A semver range (`>=1.0.0 <2.0.0`; pre-releases only when the range names one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// Tags matching this regex; `extract` (`$name`, `${1}`) gives the value ordered by
    /// `order` (`numerical` or `alphabetical`, default alphabetical), newest = highest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Every tag in alphabetical order: `asc` (newest = last) or `desc` (newest = first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabetical: Option<String>,
    /// Every numeric tag in numerical order: `asc` or `desc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerical: Option<String>,
    /// Tags matching any of these regexes are never candidates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// A validated update policy.
#[derive(Debug, Clone)]
pub struct UpdatePolicy {
    pub name: String,
    /// As written (what markers get).
    pub image: String,
    pub repository: Repository,
    pub selection: Selection,
    pub exclude: Exclude,
}

/// Validated `imageUpdates`.
#[derive(Debug, Clone)]
pub struct ImageUpdates {
    pub interval: Option<Duration>,
    pub recheck: Duration,
    pub branch: Option<String>,
    pub author_name: String,
    pub author_email: String,
    pub max_candidates: usize,
    pub policies: Vec<UpdatePolicy>,
}

/// A validation error: the field path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.into(),
        message: message.into(),
    }
}

fn direction(field: &str, v: Option<&str>) -> Result<Direction, SpecError> {
    match v.unwrap_or("asc") {
        "asc" => Ok(Direction::Asc),
        "desc" => Ok(Direction::Desc),
        other => Err(err(field, format!("{other:?}: expected asc or desc"))),
    }
}

fn regex(field: &str, r: &str) -> Result<regex::Regex, SpecError> {
    regex::RegexBuilder::new(r)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| err(field, format!("not a regex: {e}")))
}

impl SelectSpec {
    fn compile(&self, at: &str) -> Result<(Selection, Exclude), SpecError> {
        let chosen = [
            self.semver.is_some(),
            self.regex.is_some(),
            self.alphabetical.is_some(),
            self.numerical.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if chosen != 1 {
            return Err(err(
                at,
                "set exactly one of semver, regex, alphabetical, numerical",
            ));
        }
        if (self.extract.is_some() || self.order.is_some()) && self.regex.is_none() {
            return Err(err(
                format!("{at}.extract"),
                "extract and order go with regex",
            ));
        }
        let exclude = Exclude(
            self.exclude
                .iter()
                .enumerate()
                .map(|(i, r)| regex(&format!("{at}.exclude[{i}]"), r))
                .collect::<Result<_, _>>()?,
        );
        let selection = if let Some(r) = &self.semver {
            Selection::Semver(Range::parse(r).map_err(|e| err(format!("{at}.semver"), e))?)
        } else if let Some(r) = &self.regex {
            let filter = regex(&format!("{at}.regex"), r)?;
            if let Some(x) = &self.extract {
                let names: Vec<&str> = filter.capture_names().flatten().collect();
                let refers = names
                    .iter()
                    .any(|n| x.contains(&format!("${n}")) || x.contains(&format!("${{{n}}}")))
                    || (1..filter.captures_len())
                        .any(|i| x.contains(&format!("${i}")) || x.contains(&format!("${{{i}}}")));
                if !refers {
                    return Err(err(
                        format!("{at}.extract"),
                        format!("{x:?} names no group of the regex"),
                    ));
                }
            }
            let order = match self.order.as_deref().unwrap_or("alphabetical") {
                "alphabetical" => Order::Alphabetical(Direction::Asc),
                "numerical" => Order::Numerical(Direction::Asc),
                other => {
                    return Err(err(
                        format!("{at}.order"),
                        format!("{other:?}: expected numerical or alphabetical"),
                    ));
                }
            };
            Selection::Ordered {
                filter: Some(filter),
                extract: self.extract.clone(),
                order,
            }
        } else if let Some(d) = &self.alphabetical {
            Selection::Ordered {
                filter: None,
                extract: None,
                order: Order::Alphabetical(direction(&format!("{at}.alphabetical"), Some(d))?),
            }
        } else {
            Selection::Ordered {
                filter: None,
                extract: None,
                order: Order::Numerical(direction(
                    &format!("{at}.numerical"),
                    self.numerical.as_deref(),
                )?),
            }
        };
        Ok((selection, exclude))
    }
}

impl ImageUpdatesSpec {
    /// Validates the spec; `at` is its field path (`imageUpdates`, `spec.imageUpdates`),
    /// `parse_interval` reads durations as the rest of the config does.
    ///
    /// # Errors
    /// [`SpecError`] naming the field.
    pub fn compile(
        &self,
        at: &str,
        parse_interval: impl Fn(&str) -> Option<Duration>,
    ) -> Result<ImageUpdates, SpecError> {
        let interval = match &self.interval {
            None => None,
            Some(i) => Some(parse_interval(i).filter(|d| !d.is_zero()).ok_or_else(|| {
                err(format!("{at}.interval"), format!("{i:?} is not a duration"))
            })?),
        };
        let recheck = match &self.recheck {
            None => DEFAULT_RECHECK,
            Some(r) => parse_interval(r)
                .ok_or_else(|| err(format!("{at}.recheck"), format!("{r:?} is not a duration")))?,
        };
        if self.commit.author.name.trim().is_empty() || self.commit.author.email.trim().is_empty() {
            return Err(err(
                format!("{at}.commit.author"),
                "name and email are required",
            ));
        }
        if let Some(b) = &self.commit.branch
            && (b.is_empty()
                || b.starts_with('-')
                || b.contains("..")
                || b.contains(char::is_whitespace))
        {
            return Err(err(
                format!("{at}.commit.branch"),
                format!("{b:?} is not a branch name"),
            ));
        }
        if self.policies.is_empty() {
            return Err(err(format!("{at}.policies"), "at least one policy"));
        }
        let mut policies: Vec<UpdatePolicy> = Vec::new();
        for (i, p) in self.policies.iter().enumerate() {
            let here = format!("{at}.policies[{i}]");
            if p.name.is_empty()
                || !p
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(err(
                    format!("{here}.name"),
                    format!("{:?}: letters, digits, - _ . only", p.name),
                ));
            }
            if policies.iter().any(|q| q.name == p.name) {
                return Err(err(
                    format!("{here}.name"),
                    format!("{:?} is used twice", p.name),
                ));
            }
            let r = ImageRef::parse(&p.image)
                .map_err(|e| err(format!("{here}.image"), e.to_string()))?;
            let last = p.image.rsplit('/').next().unwrap_or_default();
            if last.contains(':') || p.image.contains('@') || r.digest().is_some() {
                return Err(err(
                    format!("{here}.image"),
                    format!("{:?}: a repository, without tag or digest", p.image),
                ));
            }
            let (selection, exclude) = p.select.compile(&format!("{here}.select"))?;
            policies.push(UpdatePolicy {
                name: p.name.clone(),
                image: p.image.clone(),
                repository: r.repository(),
                selection,
                exclude,
            });
        }
        Ok(ImageUpdates {
            interval,
            recheck,
            branch: self.commit.branch.clone(),
            author_name: self.commit.author.name.clone(),
            author_email: self.commit.author.email.clone(),
            max_candidates: self
                .max_candidates
                .unwrap_or(DEFAULT_MAX_CANDIDATES)
                .clamp(1, 100),
            policies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(select: SelectSpec, image: &str) -> ImageUpdatesSpec {
        ImageUpdatesSpec {
            interval: Some("5m".into()),
            commit: CommitSpec {
                branch: None,
                author: AuthorSpec {
                    name: "sealgate".into(),
                    email: "s@example.com".into(),
                },
            },
            max_candidates: None,
            recheck: None,
            policies: vec![UpdatePolicySpec {
                name: "web".into(),
                image: image.into(),
                select,
            }],
        }
    }

    fn parse(s: &str) -> Option<Duration> {
        crate::base::time::parse_duration(s)
            .ok()
            .map(Duration::from_secs)
    }

    #[test]
    fn validation_names_the_field() {
        let ok = spec(
            SelectSpec {
                semver: Some(">=1.0.0 <2.0.0".into()),
                ..SelectSpec::default()
            },
            "ghcr.io/acme/web",
        );
        let c = ok
            .compile("imageUpdates", parse)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.interval, Some(Duration::from_secs(300)));
        assert_eq!(c.policies[0].repository.to_string(), "ghcr.io/acme/web");
        let cases = [
            (
                SelectSpec::default(),
                "ghcr.io/acme/web",
                "imageUpdates.policies[0].select",
            ),
            (
                SelectSpec {
                    semver: Some(">=bogus".into()),
                    ..SelectSpec::default()
                },
                "ghcr.io/acme/web",
                "imageUpdates.policies[0].select.semver",
            ),
            (
                SelectSpec {
                    semver: Some("1".into()),
                    ..SelectSpec::default()
                },
                "ghcr.io/acme/web:1.0",
                "imageUpdates.policies[0].image",
            ),
            (
                SelectSpec {
                    regex: Some("^main-(?P<ts>[0-9]+)$".into()),
                    extract: Some("$nope".into()),
                    ..SelectSpec::default()
                },
                "ghcr.io/acme/web",
                "imageUpdates.policies[0].select.extract",
            ),
            (
                SelectSpec {
                    regex: Some("(".into()),
                    ..SelectSpec::default()
                },
                "ghcr.io/acme/web",
                "imageUpdates.policies[0].select.regex",
            ),
            (
                SelectSpec {
                    alphabetical: Some("up".into()),
                    ..SelectSpec::default()
                },
                "ghcr.io/acme/web",
                "imageUpdates.policies[0].select.alphabetical",
            ),
        ];
        for (select, image, field) in cases {
            let e = spec(select, image)
                .compile("imageUpdates", parse)
                .map(|_| ())
                .expect_err(field);
            assert_eq!(e.field, field, "{e}");
        }
    }
}
