//! entra-token's integration tests: real HTTP on 127.0.0.1 (the development issuer in-process,
//! and an Entra-shaped token endpoint written here for answers it cannot give).

#![allow(clippy::unwrap_used)]

/// API A and API B of the `obo_chain` example, and its load driver's calls.
#[path = "../../examples/obo_chain/apps.rs"]
mod apps;
mod common;
#[path = "../../examples/obo_chain/load.rs"]
mod load;

mod cache;
mod certificate_file;
mod chain;
mod client_credentials;
mod device_code;
mod downstream;
mod errors;
mod extract;
mod layer;
mod managed_identity;
mod obo;
mod outage;
mod public_client;
#[cfg(feature = "redis")]
mod shared_cache;
