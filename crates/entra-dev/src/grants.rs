//! What a user's sign-in granted, and the stores of the grants that outlive a request: refresh tokens
//! (rotated on use, revocable per user) and device codes (RFC 8628). Codes of the login page are in
//! [`crate::state::CodeStore`]. A leaf module.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// A user's sign-in: who, for which client, and what was granted. Every delegated grant (authorization
/// code, device code, refresh token) issues its tokens from one of these.
#[derive(Clone, Debug)]
pub(crate) struct SignIn {
    pub(crate) client_id: String,
    pub(crate) username: String,
    /// The main API's delegated scopes granted.
    pub(crate) scopes: Vec<String>,
    /// `openid` was granted: answers carry an ID token.
    pub(crate) openid: bool,
    /// `offline_access` was granted: answers carry a refresh token.
    pub(crate) offline: bool,
    pub(crate) nonce: Option<String>,
    /// B2C user flow, if signed in through one.
    pub(crate) policy: Option<String>,
    /// Authentication contexts satisfied (`acrs`).
    pub(crate) acrs: Vec<String>,
    /// The tenant of the tokens.
    pub(crate) tid: String,
}

/// Why a refresh token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshRefusal {
    Unknown,
    OtherClient,
    /// Already exchanged: a newer refresh token replaced it.
    Rotated,
    /// Revoked (e.g. `entra-dev revoke --user`).
    Revoked,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshState {
    Active,
    Rotated,
    Revoked,
}

#[derive(Debug)]
struct RefreshGrant {
    sign_in: SignIn,
    issued_at: SystemTime,
    state: RefreshState,
}

/// Refresh tokens: opaque random strings, each usable once (rotation) within its lifetime.
#[derive(Default)]
pub(crate) struct RefreshStore {
    tokens: Mutex<HashMap<String, RefreshGrant>>,
}

impl RefreshStore {
    /// Remembers `token` for `sign_in`, forgetting tokens older than `lifetime`.
    pub(crate) fn insert(&self, token: String, sign_in: SignIn, lifetime: Duration) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let now = SystemTime::now();
        tokens.retain(|_, g| g.issued_at + lifetime > now);
        tokens.insert(
            token,
            RefreshGrant {
                sign_in,
                issued_at: now,
                state: RefreshState::Active,
            },
        );
    }

    /// Exchanges `token` (marking it rotated) and returns its sign-in, or why it is refused.
    pub(crate) fn redeem(
        &self,
        token: &str,
        client_id: &str,
        lifetime: Duration,
    ) -> Result<SignIn, RefreshRefusal> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let grant = tokens.get_mut(token).ok_or(RefreshRefusal::Unknown)?;
        if !grant.sign_in.client_id.eq_ignore_ascii_case(client_id) {
            return Err(RefreshRefusal::OtherClient);
        }
        match grant.state {
            RefreshState::Revoked => return Err(RefreshRefusal::Revoked),
            RefreshState::Rotated => return Err(RefreshRefusal::Rotated),
            RefreshState::Active => {}
        }
        if SystemTime::now() >= grant.issued_at + lifetime {
            return Err(RefreshRefusal::Expired);
        }
        grant.state = RefreshState::Rotated;
        Ok(grant.sign_in.clone())
    }

    /// Revokes every active refresh token of `username` (case-insensitive); returns how many.
    pub(crate) fn revoke_user(&self, username: &str) -> usize {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let mut n = 0;
        for g in tokens.values_mut() {
            if g.state == RefreshState::Active && g.sign_in.username.eq_ignore_ascii_case(username)
            {
                g.state = RefreshState::Revoked;
                n += 1;
            }
        }
        n
    }
}

/// Where a device code stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DeviceState {
    Pending,
    Approved,
    Denied,
    Redeemed,
}

/// An issued device code.
#[derive(Debug, Clone)]
pub(crate) struct DeviceGrant {
    pub(crate) user_code: String,
    /// The request's sign-in; `username` and `scopes` are set when the user approves.
    pub(crate) sign_in: SignIn,
    /// The scopes requested (the user may consent to fewer).
    pub(crate) requested: Vec<String>,
    pub(crate) client_name: String,
    pub(crate) expires_at: SystemTime,
    /// Seconds the client must wait between polls (grows by 5 on each `slow_down`).
    pub(crate) interval: u64,
    last_poll: Option<SystemTime>,
    state: DeviceState,
}

impl DeviceGrant {
    /// A pending grant.
    pub(crate) fn new(
        user_code: String,
        sign_in: SignIn,
        client_name: String,
        expires_at: SystemTime,
        interval: u64,
    ) -> Self {
        Self {
            user_code,
            requested: sign_in.scopes.clone(),
            sign_in,
            client_name,
            expires_at,
            interval,
            last_poll: None,
            state: DeviceState::Pending,
        }
    }
}

/// The answer to a poll of the token endpoint with a device code.
#[derive(Debug)]
pub(crate) enum DevicePoll {
    Unknown,
    OtherClient,
    /// Not approved yet: keep polling every `interval` seconds.
    Pending,
    /// Polled before the interval passed: wait the new, longer `interval`.
    SlowDown(u64),
    Expired,
    Denied,
    AlreadyRedeemed,
    Approved(Box<SignIn>),
}

/// What happened to a user code entered on the verification page.
#[derive(Debug)]
pub(crate) enum UserCodeLookup {
    Unknown,
    Expired,
    /// Already approved or declined.
    Used,
    Pending(Box<DeviceGrant>),
}

/// Device codes by device code; user codes are looked up by a scan (a handful at a time in development).
#[derive(Default)]
pub(crate) struct DeviceStore {
    grants: Mutex<HashMap<String, DeviceGrant>>,
}

impl DeviceStore {
    /// Remembers a new device code, forgetting those expired for more than an hour.
    pub(crate) fn insert(&self, device_code: String, grant: DeviceGrant) {
        let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        let now = SystemTime::now();
        grants.retain(|_, g| g.expires_at + Duration::from_secs(3600) > now);
        grants.insert(device_code, grant);
    }

    /// The pending grant of a user code (compared without case, spaces or dashes).
    pub(crate) fn lookup(&self, user_code: &str) -> UserCodeLookup {
        let wanted = normalise_user_code(user_code);
        let grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(g) = grants.values().find(|g| g.user_code == wanted) else {
            return UserCodeLookup::Unknown;
        };
        if SystemTime::now() >= g.expires_at {
            return UserCodeLookup::Expired;
        }
        match g.state {
            DeviceState::Pending => UserCodeLookup::Pending(Box::new(g.clone())),
            _ => UserCodeLookup::Used,
        }
    }

    /// Approves (`Some((username, scopes))`) or declines (`None`) a pending user code; whether it was
    /// pending.
    pub(crate) fn decide(&self, user_code: &str, decision: Option<(String, Vec<String>)>) -> bool {
        let wanted = normalise_user_code(user_code);
        let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(g) = grants.values_mut().find(|g| g.user_code == wanted) else {
            return false;
        };
        if g.state != DeviceState::Pending || SystemTime::now() >= g.expires_at {
            return false;
        }
        match decision {
            Some((username, scopes)) => {
                g.sign_in.username = username;
                g.sign_in.scopes = scopes;
                g.state = DeviceState::Approved;
            }
            None => g.state = DeviceState::Denied,
        }
        true
    }

    /// A poll by `client_id` with `device_code` (RFC 8628 §3.4, §3.5).
    pub(crate) fn poll(&self, device_code: &str, client_id: &str) -> DevicePoll {
        let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(g) = grants.get_mut(device_code) else {
            return DevicePoll::Unknown;
        };
        if !g.sign_in.client_id.eq_ignore_ascii_case(client_id) {
            return DevicePoll::OtherClient;
        }
        let now = SystemTime::now();
        match g.state {
            DeviceState::Redeemed => DevicePoll::AlreadyRedeemed,
            DeviceState::Denied => DevicePoll::Denied,
            DeviceState::Approved if now < g.expires_at => {
                g.state = DeviceState::Redeemed;
                DevicePoll::Approved(Box::new(g.sign_in.clone()))
            }
            _ if now >= g.expires_at => DevicePoll::Expired,
            _ => {
                let too_soon = g
                    .last_poll
                    .is_some_and(|last| now < last + Duration::from_secs(g.interval));
                g.last_poll = Some(now);
                if too_soon {
                    g.interval += 5;
                    DevicePoll::SlowDown(g.interval)
                } else {
                    DevicePoll::Pending
                }
            }
        }
    }
}

/// User codes are upper-case letters and digits; people type them with spaces, dashes, lower case.
pub(crate) fn normalise_user_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sign_in() -> SignIn {
        SignIn {
            client_id: "c".into(),
            username: "alice".into(),
            scopes: vec!["weather.read".into()],
            openid: false,
            offline: true,
            nonce: None,
            policy: None,
            acrs: Vec::new(),
            tid: "t".into(),
        }
    }

    #[test]
    fn refresh_token_is_single_use_and_revocable_per_user() {
        let store = RefreshStore::default();
        let life = Duration::from_secs(60);
        store.insert("r1".into(), sign_in(), life);
        store.insert("r2".into(), sign_in(), life);
        assert_eq!(
            store.redeem("r1", "other", life).unwrap_err(),
            RefreshRefusal::OtherClient
        );
        assert_eq!(store.redeem("r1", "C", life).unwrap().username, "alice");
        assert_eq!(
            store.redeem("r1", "c", life).unwrap_err(),
            RefreshRefusal::Rotated
        );
        assert_eq!(store.revoke_user("ALICE"), 1);
        assert_eq!(
            store.redeem("r2", "c", life).unwrap_err(),
            RefreshRefusal::Revoked
        );
        assert_eq!(
            store.redeem("nope", "c", life).unwrap_err(),
            RefreshRefusal::Unknown
        );
    }

    #[test]
    fn device_poll_answers_pending_then_slow_down_then_tokens_once() {
        let store = DeviceStore::default();
        let expires = SystemTime::now() + Duration::from_secs(600);
        store.insert(
            "dc".into(),
            DeviceGrant::new("ABCD2345".into(), sign_in(), "client".into(), expires, 5),
        );
        assert!(matches!(store.poll("dc", "c"), DevicePoll::Pending));
        assert!(matches!(store.poll("dc", "c"), DevicePoll::SlowDown(10)));
        assert!(matches!(
            store.lookup("abcd-2345"),
            UserCodeLookup::Pending(_)
        ));
        assert!(store.decide(
            "abcd 2345",
            Some(("bob".into(), vec!["weather.read".into()]))
        ));
        assert!(matches!(store.lookup("ABCD2345"), UserCodeLookup::Used));
        match store.poll("dc", "c") {
            DevicePoll::Approved(s) => assert_eq!(s.username, "bob"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(store.poll("dc", "c"), DevicePoll::AlreadyRedeemed));
        assert!(matches!(store.poll("dc", "x"), DevicePoll::OtherClient));
    }
}
