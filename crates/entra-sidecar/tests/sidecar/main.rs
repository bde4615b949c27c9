//! entra-sidecar end to end over real HTTP on 127.0.0.1: the development issuer (entra-dev), a
//! recording downstream API and the sidecar, in-process and as the real binary.

#![allow(clippy::unwrap_used)]

mod binary;
mod caller;
mod contract;
mod downstream;
mod harness;
mod tokens;
