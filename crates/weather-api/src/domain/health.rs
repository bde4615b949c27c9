//! The service's own health, as the probes see it: [`Liveness`] (`GET /healthz`) and [`Readiness`]
//! (`GET /readyz`), the types the handlers return and the OpenAPI document describes. A not-ready answer
//! is [`ApiError::NotReady`](crate::error::ApiError::NotReady) (503 with the same document).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /healthz`: the process answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Liveness {
    /// Always `ok`.
    pub status: LivenessStatus,
}

/// The only liveness answer: the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LivenessStatus {
    /// The process answers.
    Ok,
}

/// `GET /readyz`: whether the service can answer API calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "status": "ready", "checks": {"signing_keys": true, "database": true}, "missing": []
}))]
pub struct Readiness {
    /// `ready`, or `not ready` when a check failed.
    pub status: ReadinessStatus,
    /// Each check's result.
    pub checks: ReadinessChecks,
    /// The checks that failed (`signing_keys`, `database`); empty when ready.
    pub missing: Vec<String>,
    /// A configuration mistake that keeps a check from ever passing, naming the setting to fix (its
    /// value and the identity provider's answer are in the service log, never here). Absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_error: Option<String>,
}

/// Whether every readiness check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ReadinessStatus {
    /// Every check passed.
    #[serde(rename = "ready")]
    Ready,
    /// At least one check failed (see `missing`).
    #[serde(rename = "not ready")]
    NotReady,
}

/// The checks behind [`Readiness`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReadinessChecks {
    /// The identity provider's signing keys are loaded.
    pub signing_keys: bool,
    /// The report database answers.
    pub database: bool,
}

impl Readiness {
    /// The answer for these check results.
    pub fn new(checks: ReadinessChecks) -> Self {
        let missing: Vec<String> = [
            ("signing_keys", checks.signing_keys),
            ("database", checks.database),
        ]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name.to_owned())
        .collect();
        let status = if missing.is_empty() {
            ReadinessStatus::Ready
        } else {
            ReadinessStatus::NotReady
        };
        Self {
            status,
            checks,
            missing,
            configuration_error: None,
        }
    }

    /// This answer with the configuration mistake behind a failed check.
    pub fn with_configuration_error(mut self, error: Option<String>) -> Self {
        self.configuration_error = error;
        self
    }
}

impl Readiness {
    /// True when every check passed.
    pub fn is_ready(&self) -> bool {
        self.status == ReadinessStatus::Ready
    }

    /// The JSON body: through a `serde_json::Value`, whose keys are sorted, so the bytes are those the
    /// service has always sent (`checks`, `missing`, `status`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("BUG: a readiness document always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_what_is_missing_in_sorted_key_order() {
        let ready = Readiness::new(ReadinessChecks {
            signing_keys: true,
            database: true,
        });
        assert!(ready.is_ready());
        assert_eq!(
            ready.to_json().to_string(),
            r#"{"checks":{"database":true,"signing_keys":true},"missing":[],"status":"ready"}"#
        );
        let not_ready = Readiness::new(ReadinessChecks {
            signing_keys: false,
            database: false,
        });
        assert!(!not_ready.is_ready());
        assert_eq!(not_ready.missing, ["signing_keys", "database"]);
        assert_eq!(not_ready.to_json()["status"], "not ready");
        let live = serde_json::to_string(&Liveness {
            status: LivenessStatus::Ok,
        })
        .unwrap();
        assert_eq!(live, r#"{"status":"ok"}"#);
    }
}
