//! Tag selection of image update policies, with Flux `ImagePolicy` semantics: a semver
//! range (Masterminds syntax: comparators joined by spaces or commas, `||` alternatives,
//! `~`, `^`, `x`/`*` wildcards, hyphen ranges; a pre-release is only a candidate when a
//! comparator of its alternative names a pre-release), a regex filter with an optional
//! `extract` template ordered numerically or alphabetically, or plain alphabetical /
//! numerical order. Pure.

use std::cmp::Ordering;

use regex::Regex;
use semver::{Prerelease, Version};

/// Which direction is "newest".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The highest value is the newest.
    Asc,
    /// The lowest value is the newest.
    Desc,
}

/// How extracted values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Alphabetical(Direction),
    Numerical(Direction),
}

/// A compiled selection.
#[derive(Debug, Clone)]
pub enum Selection {
    Semver(Range),
    /// `filter` keeps matching tags; `extract` (a `$name` / `${1}` template) gives the value
    /// that is ordered (default: the whole tag).
    Ordered {
        filter: Option<Regex>,
        extract: Option<String>,
        order: Order,
    },
}

/// Tags never considered, whatever the selection.
#[derive(Debug, Clone, Default)]
pub struct Exclude(pub Vec<Regex>);

impl Exclude {
    pub fn excludes(&self, tag: &str) -> bool {
        self.0.iter().any(|r| r.is_match(tag))
    }
}

/// A tag's sort key under a selection.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Version(Version),
    Text(String),
    Number(f64),
}

impl Selection {
    /// The key of `tag`, or `None` when the selection does not admit it.
    fn key(&self, tag: &str) -> Option<Key> {
        match self {
            Self::Semver(range) => {
                let v = parse_version(tag)?;
                range.matches(&v).then_some(Key::Version(v))
            }
            Self::Ordered {
                filter,
                extract,
                order,
            } => {
                let value = match (filter, extract) {
                    (Some(re), Some(template)) => {
                        let caps = re.captures(tag)?;
                        let mut out = String::new();
                        caps.expand(template, &mut out);
                        out
                    }
                    (Some(re), None) => {
                        if !re.is_match(tag) {
                            return None;
                        }
                        tag.to_owned()
                    }
                    (None, _) => tag.to_owned(),
                };
                match order {
                    Order::Alphabetical(_) => Some(Key::Text(value)),
                    Order::Numerical(_) => value
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .map(Key::Number),
                }
            }
        }
    }

    fn direction(&self) -> Direction {
        match self {
            Self::Semver(_) => Direction::Asc,
            Self::Ordered { order, .. } => match order {
                Order::Alphabetical(d) | Order::Numerical(d) => *d,
            },
        }
    }

    /// `a` vs `b` with the newest greatest.
    fn cmp_keys(&self, a: &Key, b: &Key) -> Ordering {
        let o = match (a, b) {
            (Key::Version(a), Key::Version(b)) => cmp_version(a, b),
            (Key::Text(a), Key::Text(b)) => a.cmp(b),
            (Key::Number(a), Key::Number(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            _ => Ordering::Equal,
        };
        match self.direction() {
            Direction::Asc => o,
            Direction::Desc => o.reverse(),
        }
    }

    /// The tags the selection admits, newest first (ties: the tag's text, descending, so
    /// the order is total and repeatable).
    pub fn order<'t>(&self, tags: &'t [String], exclude: &Exclude) -> Vec<&'t str> {
        let mut keyed: Vec<(&str, Key)> = tags
            .iter()
            .filter(|t| !exclude.excludes(t))
            .filter_map(|t| self.key(t).map(|k| (t.as_str(), k)))
            .collect();
        keyed.sort_by(|(ta, a), (tb, b)| self.cmp_keys(b, a).then_with(|| tb.cmp(ta)));
        keyed.into_iter().map(|(t, _)| t).collect()
    }

    /// The admitted tags strictly newer than `current` (all admitted tags when `current` is
    /// not admitted), newest first.
    pub fn newer<'t>(&self, tags: &'t [String], exclude: &Exclude, current: &str) -> Vec<&'t str> {
        let ordered = self.order(tags, exclude);
        let Some(cur) = self.key(current).filter(|_| !exclude.excludes(current)) else {
            return ordered;
        };
        ordered
            .into_iter()
            .filter(|t| {
                self.key(t)
                    .is_some_and(|k| self.cmp_keys(&k, &cur) == Ordering::Greater)
            })
            .collect()
    }
}

/// Semver precedence (build metadata ignored).
fn cmp_version(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| a.pre.cmp(&b.pre))
}

/// A tag as a version: `1.2.3`, `v1.2.3`, `1.2`, `1` (missing parts are 0), with an
/// optional pre-release and build; anything else is not a version.
pub fn parse_version(tag: &str) -> Option<Version> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    if let Ok(v) = Version::parse(t) {
        return Some(v);
    }
    // lenient: 1 / 1.2 with an optional -pre / +build
    let split = t.find(['-', '+']).unwrap_or(t.len());
    let (core, rest) = t.split_at(split);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 2 || parts.iter().any(|p| !is_number(p)) {
        return None;
    }
    let full = match parts.len() {
        1 => format!("{}.0.0{rest}", parts[0]),
        _ => format!("{}.{}.0{rest}", parts[0], parts[1]),
    };
    Version::parse(&full).ok()
}

fn is_number(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 20
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'))
}

/// One comparator of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    version: Version,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A semver range: alternatives (`||`) of comparator sets (all must hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// Each alternative, and whether it names a pre-release (then pre-releases may match).
    alternatives: Vec<(Vec<Comparator>, bool)>,
}

impl Range {
    /// Parses a Masterminds-style range.
    ///
    /// # Errors
    /// A message naming the part that does not parse.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let alt = alt.trim();
            if alt.is_empty() {
                return Err(format!("{text:?}: an empty alternative"));
            }
            // a token (operator stripped; the hyphen range's lone `-` skipped) with a `-pre`
            let named_pre = alt.split([' ', ',']).any(|t| {
                let t = t.trim_start_matches(|c: char| "=!<>~^v".contains(c));
                t.split('+')
                    .next()
                    .is_some_and(|core| core.len() > 1 && core.contains('-'))
            });
            alternatives.push((
                parse_set(alt).map_err(|e| format!("{text:?}: {e}"))?,
                named_pre,
            ));
        }
        Ok(Self { alternatives })
    }

    /// Whether `v` is in the range (pre-releases only through an alternative that names one).
    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives.iter().any(|(set, allows_pre)| {
            (v.pre.is_empty() || *allows_pre) && set.iter().all(|c| c.holds(v))
        })
    }
}

impl Comparator {
    fn holds(&self, v: &Version) -> bool {
        let o = cmp_version(v, &self.version);
        match self.op {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
        }
    }
}

/// A partial version: `1`, `1.2`, `1.2.3`, with `x`/`X`/`*` for a missing part.
struct Partial {
    parts: Vec<u64>,
    pre: Prerelease,
}

fn parse_partial(s: &str) -> Result<Partial, String> {
    let s = s.strip_prefix('v').unwrap_or(s);
    if s.is_empty() || s == "*" || s == "x" || s == "X" {
        return Ok(Partial {
            parts: vec![],
            pre: Prerelease::EMPTY,
        });
    }
    let split = s.find(['-', '+']).unwrap_or(s.len());
    let (core, rest) = s.split_at(split);
    let pre = match rest.strip_prefix('-') {
        Some(p) => {
            let p = p.split('+').next().unwrap_or_default();
            Prerelease::new(p).map_err(|e| format!("{s:?}: {e}"))?
        }
        None => Prerelease::EMPTY,
    };
    let mut parts = Vec::new();
    let mut wild = false;
    for (i, p) in core.split('.').enumerate() {
        if i >= 3 {
            return Err(format!("{s:?} is not a version"));
        }
        if matches!(p, "x" | "X" | "*") {
            wild = true;
            continue;
        }
        if wild {
            return Err(format!("{s:?}: nothing but wildcards after a wildcard"));
        }
        if !is_number(p) {
            return Err(format!("{s:?} is not a version"));
        }
        parts.push(p.parse::<u64>().map_err(|e| format!("{s:?}: {e}"))?);
    }
    Ok(Partial { parts, pre })
}

fn version(parts: &[u64], pre: Prerelease) -> Version {
    let at = |i: usize| parts.get(i).copied().unwrap_or(0);
    let mut v = Version::new(at(0), at(1), at(2));
    v.pre = pre;
    v
}

/// The lowest version above every version `parts` covers (`1.2` → `1.3.0`).
fn bump(parts: &[u64]) -> Version {
    match parts {
        [] => Version::new(u64::MAX, 0, 0),
        [major] => Version::new(major.saturating_add(1), 0, 0),
        [major, minor] => Version::new(*major, minor.saturating_add(1), 0),
        [major, minor, patch, ..] => Version::new(*major, *minor, patch.saturating_add(1)),
    }
}

fn c(op: Op, version: Version) -> Comparator {
    Comparator { op, version }
}

/// A lower bound that also admits pre-releases of `v` itself (`<1.3.0-0` style).
fn below(v: Version) -> Comparator {
    let mut v = v;
    if v.pre.is_empty() {
        v.pre = Prerelease::new("0").unwrap_or(Prerelease::EMPTY);
    }
    c(Op::Lt, v)
}

fn parse_set(text: &str) -> Result<Vec<Comparator>, String> {
    // hyphen range: "A - B"
    if let Some((a, b)) = text.split_once(" - ") {
        let (a, b) = (parse_partial(a.trim())?, parse_partial(b.trim())?);
        let mut set = vec![c(Op::Ge, version(&a.parts, a.pre))];
        if b.parts.len() == 3 {
            set.push(c(Op::Le, version(&b.parts, b.pre)));
        } else if !b.parts.is_empty() {
            set.push(below(bump(&b.parts)));
        }
        return Ok(set);
    }
    let mut tokens: Vec<String> = Vec::new();
    for raw in text.split([' ', ',']).filter(|t| !t.is_empty()) {
        // an operator written apart from its version (">= 1.2")
        match tokens.last_mut() {
            Some(last)
                if matches!(
                    last.as_str(),
                    "=" | "!=" | ">" | ">=" | "<" | "<=" | "~" | "~>" | "^"
                ) =>
            {
                last.push_str(raw);
            }
            _ => tokens.push(raw.to_owned()),
        }
    }
    let mut set = Vec::new();
    for t in tokens {
        let (op, rest) = ["!=", ">=", "<=", "~>", "=", ">", "<", "~", "^"]
            .iter()
            .find_map(|op| t.strip_prefix(op).map(|r| (*op, r)))
            .unwrap_or(("", t.as_str()));
        let p = parse_partial(rest.trim())?;
        let exact = p.parts.len() == 3;
        let lo = version(&p.parts, p.pre.clone());
        match op {
            "" | "=" => {
                if exact {
                    set.push(c(Op::Eq, lo));
                } else if !p.parts.is_empty() {
                    set.push(c(Op::Ge, lo));
                    set.push(below(bump(&p.parts)));
                }
                // "*": no constraint
            }
            "!=" => set.push(c(Op::Ne, lo)),
            ">" => {
                if exact || p.parts.is_empty() {
                    set.push(c(Op::Gt, lo));
                } else {
                    set.push(c(Op::Ge, bump(&p.parts)));
                }
            }
            ">=" => set.push(c(Op::Ge, lo)),
            "<" => set.push(below(lo)),
            "<=" => {
                if exact {
                    set.push(c(Op::Le, lo));
                } else if !p.parts.is_empty() {
                    set.push(below(bump(&p.parts)));
                }
            }
            "~" | "~>" => {
                set.push(c(Op::Ge, lo));
                let upper = match p.parts.len() {
                    0 => None,
                    1 => Some(bump(&p.parts[..1])),
                    _ => Some(bump(&p.parts[..2])),
                };
                if let Some(u) = upper {
                    set.push(below(u));
                }
            }
            "^" => {
                set.push(c(Op::Ge, lo));
                let upper = match p.parts.as_slice() {
                    [] => None,
                    [0] => Some(Version::new(1, 0, 0)),
                    [0, 0] => Some(Version::new(0, 1, 0)),
                    [0, 0, patch] => Some(Version::new(0, 0, patch.saturating_add(1))),
                    [0, minor, ..] => Some(Version::new(0, minor.saturating_add(1), 0)),
                    [major, ..] => Some(Version::new(major.saturating_add(1), 0, 0)),
                };
                if let Some(u) = upper {
                    set.push(below(u));
                }
            }
            _ => return Err(format!("{t:?}: unknown operator")),
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| (*s).to_owned()).collect()
    }

    fn semver(range: &str) -> Selection {
        Selection::Semver(Range::parse(range).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn semver_ranges_pick_the_highest_in_range_and_skip_pre_releases_unless_asked() {
        let t = tags(&[
            "1.0.0",
            "1.1.0",
            "1.2.0",
            "2.0.0",
            "1.3.0-rc.1",
            "v1.2.5",
            "latest",
            "1.2",
            "main-abc",
        ]);
        let s = semver(">=1.0.0 <2.0.0");
        assert_eq!(
            s.order(&t, &Exclude::default()),
            ["v1.2.5", "1.2.0", "1.2", "1.1.0", "1.0.0"]
        );
        assert_eq!(
            s.newer(&t, &Exclude::default(), "1.1.0"),
            ["v1.2.5", "1.2.0", "1.2"]
        );
        let pre = semver(">=1.0.0-0 <2.0.0");
        assert_eq!(pre.order(&t, &Exclude::default())[0], "1.3.0-rc.1");
        let ex = Exclude(vec![Regex::new("^v").unwrap_or_else(|_| unreachable!())]);
        assert_eq!(s.order(&t, &ex)[0], "1.2.0");
    }

    #[test]
    fn range_syntax_follows_masterminds() {
        let m = |r: &str, v: &str| {
            Range::parse(r)
                .unwrap_or_else(|e| panic!("{e}"))
                .matches(&parse_version(v).unwrap_or_else(|| panic!("{v}")))
        };
        assert!(m("~1.2.3", "1.2.9") && !m("~1.2.3", "1.3.0"));
        assert!(m("^1.2.3", "1.9.0") && !m("^1.2.3", "2.0.0"));
        assert!(m("^0.2.3", "0.2.9") && !m("^0.2.3", "0.3.0"));
        assert!(m("1.2.x", "1.2.7") && !m("1.2.x", "1.3.0"));
        assert!(m("1.2 - 1.4.5", "1.4.5") && !m("1.2 - 1.4.5", "1.4.6"));
        assert!(m(">= 1.2, < 1.3", "1.2.4"));
        assert!(m("<1.0.0 || >=2.1.0", "2.1.0") && !m("<1.0.0 || >=2.1.0", "1.5.0"));
        assert!(m("!=1.2.3", "1.2.4") && !m("!=1.2.3", "1.2.3"));
        assert!(m("*", "9.9.9"));
        assert!(!m("<2.0.0", "2.0.0-rc.1"), "no pre-release unless named");
        assert!(m(">1.2", "1.3.0") && !m(">1.2", "1.2.9"));
        for bad in ["", ">=1.x.y", "1.2.3.4", "=>1", "a.b"] {
            assert!(Range::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regex_extract_orders_numerically_or_alphabetically() {
        let t = tags(&[
            "main-abc1234-1700000100",
            "main-def5678-1700000900",
            "main-0123abc-1700000050",
            "feature-x-1800000000",
        ]);
        let s = Selection::Ordered {
            filter: Some(
                Regex::new(r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$").unwrap_or_else(|_| unreachable!()),
            ),
            extract: Some("$ts".into()),
            order: Order::Numerical(Direction::Asc),
        };
        assert_eq!(
            s.newer(&t, &Exclude::default(), "main-abc1234-1700000100"),
            ["main-def5678-1700000900"]
        );
        let alpha = Selection::Ordered {
            filter: None,
            extract: None,
            order: Order::Alphabetical(Direction::Desc),
        };
        assert_eq!(
            alpha.order(&tags(&["b", "a", "c"]), &Exclude::default()),
            ["a", "b", "c"]
        );
        let asc = Selection::Ordered {
            filter: None,
            extract: None,
            order: Order::Alphabetical(Direction::Asc),
        };
        assert_eq!(
            asc.newer(&tags(&["b", "a", "c"]), &Exclude::default(), "b"),
            ["c"]
        );
    }
}
