//! Registered ScaledObjects and what KEDA is answered for each.
//!
//! A ScaledObject is registered on the first call that names it (or from the config file, or
//! from the store after a restart). Each has a [`Slot`] that outlives changes of its metadata:
//! the slot holds the latest [`Answer`] and [`MetricTarget`] in `watch` channels, so that
//! `GetMetrics` reads a value without computing anything and the streams
//! (`StreamIsActive`, `StreamMetricSpec`) wake on changes. A [`Registration`] is one version
//! of the settings with its background worker; new metadata for the same ScaledObject
//! replaces it (the old worker stops) while the slot, and open streams, stay.
//!
//! KEDA's `ScaledObjectRef` names the ScaledObject, not the trigger: two prescale triggers in
//! one ScaledObject would arrive as one object whose metadata keeps changing, each call
//! replacing the other's registration (restarting its worker and history read). So a
//! ScaledObject has one prescale trigger: metadata that a registration replaced less than
//! [`SECOND_TRIGGER_WINDOW`] ago, while the current metadata is still being asked about, is a
//! second trigger and refused ([`RegisterError::SecondTrigger`], `INVALID_ARGUMENT`) instead of
//! replacing the current registration. An edited ScaledObject (the old metadata no longer
//! asked about) replaces its registration as before.
//!
//! [`status`]: what is known of each registration (what the HTTP API shows).

mod names;
mod slot;
pub mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

use crate::keda::metadata::{MetadataError, Settings};
use crate::registry::status::ServiceStatus;

pub use crate::keda::answer::{Answer, MetricTarget, ObjectKey};
pub use names::check_names;
use slot::Others;
pub use slot::{SECOND_TRIGGER_WINDOW, Slot};

/// One version of a ScaledObject's settings, with its worker.
#[derive(Debug)]
pub struct Registration {
    /// Which ScaledObject.
    pub key: ObjectKey,
    /// Its settings.
    pub settings: Settings,
    /// The metadata they were parsed from.
    pub metadata: HashMap<String, String>,
    /// What the API shows; written by the worker.
    pub status: Mutex<ServiceStatus>,
    stop: watch::Sender<bool>,
    /// Dropped from the registry (not replaced): its worker's last writes are undone.
    forgotten: std::sync::atomic::AtomicBool,
}

impl Registration {
    /// A registration of `key` with `settings` parsed from `metadata`, not started.
    pub fn new(key: ObjectKey, settings: Settings, metadata: HashMap<String, String>) -> Self {
        let status = ServiceStatus::new(&key, &settings);
        Self {
            key,
            settings,
            metadata,
            status: Mutex::new(status),
            stop: watch::channel(false).0,
            forgotten: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether it was dropped from the registry (expired or removed), not replaced.
    pub fn is_forgotten(&self) -> bool {
        self.forgotten.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A receiver that turns `true` when the registration is replaced or the server stops.
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Tells the worker to stop.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// A copy of the status.
    pub fn status(&self) -> ServiceStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Edits the status.
    pub fn update_status(&self, edit: impl FnOnce(&mut ServiceStatus)) {
        edit(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Logs what a new registration's metadata asks that prescale ignores or advises against.
fn warn_about(key: &ObjectKey, reg: &Registration) {
    let ignored = crate::keda::metadata::ignored_keys(&reg.metadata);
    if !ignored.is_empty() {
        tracing::warn!(
            scaled_object = %key,
            keys = %ignored.join(", "),
            "Ignoring metadata keys prescale does not use (KEDA trigger options)."
        );
    }
    let s = &reg.settings;
    if s.scale_to_zero && crate::keda::metadata::is_supply_side_query(&s.query) {
        tracing::warn!(
            scaled_object = %key,
            "The demand query reads series the service's pods emit (vllm:, DCGM_): they vanish \
             at zero replicas, so the forecast learns censored demand; query a gateway or ingress."
        );
    }
}

/// Starts the background work of a registration.
pub trait Starter: Send + Sync {
    /// Starts the worker of `registration` in `slot` (must not block).
    fn start(&self, slot: Arc<Slot>, registration: Arc<Registration>);

    /// Called when a registration is dropped for good (not replaced).
    fn forgotten(&self, registration: &Registration) {
        let _ = registration;
    }
}

/// Why a ScaledObject could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Its metadata is invalid.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// Its name or namespace is empty.
    #[error("ScaledObjectRef.{0} is empty")]
    MissingName(&'static str),
    /// Its name or namespace is not a Kubernetes name.
    #[error("ScaledObjectRef.{field}: {reason}")]
    BadName {
        /// `namespace` or `name`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A second prescale trigger in one ScaledObject (its metadata differs from the
    /// registered trigger's, which KEDA keeps asking about).
    #[error(
        "ScaledObject {key} already has a prescale trigger (metricName `{current}`); this one \
         (metricName `{other}`) is refused: one prescale trigger per ScaledObject (KEDA sends no \
         trigger index, so two would keep replacing each other); merge them, or scale on the \
         second signal with a prometheus trigger or in another ScaledObject"
    )]
    SecondTrigger {
        /// The ScaledObject.
        key: ObjectKey,
        /// The registered trigger's `metricName`.
        current: String,
        /// The refused trigger's `metricName`.
        other: String,
    },
    /// The server already serves as many ScaledObjects as it may.
    #[error("this server already serves {0} ScaledObjects, its limit (runtime.max_scaled_objects)")]
    TooMany(usize),
}

/// The default of `runtime.max_scaled_objects`.
pub const DEFAULT_MAX_SCALED_OBJECTS: usize = 10_000;

/// Every registered ScaledObject.
pub struct Registry {
    slots: RwLock<HashMap<ObjectKey, Arc<Slot>>>,
    starter: Arc<dyn Starter>,
    /// The Prometheus URL prefixes a `serverAddress` may name (empty: any).
    allowed: Vec<String>,
    /// The most ScaledObjects served.
    limit: usize,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry whose registrations `starter` starts.
    pub fn new(starter: Arc<dyn Starter>) -> Self {
        Self {
            slots: RwLock::new(HashMap::new()),
            starter,
            allowed: Vec::new(),
            limit: DEFAULT_MAX_SCALED_OBJECTS,
        }
    }

    /// Serves at most `limit` ScaledObjects: a new one beyond is refused
    /// ([`RegisterError::TooMany`]).
    #[must_use]
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Accepts only a `serverAddress` under one of `allowed` (URL prefixes, the server's
    /// `prometheus.allowed`; empty: any).
    #[must_use]
    pub fn with_allowed(mut self, allowed: Vec<String>) -> Self {
        self.allowed = allowed;
        self
    }

    /// Whether `settings` name an allowed Prometheus; the error names `serverAddress`.
    pub fn check_allowed(&self, settings: &Settings) -> Result<(), MetadataError> {
        if crate::demand::prometheus::is_allowed(&self.allowed, &settings.server_address) {
            return Ok(());
        }
        Err(MetadataError::new(
            "serverAddress",
            format!(
                "`{}` is not under this server's prometheus.allowed ({})",
                crate::keda::metadata::redact_userinfo(&settings.server_address),
                self.allowed.join(", ")
            ),
        ))
    }

    /// The slot and registration of `namespace/name` with `metadata`: the existing ones when
    /// the metadata is unchanged (the fast path of every call), else a new registration
    /// (first sight, or new metadata), started at once.
    pub fn resolve(
        &self,
        namespace: &str,
        name: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<(Arc<Slot>, Arc<Registration>), RegisterError> {
        if let Some(slot) = self.read().get(&ObjectKey::new(namespace, name)) {
            let reg = slot.registration();
            if &reg.metadata == metadata {
                slot.touch();
                slot.lock_others().current_asked = tokio::time::Instant::now();
                return Ok((slot.clone(), reg));
            }
            if slot.is_second_trigger(metadata) {
                slot.touch();
                let other = metadata
                    .get("metricName")
                    .map_or("prescale", String::as_str);
                let err = RegisterError::SecondTrigger {
                    key: slot.key.clone(),
                    current: reg.settings.metric_name.clone(),
                    other: other.to_string(),
                };
                tracing::warn!(scaled_object = %slot.key, error = %err, "Refused a second prescale trigger.");
                return Err(err);
            }
        }
        if namespace.is_empty() {
            return Err(RegisterError::MissingName("namespace"));
        }
        if name.is_empty() {
            return Err(RegisterError::MissingName("name"));
        }
        check_names(namespace, name)?;
        let settings = Settings::from_metadata(metadata)?;
        self.check_allowed(&settings)?;
        let key = ObjectKey::new(namespace, name);
        if !self.read().contains_key(&key) && self.len() >= self.limit {
            return Err(RegisterError::TooMany(self.limit));
        }
        let (slot, reg) = self.register(key, settings, metadata.clone());
        slot.touch();
        Ok((slot, reg))
    }

    /// Registers `key` with `settings` (replacing and stopping an older registration) and
    /// starts it.
    pub fn register(
        &self,
        key: ObjectKey,
        settings: Settings,
        metadata: HashMap<String, String>,
    ) -> (Arc<Slot>, Arc<Registration>) {
        let target = MetricTarget::of(&settings);
        let reg = Arc::new(Registration::new(key.clone(), settings, metadata));
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        let slot = match slots.get(&key) {
            Some(slot) => {
                let mut current = slot.current.write().unwrap_or_else(|e| e.into_inner());
                if current.metadata == reg.metadata {
                    // Another call registered the same metadata first.
                    return (slot.clone(), current.clone());
                }
                current.stop();
                let old = std::mem::replace(&mut *current, reg.clone());
                drop(current);
                slot.displace(old.metadata.clone(), &reg.metadata);
                slot.target.send_if_modified(|t| {
                    let changed = *t != target;
                    *t = target;
                    changed
                });
                slot.clone()
            }
            None => {
                let slot = Arc::new(Slot {
                    key: key.clone(),
                    current: RwLock::new(reg.clone()),
                    answer: watch::channel(None).0,
                    target: watch::channel(target).0,
                    seen: Mutex::new((tokio::time::Instant::now(), false)),
                    published: Mutex::new(None),
                    others: Mutex::new(Others {
                        current_asked: tokio::time::Instant::now(),
                        displaced: Vec::new(),
                    }),
                });
                slots.insert(key.clone(), slot.clone());
                slot
            }
        };
        drop(slots);
        tracing::info!(scaled_object = %key, "Registered ScaledObject.");
        warn_about(&key, &reg);
        self.starter.start(slot.clone(), reg.clone());
        (slot, reg)
    }

    /// The slot of `key`, if registered.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<Slot>> {
        self.read().get(key).cloned()
    }

    /// Keeps `key` registered however long KEDA does not ask (declared in the server's
    /// config); returns whether it is registered.
    pub fn pin(&self, key: &ObjectKey) -> bool {
        let Some(slot) = self.read().get(key).cloned() else {
            return false;
        };
        slot.seen.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        true
    }

    /// Drops every registration KEDA has not asked about for longer than `ttl` (a deleted
    /// ScaledObject): its worker stops, its metrics and saved state go. Returns the keys
    /// dropped.
    pub fn expire(&self, ttl: std::time::Duration) -> Vec<ObjectKey> {
        let stale: Vec<ObjectKey> = self
            .read()
            .values()
            .filter(|s| s.idle().is_some_and(|idle| idle > ttl))
            .map(|s| s.key.clone())
            .collect();
        stale.into_iter().filter(|k| self.remove(k)).collect()
    }

    /// Drops `key`'s registration; returns whether it was there.
    pub fn remove(&self, key: &ObjectKey) -> bool {
        let slot = self
            .slots
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        if let Some(slot) = &slot {
            let reg = slot.registration();
            reg.forgotten
                .store(true, std::sync::atomic::Ordering::Release);
            reg.stop();
            self.starter.forgotten(&reg);
        }
        slot.is_some()
    }

    /// Every slot, sorted by key.
    pub fn slots(&self) -> Vec<Arc<Slot>> {
        let mut v: Vec<Arc<Slot>> = self.read().values().cloned().collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Number of registered ScaledObjects.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops every worker (at shutdown).
    pub fn stop_all(&self) {
        for slot in self.read().values() {
            slot.registration().stop();
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ObjectKey, Arc<Slot>>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Starter for Counting {
        fn start(&self, _: Arc<Slot>, _: Arc<Registration>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn md(threshold: &str) -> HashMap<String, String> {
        [
            ("serverAddress", "http://prom:9090"),
            ("query", "up"),
            ("threshold", threshold),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn same_metadata_reuses_the_registration_new_metadata_replaces_it() {
        let starter = Arc::new(Counting::default());
        let registry = Registry::new(starter.clone());
        let (slot, first) = registry.resolve("ns", "a", &md("10")).unwrap();
        let (_, again) = registry.resolve("ns", "a", &md("10")).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(starter.0.load(Ordering::SeqCst), 1);
        let mut targets = slot.targets();
        let (slot2, second) = registry.resolve("ns", "a", &md("20")).unwrap();
        assert!(Arc::ptr_eq(&slot, &slot2));
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(*first.stopped().borrow());
        assert!(targets.has_changed().unwrap());
        assert_eq!(targets.borrow_and_update().target, 20.0);
        assert_eq!(starter.0.load(Ordering::SeqCst), 2);
        assert_eq!(registry.len(), 1);
        assert!(registry.remove(&ObjectKey::new("ns", "a")));
        assert!(*second.stopped().borrow());
        assert!(registry.is_empty());
    }

    #[test]
    fn a_server_address_outside_the_allowlist_is_refused_naming_the_key() {
        let starter = Arc::new(Counting::default());
        let registry = Registry::new(starter.clone()).with_allowed(vec!["http://prom:9090".into()]);
        assert!(registry.resolve("ns", "a", &md("10")).is_ok());
        let mut other = md("10");
        other.insert("serverAddress".into(), "http://attacker:9090".into());
        let err = registry.resolve("ns", "b", &other).unwrap_err().to_string();
        assert!(err.contains("scalerMetadata.serverAddress"), "{err}");
        assert!(err.contains("prometheus.allowed"), "{err}");
        assert_eq!((registry.len(), starter.0.load(Ordering::SeqCst)), (1, 1));
    }

    #[test]
    fn names_must_be_kubernetes_names_and_the_count_is_bounded() {
        let registry = Registry::new(Arc::new(Counting::default())).with_limit(2);
        for (ns, name, field) in [
            ("Inference", "a", "namespace"),
            ("ns/x", "a", "namespace"),
            ("ns", "a/b", "name"),
            ("ns", "-a", "name"),
            ("ns", "a..b", "name"),
            (&*"n".repeat(64), "a", "namespace"),
            ("ns", &*"a".repeat(254), "name"),
        ] {
            let err = registry.resolve(ns, name, &md("10")).unwrap_err();
            assert!(
                matches!(&err, RegisterError::BadName { field: f, .. } if *f == field),
                "{ns}/{name}: {err}"
            );
        }
        assert!(registry.resolve("ns", "chat.v1", &md("10")).is_ok());
        assert!(registry.resolve("ns-2", "b", &md("10")).is_ok());
        let err = registry.resolve("ns", "c", &md("10")).unwrap_err();
        assert!(matches!(err, RegisterError::TooMany(2)), "{err}");
        // A known one is still served (its metadata may change).
        assert!(registry.resolve("ns", "chat.v1", &md("20")).is_ok());
        assert_eq!(registry.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn registrations_keda_stopped_asking_about_expire() {
        let registry = Registry::new(Arc::new(Counting::default()));
        registry.resolve("ns", "old", &md("10")).unwrap();
        registry.resolve("ns", "declared", &md("10")).unwrap();
        assert!(registry.pin(&ObjectKey::new("ns", "declared")));
        tokio::time::advance(std::time::Duration::from_secs(1_800)).await;
        registry.resolve("ns", "live", &md("10")).unwrap();
        tokio::time::advance(std::time::Duration::from_secs(1_800)).await;
        // KEDA asks about `live` again: its clock restarts.
        registry.resolve("ns", "live", &md("10")).unwrap();
        tokio::time::advance(std::time::Duration::from_secs(60)).await;
        let gone = registry.expire(std::time::Duration::from_secs(3_600));
        assert_eq!(gone, [ObjectKey::new("ns", "old")]);
        assert_eq!(registry.len(), 2);
        tokio::time::advance(std::time::Duration::from_secs(3_600)).await;
        assert_eq!(
            registry.expire(std::time::Duration::from_secs(3_600)),
            [ObjectKey::new("ns", "live")]
        );
        // Declared in the config: never.
        assert_eq!(registry.len(), 1);
    }

    fn trigger(metric_name: &str, threshold: &str) -> HashMap<String, String> {
        let mut m = md(threshold);
        m.insert("metricName".into(), metric_name.into());
        m
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_prescale_trigger_in_one_scaled_object_is_refused_not_thrashed() {
        let starter = Arc::new(Counting::default());
        let registry = Registry::new(starter.clone());
        let (a, b) = (trigger("chat", "10"), trigger("batch", "2.01"));
        // KEDA asks about both triggers at every poll and HPA sync, one after the other.
        registry.resolve("ns", "so", &a).unwrap();
        registry.resolve("ns", "so", &b).unwrap();
        let mut refused = 0;
        for _ in 0..40 {
            tokio::time::advance(std::time::Duration::from_secs(15)).await;
            for m in [&a, &b] {
                match registry.resolve("ns", "so", m) {
                    Ok((_, reg)) => assert_eq!(&reg.metadata, &b),
                    Err(e) => {
                        assert!(
                            matches!(&e, RegisterError::SecondTrigger { current, other, .. }
                            if current == "batch" && other == "chat"),
                            "{e}"
                        );
                        assert!(
                            e.to_string()
                                .contains("one prescale trigger per ScaledObject")
                        );
                        refused += 1;
                    }
                }
            }
        }
        assert_eq!(refused, 40);
        // One replacement when the second trigger first came, none after.
        assert_eq!(starter.0.load(Ordering::SeqCst), 2);
        // Three triggers settle too.
        let c = trigger("third", "3");
        registry.resolve("ns", "so", &c).unwrap();
        for _ in 0..10 {
            for m in [&a, &b, &c] {
                let _ = registry.resolve("ns", "so", m);
            }
        }
        assert_eq!(starter.0.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_edited_trigger_replaces_its_registration_and_a_revert_follows_the_window() {
        let starter = Arc::new(Counting::default());
        let registry = Registry::new(starter.clone());
        let (a, b) = (trigger("chat", "10"), trigger("chat", "12"));
        registry.resolve("ns", "so", &a).unwrap();
        tokio::time::advance(std::time::Duration::from_secs(30)).await;
        // The edit: KEDA asks with the new metadata only.
        registry.resolve("ns", "so", &b).unwrap();
        assert_eq!(starter.0.load(Ordering::SeqCst), 2);
        tokio::time::advance(std::time::Duration::from_secs(30)).await;
        registry.resolve("ns", "so", &b).unwrap();
        // Reverted at once: refused while the edited metadata was asked about lately ...
        assert!(registry.resolve("ns", "so", &a).is_err());
        // ... and registered once it is no longer asked about.
        tokio::time::advance(SECOND_TRIGGER_WINDOW).await;
        let (_, reg) = registry.resolve("ns", "so", &a).unwrap();
        assert_eq!(reg.metadata, a);
        assert_eq!(starter.0.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn bad_metadata_and_empty_names_are_refused() {
        let registry = Registry::new(Arc::new(Counting::default()));
        let err = registry.resolve("ns", "a", &md("-1")).unwrap_err();
        assert!(err.to_string().contains("threshold"), "{err}");
        let err = registry.resolve("", "a", &md("1")).unwrap_err();
        assert_eq!(err, RegisterError::MissingName("namespace"));
        assert!(registry.is_empty());
    }
}
