//! [`ManagedIdentityError`]: why a managed identity endpoint gave no token, naming the source and the
//! fix. Never carries the token, the `IDENTITY_HEADER` secret or the Azure Arc key.

use std::path::PathBuf;
use std::time::Duration;

use http::StatusCode;

use entra_core::http::HttpError as TransportError;

use super::platform::ManagedIdentitySource;

/// Why a managed identity gave no token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagedIdentityError {
    /// An endpoint variable is not a URL this credential may call.
    #[error("{variable} is not a usable managed identity endpoint ({found:?}): {reason}")]
    InvalidEndpoint {
        /// The variable (`IDENTITY_ENDPOINT`, `MSI_ENDPOINT`, ...).
        variable: &'static str,
        /// The value given (clipped).
        found: String,
        /// What is expected.
        reason: &'static str,
    },
    /// A user-assigned identity was asked of a source that serves only the system-assigned one.
    #[error(
        "{platform} serves only the system-assigned managed identity, not a user-assigned one (by \
         {kind}): use ManagedIdentityId::SystemAssigned (the identity is chosen where the resource is \
         configured)"
    )]
    UserAssignedUnsupported {
        /// The source picked.
        platform: ManagedIdentitySource,
        /// How the identity was named: `client_id`, `object_id` or `resource_id`.
        kind: &'static str,
    },
    /// The endpoint kept answering a retriable status (429, 410, 404, 408, 5xx) until the retries or
    /// the deadline ran out.
    #[error(
        "the managed identity endpoint of {platform} answered {status} {attempts} time(s) in \
         {elapsed:?} (retried within {deadline:?}): {fix}"
    )]
    Unavailable {
        /// The source.
        platform: ManagedIdentitySource,
        /// The last status.
        status: StatusCode,
        /// Requests sent.
        attempts: u32,
        /// Time spent, retries included.
        elapsed: Duration,
        /// The retry deadline in force.
        deadline: Duration,
        /// What to check.
        fix: &'static str,
    },
    /// The endpoint refused the request (a 4xx that retrying does not change).
    #[error(
        "the managed identity endpoint of {platform} refused the request ({status}, {error}: \
         {description}): {fix}"
    )]
    Refused {
        /// The source.
        platform: ManagedIdentitySource,
        /// The status.
        status: StatusCode,
        /// The answer's `error` (or `statusCode`), clipped.
        error: String,
        /// The answer's `error_description` (or `message`), clipped.
        description: String,
        /// What to check.
        fix: &'static str,
    },
    /// The answer is not a token response.
    #[error("the managed identity endpoint of {platform} answered {status} with an unusable body: {reason}")]
    InvalidResponse {
        /// The source.
        platform: ManagedIdentitySource,
        /// The status.
        status: StatusCode,
        /// What was wrong (never the body's secret parts).
        reason: &'static str,
    },
    /// No complete answer within the configured timeout.
    #[error("the managed identity endpoint of {platform} did not answer within {after:?}")]
    Timeout {
        /// The source.
        platform: ManagedIdentitySource,
        /// The configured timeout (`HttpOptions::timeout`).
        after: Duration,
    },
    /// Connection failure.
    #[error("cannot reach the managed identity endpoint of {platform}: {fix}")]
    Transport {
        /// The source.
        platform: ManagedIdentitySource,
        /// What to check.
        fix: &'static str,
        /// The transport's error.
        #[source]
        cause: TransportError,
    },
    /// Azure Arc's challenge cannot be answered: the key file it names is not where the agent puts
    /// its keys, too large, or unreadable.
    #[error("Azure Arc's challenge names {path:?}: {reason}")]
    ArcChallenge {
        /// The path the challenge named (none when the challenge has none).
        path: Option<PathBuf>,
        /// What is wrong.
        reason: &'static str,
    },
}

impl ManagedIdentityError {
    /// Whether retrying later may help (the endpoint was unavailable, slow or unreachable).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } | Self::Timeout { .. } | Self::Transport { .. } => true,
            Self::InvalidResponse { status, .. } => status.is_server_error(),
            _ => false,
        }
    }

    /// The source the error is about, when it is about one.
    pub fn source_kind(&self) -> Option<ManagedIdentitySource> {
        match self {
            Self::UserAssignedUnsupported { platform, .. }
            | Self::Unavailable { platform, .. }
            | Self::Refused { platform, .. }
            | Self::InvalidResponse { platform, .. }
            | Self::Timeout { platform, .. }
            | Self::Transport { platform, .. } => Some(*platform),
            Self::ArcChallenge { .. } => Some(ManagedIdentitySource::AzureArc),
            Self::InvalidEndpoint { .. } => None,
        }
    }
}
