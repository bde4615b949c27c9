//! The [`DevIssuer`] facade: create, spawn, mint, rotate keys, inject faults. The endpoints live in
//! [`crate::http`], the state they share in [`crate::state`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime};

use url::Url;

use crate::config::DevIssuerConfig;
use crate::error::DevIssuerError;
use crate::keys::{self, KeyEntry, KeyInfo, KeyRing};
use crate::request::{IssuerStats, TokenRequest};
use crate::state::IssuerState;
use crate::switch::Switches;

/// The development issuer. Cheap to clone (an `Arc` inside); every clone shares keys, codes and counters.
#[derive(Clone)]
pub struct DevIssuer {
    inner: Arc<IssuerState>,
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
            inner: Arc::new(IssuerState::new(config, instance, ring)),
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
    /// [`crate::defaults::DEV_PUBLIC_CLIENT_ID`]) as the calling client (`azp`/`appid`); override with
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
        crate::http::discovery::key_set_document(
            &self.inner,
            crate::http::discovery::KeySetShape::V2,
        )
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> IssuerStats {
        self.inner.counters.snapshot()
    }

    /// Fault injection: while `true`, the metadata and key endpoints answer 503.
    pub fn set_outage(&self, down: bool) {
        self.inner.update_switches(|s| s.outage = down);
        tracing::info!(down, "development issuer outage toggled");
    }

    /// Sets every switch at once (outage, consent required, MFA demanded): see [`Switches`]. The same
    /// document is served and accepted at `GET`/`PUT {instance}control/switches`.
    ///
    /// # Errors
    /// [`DevIssuerError::UnknownApi`] when a switch names an API that is not registered (the switches are
    /// then unchanged).
    pub fn set_switches(&self, switches: Switches) -> Result<(), DevIssuerError> {
        self.inner.set_switches(switches)
    }

    /// Revokes every refresh token of a test user (user name or sign-in name): their next use answers
    /// `invalid_grant` (AADSTS50173), as after a password reset. Returns how many were revoked. The same
    /// action is `POST {instance}control/revoke` with `{"user": "alice"}`, or `entra-dev revoke`.
    pub fn revoke_refresh_tokens(&self, user: &str) -> usize {
        let username = self
            .inner
            .config
            .user(user)
            .map_or(user, |u| u.username.as_str());
        self.inner.refresh_tokens.revoke_user(username)
    }

    /// Makes the next `count` answers of the emulated managed identity endpoints `status` (404, 408,
    /// 410, 429 or 5xx; `count` 0 clears it), as `PUT control/managed-identity` does.
    ///
    /// # Errors
    /// [`DevIssuerError::InvalidFault`] for another status.
    pub fn fail_managed_identity(&self, status: u16, count: u32) -> Result<(), DevIssuerError> {
        match axum::http::StatusCode::from_u16(status) {
            Ok(s) if s.is_server_error() || matches!(status, 404 | 408 | 410 | 429) => {
                self.inner.set_managed_identity_fault(s, count);
                Ok(())
            }
            _ => Err(DevIssuerError::InvalidFault { status }),
        }
    }

    /// The current switches.
    pub fn switches(&self) -> Switches {
        self.inner.switches().clone()
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
        crate::http::router(Arc::clone(&self.inner), crate::http::Surface::WithControl)
    }

    /// [`DevIssuer::router`] without the control endpoints (`control/switches`, `control/revoke`): what
    /// a service mounts, so that its callers cannot switch the issuer's outage or revoke sign-ins. Drive
    /// such an issuer through [`DevIssuer::set_switches`] and [`DevIssuer::revoke_refresh_tokens`].
    pub fn router_without_control(&self) -> axum::Router {
        crate::http::router(
            Arc::clone(&self.inner),
            crate::http::Surface::WithoutControl,
        )
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
