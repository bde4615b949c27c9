//! Single flight: one token request per cache key at a time. Callers of one key queue on that key's
//! lock (or keep using a still-valid token while another caller refreshes it); the lock leaves the
//! map once nobody holds or waits on it, even when a caller's future is cancelled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::CacheKey;

/// The locks of the keys being fetched now.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    map: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl InFlight {
    /// `key`'s lock (created when nobody holds one).
    pub(crate) fn key_lock(&self, key: CacheKey) -> KeyLock<'_> {
        let lock = {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(map.entry(key).or_default())
        };
        KeyLock {
            in_flight: self,
            key,
            lock,
        }
    }
}

/// A handle on a key's lock; dropping it removes the lock from the map once nobody else holds a
/// handle to it.
pub(crate) struct KeyLock<'a> {
    in_flight: &'a InFlight,
    key: CacheKey,
    /// The lock itself: `try_lock` to see whether someone fetches now, `lock().await` to wait.
    pub(crate) lock: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for KeyLock<'_> {
    fn drop(&mut self) {
        let mut map = self
            .in_flight
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map's handle and this caller's: nobody else waits.
        if Arc::strong_count(&self.lock) <= 2 {
            map.remove(&self.key);
        }
    }
}
