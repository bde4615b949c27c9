//! The in-memory token cache (L1): bounded by entries and by bytes, evicting the token that
//! expires first; expired tokens are dropped when found.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use super::CacheKey;
use crate::token::AccessToken;

/// The L1 cache. Reads clone an `Arc`: a hit costs a hash lookup under a short lock.
#[derive(Debug)]
pub(crate) struct MemoryCache {
    state: Mutex<State>,
    max_entries: usize,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    map: HashMap<CacheKey, AccessToken>,
    bytes: usize,
}

impl MemoryCache {
    /// A cache holding at most `max_entries` tokens and `max_bytes` of token text (each entry
    /// also counts a fixed overhead).
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            max_entries,
            max_bytes,
        }
    }

    /// The token under `key`, unless it has expired at `now` (then it is removed).
    pub(crate) fn get(&self, key: &CacheKey, now: SystemTime) -> Option<AccessToken> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let token = s.map.get(key)?;
        if token.expires_at() > now {
            return Some(token.clone());
        }
        if let Some(old) = s.map.remove(key) {
            s.bytes -= old.weight();
        }
        None
    }

    /// Stores `token`, replacing any under `key`, then evicts (expired first, then the soonest to
    /// expire) until both bounds hold. A token larger than the byte bound is not stored.
    pub(crate) fn insert(&self, key: CacheKey, token: AccessToken, now: SystemTime) {
        if token.weight() > self.max_bytes || token.expires_at() <= now {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.bytes += token.weight();
        if let Some(old) = s.map.insert(key, token) {
            s.bytes -= old.weight();
        }
        if s.map.len() > self.max_entries || s.bytes > self.max_bytes {
            let before = s.map.len();
            let mut freed = 0;
            s.map.retain(|_, t| {
                let keep = t.expires_at() > now;
                if !keep {
                    freed += t.weight();
                }
                keep
            });
            s.bytes -= freed;
            while s.map.len() > self.max_entries || s.bytes > self.max_bytes {
                let Some(victim) = s
                    .map
                    .iter()
                    .filter(|(k, _)| **k != key)
                    .min_by_key(|(_, t)| t.expires_at())
                    .map(|(k, _)| *k)
                else {
                    break;
                };
                if let Some(old) = s.map.remove(&victim) {
                    s.bytes -= old.weight();
                }
            }
            tracing::debug!(target: "entra_token", evicted = before - s.map.len(), "token cache over its bounds");
        }
    }

    /// The number of tokens held.
    pub(crate) fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }

    /// Whether the cache holds no token.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes counted against the byte bound.
    #[cfg(test)]
    pub(crate) fn weight(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::token::Scopes;

    fn key(i: u32) -> CacheKey {
        CacheKey::new("c", "a", &Scopes::parse(&format!("s{i}")), None)
    }

    fn token(len: usize, expires: u64) -> AccessToken {
        AccessToken::new(
            "x".repeat(len).into(),
            UNIX_EPOCH + Duration::from_secs(expires),
            UNIX_EPOCH + Duration::from_secs(expires / 2),
        )
    }

    #[test]
    fn entry_bound_evicts_soonest_expiring() {
        let now = UNIX_EPOCH;
        let c = MemoryCache::new(2, 1 << 20);
        c.insert(key(1), token(10, 300), now);
        c.insert(key(2), token(10, 100), now);
        c.insert(key(3), token(10, 200), now);
        assert_eq!(c.len(), 2);
        assert!(c.get(&key(2), now).is_none());
        assert!(c.get(&key(1), now).is_some() && c.get(&key(3), now).is_some());
    }

    #[test]
    fn byte_bound_evicts_until_under() {
        let now = UNIX_EPOCH;
        let c = MemoryCache::new(100, 1000);
        for i in 0..5 {
            c.insert(key(i), token(300, 100 + u64::from(i)), now);
        }
        assert!(c.weight() <= 1000, "{}", c.weight());
        assert_eq!(c.len(), 2);
        assert!(c.get(&key(4), now).is_some());
    }

    #[test]
    fn token_larger_than_byte_bound_is_not_stored() {
        let c = MemoryCache::new(10, 100);
        c.insert(key(1), token(500, 100), UNIX_EPOCH);
        assert!(c.is_empty());
        assert_eq!(c.weight(), 0);
    }

    #[test]
    fn expired_entry_is_never_returned_and_is_removed() {
        let c = MemoryCache::new(10, 1 << 20);
        c.insert(key(1), token(10, 100), UNIX_EPOCH);
        let at_expiry = UNIX_EPOCH + Duration::from_secs(100);
        assert!(c.get(&key(1), at_expiry).is_none());
        assert_eq!((c.len(), c.weight()), (0, 0));
    }
}
