//! Orchestration at the edge: turns the unique images of a revision into evidence.
//!
//! Deduplication happens before any request: each tag is resolved once per repository,
//! and each signature object is fetched once per (repository, digest), however many
//! manifests, containers, rules or attestors refer to it. Requests run concurrently,
//! bounded by `concurrency` here and by the registry backend's per-host budget.
//!
//! An optional [`Cache`] keeps signature and attestation evidence per (repository,
//! digest) across runs (the daemon's reconciles): found evidence for `ttl`, "nothing
//! there" for the shorter `negative_ttl` (a signature may appear any moment), and
//! "could not check" never. Tags are resolved again on each run (they move) unless the
//! run asks for a tag TTL ([`GatherOptions::tag_ttl`], the admission webhook); a re-run over
//! digest-pinned images within the TTL makes no registry request. The TTL is the window
//! in which a deleted signature still counts. Runs sharing a cache concurrently (admission
//! reviews) look each tag, signature object and attestation set up once: the others wait
//! for the lookup in flight and read what it stored (single flight).

pub mod explain;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt as _;

use crate::base::evidence::{AttestationEvidence, ImageEvidence, SignatureEvidence};
use crate::base::reference::{Digest, ImageRef, Repository};
use crate::base::verdict::{Reason, ReasonCode};
use crate::edge::registry::{Registry, discovery};

pub use crate::decision::Wanted;

/// Limits of evidence gathering.
#[derive(Debug, Clone, Copy)]
pub struct GatherOptions {
    /// Registry requests in flight (over all registries; each also has its own budget).
    pub concurrency: usize,
    /// Largest attestation statement (an SBOM, a scan report) accepted, in bytes.
    pub max_attestation_bytes: u64,
    /// Reuse each tag's digest from the cache for this long (the admission webhook: a
    /// Deployment's Pods resolve the tag once). `None` (the gate, `check`): tags are resolved
    /// on every run — they move, and each revision is checked against what they name now.
    pub tag_ttl: Option<std::time::Duration>,
}

impl Default for GatherOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            max_attestation_bytes: crate::attest::DEFAULT_MAX_STATEMENT_BYTES,
            tag_ttl: None,
        }
    }
}

/// Cached evidence per (repository, digest), with when it was stored.
type Slots<T> = std::sync::Mutex<HashMap<(Repository, Digest), (T, std::time::Instant)>>;

/// What one in-flight registry lookup is for (see [`Cache::flight`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FlightKey {
    Tag(Repository, String),
    Signatures(Repository, Digest),
    Attestations(Repository, Digest),
}

/// Evidence kept across runs (see the module docs).
pub struct Cache {
    ttl: std::time::Duration,
    negative_ttl: std::time::Duration,
    tags: std::sync::Mutex<HashMap<(Repository, String), (Digest, std::time::Instant)>>,
    /// One lock per lookup in flight: concurrent runs (admission reviews) wanting the same
    /// evidence wait for the first, then read what it cached (single flight).
    flights: std::sync::Mutex<HashMap<FlightKey, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    /// With whether discovery read every path (see [`discovery::Discovered`]).
    signatures: Slots<(SignatureEvidence, bool)>,
    /// With the predicate types the lookup fetched (see [`discovery::attestations`]).
    attestations: Slots<(AttestationEvidence, BTreeSet<String>)>,
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
    /// Which discovery path held each repository's signatures (see [`discovery::PathHints`]).
    hints: discovery::PathHints,
}

impl Cache {
    pub fn new(ttl: std::time::Duration, negative_ttl: std::time::Duration) -> Self {
        Self {
            ttl,
            negative_ttl,
            tags: std::sync::Mutex::new(HashMap::new()),
            flights: std::sync::Mutex::new(HashMap::new()),
            signatures: std::sync::Mutex::new(HashMap::new()),
            attestations: std::sync::Mutex::new(HashMap::new()),
            hits: 0.into(),
            misses: 0.into(),
            hints: discovery::PathHints::default(),
        }
    }

    /// Waits until no other lookup of `key` is in flight and returns the guard that makes
    /// this one the only one; the caller re-reads the cache first (the one before it may
    /// have filled it).
    async fn flight(&self, key: FlightKey) -> Flight<'_> {
        let lock = {
            let mut m = self
                .flights
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            m.entry(key.clone()).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        Flight {
            cache: self,
            key,
            lock,
            _guard: guard,
        }
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.hits.load(Relaxed), self.misses.load(Relaxed))
    }

    /// Drops everything (trust material or policy changed).
    pub fn clear(&self) {
        if let Ok(mut m) = self.signatures.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.attestations.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.tags.lock() {
            m.clear();
        }
    }

    /// The stored value of `key` while it is fresh (`negative` values for the shorter TTL)
    /// and `usable`.
    fn fresh<T: Clone>(
        &self,
        map: &Slots<T>,
        key: &(Repository, Digest),
        negative: impl Fn(&T) -> bool,
        usable: impl Fn(&T) -> bool,
    ) -> Option<T> {
        let m = map.lock().ok()?;
        m.get(key).filter(|(v, _)| usable(v)).and_then(|(v, at)| {
            let ttl = if negative(v) {
                self.negative_ttl
            } else {
                self.ttl
            };
            (at.elapsed() < ttl).then(|| v.clone())
        })
    }

    /// [`Cache::fresh`], counted as a hit or a miss.
    fn get<T: Clone>(
        &self,
        map: &Slots<T>,
        key: &(Repository, Digest),
        negative: impl Fn(&T) -> bool,
        usable: impl Fn(&T) -> bool,
    ) -> Option<T> {
        use std::sync::atomic::Ordering::Relaxed;
        let hit = self.fresh(map, key, negative, usable);
        if hit.is_some() {
            self.hits.fetch_add(1, Relaxed);
        } else {
            self.misses.fetch_add(1, Relaxed);
        }
        hit
    }

    /// [`Cache::get`] again after waiting for a flight: a hit now (the lookup before filled
    /// it) turns the miss counted by the first `get` into a hit.
    fn recheck<T: Clone>(
        &self,
        map: &Slots<T>,
        key: &(Repository, Digest),
        negative: impl Fn(&T) -> bool,
        usable: impl Fn(&T) -> bool,
    ) -> Option<T> {
        use std::sync::atomic::Ordering::Relaxed;
        let hit = self.fresh(map, key, negative, usable);
        if hit.is_some() {
            self.misses.fetch_sub(1, Relaxed);
            self.hits.fetch_add(1, Relaxed);
        }
        hit
    }

    fn put<T>(map: &Slots<T>, key: (Repository, Digest), v: T) {
        if let Ok(mut m) = map.lock() {
            m.insert(key, (v, std::time::Instant::now()));
        }
    }

    fn tag(&self, repo: &Repository, tag: &str, ttl: std::time::Duration) -> Option<Digest> {
        let m = self.tags.lock().ok()?;
        m.get(&(repo.clone(), tag.to_owned()))
            .filter(|(_, at)| at.elapsed() < ttl)
            .map(|(d, _)| d.clone())
    }

    fn put_tag(&self, repo: &Repository, tag: &str, digest: &Digest) {
        if let Ok(mut m) = self.tags.lock() {
            m.insert(
                (repo.clone(), tag.to_owned()),
                (digest.clone(), std::time::Instant::now()),
            );
        }
    }
}

/// A lookup in flight; dropping it lets the next waiter in and forgets the lock once no one
/// waits.
struct Flight<'a> {
    cache: &'a Cache,
    key: FlightKey,
    lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut m = self
            .cache
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // the map's reference, ours, and the guard's: nobody else waits
        if std::sync::Arc::strong_count(&self.lock) <= 3 {
            m.remove(&self.key);
        }
    }
}

fn sig_negative(e: &(SignatureEvidence, bool)) -> bool {
    matches!(e.0, SignatureEvidence::Missing)
}

fn att_negative(e: &(AttestationEvidence, BTreeSet<String>)) -> bool {
    matches!(&e.0, AttestationEvidence::Found(v) if v.is_empty())
}

/// Gathers evidence for every wanted image. Never fails: trouble becomes an
/// `unverifiable` reason inside the evidence.
pub async fn gather<R: Registry>(
    registry: &R,
    wanted: &[Wanted],
    opts: &GatherOptions,
) -> HashMap<ImageRef, ImageEvidence> {
    gather_cached(registry, wanted, opts, None).await
}

/// [`gather`] through a [`Cache`].
pub async fn gather_cached<R: Registry>(
    registry: &R,
    wanted: &[Wanted],
    opts: &GatherOptions,
    cache: Option<&Cache>,
) -> HashMap<ImageRef, ImageEvidence> {
    gather_until(registry, wanted, opts, cache, None).await
}

/// Says whether the signatures found so far for (repository, digest) satisfy every rule
/// (the policy's answer, e.g. [`crate::policy::eval::signatures_suffice`]).
pub type Enough<'a> =
    &'a (dyn Fn(&Repository, &Digest, &[crate::base::evidence::SignatureLayer]) -> bool + Sync);

/// [`gather_cached`] with signature discovery that stops once `enough` says the signatures
/// found satisfy every rule (failing images still read every path), trying first the
/// discovery path that held each repository's signatures last time (learned per run, and
/// across runs in the [`Cache`]). Attestations always read every path (the newest decides).
/// An image pinned by digest without any signature costs one more request, a manifest
/// `HEAD`, to tell `NoSignature` from `ImageNotFound`.
pub async fn gather_until<R: Registry>(
    registry: &R,
    wanted: &[Wanted],
    opts: &GatherOptions,
    cache: Option<&Cache>,
    enough: Option<Enough<'_>>,
) -> HashMap<ImageRef, ImageEvidence> {
    let run_hints = discovery::PathHints::default();
    let hints = cache.map_or(&run_hints, |c| &c.hints);
    let never = |_: &Repository, _: &Digest, _: &[crate::base::evidence::SignatureLayer]| false;
    let enough: Enough<'_> = enough.unwrap_or(&never);
    let concurrency = opts.concurrency.max(1);
    let max_attestation = opts.max_attestation_bytes;
    // 1. resolve each (repository, tag) once
    let tags: BTreeSet<(Repository, String)> = wanted
        .iter()
        .filter(|w| w.image.digest().is_none())
        .filter_map(|w| w.image.tag().map(|t| (w.image.repository(), t.to_string())))
        .collect();
    let resolved: HashMap<(Repository, String), Result<Digest, Reason>> =
        futures::stream::iter(tags)
            .map(|(repo, tag)| async move {
                // with a tag TTL (admission): from the cache, else one lookup per tag at a time
                let tag_cache = opts.tag_ttl.and_then(|ttl| cache.map(|c| (c, ttl)));
                if let Some(d) = tag_cache.and_then(|(c, ttl)| c.tag(&repo, &tag, ttl)) {
                    return ((repo, tag), Ok(d));
                }
                let _flight = match tag_cache {
                    Some((c, _)) => Some(c.flight(FlightKey::Tag(repo.clone(), tag.clone())).await),
                    None => None,
                };
                if let Some(d) = tag_cache.and_then(|(c, ttl)| c.tag(&repo, &tag, ttl)) {
                    return ((repo, tag), Ok(d));
                }
                let r = match registry.manifest(&repo, &tag).await {
                    Ok(Some(m)) => Ok(m.digest),
                    Ok(None) => Err(Reason::new(
                        ReasonCode::ImageNotFound,
                        format!("{repo}:{tag} not found"),
                    )),
                    Err(e) => Err(e.reason()),
                };
                // stored by every run with a cache (the gate too, which never reads it back),
                // so that admission reviews of what the gate verified need no request
                if let (Some(c), Ok(d)) = (cache, &r) {
                    c.put_tag(&repo, &tag, d);
                }
                ((repo, tag), r)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    let digest_of = |img: &ImageRef| -> Result<Digest, Reason> {
        if let Some(d) = img.digest() {
            return Ok(d.clone());
        }
        let key = (img.repository(), img.tag().unwrap_or("latest").to_string());
        resolved
            .get(&key)
            .cloned()
            .unwrap_or_else(|| Err(Reason::new(ReasonCode::RegistryUnavailable, "not resolved")))
    };
    // 2. fetch each signature object once
    let sig_keys: BTreeSet<(Repository, Digest)> = wanted
        .iter()
        .filter(|w| w.signatures)
        .filter_map(|w| digest_of(&w.image).ok().map(|d| (w.image.repository(), d)))
        .collect();
    let signatures: BTreeMap<(Repository, Digest), SignatureEvidence> =
        futures::stream::iter(sig_keys)
            .map(|(repo, d)| async move {
                let key = (repo, d);
                let (repo, d) = (&key.0, &key.1);
                // a partial set (discovery stopped early for some rules) serves only rules it
                // is enough for; any other looks again
                if let Some(c) = cache
                    && let Some((ev, complete)) = c.get(&c.signatures, &key, sig_negative, |_| true)
                    && (complete
                        || matches!(&ev, SignatureEvidence::Layers(l) if enough(repo, d, l)))
                {
                    return (key, ev);
                }
                // one discovery per (repository, digest) at a time across runs
                let _flight = match cache {
                    Some(c) => Some(
                        c.flight(FlightKey::Signatures(repo.clone(), d.clone()))
                            .await,
                    ),
                    None => None,
                };
                if let Some(c) = cache
                    && let Some((ev, complete)) =
                        c.recheck(&c.signatures, &key, sig_negative, |_| true)
                    && (complete
                        || matches!(&ev, SignatureEvidence::Layers(l) if enough(repo, d, l)))
                {
                    return (key, ev);
                }
                let found = discovery::signatures_until(
                    registry,
                    repo,
                    d,
                    &|layers| enough(repo, d, layers),
                    Some(hints),
                )
                .await;
                if let Some(c) = cache
                    && !matches!(found.evidence, SignatureEvidence::Unverifiable(_))
                {
                    Cache::put(
                        &c.signatures,
                        key.clone(),
                        (found.evidence.clone(), found.complete),
                    );
                }
                (key, found.evidence)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    // 2b. a digest-pinned image without any signature may not exist at all: one HEAD tells
    //     `NoSignature` (sign it) from `ImageNotFound` (wrong digest); tags were resolved
    let pinned: BTreeSet<(Repository, Digest)> = wanted
        .iter()
        .filter(|w| w.signatures)
        .filter_map(|w| w.image.digest().map(|d| (w.image.repository(), d.clone())))
        .filter(|k| matches!(signatures.get(k), Some(SignatureEvidence::Missing)))
        .collect();
    let missing: HashMap<(Repository, Digest), Reason> = futures::stream::iter(pinned)
        .map(|(repo, d)| async move {
            let r = match registry.manifest_exists(&repo, &d).await {
                Ok(true) => None,
                Ok(false) => Some(Reason::new(
                    ReasonCode::ImageNotFound,
                    format!("{repo}@{d} not found"),
                )),
                Err(e) => Some(e.reason()),
            };
            ((repo, d), r)
        })
        .buffer_unordered(concurrency)
        .filter_map(|(k, r)| async move { r.map(|r| (k, r)) })
        .collect()
        .await;
    let digest_of = |img: &ImageRef| -> Result<Digest, Reason> {
        if let Some(d) = img.digest()
            && let Some(r) = missing.get(&(img.repository(), d.clone()))
        {
            return Err(r.clone());
        }
        digest_of(img)
    };
    // 3. fetch each image's attestations once, only the predicate types some rule accepts
    let mut att_keys: BTreeMap<(Repository, Digest), Vec<crate::attest::PredicateMatcher>> =
        BTreeMap::new();
    for w in wanted.iter().filter(|w| w.attestations) {
        if let Ok(d) = digest_of(&w.image) {
            let types = att_keys.entry((w.image.repository(), d)).or_default();
            for m in &w.attestation_types {
                if !types.contains(m) {
                    types.push(m.clone());
                }
            }
        }
    }
    let attestations: BTreeMap<(Repository, Digest), AttestationEvidence> =
        futures::stream::iter(att_keys)
            .map(|(key, types)| async move {
                // a cached lookup serves a run whose types it fetched (all of them)
                let ids: BTreeSet<String> = types.iter().map(|m| m.id()).collect();
                let covers = |e: &(AttestationEvidence, BTreeSet<String>)| ids.is_subset(&e.1);
                if let Some(c) = cache
                    && let Some((ev, _)) = c.get(&c.attestations, &key, att_negative, covers)
                {
                    return (key, ev);
                }
                let _flight = match cache {
                    Some(c) => Some(
                        c.flight(FlightKey::Attestations(key.0.clone(), key.1.clone()))
                            .await,
                    ),
                    None => None,
                };
                if let Some(c) = cache
                    && let Some((ev, _)) = c.recheck(&c.attestations, &key, att_negative, covers)
                {
                    return (key, ev);
                }
                let wanted_type = |t: &str| types.iter().any(|m| m.matches(t));
                let ev = discovery::attestations(
                    registry,
                    &key.0,
                    &key.1,
                    max_attestation,
                    &wanted_type,
                )
                .await;
                if let Some(c) = cache
                    && !matches!(ev, AttestationEvidence::Unverifiable(_))
                {
                    Cache::put(&c.attestations, key.clone(), (ev.clone(), ids));
                }
                (key, ev)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    // 4. assemble
    wanted
        .iter()
        .map(|w| {
            let digest = digest_of(&w.image);
            let sigs = match (&digest, w.signatures) {
                (Ok(d), true) => signatures.get(&(w.image.repository(), d.clone())).cloned(),
                _ => None,
            };
            let atts = match (&digest, w.attestations) {
                (Ok(d), true) => attestations
                    .get(&(w.image.repository(), d.clone()))
                    .cloned(),
                _ => None,
            };
            (
                w.image.clone(),
                ImageEvidence {
                    digest,
                    signatures: sigs,
                    attestations: atts,
                },
            )
        })
        .collect()
}

/// How [`check`] runs.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub gather: GatherOptions,
    /// Resolve every image, also those no policy needs signatures for (`--pin`, the gate's
    /// digest-pinned promotion).
    pub resolve_all: bool,
}

/// The check pipeline, one call for every front end (`sealgate check`, the reconcile core,
/// admission): plan what evidence the snapshot needs → gather it (signature discovery stops
/// once every rule is satisfied; `cache` across runs) → decide (pure). `on_plan` hears how
/// many unique images will be asked for, before any request.
pub async fn check<R: Registry>(
    registry: &R,
    snapshot: &crate::manifests::Snapshot,
    policies: &[crate::policy::Policy],
    opts: &CheckOptions,
    cache: Option<&Cache>,
    now: i64,
    on_plan: Option<&(dyn Fn(usize) + Sync)>,
) -> crate::decision::Report {
    let wanted = crate::decision::plan(snapshot, policies, opts.resolve_all);
    if let Some(f) = on_plan {
        f(wanted.len());
    }
    let enough = crate::policy::eval::signatures_enough(policies, now);
    let evidence = gather_until(registry, &wanted, &opts.gather, cache, Some(&enough)).await;
    crate::decision::decide(snapshot, policies, &evidence, now)
}
