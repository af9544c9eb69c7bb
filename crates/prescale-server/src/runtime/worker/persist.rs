//! What a worker keeps in the store: its registration, history, last decision and forecast
//! scorer, restored at start (keys in [`crate::state::persist`]). Saves run on the blocking pool and
//! log, never fail, the loop.

use chrono::{DateTime, Duration, Utc};

use super::Worker;
use crate::state::persist::{
    SavedDecision, accuracy_key, decision_key, registration_key, tuning_key,
};

impl Worker {
    /// Saves the registration, loads saved history and the last decision.
    pub(super) async fn restore(&mut self, now: DateTime<Utc>) {
        let Some(store) = self.shared.store() else {
            return;
        };
        let key = self.reg.key.clone();
        let metadata = serde_json::to_vec(&self.reg.metadata).unwrap_or_default();
        let series = self.series.clone();
        let keep = self.ctl.config().history_len() as i64 * self.ctl.config().step_secs;
        let from = now - Duration::seconds(keep);
        let loaded = tokio::task::spawn_blocking(move || {
            store.put_state(&registration_key(&key), &metadata)?;
            let points = store.range(&series, from, now)?;
            let decision = store.get_state(&decision_key(&key))?;
            let accuracy = store.get_state(&accuracy_key(&key))?;
            let tuning = store.get_state(&tuning_key(&key))?;
            Ok::<_, crate::state::persist::PersistError>((points, decision, accuracy, tuning))
        })
        .await;
        match loaded {
            Ok(Ok((points, decision, accuracy, tuning))) => {
                if let Some(t) = tuning.and_then(|t| serde_json::from_slice(&t).ok()) {
                    self.restore_tuner(t);
                }
                self.ctl.history_mut().restore(&points);
                if let Some(a) = accuracy.and_then(|a| serde_json::from_slice(&a).ok()) {
                    self.accuracy = a;
                }
                self.last = decision.and_then(|d| serde_json::from_slice(&d).ok());
                if let Some(last) = &self.last {
                    self.ctl.restore_decision(last.desired, last.zero_since);
                }
                if !points.is_empty() {
                    tracing::info!(scaled_object = %self.reg.key, samples = self.ctl.history().len(), "Restored history.");
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(scaled_object = %self.reg.key, error = %e, "Could not restore state.")
            }
            Err(e) => {
                tracing::warn!(scaled_object = %self.reg.key, error = %e, "Restore task failed.")
            }
        }
    }

    pub(super) fn save_history(&self, points: Vec<crate::demand::source::Point>) {
        let Some(store) = self.shared.store() else {
            return;
        };
        if points.is_empty() {
            return;
        }
        let series = self.series.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.append(&series, &points) {
                tracing::warn!(series = %series, error = %e, "Could not save history.");
            }
        });
    }

    pub(super) fn save_accuracy(&self) {
        let Some(store) = self.shared.store() else {
            return;
        };
        let key = accuracy_key(&self.reg.key);
        let bytes = serde_json::to_vec(&self.accuracy).unwrap_or_default();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.put_state(&key, &bytes) {
                tracing::warn!(key = %key, error = %e, "Could not save the forecast scorer.");
            }
        });
    }

    pub(super) fn save_tuner(&self, tuner: &prescale_sim::tune::Tuner) {
        let Some(store) = self.shared.store() else {
            return;
        };
        let key = tuning_key(&self.reg.key);
        let bytes = serde_json::to_vec(tuner).unwrap_or_default();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.put_state(&key, &bytes) {
                tracing::warn!(key = %key, error = %e, "Could not save the SLO tuner.");
            }
        });
    }

    pub(super) fn save_decision(&self, saved: SavedDecision) {
        let Some(store) = self.shared.store() else {
            return;
        };
        let key = decision_key(&self.reg.key);
        tokio::task::spawn_blocking(move || {
            let bytes = serde_json::to_vec(&saved).unwrap_or_default();
            if let Err(e) = store.put_state(&key, &bytes) {
                tracing::warn!(key = %key, error = %e, "Could not save the decision.");
            }
        });
    }
}
