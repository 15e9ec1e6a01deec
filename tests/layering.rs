//! The library's layering, enforced: every `crate::<module>` reference in `src/` (code
//! lines outside test modules) must point to a lower layer, and the pure modules never reach
//! an edge. The table is docs/design.md's "where things are".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Folders that only group modules: their children are the units of the table
/// (`base::time`, `edge::registry`); every other top-level module is one unit.
const GROUPS: &[&str] = &["base", "edge"];

/// (unit, layer). A unit may use units of lower layers; within the front ends' layer they
/// may use each other.
const LAYERS: &[(&str, u8)] = &[
    // the shared vocabulary
    ("base::error", 0),
    ("base::files", 0),
    ("base::time", 0),
    ("base::reference", 0),
    ("base::verdict", 0),
    ("base::evidence", 1),
    ("crypto", 1),
    ("manifests", 1),
    // protocols and readers over fetched bytes (pure)
    ("attest", 2),
    ("sigstore", 2),
    // rules, key references and the decision (pure)
    ("policy", 4),
    ("decision", 5),
    ("updates", 5),
    // edges
    ("edge::source", 6),
    ("edge::target", 6),
    ("edge::registry", 6),
    ("edge::kube", 6),
    ("edge::kms", 6),
    ("edge::verify", 7),
    // the reconcile core
    ("reconcile", 8),
    // drivers and front ends
    ("standalone", 9),
    ("controller", 9),
    ("serve", 9),
    ("webhook", 9),
];

/// Units that decide over values and must not reach the network, Git or a cluster.
const PURE: &[&str] = &[
    "base::reference",
    "base::verdict",
    "base::evidence",
    "base::time",
    "crypto",
    "manifests",
    "attest",
    "sigstore",
    "policy",
    "decision",
    "updates",
];
const EDGES: &[&str] = &[
    "edge::registry",
    "edge::source",
    "edge::target",
    "edge::kube",
    "edge::kms",
    "edge::verify",
    "reconcile",
    "standalone",
    "controller",
    "serve",
];
const FRONT_ENDS: u8 = 9;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::x` references of a file's code (not comments, not the `#[cfg(test)]` tail).
fn references(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        let mut rest = t;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let ident = |t: &str| -> String {
                t.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            };
            let name = ident(after);
            if GROUPS.contains(&name.as_str()) {
                let child = after[name.len()..].strip_prefix("::").map(ident);
                match child {
                    Some(c) if !c.is_empty() => {
                        out.insert(format!("{name}::{c}"));
                    }
                    // `use crate::edge;` names the group itself: count it as every child
                    _ => {
                        out.insert(name);
                    }
                }
            } else if !name.is_empty() {
                out.insert(name);
            }
            rest = after;
        }
    }
    out
}

/// module → (module it uses → files that use it)
fn graph() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        if rel == "main.rs" || rel == "lib.rs" || rel.starts_with("cli/") {
            continue; // the binary and the crate root
        }
        let parts: Vec<&str> = rel.split('/').collect();
        let top = parts[0].trim_end_matches(".rs");
        let module = if GROUPS.contains(&top) {
            match parts.get(1) {
                Some(&"mod.rs") | None => continue, // a group's mod.rs only declares children
                Some(child) => format!("{top}::{}", child.trim_end_matches(".rs")),
            }
        } else {
            top.to_string()
        };
        for r in references(&std::fs::read_to_string(&f).unwrap()) {
            if r != module {
                g.entry(module.clone())
                    .or_default()
                    .entry(r)
                    .or_default()
                    .insert(rel.clone());
            }
        }
        g.entry(module).or_default();
    }
    g
}

fn layer(m: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(n, _)| *n == m)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| {
            panic!("module {m} is not in the layer table (tests/layering.rs, docs/design.md)")
        })
}

#[test]
fn every_module_uses_only_lower_layers_and_pure_modules_reach_no_edge() {
    let g = graph();
    let mut bad = Vec::new();
    for (m, uses) in &g {
        let lm = layer(m);
        for (u, files) in uses {
            let lu = layer(u);
            let ok = lu < lm || (lu == lm && lm == FRONT_ENDS);
            if !ok {
                bad.push(format!(
                    "{m} (layer {lm}) uses {u} (layer {lu}) in {files:?}"
                ));
            }
            if PURE.contains(&m.as_str()) && EDGES.contains(&u.as_str()) {
                bad.push(format!("pure {m} reaches the edge {u} in {files:?}"));
            }
        }
    }
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}

#[test]
fn there_are_no_import_cycles_between_modules() {
    let g = graph();
    // depth-first search for a back edge
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_string());
        for u in g
            .get(m)
            .map(|u| u.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if let Some(c) = visit(&u, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        if let Some(c) = visit(m, &g, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", c.join(" → "));
        }
    }
}

#[test]
fn the_scanner_sees_code_not_comments_or_tests() {
    let text = "use crate::decision::Report;\n// crate::edge::registry in a comment\nfn f() { crate::base::time::now(); }\n#[cfg(test)]\nmod tests { use crate::edge::verify; }\n";
    let r: Vec<String> = references(text).into_iter().collect();
    assert_eq!(r, ["base::time", "decision"]);
}
