//! The one integration-test binary of entra-dev: real HTTP on 127.0.0.1:0, and every minted token
//! verified with an independent implementation (jsonwebtoken). One module per area.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod cli;
mod client_assertion;
mod common;
mod device_refresh;
mod discovery;
mod keys;
mod managed_identity;
mod obo;
mod token_endpoint;
