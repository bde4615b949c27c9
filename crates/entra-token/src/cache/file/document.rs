//! The file's format (serde): the accounts, each with its refresh token and access tokens, the
//! active account, and app-only tokens. No I/O here.

use std::time::{Duration, SystemTime};

use entra_core::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::cache::{from_unix, is_live, unix};
use crate::token::AccessToken;

/// The file format's version.
pub(crate) const VERSION: u32 = 1;

/// A signed-in user, as the ID token named them. For display and choice only: nothing is
/// authorised on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `{oid}.{tid}`: unique per user and tenant (the id MSAL calls the home account id).
    pub id: String,
    /// The directory (tenant) id, `tid`.
    pub tenant_id: String,
    /// The user's object id, `oid`.
    pub oid: String,
    /// `preferred_username` (usually the sign-in name).
    pub username: String,
    /// `name`, when the ID token carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Account {
    /// `Name (username)`, or the username.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} ({})", self.username),
            None => self.username.clone(),
        }
    }
}

/// Writes a secret into the file (the one place it is stored in clear, in a 0600 file).
fn exposed<S: serde::Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

/// As [`exposed`], for an optional secret.
fn exposed_opt<S: serde::Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(s) => serializer.serialize_some(s.expose_secret()),
        None => serializer.serialize_none(),
    }
}

/// An access token in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredAccessToken {
    /// The normalised scopes it was asked for (the lookup key).
    pub(crate) scopes: String,
    /// The scopes granted (`scope` of the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) granted: Option<String>,
    #[serde(serialize_with = "exposed")]
    pub(crate) token: SecretString,
    /// Unix seconds.
    pub(crate) expires_at: u64,
}

/// One account's entry: who, for which client and instance, and its tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccountEntry {
    #[serde(flatten)]
    pub(crate) account: Account,
    pub(crate) client_id: String,
    /// The authority's instance (`https://login.microsoftonline.com/`).
    pub(crate) instance: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "exposed_opt"
    )]
    pub(crate) refresh_token: Option<SecretString>,
    #[serde(default)]
    pub(crate) access_tokens: Vec<StoredAccessToken>,
}

impl AccountEntry {
    /// The access token for `scopes` with more than `margin` left at `now`.
    pub(crate) fn access_token(
        &self,
        scopes: &str,
        now: SystemTime,
        margin: Duration,
    ) -> Option<(AccessToken, Option<String>)> {
        let now = unix(now);
        let needed = now.saturating_add(margin.as_secs());
        self.access_tokens
            .iter()
            .find(|t| t.scopes == scopes && needed < t.expires_at && is_live(t.expires_at, now))
            .map(|t| {
                let at = from_unix(t.expires_at);
                (
                    AccessToken::new(t.token.expose_secret().into(), at, at),
                    t.granted.clone(),
                )
            })
    }

    /// The scopes granted with the last token for `scopes`, expired or not.
    pub(crate) fn granted(&self, scopes: &str) -> Option<&str> {
        self.access_tokens
            .iter()
            .find(|t| t.scopes == scopes)
            .and_then(|t| t.granted.as_deref())
    }

    /// Stores `token` for `scopes`, replacing the old one and dropping expired ones.
    pub(crate) fn put_access_token(
        &mut self,
        scopes: &str,
        token: &AccessToken,
        granted: Option<String>,
        now: SystemTime,
    ) {
        let now = unix(now);
        self.access_tokens
            .retain(|t| t.scopes != scopes && is_live(t.expires_at, now));
        self.access_tokens.push(StoredAccessToken {
            scopes: scopes.to_owned(),
            granted,
            token: SecretString::from(token.secret()),
            expires_at: unix(token.expires_at()),
        });
    }
}

/// An app-only token (client credentials) under its hashed `CacheKey` (hex).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AppToken {
    pub(crate) key: String,
    #[serde(serialize_with = "exposed")]
    pub(crate) token: SecretString,
    pub(crate) expires_at: u64,
    pub(crate) refresh_at: u64,
}

/// The file's contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Document {
    #[serde(default)]
    pub(crate) version: u32,
    /// The active account's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) active: Option<String>,
    #[serde(default)]
    pub(crate) accounts: Vec<AccountEntry>,
    #[serde(default)]
    pub(crate) app_tokens: Vec<AppToken>,
}

impl Document {
    /// The entry of `client_id` at `instance` for the account `id`, else the active one.
    pub(crate) fn entry_mut(
        &mut self,
        client_id: &str,
        instance: &str,
        id: Option<&str>,
    ) -> Option<&mut AccountEntry> {
        let id = id.or(self.active.as_deref())?.to_owned();
        self.accounts
            .iter_mut()
            .find(|e| e.account.id == id && e.client_id == client_id && e.instance == instance)
    }

    /// Adds or replaces the entry of its account (same client and instance) and makes it active.
    pub(crate) fn upsert(&mut self, entry: AccountEntry) -> &mut AccountEntry {
        self.active = Some(entry.account.id.clone());
        let same = |e: &AccountEntry| {
            e.account.id == entry.account.id
                && e.client_id == entry.client_id
                && e.instance == entry.instance
        };
        match self.accounts.iter().position(same) {
            Some(i) => {
                self.accounts[i] = entry;
                &mut self.accounts[i]
            }
            None => {
                self.accounts.push(entry);
                let last = self.accounts.len() - 1;
                &mut self.accounts[last]
            }
        }
    }
}
