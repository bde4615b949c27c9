//! End-to-end tests of the `weather` binary against a spawned weather service (the `weather-api` library on
//! 127.0.0.1:0), its development issuer (or an in-process `entra-dev` issuer standing in for Entra ID) and
//! a wiremock OpenWeatherMap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod auth;
mod helpers;
mod interactive;
mod login;
mod reports;
mod weather;
