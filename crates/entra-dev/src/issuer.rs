//! The issuer: configuration, state, the public API.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use url::Url;

use crate::defaults;
use crate::keys::{self, KeyEntry, KeyRing};
use crate::login::CodeGrant;
use crate::DevIssuerError;

/// A test user that can sign in on the login page and be the subject of delegated tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestUser {
    /// Short user name used to pick the user (`alice`).
    pub username: String,
    /// Display name (`name` claim).
    pub display_name: String,
    /// Sign-in name (`preferred_username`, `upn`, `unique_name` claims).
    pub email: String,
    /// Object id (`oid` claim), a GUID.
    pub oid: String,
}

impl TestUser {
    /// A test user from its parts.
    pub fn new(username: &str, display_name: &str, email: &str, oid: &str) -> Self {
        Self {
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            email: email.to_owned(),
            oid: oid.to_owned(),
        }
    }
}

/// A client application registered with the development tenant.
#[derive(Clone, PartialEq, Eq)]
pub struct DevClient {
    /// The client (application) id.
    pub client_id: String,
    /// Human-readable name, shown on the login page.
    pub display_name: String,
    /// `Some(secret)`: a confidential client (`azpacr`/`appidacr` "1"); `None`: a public client ("0").
    pub secret: Option<String>,
    /// The service principal object id: `oid`/`sub` of the client's app-only tokens.
    pub service_principal_id: String,
    /// App roles of the API assigned to this client (granted by `client_credentials` with `.default`).
    pub app_roles: Vec<String>,
    /// Exact redirect URIs allowed for the authorization code flow.
    pub redirect_uris: Vec<String>,
    /// Also allow any `http://127.0.0.1:*/…`, `http://localhost:*/…` or `http://[::1]:*/…` redirect URI
    /// (native and development clients).
    pub allow_loopback_redirects: bool,
}

impl std::fmt::Debug for DevClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevClient")
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("service_principal_id", &self.service_principal_id)
            .field("app_roles", &self.app_roles)
            .field("redirect_uris", &self.redirect_uris)
            .field("allow_loopback_redirects", &self.allow_loopback_redirects)
            .finish()
    }
}

impl DevClient {
    /// Whether the client authenticates with a secret.
    pub fn is_confidential(&self) -> bool {
        self.secret.is_some()
    }

    /// Whether `uri` is an allowed redirect URI for this client.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        if self.redirect_uris.iter().any(|r| r == uri) {
            return true;
        }
        if !self.allow_loopback_redirects {
            return false;
        }
        match Url::parse(uri) {
            Ok(u) => {
                u.scheme() == "http"
                    && matches!(
                        u.host_str(),
                        Some("127.0.0.1") | Some("localhost") | Some("[::1]")
                    )
                    && u.fragment().is_none()
            }
            Err(_) => false,
        }
    }
}

/// Which access token format: Entra's v1.0 or v2.0 shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TokenVersion {
    /// v1.0: `iss` `{instance}{tid}/`, `aud` the App ID URI, `appid`, `upn`, `unique_name`, `x5t` header.
    V1,
    /// v2.0: `iss` `{instance}{tid}/v2.0`, `aud` the client id, `azp`, `preferred_username`.
    #[default]
    V2,
}

impl TokenVersion {
    /// The `ver` claim: `"1.0"` or `"2.0"`.
    pub fn as_ver(self) -> &'static str {
        match self {
            Self::V1 => "1.0",
            Self::V2 => "2.0",
        }
    }
}

impl std::fmt::Display for TokenVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_ver())
    }
}

/// Configuration of the development tenant and app registration. [`Default`] is the fixed development
/// identities of [`defaults`], an in-memory key, 1 h tokens.
#[derive(Clone, Debug)]
pub struct DevIssuerConfig {
    /// The tenant id (GUID): `tid`, and the tenant segment of the issuers.
    pub tenant_id: String,
    /// The protected API's client id (`aud` of v2 tokens).
    pub api_client_id: String,
    /// The protected API's App ID URI (`aud` of v1 tokens, prefix of scopes).
    pub api_app_id_uri: String,
    /// Delegated scopes the API exposes (short names, e.g. `weather.read`).
    pub scopes: Vec<String>,
    /// App roles the API defines (e.g. `Weather.Read.All`).
    pub app_roles: Vec<String>,
    /// Users who can sign in on the login page.
    pub users: Vec<TestUser>,
    /// Registered client applications.
    pub clients: Vec<DevClient>,
    /// `None`: the signing key lives in memory only (tests). `Some(dir)`: it is loaded from, or created in,
    /// `dir/signing-keys.json` (mode 0600), so tokens stay valid across restarts.
    pub data_dir: Option<PathBuf>,
    /// Lifetime of access tokens (default 1 h).
    pub token_lifetime: Duration,
    /// How long a rotated-out key stays published (default 24 h).
    pub key_grace_period: Duration,
    /// `Some(age)`: when the issuer is created, a current key older than `age` is rotated (the old one stays
    /// published for the grace period). `None` (default): keys never expire on their own; rotate with
    /// [`DevIssuer::rotate_key`] or `entra-dev keys rotate`.
    pub key_lifetime: Option<Duration>,
    /// How long an authorization code can be redeemed (default 10 min, like Entra).
    pub code_lifetime: Duration,
    /// The access token version the token endpoint issues: in Entra this is the API's app registration
    /// setting `requestedAccessTokenVersion`, not the endpoint's version (default v2).
    pub access_token_version: TokenVersion,
    /// The B2C tenant name: B2C paths are `{instance}{name}.onmicrosoft.com/{policy}/…` (default `devb2c`).
    pub b2c_tenant_name: String,
}

impl Default for DevIssuerConfig {
    fn default() -> Self {
        let loopback_public = DevClient {
            client_id: defaults::DEV_PUBLIC_CLIENT_ID.to_owned(),
            display_name: "Development public client (Swagger UI, CLI)".to_owned(),
            secret: None,
            service_principal_id: defaults::DEV_PUBLIC_SERVICE_PRINCIPAL_ID.to_owned(),
            app_roles: Vec::new(),
            redirect_uris: Vec::new(),
            allow_loopback_redirects: true,
        };
        let daemon = DevClient {
            client_id: defaults::DEV_DAEMON_CLIENT_ID.to_owned(),
            display_name: "Development daemon".to_owned(),
            secret: Some(defaults::DEV_DAEMON_CLIENT_SECRET.to_owned()),
            service_principal_id: defaults::DEV_DAEMON_SERVICE_PRINCIPAL_ID.to_owned(),
            app_roles: vec![
                defaults::ROLE_READ_ALL.to_owned(),
                defaults::ROLE_WRITE_ALL.to_owned(),
            ],
            redirect_uris: Vec::new(),
            allow_loopback_redirects: false,
        };
        Self {
            tenant_id: defaults::DEV_TENANT_ID.to_owned(),
            api_client_id: defaults::DEV_API_CLIENT_ID.to_owned(),
            api_app_id_uri: defaults::DEV_API_APP_ID_URI.to_owned(),
            scopes: vec![
                defaults::SCOPE_READ.to_owned(),
                defaults::SCOPE_WRITE.to_owned(),
            ],
            app_roles: vec![
                defaults::ROLE_READ_ALL.to_owned(),
                defaults::ROLE_WRITE_ALL.to_owned(),
            ],
            users: vec![
                TestUser::new(
                    defaults::ALICE_USERNAME,
                    defaults::ALICE_NAME,
                    defaults::ALICE_EMAIL,
                    defaults::ALICE_OID,
                ),
                TestUser::new(
                    defaults::BOB_USERNAME,
                    defaults::BOB_NAME,
                    defaults::BOB_EMAIL,
                    defaults::BOB_OID,
                ),
            ],
            clients: vec![loopback_public, daemon],
            data_dir: None,
            token_lifetime: Duration::from_secs(3600),
            key_grace_period: Duration::from_secs(24 * 3600),
            key_lifetime: None,
            code_lifetime: Duration::from_secs(600),
            access_token_version: TokenVersion::V2,
            b2c_tenant_name: defaults::DEV_B2C_TENANT_NAME.to_owned(),
        }
    }
}

impl DevIssuerConfig {
    /// The registered client with this id, if any.
    pub fn client(&self, client_id: &str) -> Option<&DevClient> {
        self.clients
            .iter()
            .find(|c| c.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The test user with this user name (or sign-in name), if any.
    pub fn user(&self, username: &str) -> Option<&TestUser> {
        self.users.iter().find(|u| {
            u.username.eq_ignore_ascii_case(username) || u.email.eq_ignore_ascii_case(username)
        })
    }
}

/// Who a minted token is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A delegated (user) token for this user name. A name that is not a configured test user gets a
    /// synthetic identity (stable `oid` derived from the name, `preferred_username` `{name}@dev.example`).
    User(String),
    /// An app-only token for this calling client: `idtyp` "app", `oid`/`sub` its service principal id.
    App {
        /// The calling client's id (`azp`/`appid`).
        client_id: String,
    },
}

impl Default for Subject {
    fn default() -> Self {
        Self::User(defaults::ALICE_USERNAME.to_owned())
    }
}

/// What to put in a token minted by [`DevIssuer::mint`]. Every field has an Entra-like default.
#[derive(Clone, Debug, Default)]
pub struct TokenRequest {
    /// The user or app the token is about (default: user `alice`).
    pub subject: Subject,
    /// Token shape (default v2).
    pub version: TokenVersion,
    /// Delegated scopes, emitted as the space-separated `scp`; omitted when empty.
    pub scopes: Vec<String>,
    /// App roles, emitted as the `roles` array; omitted when empty.
    pub roles: Vec<String>,
    /// `aud`; default: the API's client id for v2 (and B2C), its App ID URI for v1.
    pub audience: Option<String>,
    /// `tid` (and the issuer's tenant); default: the configured tenant.
    pub tenant_id: Option<String>,
    /// `Some(policy)`: a B2C-shaped token (`iss` `{instance}{tid}/v2.0/`, `ver` "1.0", `tfp` = policy).
    pub b2c_policy: Option<String>,
    /// `iat`; default now. `nbf` = `iat` and `exp` = `iat + lifetime` unless overridden.
    pub issued_at: Option<SystemTime>,
    /// Lifetime; default the configured token lifetime.
    pub lifetime: Option<Duration>,
    /// `nbf`; default `iat`.
    pub not_before: Option<SystemTime>,
    /// Claims merged last (they may override anything, including `iss`).
    pub extra_claims: serde_json::Map<String, serde_json::Value>,
    /// Header parameters merged last (e.g. `nonce`, `jku`, or an override of `alg`/`kid`).
    pub extra_header: serde_json::Map<String, serde_json::Value>,
}

/// A snapshot of the issuer's request counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuerStats {
    /// Requests for a metadata (openid-configuration) document.
    pub metadata_requests: u64,
    /// Requests for a key set.
    pub key_requests: u64,
    /// Requests to a token endpoint (successful or not).
    pub token_requests: u64,
    /// Tokens issued by the token endpoint.
    pub tokens_issued: u64,
    /// Requests to the authorize endpoint (login page and form).
    pub authorize_requests: u64,
}

/// Public facts about one signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// base64url SHA-1 thumbprint of the certificate.
    pub x5t: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// When the key was rotated out, seconds since the Unix epoch.
    pub retired_at: Option<u64>,
    /// When a rotated-out key stops being published, seconds since the Unix epoch.
    pub published_until: Option<u64>,
    /// Whether this key signs new tokens.
    pub is_current: bool,
    /// Whether the key set publishes the key now.
    pub is_published: bool,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) metadata: AtomicU64,
    pub(crate) keys: AtomicU64,
    pub(crate) token: AtomicU64,
    pub(crate) issued: AtomicU64,
    pub(crate) authorize: AtomicU64,
}

pub(crate) struct Inner {
    pub(crate) config: DevIssuerConfig,
    pub(crate) instance: Url,
    pub(crate) keys: RwLock<KeyRing>,
    pub(crate) codes: Mutex<HashMap<String, CodeGrant>>,
    pub(crate) outage: AtomicBool,
    pub(crate) key_override: RwLock<Option<String>>,
    pub(crate) counters: Counters,
}

/// The development issuer. Cheap to clone (an `Arc` inside); every clone shares keys, codes and counters.
#[derive(Clone)]
pub struct DevIssuer {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("instance", &self.inner.instance.as_str())
            .field("tenant_id", &self.inner.config.tenant_id)
            .field("current_kid", &self.current_kid())
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Creates an issuer reachable at `instance` (its base URL; a missing trailing `/` is added).
    ///
    /// With `config.data_dir` set, loads the signing keys from `data_dir/signing-keys.json`, or generates
    /// a key and writes that file (mode 0600). Otherwise generates an in-memory key. Generating costs about
    /// 100 ms or more of CPU: call it from `spawn_blocking` in async code, or use [`DevIssuer::spawn`].
    ///
    /// # Errors
    /// [`DevIssuerError::InvalidInstance`] for a URL that cannot be a base; key generation, certificate and
    /// key file errors.
    pub fn new(config: DevIssuerConfig, instance: Url) -> Result<Self, DevIssuerError> {
        Self::build(config, instance, None)
    }

    /// Like [`DevIssuer::new`], but uses `key` instead of generating one whenever a fresh key is needed
    /// (always without a data dir; with one, only if no key file exists yet). Lets test suites generate one
    /// key per process and share it.
    ///
    /// # Errors
    /// As [`DevIssuer::new`].
    pub fn with_signing_key(
        config: DevIssuerConfig,
        instance: Url,
        key: rsa::RsaPrivateKey,
    ) -> Result<Self, DevIssuerError> {
        Self::build(config, instance, Some(key))
    }

    /// Generates a new RSA-2048 private key (for [`DevIssuer::with_signing_key`]).
    ///
    /// # Errors
    /// [`DevIssuerError::KeyGeneration`].
    pub fn generate_key() -> Result<rsa::RsaPrivateKey, DevIssuerError> {
        keys::generate_private_key()
    }

    fn build(
        config: DevIssuerConfig,
        instance: Url,
        key: Option<rsa::RsaPrivateKey>,
    ) -> Result<Self, DevIssuerError> {
        let instance = normalise_instance(instance)?;
        let now = SystemTime::now();
        let fresh = |key: Option<rsa::RsaPrivateKey>| -> Result<KeyEntry, DevIssuerError> {
            let private = match key {
                Some(k) => k,
                None => keys::generate_private_key()?,
            };
            KeyEntry::from_private_key(private, now)
        };
        let ring = match &config.data_dir {
            Some(dir) => match KeyRing::load(dir)? {
                Some(ring) => {
                    tracing::debug!(dir = %dir.display(), kid = %ring.current().kid, "loaded development signing keys");
                    ring
                }
                None => {
                    let ring = KeyRing::single(fresh(key)?);
                    let path = ring.save(dir)?;
                    tracing::info!(path = %path.display(), kid = %ring.current().kid, "created a development signing key");
                    ring
                }
            },
            None => KeyRing::single(fresh(key)?),
        };
        let expired = config.key_lifetime.is_some_and(|lifetime| {
            keys::unix_secs(now).saturating_sub(ring.current().created_at) >= lifetime.as_secs()
        });
        let issuer = Self {
            inner: Arc::new(Inner {
                config,
                instance,
                keys: RwLock::new(ring),
                codes: Mutex::new(HashMap::new()),
                outage: AtomicBool::new(false),
                key_override: RwLock::new(None),
                counters: Counters::default(),
            }),
        };
        if expired {
            tracing::info!(kid = %issuer.current_kid(), "the signing key is past its lifetime; rotating");
            issuer.rotate_key()?;
        }
        Ok(issuer)
    }

    /// Binds `127.0.0.1:0`, creates an issuer whose instance is `http://127.0.0.1:{port}/` and serves it in a
    /// background task until the returned handle is dropped.
    ///
    /// # Errors
    /// [`DevIssuerError::Bind`], and those of [`DevIssuer::new`].
    pub async fn spawn(config: DevIssuerConfig) -> Result<RunningDevIssuer, DevIssuerError> {
        Self::spawn_inner(config, None).await
    }

    /// Like [`DevIssuer::spawn`] with a given key (see [`DevIssuer::with_signing_key`]).
    ///
    /// # Errors
    /// As [`DevIssuer::spawn`].
    pub async fn spawn_with_key(
        config: DevIssuerConfig,
        key: rsa::RsaPrivateKey,
    ) -> Result<RunningDevIssuer, DevIssuerError> {
        Self::spawn_inner(config, Some(key)).await
    }

    async fn spawn_inner(
        config: DevIssuerConfig,
        key: Option<rsa::RsaPrivateKey>,
    ) -> Result<RunningDevIssuer, DevIssuerError> {
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(DevIssuerError::Bind)?;
        let addr = listener.local_addr().map_err(DevIssuerError::Bind)?;
        let instance = Url::parse(&format!("http://{addr}/"))
            .expect("BUG: a socket address always forms a valid url");
        let issuer = tokio::task::spawn_blocking(move || Self::build(config, instance, key))
            .await
            .map_err(DevIssuerError::Task)??;
        let router = issuer.router();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(error) = &result {
                tracing::warn!(%error, "development issuer server stopped with an error");
            }
            result
        });
        tracing::debug!(%addr, "development issuer listening");
        Ok(RunningDevIssuer {
            issuer,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The base URL every endpoint is relative to (ends with `/`).
    pub fn instance(&self) -> &Url {
        &self.inner.instance
    }

    /// The configuration.
    pub fn config(&self) -> &DevIssuerConfig {
        &self.inner.config
    }

    /// The v2 issuer for a tenant id: `{instance}{tid}/v2.0`.
    pub fn issuer_v2(&self, tenant_id: &str) -> String {
        format!("{}{}/v2.0", self.inner.instance, tenant_id)
    }

    /// The v1 issuer for a tenant id: `{instance}{tid}/`.
    pub fn issuer_v1(&self, tenant_id: &str) -> String {
        format!("{}{}/", self.inner.instance, tenant_id)
    }

    /// The B2C issuer for a tenant id: `{instance}{tid}/v2.0/` (trailing slash, as B2C).
    pub fn issuer_b2c(&self, tenant_id: &str) -> String {
        format!("{}{}/v2.0/", self.inner.instance, tenant_id)
    }

    /// Signs a token described by `req` with the current key.
    ///
    /// Delegated tokens name the first configured public client (by default
    /// [`defaults::DEV_PUBLIC_CLIENT_ID`]) as the calling client (`azp`/`appid`); override with
    /// `extra_claims`.
    ///
    /// # Errors
    /// [`DevIssuerError::Signing`] or [`DevIssuerError::Json`] (neither happens in practice).
    pub fn mint(&self, req: &TokenRequest) -> Result<String, DevIssuerError> {
        crate::mint::mint(&self.inner, req, None)
    }

    /// Signs exactly `header` and `claims` with the current key, filling `"alg": "RS256"`, `"typ": "JWT"`
    /// and `"kid"` only where absent. For forged-token tests (wrong `alg`, missing `exp`, foreign `iss`...).
    ///
    /// # Errors
    /// [`DevIssuerError::Signing`] or [`DevIssuerError::Json`].
    pub fn sign_raw(
        &self,
        header: serde_json::Map<String, serde_json::Value>,
        claims: serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, DevIssuerError> {
        crate::mint::sign_raw(&self.inner, header, claims)
    }

    /// The id of the key that signs new tokens.
    pub fn current_kid(&self) -> String {
        self.inner.read_keys().current().kid.clone()
    }

    /// Generates a new key and makes it current; the previous key stays published for
    /// `config.key_grace_period`. Persists the key ring when there is a data dir. Returns the new kid.
    /// Costs a key generation (about 100 ms or more).
    ///
    /// # Errors
    /// Key generation, certificate and file errors; on error the keys are unchanged.
    pub fn rotate_key(&self) -> Result<String, DevIssuerError> {
        let entry = KeyEntry::from_private_key(keys::generate_private_key()?, SystemTime::now())?;
        self.install_key(entry)
    }

    /// Like [`DevIssuer::rotate_key`] with a given new key.
    ///
    /// # Errors
    /// Certificate and file errors; on error the keys are unchanged.
    pub fn rotate_to_key(&self, key: rsa::RsaPrivateKey) -> Result<String, DevIssuerError> {
        let entry = KeyEntry::from_private_key(key, SystemTime::now())?;
        self.install_key(entry)
    }

    fn install_key(&self, entry: KeyEntry) -> Result<String, DevIssuerError> {
        let kid = entry.kid.clone();
        let mut ring = self.inner.write_keys();
        let old = ring.current().kid.clone();
        ring.rotate(entry, SystemTime::now(), self.inner.config.key_grace_period);
        if let Some(dir) = &self.inner.config.data_dir {
            ring.save(dir)?;
        }
        tracing::info!(old_kid = %old, new_kid = %kid, "rotated the development signing key");
        Ok(kid)
    }

    /// Re-reads the key file from the data dir (after `entra-dev keys rotate` in another process).
    /// Returns whether the current kid changed. Without a data dir, does nothing.
    ///
    /// # Errors
    /// Key file errors; on error the keys are unchanged.
    pub fn reload_keys(&self) -> Result<bool, DevIssuerError> {
        let Some(dir) = &self.inner.config.data_dir else {
            return Ok(false);
        };
        let Some(ring) = KeyRing::load(dir)? else {
            return Ok(false);
        };
        let mut current = self.inner.write_keys();
        let changed = current.current().kid != ring.current().kid;
        *current = ring;
        Ok(changed)
    }

    /// Watches the key file in the data dir and reloads the keys when it changes, so that
    /// `entra-dev keys rotate` run in another terminal is picked up by a running application. Checks every
    /// `interval`; stops when the returned handle is aborted. Without a data dir the task just idles.
    ///
    /// # Panics
    /// If called outside a Tokio runtime.
    pub fn watch_key_file(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let issuer = self.clone();
        tokio::spawn(async move {
            let Some(path) = issuer
                .inner
                .config
                .data_dir
                .as_ref()
                .map(|d| d.join(keys::KEY_FILE_NAME))
            else {
                return std::future::pending::<()>().await;
            };
            let modified = |path: PathBuf| async move {
                tokio::fs::metadata(&path).await.ok()?.modified().ok()
            };
            let mut last = modified(path.clone()).await;
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = modified(path.clone()).await;
                if now == last {
                    continue;
                }
                last = now;
                let reloading = issuer.clone();
                match tokio::task::spawn_blocking(move || reloading.reload_keys()).await {
                    Ok(Ok(true)) => tracing::info!(
                        kid = %issuer.current_kid(),
                        "picked up a rotated signing key from the key file"
                    ),
                    Ok(Ok(false)) => {}
                    Ok(Err(error)) => tracing::warn!(
                        %error,
                        "cannot reload the key file; keeping the current keys"
                    ),
                    Err(error) => tracing::warn!(%error, "key reload task failed"),
                }
            }
        })
    }

    /// The signing keys the issuer holds, current first.
    pub fn keys(&self) -> Vec<KeyInfo> {
        let ring = self.inner.read_keys();
        let now = SystemTime::now();
        let published: Vec<String> = ring
            .published(now, self.inner.config.key_grace_period)
            .iter()
            .map(|k| k.kid.clone())
            .collect();
        let current = ring.current().kid.clone();
        let mut out: Vec<KeyInfo> = ring
            .all()
            .iter()
            .rev()
            .map(|k| KeyInfo {
                kid: k.kid.clone(),
                x5t: k.x5t.clone(),
                created_at: k.created_at,
                retired_at: k.retired_at,
                published_until: k.unpublish_at,
                is_current: k.kid == current,
                is_published: published.contains(&k.kid),
            })
            .collect();
        out.sort_by_key(|k| !k.is_current);
        out
    }

    /// The key set document as served (v2 shape, with the `issuer` property), ignoring any override.
    pub fn key_set(&self) -> serde_json::Value {
        crate::routes::key_set_document(&self.inner, crate::routes::KeySetShape::V2)
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> IssuerStats {
        let c = &self.inner.counters;
        IssuerStats {
            metadata_requests: c.metadata.load(Ordering::Relaxed),
            key_requests: c.keys.load(Ordering::Relaxed),
            token_requests: c.token.load(Ordering::Relaxed),
            tokens_issued: c.issued.load(Ordering::Relaxed),
            authorize_requests: c.authorize.load(Ordering::Relaxed),
        }
    }

    /// Fault injection: while `true`, the metadata and key endpoints answer 503.
    pub fn set_outage(&self, down: bool) {
        self.inner.outage.store(down, Ordering::SeqCst);
        tracing::info!(down, "development issuer outage toggled");
    }

    /// Fault injection: serve `body` (verbatim, `application/json`) as every key set, or `None` to stop.
    pub fn set_key_document_override(&self, body: Option<String>) {
        *self
            .inner
            .key_override
            .write()
            .unwrap_or_else(PoisonError::into_inner) = body;
    }

    /// The axum router serving every endpoint, with paths relative to the instance's path (mount it with
    /// `Router::nest("/prefix", issuer.router())` when the instance is `http://host:port/prefix/`).
    pub fn router(&self) -> axum::Router {
        crate::routes::router(self.clone())
    }
}

impl Inner {
    pub(crate) fn read_keys(&self) -> RwLockReadGuard<'_, KeyRing> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write_keys(&self) -> RwLockWriteGuard<'_, KeyRing> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn normalise_instance(mut instance: Url) -> Result<Url, DevIssuerError> {
    if instance.cannot_be_a_base() || !matches!(instance.scheme(), "http" | "https") {
        return Err(DevIssuerError::InvalidInstance(instance));
    }
    if !instance.path().ends_with('/') {
        let path = format!("{}/", instance.path());
        instance.set_path(&path);
    }
    instance.set_query(None);
    instance.set_fragment(None);
    Ok(instance)
}

/// A development issuer served on `127.0.0.1` by [`DevIssuer::spawn`]. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningDevIssuer {
    /// The issuer (its instance is `http://{addr}/`).
    pub issuer: DevIssuer,
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningDevIssuer {
    /// The base URL (`http://127.0.0.1:{port}/`).
    pub fn url(&self) -> &Url {
        self.issuer.instance()
    }

    /// Stops accepting connections, lets in-flight requests finish and waits for the server task.
    ///
    /// # Errors
    /// [`DevIssuerError::Bind`] if serving failed, [`DevIssuerError::Task`] if the task panicked.
    pub async fn shutdown(mut self) -> Result<(), DevIssuerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(DevIssuerError::Task)?
                .map_err(DevIssuerError::Bind),
            None => Ok(()),
        }
    }
}

impl Drop for RunningDevIssuer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The development data directory that `entra-dev` (the CLI) and applications in development mode share, so
/// that tokens from `entra-dev token` are accepted by a running service:
/// `$ENTRA_DEV_HOME`, else `$XDG_DATA_HOME/entra-dev`, else `$HOME/.local/share/entra-dev`; `None` if none
/// of these variables is set (empty values count as unset).
///
/// This helper reads the environment (the rest of the library does not): call it in a binary and pass the
/// result as [`DevIssuerConfig::data_dir`].
pub fn default_data_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(home) = var("ENTRA_DEV_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(xdg) = var("XDG_DATA_HOME") {
        return Some(PathBuf::from(xdg).join("entra-dev"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".local/share/entra-dev"))
}
