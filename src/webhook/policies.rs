//! The policies a review is checked against, and how they are swapped.
//!
//! With `--policy FILE|DIR` every policy applies to every review ([`PolicySet::fixed`]). With
//! `--kube` they come from the cluster ([`super::kube`]): every `ClusterImagePolicy` applies
//! everywhere, an `ImagePolicy` only to objects of its own namespace. A policy resource that
//! does not compile (invalid spec, a Secret it names is missing) is never skipped: reviews in
//! its scope are denied with `PolicyUnavailable` until it is fixed — skipping it would admit
//! what it was written to refuse.
//!
//! The compiled set is replaced whole ([`Policies::replace`]); a review takes the set that
//! was current when it started and keeps it to the end.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::base::verdict::{Reason, ReasonCode};
use crate::manifests::ImagePath;
use crate::policy::Policy;

/// The policies and extra image locations that apply in one scope.
#[derive(Debug, Clone, Default)]
pub struct Scoped {
    pub policies: Arc<Vec<Policy>>,
    /// `extraImagePaths` of those policies plus `--image-path`.
    pub extra: Arc<Vec<ImagePath>>,
}

impl Scoped {
    fn new(policies: Vec<Policy>, mut extra: Vec<ImagePath>) -> Self {
        for p in &policies {
            extra.extend(p.extra_image_paths.iter().cloned());
        }
        Self {
            policies: Arc::new(policies),
            extra: Arc::new(extra),
        }
    }
}

/// A policy resource that did not compile, and where it would have applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// `None`: a `ClusterImagePolicy` (every review is affected).
    pub namespace: Option<String>,
    pub message: String,
}

/// One compiled generation of policies.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// What applies to every review (the files; or every `ClusterImagePolicy`).
    everywhere: Scoped,
    /// Per namespace with at least one `ImagePolicy`: the cluster policies plus its own.
    namespaced: BTreeMap<String, Scoped>,
    broken: Vec<Broken>,
}

impl PolicySet {
    /// Policies that apply to every review (`--policy FILE|DIR`), plus `--image-path`s.
    pub fn fixed(policies: Vec<Policy>, extra: Vec<ImagePath>) -> Self {
        Self {
            everywhere: Scoped::new(policies, extra),
            ..Self::default()
        }
    }

    /// Policies from custom resources: `cluster` apply everywhere, each of `namespaced` in its
    /// namespace only; `broken` resources deny the reviews of their scope.
    pub fn from_resources(
        cluster: Vec<Policy>,
        namespaced: Vec<(String, Policy)>,
        broken: Vec<Broken>,
        extra: &[ImagePath],
    ) -> Self {
        let mut by_ns: BTreeMap<String, Vec<Policy>> = BTreeMap::new();
        for (ns, p) in namespaced {
            by_ns.entry(ns).or_default().push(p);
        }
        let namespaced = by_ns
            .into_iter()
            .map(|(ns, own)| {
                let mut all = cluster.clone();
                all.extend(own);
                (ns, Scoped::new(all, extra.to_vec()))
            })
            .collect();
        Self {
            everywhere: Scoped::new(cluster, extra.to_vec()),
            namespaced,
            broken,
        }
    }

    /// What a review of an object in `namespace` (`None`: cluster-scoped) is checked against.
    ///
    /// # Errors
    /// A `PolicyUnavailable` reason when a policy resource of that scope did not compile.
    pub fn scope(&self, namespace: Option<&str>) -> Result<&Scoped, Reason> {
        let broken: Vec<&Broken> = self
            .broken
            .iter()
            .filter(|b| b.namespace.is_none() || b.namespace.as_deref() == namespace)
            .collect();
        if let Some(first) = broken.first() {
            let more = if broken.len() > 1 {
                format!(" (and {} more)", broken.len() - 1)
            } else {
                String::new()
            };
            return Err(Reason::new(
                ReasonCode::PolicyUnavailable,
                format!(
                    "a policy that applies here could not be loaded, so nothing is admitted \
                     until it is fixed: {}{more}",
                    first.message
                ),
            ));
        }
        Ok(namespace
            .and_then(|ns| self.namespaced.get(ns))
            .unwrap_or(&self.everywhere))
    }

    /// How many policies there are in all (cluster-wide ones counted once).
    pub fn len(&self) -> usize {
        let cluster = self.everywhere.policies.len();
        cluster
            + self
                .namespaced
                .values()
                .map(|s| s.policies.len() - cluster)
                .sum::<usize>()
    }

    /// No policy at all (every image then fails `NoPolicyMatch`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The resources that did not compile.
    pub fn broken(&self) -> &[Broken] {
        &self.broken
    }
}

/// The current [`PolicySet`], replaced whole; `None` until the first one is loaded (the
/// webhook is not ready and denies every review that needs a check).
#[derive(Debug, Default)]
pub struct Policies {
    current: RwLock<Option<Arc<PolicySet>>>,
}

impl Policies {
    /// Loaded once, never changed (`--policy FILE|DIR`).
    pub fn fixed(set: PolicySet) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Some(Arc::new(set))),
        })
    }

    /// Nothing loaded yet (`--kube` before the first sync).
    pub fn pending() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The set current now.
    pub fn current(&self) -> Option<Arc<PolicySet>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Swaps in a new set; reviews already running keep the one they took.
    pub fn replace(&self, set: PolicySet) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(set));
    }

    /// A set has been loaded.
    pub fn is_ready(&self) -> bool {
        self.current().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str) -> Policy {
        let doc = serde_json::json!({
            "apiVersion": "sealgate.dev/v1alpha1", "kind": "ClusterImagePolicy",
            "metadata": {"name": name},
            "spec": {"mode": "warn", "unmatched": "allow"}
        });
        crate::policy::compile_with(
            doc,
            std::path::Path::new(name),
            std::path::Path::new("/nonexistent"),
            &crate::policy::keysource::Resolved::default(),
        )
        .unwrap()
    }

    fn names(s: &Scoped) -> Vec<String> {
        s.policies.iter().map(|p| p.name.clone()).collect()
    }

    #[test]
    fn namespaced_policies_apply_only_in_their_namespace() {
        let set = PolicySet::from_resources(
            vec![policy("all")],
            vec![
                ("team-a".into(), policy("a1")),
                ("team-a".into(), policy("a2")),
            ],
            Vec::new(),
            &[],
        );
        assert_eq!(
            names(set.scope(Some("team-a")).unwrap()),
            ["all", "a1", "a2"]
        );
        assert_eq!(names(set.scope(Some("team-b")).unwrap()), ["all"]);
        assert_eq!(names(set.scope(None).unwrap()), ["all"]);
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn a_broken_policy_denies_its_scope_only_and_a_broken_cluster_policy_everything() {
        let set = PolicySet::from_resources(
            vec![policy("all")],
            Vec::new(),
            vec![Broken {
                namespace: Some("team-a".into()),
                message: "ImagePolicy team-a/p: Secret not found".into(),
            }],
            &[],
        );
        let r = set.scope(Some("team-a")).unwrap_err();
        assert_eq!(r.code, ReasonCode::PolicyUnavailable);
        assert!(
            r.message.contains("team-a/p: Secret not found"),
            "{}",
            r.message
        );
        assert!(set.scope(Some("team-b")).is_ok());

        let set = PolicySet::from_resources(
            Vec::new(),
            Vec::new(),
            vec![
                Broken {
                    namespace: None,
                    message: "ClusterImagePolicy x: invalid".into(),
                },
                Broken {
                    namespace: None,
                    message: "ClusterImagePolicy y: invalid".into(),
                },
            ],
            &[],
        );
        let r = set.scope(Some("team-b")).unwrap_err();
        assert!(
            r.message.ends_with("x: invalid (and 1 more)"),
            "{}",
            r.message
        );
        assert!(set.scope(None).is_err());
    }

    #[test]
    fn a_replaced_set_is_seen_by_the_next_reader_only() {
        let policies = Policies::pending();
        assert!(!policies.is_ready());
        policies.replace(PolicySet::fixed(vec![policy("one")], Vec::new()));
        let taken = policies.current().unwrap();
        policies.replace(PolicySet::fixed(Vec::new(), Vec::new()));
        assert_eq!(names(taken.scope(None).unwrap()), ["one"]);
        assert!(policies.current().unwrap().is_empty());
    }
}
