//! `WWW-Authenticate: Bearer ...` formatting (RFC 6750 §3): entra-core's one formatter.

pub(crate) use entra_core::challenge::BearerChallenge as Challenge;
