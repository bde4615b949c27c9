//! The fixed development identities.
//!
//! Every value here is public, well known and worthless as a secret: they exist so that the development
//! issuer, the API that trusts it and the team's tests agree on one tenant, one app registration, two
//! clients and two test users without any configuration.

/// The development tenant (directory) id: the `tid` of every token and the tenant segment of every issuer.
pub const DEV_TENANT_ID: &str = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a";

/// The protected API's app registration (client id): the `aud` of v2 tokens.
pub const DEV_API_CLIENT_ID: &str = "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c";

/// The protected API's App ID URI: the `aud` of v1 tokens and the prefix of its scopes.
pub const DEV_API_APP_ID_URI: &str = "api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c";

/// The protected API's client secret: the API is also a confidential client, the middle tier that calls
/// [`DEV_DOWNSTREAM_API_CLIENT_ID`] on behalf of its user (on-behalf-of grant). Development only.
pub const DEV_API_CLIENT_SECRET: &str = "dev-api-secret";

/// The protected API's service principal object id.
pub const DEV_API_SERVICE_PRINCIPAL_ID: &str = "a9e70000-1111-4222-8333-a9e7b3c15d2f";

/// A second API registered in the tenant (API B): the downstream target of the on-behalf-of grant.
pub const DEV_DOWNSTREAM_API_CLIENT_ID: &str = "b0b1b2b3-c4c5-4d6d-8e7e-f8f9fafbfcfd";

/// The downstream API's App ID URI.
pub const DEV_DOWNSTREAM_API_APP_ID_URI: &str = "api://b0b1b2b3-c4c5-4d6d-8e7e-f8f9fafbfcfd";

/// Delegated scope of the downstream API: read.
pub const SCOPE_DOWNSTREAM_READ: &str = "downstream.read";

/// Delegated scope of the downstream API: write.
pub const SCOPE_DOWNSTREAM_WRITE: &str = "downstream.write";

/// A confidential client (a daemon) granted the app roles [`ROLE_READ_ALL`] and [`ROLE_WRITE_ALL`].
pub const DEV_DAEMON_CLIENT_ID: &str = "c0ffee00-1111-4222-8333-444455556666";

/// The daemon's client secret. Development only: it is printed in this source file.
pub const DEV_DAEMON_CLIENT_SECRET: &str = "dev-daemon-secret";

/// The daemon's service principal (enterprise application) object id: `oid` and `sub` of its app-only tokens.
pub const DEV_DAEMON_SERVICE_PRINCIPAL_ID: &str = "d43e0000-aaaa-4bbb-8ccc-ddddeeeeffff";

/// A public client (Swagger UI, the CLI) that uses authorization code + PKCE with loopback redirect URIs.
pub const DEV_PUBLIC_CLIENT_ID: &str = "5a5a5a5a-6b6b-4c7c-8d8d-9e9e9e9e9e9e";

/// The public client's service principal object id.
pub const DEV_PUBLIC_SERVICE_PRINCIPAL_ID: &str = "5e5e5e5e-0000-4111-8222-333344445555";

/// Delegated scope: read weather data.
pub const SCOPE_READ: &str = "weather.read";

/// Delegated scope: write weather reports.
pub const SCOPE_WRITE: &str = "weather.write";

/// Application role: read weather data as a daemon.
pub const ROLE_READ_ALL: &str = "Weather.Read.All";

/// Application role: write weather reports as a daemon.
pub const ROLE_WRITE_ALL: &str = "Weather.Write.All";

/// Test user `alice`: user name.
pub const ALICE_USERNAME: &str = "alice";
/// Test user `alice`: display name (`name`).
pub const ALICE_NAME: &str = "Alice Example";
/// Test user `alice`: sign-in name (`preferred_username`, `upn`).
pub const ALICE_EMAIL: &str = "alice@dev.example";
/// Test user `alice`: object id (`oid`).
pub const ALICE_OID: &str = "a11ce000-0000-4000-8000-00000000a11c";

/// Test user `bob`: user name.
pub const BOB_USERNAME: &str = "bob";
/// Test user `bob`: display name (`name`).
pub const BOB_NAME: &str = "Bob Example";
/// Test user `bob`: sign-in name (`preferred_username`, `upn`).
pub const BOB_EMAIL: &str = "bob@dev.example";
/// Test user `bob`: object id (`oid`).
pub const BOB_OID: &str = "b0b00000-0000-4000-8000-000000000b0b";

/// The default Azure AD B2C tenant name (`{name}.onmicrosoft.com`).
pub const DEV_B2C_TENANT_NAME: &str = "devb2c";

/// The default bind address of `entra-dev serve`.
pub const DEFAULT_BIND: &str = "127.0.0.1:8400";

/// Where the weather API mounts the development issuer in development mode: the default `--instance` of
/// `entra-dev token`.
pub const WEATHER_API_DEV_INSTANCE: &str = "http://127.0.0.1:8000/dev-issuer/";
/// The browser origins of weather-api on its default address, whose Swagger UI (`/docs`) signs in with
/// the issuer: the default [`DevIssuerConfig::allowed_origins`](crate::DevIssuerConfig::allowed_origins).
pub const WEATHER_API_ORIGINS: [&str; 2] = ["http://127.0.0.1:8000", "http://localhost:8000"];

/// The development system-assigned managed identity: its client (application) id, the `appid`/`azp`
/// of its tokens.
pub const DEV_SYSTEM_MI_CLIENT_ID: &str = "5a1f0000-1111-4222-8333-000000005a1f";
/// The development system-assigned managed identity's object (principal) id: `oid` and `sub` of its
/// tokens, and the subject of the federated credentials that trust it.
pub const DEV_SYSTEM_MI_OBJECT_ID: &str = "5a1f0b1d-2222-4333-8444-000000005a1f";

/// The development user-assigned managed identity: its client id (`client_id` parameter).
pub const DEV_USER_MI_CLIENT_ID: &str = "0a1e0000-1111-4222-8333-0000000000a1";
/// The development user-assigned managed identity's object (principal) id (`object_id` parameter).
pub const DEV_USER_MI_OBJECT_ID: &str = "0a1e0b1d-2222-4333-8444-0000000000a1";
/// The development user-assigned managed identity's Azure resource id (`msi_res_id` / `mi_res_id`).
pub const DEV_USER_MI_RESOURCE_ID: &str = "/subscriptions/00000000-0000-4000-8000-000000000000/\
resourceGroups/dev/providers/Microsoft.ManagedIdentity/userAssignedIdentities/dev-identity";

/// The App Service identity header secret (`IDENTITY_HEADER`, sent back as `X-IDENTITY-HEADER`) of the
/// emulated App Service identity endpoint. Development only: it is printed in this source file.
pub const DEV_IDENTITY_HEADER: &str = "dev-identity-header";
