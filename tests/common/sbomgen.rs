//! Deterministic generator of realistic SBOMs, shaped as Syft 1.x writes them, for tests
//! and the benchmark: SPDX 2.3 JSON ([`spdx_json`]) and CycloneDX 1.6 JSON
//! ([`cyclonedx_json`]), plus cosign's predicate wrappings ([`as_json_string`],
//! [`custom_predicate`]).
//!
//! Each document holds the image itself (SPDX: the first package; CycloneDX:
//! `metadata.component`), then `components` random packages from a mix of ecosystems (npm,
//! also scoped; maven with groups; pypi; golang; deb; apk), with the `extra` packages
//! planted at seed-chosen positions among them. So a parsed document has
//! `components + extra.len() + 1` packages. The same arguments always give the same text.
//!
//! Random packages never use a name in [`RESERVED_NAMES`] (the names tests deny), and
//! their licences come from [`RANDOM_LICENSES`] (no AGPL, no `LicenseRef-`), so only
//! planted packages match such deny entries.
#![allow(dead_code)]

use serde_json::{Value, json};

/// Names random packages never get (whatever the ecosystem).
pub const RESERVED_NAMES: &[&str] = &[
    "log4j-core",
    "log4j-api",
    "log4j",
    "event-stream",
    "flatmap-stream",
    "openssl",
    "libssl3",
    "lodash",
    "@babel/core",
    "core",
    "ua-parser-js",
    "colors",
    "faker",
    "node-ipc",
    "xz-utils",
    "liblzma5",
];

/// Licence expressions random packages get (`""` = none stated).
pub const RANDOM_LICENSES: &[&str] = &[
    "MIT",
    "MIT",
    "MIT",
    "Apache-2.0",
    "Apache-2.0",
    "BSD-3-Clause",
    "BSD-2-Clause",
    "ISC",
    "MIT OR Apache-2.0",
    "GPL-2.0-only",
    "LGPL-2.1-or-later",
    "MPL-2.0",
    "",
];

/// A package a test plants in a generated document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenPackage {
    /// Name as the SBOM shows it (SPDX `name`; CycloneDX `name`, with the maven group
    /// taken from the purl into `group`).
    pub name: String,
    /// Version (SPDX `versionInfo`, CycloneDX `version`).
    pub version: String,
    /// Package URL (may be empty: then the document has none for it).
    pub purl: String,
    /// Licence expression (may be empty: SPDX `NOASSERTION`, CycloneDX no `licenses`).
    pub license: String,
}

impl GenPackage {
    /// Shorthand constructor.
    pub fn new(name: &str, version: &str, purl: &str, license: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            purl: purl.into(),
            license: license.into(),
        }
    }
}

/// xorshift64* PRNG: small, deterministic, good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        let s = seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0xD1B5_4A32_D192_ED03);
        Self(if s == 0 { 0x2545_F491_4F6C_DD1D } else { s })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A random element (`slice` must not be empty; the first one otherwise).
    pub fn pick<'a, T>(&mut self, slice: &'a [T]) -> &'a T {
        let i = self.below(slice.len() as u64) as usize;
        &slice[i.min(slice.len().saturating_sub(1))]
    }

    /// `n` lowercase hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        const DIGITS: &[u8] = b"0123456789abcdef";
        (0..n)
            .map(|_| char::from(DIGITS[(self.next_u64() & 15) as usize]))
            .collect()
    }
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ne", "ro", "tu", "va", "zen", "fi", "qu", "dor", "pel", "sar", "tim", "wex",
    "yol", "bri", "cal", "dun", "gri", "hal", "jor", "ket", "lum", "mox", "nor", "pru", "sil",
    "tor", "ux", "bel", "cor", "dax", "fen", "gal", "hux", "ivo", "jax",
];
const NPM_SUFFIXES: &[&str] = &["", "", "-js", "-utils", "-parser", "-cli", "ify", "-plugin"];
const MAVEN_SUFFIXES: &[&str] = &["", "-core", "-api", "-impl", "-common", "-spring"];
const PY_SUFFIXES: &[&str] = &["", "", "-py", "_tools", "lib", "-client"];
const DEB_SUFFIXES: &[&str] = &["", "lib", "-bin", "-common", "-data"];

/// One generated package with everything both formats need.
struct Item {
    ecosystem: &'static str,
    name: String,
    group: Option<String>,
    version: String,
    purl: String,
    license: String,
    cpe: String,
    path: String,
}

fn word(rng: &mut Rng, syllables: u64) -> String {
    (0..syllables).map(|_| *rng.pick(SYLLABLES)).collect()
}

fn semver(rng: &mut Rng) -> String {
    format!("{}.{}.{}", rng.below(12), rng.below(30), rng.below(20))
}

fn encode_version(v: &str) -> String {
    v.replace('%', "%25")
        .replace(':', "%3A")
        .replace('+', "%2B")
}

fn random_item(rng: &mut Rng) -> Item {
    loop {
        let item = random_item_once(rng);
        let reserved = |n: &str| RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(n));
        let last = item.name.rsplit('/').next().unwrap_or_default();
        if !reserved(&item.name) && !reserved(last) {
            return item;
        }
    }
}

fn random_item_once(rng: &mut Rng) -> Item {
    let license = (*rng.pick(RANDOM_LICENSES)).to_string();
    let syllables = 2 + rng.below(2);
    let base = word(rng, syllables);
    let roll = rng.below(100);
    if roll < 35 {
        let name = format!("{base}{}", rng.pick(NPM_SUFFIXES));
        let version = semver(rng);
        let (full, purl) = if rng.below(5) == 0 {
            let scope = word(rng, 2);
            (
                format!("@{scope}/{name}"),
                format!("pkg:npm/%40{scope}/{name}@{version}"),
            )
        } else {
            (name.clone(), format!("pkg:npm/{name}@{version}"))
        };
        Item {
            ecosystem: "npm",
            cpe: format!("cpe:2.3:a:{name}:{name}:{version}:*:*:*:*:*:*:*"),
            path: format!("/app/node_modules/{full}/package.json"),
            name: full,
            group: None,
            version,
            purl,
            license,
        }
    } else if roll < 55 {
        let group = format!(
            "{}.{}.{}",
            rng.pick(&["org", "com", "io", "net"]),
            word(rng, 2),
            word(rng, 1)
        );
        let name = format!("{base}{}", rng.pick(MAVEN_SUFFIXES));
        let mut version = semver(rng);
        match rng.below(6) {
            0 => version.push_str(".Final"),
            1 => version = format!("{}.{}", rng.below(10), rng.below(20)),
            _ => {}
        }
        Item {
            ecosystem: "maven",
            cpe: format!("cpe:2.3:a:{base}:{name}:{version}:*:*:*:*:*:*:*"),
            path: format!("/app/lib/{name}-{version}.jar"),
            purl: format!("pkg:maven/{group}/{name}@{version}"),
            name,
            group: Some(group),
            version,
            license,
        }
    } else if roll < 70 {
        let name = format!("{base}{}", rng.pick(PY_SUFFIXES));
        let mut version = format!("{}.{}.{}", rng.below(5), rng.below(30), rng.below(10));
        if rng.below(8) == 0 {
            version.push_str(&format!("rc{}", 1 + rng.below(3)));
        }
        Item {
            ecosystem: "pypi",
            cpe: format!("cpe:2.3:a:python-{name}:{name}:{version}:*:*:*:*:python:*:*"),
            path: format!("/usr/lib/python3.11/site-packages/{name}-{version}.dist-info/METADATA"),
            purl: format!("pkg:pypi/{name}@{version}"),
            name,
            group: None,
            version,
            license,
        }
    } else if roll < 85 {
        let org = word(rng, 2);
        let name = format!("github.com/{org}/{base}");
        let version = if rng.below(4) == 0 {
            format!(
                "v0.0.0-2023{:02}{:02}{:02}{:02}{:02}-{}",
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.hex(12)
            )
        } else {
            format!("v{}", semver(rng))
        };
        Item {
            ecosystem: "golang",
            cpe: format!("cpe:2.3:a:{org}:{base}:{version}:*:*:*:*:*:*:*"),
            path: "/usr/local/bin/app".into(),
            purl: format!("pkg:golang/{name}@{version}"),
            name,
            group: None,
            version,
            license,
        }
    } else if roll < 95 {
        let name = format!("{base}{}", rng.pick(DEB_SUFFIXES));
        let upstream = format!("{}.{}.{}", rng.below(4), rng.below(20), rng.below(10));
        let version = match rng.below(3) {
            0 => format!("1:{upstream}-{}", 1 + rng.below(5)),
            1 => format!("{upstream}-{}+deb12u{}", 1 + rng.below(5), 1 + rng.below(3)),
            _ => format!("{upstream}-{}", 1 + rng.below(5)),
        };
        Item {
            ecosystem: "deb",
            cpe: format!("cpe:2.3:a:{name}:{name}:{version}:*:*:*:*:*:*:*"),
            path: format!("/usr/share/doc/{name}/copyright"),
            purl: format!(
                "pkg:deb/debian/{name}@{}?arch=amd64&distro=debian-12",
                encode_version(&version)
            ),
            name,
            group: None,
            version,
            license,
        }
    } else {
        let name = base;
        let version = format!("{}-r{}", semver(rng), rng.below(4));
        Item {
            ecosystem: "apk",
            cpe: format!("cpe:2.3:a:{name}:{name}:{version}:*:*:*:*:*:*:*"),
            path: "/lib/apk/db/installed".into(),
            purl: format!("pkg:apk/alpine/{name}@{version}?arch=x86_64&distro=alpine-3.19.1"),
            name,
            group: None,
            version,
            license,
        }
    }
}

fn planted(p: &GenPackage) -> Item {
    let ecosystem = p
        .purl
        .strip_prefix("pkg:")
        .and_then(|r| r.split('/').next())
        .unwrap_or("generic");
    let ecosystem = match ecosystem {
        "npm" => "npm",
        "maven" => "maven",
        "pypi" => "pypi",
        "golang" => "golang",
        "deb" => "deb",
        "apk" => "apk",
        _ => "generic",
    };
    // maven: the group is the purl namespace (CycloneDX `group`)
    let group = if ecosystem == "maven" {
        p.purl
            .split(['@', '?', '#'])
            .next()
            .and_then(|s| s.strip_prefix("pkg:maven/"))
            .and_then(|s| s.rsplit_once('/'))
            .map(|(g, _)| g.to_string())
    } else {
        None
    };
    Item {
        ecosystem,
        name: p.name.clone(),
        group,
        version: p.version.clone(),
        purl: p.purl.clone(),
        license: p.license.clone(),
        cpe: format!(
            "cpe:2.3:a:{0}:{0}:{1}:*:*:*:*:*:*:*",
            p.name.replace(['/', '@', ':'], "_"),
            p.version
        ),
        path: format!("/app/planted/{}", p.name.replace('@', "")),
    }
}

/// The random packages with the planted ones inserted at seed-chosen positions.
fn items(components: usize, rng: &mut Rng, extra: &[GenPackage]) -> Vec<Item> {
    let mut out: Vec<Item> = (0..components).map(|_| random_item(rng)).collect();
    for p in extra {
        let at = rng.below(out.len() as u64 + 1) as usize;
        out.insert(at.min(out.len()), planted(p));
    }
    out
}

fn cataloger(ecosystem: &str) -> (&'static str, &'static str, &'static str) {
    // (foundBy, language, metadataType)
    match ecosystem {
        "npm" => (
            "javascript-package-cataloger",
            "javascript",
            "javascript-npm-package",
        ),
        "maven" => ("java-archive-cataloger", "java", "java-archive"),
        "pypi" => (
            "python-installed-package-cataloger",
            "python",
            "python-package",
        ),
        "golang" => (
            "go-module-binary-cataloger",
            "go",
            "go-module-buildinfo-entry",
        ),
        "deb" => ("dpkg-db-cataloger", "", "dpkg-db-entry"),
        "apk" => ("apk-db-cataloger", "", "apk-db-entry"),
        _ => ("binary-classifier-cataloger", "", "binary-signature"),
    }
}

fn uuid(rng: &mut Rng) -> String {
    format!(
        "{}-{}-4{}-a{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(3),
        rng.hex(3),
        rng.hex(12)
    )
}

/// SPDX 2.3 JSON as `syft -o spdx-json` writes it, with `created` as
/// `creationInfo.created` (any text; RFC 3339 for a real one).
pub fn spdx_json(components: usize, seed: u64, extra: &[GenPackage], created: &str) -> String {
    let mut rng = Rng::new(seed);
    let image_digest = format!("sha256:{}", rng.hex(64));
    let root_id = "SPDXRef-DocumentRoot-Image-registry.example-app";
    let mut packages = vec![json!({
        "name": "registry.example/app",
        "SPDXID": root_id,
        "versionInfo": image_digest,
        "supplier": "NOASSERTION",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "checksums": [{"algorithm": "SHA256", "checksumValue": image_digest.trim_start_matches("sha256:")}],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": format!("pkg:oci/app@{}?arch=amd64&tag=1.0", image_digest.replace(':', "%3A")),
        }],
        "primaryPackagePurpose": "CONTAINER"
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relatedSpdxElement": root_id,
        "relationshipType": "DESCRIBES"
    })];
    for item in items(components, &mut rng, extra) {
        let id = format!(
            "SPDXRef-Package-{}-{}-{}",
            item.ecosystem,
            item.name.replace(['/', '@', '.', ':'], "-"),
            rng.hex(16)
        );
        let (found_by, _, _) = cataloger(item.ecosystem);
        let mut refs = vec![json!({
            "referenceCategory": "SECURITY",
            "referenceType": "cpe23Type",
            "referenceLocator": item.cpe,
        })];
        if !item.purl.is_empty() {
            refs.push(json!({
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": item.purl,
            }));
        }
        let supplier = match item.ecosystem {
            "deb" => "Person: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>",
            "apk" => "Person: Natanael Copa <ncopa@alpinelinux.org>",
            _ => "NOASSERTION",
        };
        packages.push(json!({
            "name": item.name,
            "SPDXID": id,
            "versionInfo": item.version,
            "supplier": supplier,
            "originator": supplier,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "sourceInfo": format!("acquired package info from {found_by}: {}", item.path),
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": if item.license.is_empty() { "NOASSERTION" } else { item.license.as_str() },
            "copyrightText": "NOASSERTION",
            "externalRefs": refs,
        }));
        relationships.push(json!({
            "spdxElementId": root_id,
            "relatedSpdxElement": id,
            "relationshipType": "CONTAINS"
        }));
    }
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "registry.example/app",
        "documentNamespace": format!("https://anchore.com/syft/image/registry.example/app-{}", uuid(&mut rng)),
        "creationInfo": {
            "licenseListVersion": "3.23",
            "creators": ["Organization: Anchore, Inc", "Tool: syft-1.4.1"],
            "created": created,
        },
        "packages": packages,
        "relationships": relationships,
    });
    doc.to_string()
}

/// CycloneDX 1.6 JSON as `syft -o cyclonedx-json` writes it, with `created` as
/// `metadata.timestamp`.
pub fn cyclonedx_json(components: usize, seed: u64, extra: &[GenPackage], created: &str) -> String {
    let mut rng = Rng::new(seed);
    let image_digest = format!("sha256:{}", rng.hex(64));
    let root_ref = rng.hex(16);
    let layer = format!("sha256:{}", rng.hex(64));
    let mut list: Vec<Value> = Vec::new();
    for item in items(components, &mut rng, extra) {
        let (found_by, language, metadata_type) = cataloger(item.ecosystem);
        let bom_ref = if item.purl.is_empty() {
            rng.hex(16)
        } else {
            format!("{}?package-id={}", item.purl, rng.hex(16))
        };
        let mut c = serde_json::Map::new();
        c.insert("bom-ref".into(), json!(bom_ref));
        c.insert("type".into(), json!("library"));
        if let Some(g) = &item.group {
            c.insert("group".into(), json!(g));
        }
        c.insert("name".into(), json!(item.name));
        c.insert("version".into(), json!(item.version));
        if !item.license.is_empty() {
            let lic = if item.license.contains(' ') {
                json!([{"expression": item.license}])
            } else {
                json!([{"license": {"id": item.license}}])
            };
            c.insert("licenses".into(), lic);
        }
        c.insert("cpe".into(), json!(item.cpe));
        if !item.purl.is_empty() {
            c.insert("purl".into(), json!(item.purl));
        }
        let mut props = vec![json!({"name": "syft:package:foundBy", "value": found_by})];
        if !language.is_empty() {
            props.push(json!({"name": "syft:package:language", "value": language}));
        }
        props.push(json!({"name": "syft:package:type", "value": item.ecosystem}));
        props.push(json!({"name": "syft:package:metadataType", "value": metadata_type}));
        props.push(json!({"name": "syft:location:0:layerID", "value": layer}));
        props.push(json!({"name": "syft:location:0:path", "value": item.path}));
        c.insert("properties".into(), Value::Array(props));
        list.push(Value::Object(c));
    }
    let doc = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid(&mut rng)),
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": {"components": [{"type": "application", "author": "anchore", "name": "syft", "version": "1.4.1"}]},
            "component": {
                "bom-ref": root_ref,
                "type": "container",
                "name": "registry.example/app",
                "version": image_digest,
            }
        },
        "components": list,
    });
    doc.to_string()
}

/// cosign `--type spdx` style: the document text as a JSON string.
pub fn as_json_string(doc: &str) -> String {
    Value::String(doc.to_string()).to_string()
}

/// cosign `custom` style: `{"Data": <document text>, "Timestamp": …}`.
pub fn custom_predicate(doc: &str, timestamp: &str) -> String {
    json!({"Data": doc, "Timestamp": timestamp}).to_string()
}
