//! The issuer's shared state: configuration, keys, the authorization code store, fault switches and the
//! request counters. Everything the HTTP layer and the [`crate::issuer::DevIssuer`] facade share lives
//! here, behind one `Arc`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use url::Url;

use crate::config::DevIssuerConfig;
use crate::error::DevIssuerError;
use crate::grants::{DeviceStore, RefreshStore, SignIn};
use crate::keys::KeyRing;
use crate::request::{GrantKind, IssuerStats};
use crate::switch::Switches;

/// How long redeemed or expired codes are remembered (to answer "already redeemed" / "expired" precisely).
const CODE_MEMORY: Duration = Duration::from_secs(3600);

/// Request counters, read by `/stats` and [`crate::issuer::DevIssuer::stats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) metadata: AtomicU64,
    pub(crate) keys: AtomicU64,
    pub(crate) token: AtomicU64,
    pub(crate) issued: AtomicU64,
    pub(crate) authorize: AtomicU64,
    pub(crate) client_credentials: AtomicU64,
    pub(crate) authorization_code: AtomicU64,
    pub(crate) on_behalf_of: AtomicU64,
    pub(crate) device_code: AtomicU64,
    pub(crate) refresh_token: AtomicU64,
    pub(crate) device_authorization: AtomicU64,
    pub(crate) managed_identity: AtomicU64,
}

impl Counters {
    /// A snapshot of every counter.
    pub(crate) fn snapshot(&self) -> IssuerStats {
        IssuerStats {
            metadata_requests: self.metadata.load(Ordering::Relaxed),
            key_requests: self.keys.load(Ordering::Relaxed),
            token_requests: self.token.load(Ordering::Relaxed),
            tokens_issued: self.issued.load(Ordering::Relaxed),
            authorize_requests: self.authorize.load(Ordering::Relaxed),
            client_credentials_requests: self.client_credentials.load(Ordering::Relaxed),
            authorization_code_requests: self.authorization_code.load(Ordering::Relaxed),
            on_behalf_of_requests: self.on_behalf_of.load(Ordering::Relaxed),
            device_code_requests: self.device_code.load(Ordering::Relaxed),
            refresh_token_requests: self.refresh_token.load(Ordering::Relaxed),
            device_authorization_requests: self.device_authorization.load(Ordering::Relaxed),
            managed_identity_requests: self.managed_identity.load(Ordering::Relaxed),
        }
    }

    /// Counts a token request by grant.
    pub(crate) fn grant(&self, kind: GrantKind) {
        Self::bump(match kind {
            GrantKind::ClientCredentials => &self.client_credentials,
            GrantKind::AuthorizationCode => &self.authorization_code,
            GrantKind::OnBehalfOf => &self.on_behalf_of,
            GrantKind::DeviceCode => &self.device_code,
            GrantKind::RefreshToken => &self.refresh_token,
        });
    }

    /// Adds one to a counter.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// An issued authorization code.
#[derive(Clone, Debug)]
pub(crate) struct CodeGrant {
    pub(crate) sign_in: SignIn,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: Option<String>,
    pub(crate) issued_at: SystemTime,
    pub(crate) redeemed: bool,
}

/// What happened when a client presented a code.
#[derive(Debug)]
pub(crate) enum Redemption {
    /// The code was never issued (or has been forgotten).
    Unknown,
    /// The code belongs to another client.
    OtherClient,
    /// The code was redeemed before.
    AlreadyRedeemed,
    /// The code is now redeemed; here is what it granted (its age is not checked yet).
    Redeemed(Box<CodeGrant>),
}

/// Issued authorization codes, remembered for their lifetime plus an hour.
#[derive(Default)]
pub(crate) struct CodeStore {
    codes: Mutex<HashMap<String, CodeGrant>>,
}

impl CodeStore {
    /// Stores a newly issued code, forgetting codes older than `lifetime` plus an hour.
    pub(crate) fn insert(&self, code: String, grant: CodeGrant, lifetime: Duration) {
        let mut codes = self.codes.lock().unwrap_or_else(PoisonError::into_inner);
        let now = SystemTime::now();
        let keep = lifetime + CODE_MEMORY;
        codes.retain(|_, g| g.issued_at + keep > now);
        codes.insert(code, grant);
    }

    /// Marks `code` redeemed by `client_id` (a code can be redeemed once, by the client it was issued to).
    pub(crate) fn redeem(&self, code: &str, client_id: &str) -> Redemption {
        let mut codes = self.codes.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(grant) = codes.get_mut(code) else {
            return Redemption::Unknown;
        };
        if !grant.sign_in.client_id.eq_ignore_ascii_case(client_id) {
            return Redemption::OtherClient;
        }
        if grant.redeemed {
            return Redemption::AlreadyRedeemed;
        }
        grant.redeemed = true;
        Redemption::Redeemed(Box::new(grant.clone()))
    }
}

/// A fault of the emulated managed identity endpoints: the next `remaining` answers are `status`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ManagedIdentityFault {
    pub(crate) status: axum::http::StatusCode,
    pub(crate) remaining: u32,
}

/// The state every endpoint and the facade share.
pub(crate) struct IssuerState {
    pub(crate) config: DevIssuerConfig,
    pub(crate) instance: Url,
    pub(crate) keys: RwLock<KeyRing>,
    pub(crate) codes: CodeStore,
    pub(crate) refresh_tokens: RefreshStore,
    pub(crate) devices: DeviceStore,
    pub(crate) switches: RwLock<Switches>,
    pub(crate) key_override: RwLock<Option<String>>,
    pub(crate) counters: Counters,
    pub(crate) managed_identity_fault: Mutex<Option<ManagedIdentityFault>>,
}

impl IssuerState {
    /// Fresh state around a key ring.
    pub(crate) fn new(config: DevIssuerConfig, instance: Url, ring: KeyRing) -> Self {
        Self {
            config,
            instance,
            keys: RwLock::new(ring),
            codes: CodeStore::default(),
            refresh_tokens: RefreshStore::default(),
            devices: DeviceStore::default(),
            switches: RwLock::new(Switches::default()),
            key_override: RwLock::new(None),
            counters: Counters::default(),
            managed_identity_fault: Mutex::new(None),
        }
    }

    pub(crate) fn read_keys(&self) -> RwLockReadGuard<'_, KeyRing> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write_keys(&self) -> RwLockWriteGuard<'_, KeyRing> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the simulated outage is on.
    pub(crate) fn is_down(&self) -> bool {
        self.switches().outage
    }

    /// The switches (a read guard: do not hold it across I/O).
    pub(crate) fn switches(&self) -> RwLockReadGuard<'_, Switches> {
        self.switches.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the switches after checking that every API they name is registered.
    pub(crate) fn set_switches(&self, switches: Switches) -> Result<(), DevIssuerError> {
        self.config.check_switches(&switches)?;
        tracing::info!(?switches, "development issuer switches set");
        self.update_switches(|s| *s = switches);
        Ok(())
    }

    /// Changes the switches.
    pub(crate) fn update_switches(&self, change: impl FnOnce(&mut Switches)) {
        change(
            &mut self
                .switches
                .write()
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// Makes the next `count` answers of the managed identity endpoints `status` (0: none).
    pub(crate) fn set_managed_identity_fault(&self, status: axum::http::StatusCode, count: u32) {
        tracing::info!(
            status = status.as_u16(),
            count,
            "managed identity endpoint fault set"
        );
        *self
            .managed_identity_fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            (count > 0).then_some(ManagedIdentityFault {
                status,
                remaining: count,
            });
    }

    /// The fault in force, if any.
    pub(crate) fn managed_identity_fault(&self) -> Option<ManagedIdentityFault> {
        *self
            .managed_identity_fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Uses up one answer of the fault in force: `Some` when this answer is the fault.
    pub(crate) fn take_managed_identity_fault(&self) -> Option<ManagedIdentityFault> {
        let mut fault = self
            .managed_identity_fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = (*fault)?;
        *fault = (current.remaining > 1).then_some(ManagedIdentityFault {
            remaining: current.remaining - 1,
            ..current
        });
        Some(current)
    }

    /// The key set override, if one is set.
    pub(crate) fn key_override(&self) -> Option<String> {
        self.key_override
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
