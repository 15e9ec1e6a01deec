//! Typed documents (only the fields used; unknown fields ignored)

#[allow(clippy::wildcard_imports)]
use super::*;

#[derive(Deserialize)]
pub(super) struct Wrapped<T> {
    #[serde(rename = "Data")]
    pub(super) data: T,
}

#[derive(Deserialize)]
pub(super) struct CosignDoc<R> {
    pub(super) scanner: CosignScanner<R>,
    pub(super) metadata: Option<CosignMetadata>,
}

#[derive(Deserialize)]
pub(super) struct CosignScanner<R> {
    #[serde(default)]
    pub(super) uri: Scalar,
    #[serde(default)]
    pub(super) version: Scalar,
    pub(super) result: Option<R>,
}

#[derive(Deserialize)]
pub(super) struct CosignMetadata {
    #[serde(rename = "scanFinishedOn", default)]
    pub(super) scan_finished_on: Scalar,
}

#[derive(Deserialize)]
pub(super) struct TrivyReport {
    #[serde(rename = "CreatedAt", default)]
    pub(super) created_at: Scalar,
    #[serde(rename = "Trivy")]
    pub(super) trivy: Option<TrivyInfo>,
    #[serde(rename = "Results")]
    pub(super) results: Option<Vec<Option<TrivyResult>>>,
}

#[derive(Deserialize)]
pub(super) struct TrivyInfo {
    #[serde(rename = "Version", default)]
    pub(super) version: Scalar,
}

#[derive(Deserialize)]
pub(super) struct TrivyResult {
    #[serde(rename = "Vulnerabilities")]
    pub(super) vulnerabilities: Option<Vec<Option<TrivyVuln>>>,
}

#[derive(Deserialize)]
pub(super) struct TrivyVuln {
    #[serde(rename = "VulnerabilityID", default)]
    pub(super) id: Scalar,
    #[serde(rename = "VendorIDs", default)]
    pub(super) vendor_ids: Scalar,
    #[serde(rename = "PkgName", default)]
    pub(super) pkg_name: Scalar,
    #[serde(rename = "PkgID", default)]
    pub(super) pkg_id: Scalar,
    #[serde(rename = "InstalledVersion", default)]
    pub(super) installed_version: Scalar,
    #[serde(rename = "Severity", default)]
    pub(super) severity: Scalar,
}

#[derive(Deserialize)]
pub(super) struct SarifLog {
    pub(super) runs: Option<Vec<Option<SarifRun>>>,
}

#[derive(Deserialize)]
pub(super) struct SarifRun {
    pub(super) tool: Option<SarifTool>,
    pub(super) results: Option<Vec<Option<SarifResult>>>,
    pub(super) invocations: Option<Vec<Option<SarifInvocation>>>,
}

#[derive(Deserialize)]
pub(super) struct SarifTool {
    pub(super) driver: Option<SarifDriver>,
}

#[derive(Deserialize)]
pub(super) struct SarifDriver {
    #[serde(default)]
    pub(super) name: Scalar,
    #[serde(default)]
    pub(super) version: Scalar,
    #[serde(rename = "semanticVersion", default)]
    pub(super) semantic_version: Scalar,
    pub(super) rules: Option<Vec<Option<SarifRule>>>,
}

#[derive(Deserialize)]
pub(super) struct SarifRule {
    #[serde(default)]
    pub(super) id: Scalar,
    pub(super) help: Option<SarifText>,
    #[serde(rename = "defaultConfiguration")]
    pub(super) default_configuration: Option<SarifConfiguration>,
    pub(super) properties: Option<SarifProperties>,
}

#[derive(Deserialize)]
pub(super) struct SarifText {
    #[serde(default)]
    pub(super) text: Scalar,
}

#[derive(Deserialize)]
pub(super) struct SarifConfiguration {
    #[serde(default)]
    pub(super) level: Scalar,
}

#[derive(Deserialize)]
pub(super) struct SarifProperties {
    #[serde(rename = "security-severity", default)]
    pub(super) security_severity: Scalar,
    #[serde(default)]
    pub(super) tags: Scalar,
}

#[derive(Deserialize)]
pub(super) struct SarifResult {
    #[serde(rename = "ruleId", default)]
    pub(super) rule_id: Scalar,
    #[serde(rename = "ruleIndex", default)]
    pub(super) rule_index: Scalar,
    pub(super) rule: Option<SarifRuleReference>,
    #[serde(default)]
    pub(super) kind: Scalar,
    #[serde(default)]
    pub(super) level: Scalar,
    pub(super) message: Option<SarifText>,
    pub(super) properties: Option<SarifProperties>,
}

#[derive(Deserialize)]
pub(super) struct SarifRuleReference {
    #[serde(default)]
    pub(super) id: Scalar,
    #[serde(default)]
    pub(super) index: Scalar,
}

#[derive(Deserialize)]
pub(super) struct SarifInvocation {
    #[serde(rename = "endTimeUtc", default)]
    pub(super) end_time_utc: Scalar,
}

/// A `T` read only from a JSON object: serde's derived structs also take an array of the
/// field values in order, which would read `"analysis": ["not_affected"]` as a VEX
/// statement; the CycloneDX objects are read through this instead.
pub(super) struct Obj<T>(pub(super) T);

impl<T> std::ops::Deref for Obj<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
pub(super) struct CdxBom {
    pub(super) metadata: Option<Obj<CdxMetadata>>,
    pub(super) components: Option<Vec<Option<Obj<CdxComponent>>>>,
    pub(super) vulnerabilities: Option<Vec<Option<Obj<CdxVuln>>>>,
}

#[derive(Deserialize)]
pub(super) struct CdxMetadata {
    #[serde(default)]
    pub(super) timestamp: Scalar,
    /// Descriptive only, and of two shapes (1.4 array, 1.5+ object): read loosely.
    #[serde(default)]
    pub(super) tools: serde_json::Value,
    pub(super) component: Option<Obj<CdxComponent>>,
}

#[derive(Deserialize)]
pub(super) struct CdxComponent {
    #[serde(rename = "bom-ref", default)]
    pub(super) bom_ref: Scalar,
    #[serde(default)]
    pub(super) group: Scalar,
    #[serde(default)]
    pub(super) name: Scalar,
    #[serde(default)]
    pub(super) version: Scalar,
    #[serde(default)]
    pub(super) purl: Scalar,
    pub(super) components: Option<Vec<Option<Obj<CdxComponent>>>>,
}

#[derive(Deserialize)]
pub(super) struct CdxVuln {
    #[serde(default)]
    pub(super) id: Scalar,
    pub(super) references: Option<Vec<Option<Obj<CdxReference>>>>,
    pub(super) ratings: Option<Vec<Option<Obj<CdxRating>>>>,
    pub(super) affects: Option<Vec<Option<Obj<CdxAffect>>>>,
    pub(super) analysis: Option<Obj<CdxAnalysis>>,
}

#[derive(Deserialize)]
pub(super) struct CdxReference {
    #[serde(default)]
    pub(super) id: Scalar,
}

#[derive(Deserialize)]
pub(super) struct CdxRating {
    #[serde(default)]
    pub(super) score: Scalar,
    #[serde(default)]
    pub(super) severity: Scalar,
    #[serde(default)]
    pub(super) method: Scalar,
}

#[derive(Deserialize)]
pub(super) struct CdxAffect {
    #[serde(rename = "ref", default)]
    pub(super) reference: Scalar,
}

#[derive(Deserialize)]
pub(super) struct CdxAnalysis {
    #[serde(default)]
    pub(super) state: Scalar,
}
