//! Shape detection: a first pass that validates the JSON and records the keys that tell
//! the documents apart, without keeping the rest.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The keys recorded (with a nested probe of their values) by the shape-detection pass.
pub(super) const PROBED: [&str; 13] = [
    "Data",
    "Timestamp",
    "scanner",
    "result",
    "SchemaVersion",
    "Results",
    "runs",
    "version",
    "$schema",
    "predicate",
    "bomFormat",
    "specVersion",
    "vulnerabilities",
];

#[derive(Debug)]
pub(super) enum Probe {
    Null,
    Bool,
    Number(f64),
    Str(String),
    Array,
    Object(ObjProbe),
}

#[derive(Debug, Default)]
pub(super) struct ObjProbe {
    /// The first [`KEYS_NAMED`] keys, for messages.
    pub(super) keys: Vec<String>,
    /// How many keys there are.
    pub(super) key_count: usize,
    pub(super) fields: Vec<(&'static str, Probe)>,
}

impl ObjProbe {
    pub(super) fn get(&self, key: &str) -> Option<&Probe> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub(super) fn describe(&self) -> String {
        if self.key_count == 0 {
            return "an empty object".into();
        }
        let mut s = format!("an object with keys {}", self.keys.join(", "));
        if self.key_count > self.keys.len() {
            s.push_str(&format!(" and {} more", self.key_count - self.keys.len()));
        }
        s
    }
}

impl Probe {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Number(_) => "a number",
            Self::Str(_) => "a string",
            Self::Array => "an array",
            Self::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Probe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Probe, E> {
                Ok(Probe::Bool)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Probe, E> {
                Ok(Probe::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Probe, E> {
                Ok(Probe::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Probe, E> {
                Ok(Probe::Number(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Probe, E> {
                Ok(Probe::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Probe, E> {
                Ok(Probe::Str(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Probe, E> {
                Ok(Probe::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Probe, E> {
                Ok(Probe::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Probe, D2::Error> {
                Probe::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Probe, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Probe::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe, A::Error> {
                let mut obj = ObjProbe::default();
                while let Some(key) = map.next_key::<String>()? {
                    obj.key_count += 1;
                    match PROBED.iter().find(|k| **k == key) {
                        Some(name) => {
                            if obj.has(name) {
                                return Err(de::Error::custom(format_args!(
                                    "duplicate key {key:?}"
                                )));
                            }
                            let value = map.next_value::<Probe>()?;
                            obj.fields.push((name, value));
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    if obj.keys.len() < KEYS_NAMED {
                        obj.keys.push(key);
                    }
                }
                Ok(Probe::Object(obj))
            }
        }
        d.deserialize_any(V)
    }
}

/// What `scanner.result` of a cosign predicate holds.
#[derive(Debug)]
pub(super) enum Inner<'a> {
    Trivy,
    Sarif,
    CycloneDx,
    Empty,
    Text(&'a str),
}

/// A scan document (not a wrapper).
#[derive(Debug)]
pub(super) enum Doc<'a> {
    Trivy,
    Sarif,
    CycloneDx,
    Cosign(Inner<'a>),
}

/// Tells which scan document an object is. `within` names it for messages.
pub(super) fn classify<'a>(obj: &'a ObjProbe, within: &str) -> Result<Doc<'a>, ScanError> {
    let cosign = obj.has("scanner");
    let trivy = obj.has("SchemaVersion") || obj.has("Results");
    let sarif = obj.has("runs")
        || matches!(obj.get("version"), Some(Probe::Str(v)) if v.trim() == "2.1.0")
        || matches!(obj.get("$schema"), Some(Probe::Str(s)) if s.to_ascii_lowercase().contains("sarif"));
    let cyclonedx = obj.has("bomFormat");
    let kinds: Vec<&str> = [
        (cosign, COSIGN),
        (trivy, TRIVY),
        (sarif, SARIF),
        (cyclonedx, CYCLONEDX),
    ]
    .iter()
    .filter(|(yes, _)| *yes)
    .map(|(_, name)| *name)
    .collect();
    if kinds.len() > 1 {
        return Err(ScanError::NotAScan(format!(
            "{within} mixes the fields of a {}",
            kinds.join(" and a ")
        )));
    }
    if cosign {
        return classify_cosign(obj);
    }
    if cyclonedx {
        return classify_cyclonedx(obj, within);
    }
    if trivy {
        match obj.get("SchemaVersion") {
            None | Some(Probe::Null) => {}
            Some(Probe::Number(n)) if *n == 2.0 => {}
            Some(Probe::Number(n)) => {
                return Err(invalid(
                    TRIVY,
                    format!("unsupported SchemaVersion {n} (sealgate reads SchemaVersion 2)"),
                ));
            }
            Some(other) => {
                return Err(invalid(
                    TRIVY,
                    format!("SchemaVersion is {}, expected the number 2", other.kind()),
                ));
            }
        }
        return Ok(Doc::Trivy);
    }
    if sarif {
        match obj.get("version") {
            None | Some(Probe::Null) => {}
            Some(Probe::Str(v)) if v.trim() == "2.1.0" => {}
            Some(Probe::Str(v)) => {
                return Err(invalid(
                    SARIF,
                    format!("unsupported SARIF version {v:?} (sealgate reads 2.1.0)"),
                ));
            }
            Some(other) => {
                return Err(invalid(
                    SARIF,
                    format!("version is {}, expected \"2.1.0\"", other.kind()),
                ));
            }
        }
        return match obj.get("runs") {
            Some(Probe::Array) => Ok(Doc::Sarif),
            None => Err(invalid(SARIF, "no runs")),
            Some(Probe::Null) => Err(invalid(
                SARIF,
                "runs is null (the tool did not run to completion)",
            )),
            Some(other) => Err(invalid(
                SARIF,
                format!("runs is {}, expected an array", other.kind()),
            )),
        };
    }
    let mut message = format!(
        "{within} is {}; expected a cosign vuln predicate (with scanner), a Trivy JSON \
         report (SchemaVersion 2, Results), a SARIF 2.1.0 log (runs) or a CycloneDX BOM \
         with vulnerabilities (bomFormat, vulnerabilities)",
        obj.describe()
    );
    if obj.has("predicate") {
        message.push_str(" (this looks like an in-toto statement: pass its predicate)");
    }
    Err(ScanError::NotAScan(message))
}

pub(super) fn classify_cosign(obj: &ObjProbe) -> Result<Doc<'_>, ScanError> {
    let scanner = match obj.get("scanner") {
        Some(Probe::Object(s)) => s,
        Some(other) => {
            return Err(invalid(
                COSIGN,
                format!("scanner is {}, expected an object", other.kind()),
            ));
        }
        None => return Err(invalid(COSIGN, "no scanner")),
    };
    let inner = match scanner.get("result") {
        None | Some(Probe::Null) => Inner::Empty,
        Some(Probe::Str(s)) => Inner::Text(s),
        Some(Probe::Object(o)) => {
            if o.has("Data") {
                return Err(ScanError::NotAScan(format!(
                    "scanner.result is a {{Data, Timestamp}} wrapper, expected {RESULT_KINDS}"
                )));
            }
            match classify(o, "scanner.result")? {
                Doc::Trivy => Inner::Trivy,
                Doc::Sarif => Inner::Sarif,
                Doc::CycloneDx => Inner::CycloneDx,
                Doc::Cosign(_) => {
                    return Err(ScanError::NotAScan(format!(
                        "scanner.result is another cosign vuln predicate, expected \
                         {RESULT_KINDS}"
                    )));
                }
            }
        }
        Some(other) => {
            return Err(invalid(
                COSIGN,
                format!(
                    "scanner.result is {}, expected {RESULT_KINDS}",
                    other.kind()
                ),
            ));
        }
    };
    Ok(Doc::Cosign(inner))
}

/// A CycloneDX document (`bomFormat` present): a scan only with a `vulnerabilities` array.
pub(super) fn classify_cyclonedx<'a>(obj: &ObjProbe, within: &str) -> Result<Doc<'a>, ScanError> {
    match obj.get("bomFormat") {
        Some(Probe::Str(f)) if f.trim().eq_ignore_ascii_case("CycloneDX") => {}
        Some(Probe::Str(f)) => {
            return Err(ScanError::NotAScan(format!(
                "{within} has bomFormat {f:?}, expected \"CycloneDX\""
            )));
        }
        other => {
            return Err(ScanError::NotAScan(format!(
                "{within} has a bomFormat that is {}, expected \"CycloneDX\"",
                other.map_or("absent", Probe::kind)
            )));
        }
    }
    let spec = match obj.get("specVersion") {
        Some(Probe::Str(s)) if !s.trim().is_empty() => s.trim(),
        None | Some(Probe::Null | Probe::Str(_)) => {
            return Err(invalid(CYCLONEDX, "no specVersion"));
        }
        Some(other) => {
            return Err(invalid(
                CYCLONEDX,
                format!(
                    "specVersion is {}, expected a string such as \"1.5\"",
                    other.kind()
                ),
            ));
        }
    };
    if !spec.starts_with("1.") {
        return Err(ScanError::NotAScan(format!(
            "{within} is a CycloneDX {spec:?} document; sealgate reads CycloneDX 1.x JSON"
        )));
    }
    match obj.get("vulnerabilities") {
        Some(Probe::Array) => Ok(Doc::CycloneDx),
        found @ (None | Some(Probe::Null)) => Err(ScanError::NotAScan(format!(
            "{within} is a CycloneDX {spec} document that carries no `vulnerabilities`{}: \
             an SBOM without vulnerability data, not a scan result ({})",
            if found.is_some() { " (it is null)" } else { "" },
            obj.describe()
        ))),
        Some(other) => Err(invalid(
            CYCLONEDX,
            format!("vulnerabilities is {}, expected an array", other.kind()),
        )),
    }
}
