//! entra-token's integration tests: real HTTP on 127.0.0.1 (the development issuer in-process,
//! and an Entra-shaped token endpoint written here for the grants it does not speak yet).

#![allow(clippy::unwrap_used)]

mod common;

mod cache;
mod client_credentials;
mod device_code;
mod downstream;
mod errors;
mod layer;
mod obo;
mod outage;
mod public_client;
#[cfg(feature = "redis")]
mod shared_cache;
