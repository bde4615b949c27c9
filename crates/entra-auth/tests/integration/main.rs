//! entra-auth's integration tests, one binary: the library over real HTTP (axum and reqwest on
//! 127.0.0.1:0) against the development issuer, hostile input, a faulty identity provider, and
//! tracing, and the conformance replays (`conformance.rs`). `common` is the in-process issuer and server, `harness` the canned provider and
//! signer shared with the fuzz targets (`fuzz/fuzz_targets/*.rs` include it by path).
//!
//! `tests/allocations.rs` stays a binary of its own: its counting global allocator sees the whole
//! process, so no other test may run beside it.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;
mod harness;

mod authz;
mod conformance;
mod faults;
mod hostile;
mod http;
mod instance;
mod keys;
mod logging;
mod tokens;
