//! The one integration-test binary of weather-api: real servers on 127.0.0.1:0, a temporary SQLite
//! database, wiremock as OpenWeatherMap and an in-process development issuer for tokens.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod auth;
mod binary;
mod check_token;
mod dev_mode;
mod docs;
mod durability;
mod faults;
mod hardening;
mod helpers;
mod home;
mod hostile;
mod logging;
mod ops;
mod overload;
mod paging;
mod persistence;
mod rate_limit;
mod reports;
mod scale_out;
mod settings;
mod store;
mod weather;
