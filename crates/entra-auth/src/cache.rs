//! The verified-token cache: the fast path of the one validation pipeline.
//!
//! A token that passed every check is remembered under the SHA-256 of the whole token, with its
//! claims, the key snapshot and key it was verified with, and its `exp`/`nbf`. A later request
//! presenting the very same bytes skips the signature check and the JSON parsing, but only while:
//!
//! * `exp` and `nbf` (with the configured skew) still allow the token at the clock's current time;
//! * the entry is younger than the configured maximum age;
//! * the signing key is still in the current key snapshot of the same metadata source, with the
//!   same issuer (a key that left the key set invalidates its entries).
//!
//! Any other request (a new token, a tampered one, whose hash differs) takes the full pipeline;
//! failures are never cached. The cache is bounded: sharded maps under one entry count (a shard
//! evicts its own oldest entry when the cache is full), so a hit takes one shard lock and never a
//! global one, and an uneven spread of tokens over the shards wastes no capacity.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::claims::VerifiedClaims;
use crate::clock::unix_seconds;
use crate::jwks::{KeyStore, SourceKeys};

/// Shards of a large cache (a power of two).
const SHARDS: usize = 16;
/// Below this capacity one shard keeps the bound exact and the eviction order global.
const MIN_SHARDED_CAPACITY: usize = 256;

/// The SHA-256 digest of a whole token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes the token's exact bytes.
    pub(crate) fn of(token: &str) -> Self {
        Self::of_bytes(token.as_bytes())
    }

    /// Hashes these bytes (a token not yet checked to be text).
    pub(crate) fn of_bytes(token: &[u8]) -> Self {
        let digest = crate::crypto::digest::digest(&crate::crypto::digest::SHA256, token);
        let mut out = [0; 32];
        out.copy_from_slice(digest.as_ref());
        Self(out)
    }

    fn shard(&self, shards: usize) -> usize {
        usize::from(self.0[31]) % shards
    }
}

impl Hash for TokenHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already uniformly distributed: the first 8 bytes are the hash. Only tokens that passed
        // verification are ever inserted, so an attacker cannot fill a bucket with collisions.
        let mut first = [0; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

/// Passes the digest's prefix through (SipHash over a SHA-256 digest would be wasted work).
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// What a verification established, to be remembered.
pub(crate) struct Verified {
    /// The claims handed to every request presenting the token.
    pub(crate) claims: VerifiedClaims,
    /// The metadata source (by index) whose keys verified it.
    pub(crate) source_index: usize,
    /// The snapshot of that source's keys at verification time.
    pub(crate) source: Arc<SourceKeys>,
    /// The index of the verifying key in `source`.
    pub(crate) key_index: usize,
    /// `exp` (seconds since 1970).
    pub(crate) exp: i64,
    /// `nbf`, when present.
    pub(crate) nbf: Option<i64>,
}

struct Entry {
    verified: Verified,
    /// Inserted + maximum age.
    deadline: SystemTime,
    /// Insertion sequence number (tells live entries from stale eviction-queue items).
    seq: u64,
}

#[derive(Default)]
struct Shard {
    map: HashMap<TokenHash, Entry, BuildHasherDefault<PrefixHasher>>,
    /// Insertion order, oldest first; may hold stale items for entries already removed.
    order: VecDeque<(TokenHash, u64)>,
    next_seq: u64,
}

impl Shard {
    /// Removes the oldest live entry; `false` when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((hash, seq)) = self.order.pop_front() {
            if self.map.get(&hash).is_some_and(|e| e.seq == seq) {
                self.map.remove(&hash);
                return true;
            }
        }
        false
    }
}

/// The bounded cache of verified tokens.
pub(crate) struct TokenCache {
    shards: Box<[Mutex<Shard>]>,
    capacity: usize,
    /// Entries in all shards.
    len: AtomicUsize,
    max_age: Duration,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache of about `capacity` tokens (at least 1), each kept at most `max_age`. The bound is
    /// exact below 256 entries (one shard); above, inserts racing on different shards may overshoot
    /// it by at most one entry per shard.
    pub(crate) fn new(capacity: usize, max_age: Duration) -> Self {
        let capacity = capacity.max(1);
        let n = if capacity < MIN_SHARDED_CAPACITY {
            1
        } else {
            SHARDS
        };
        Self {
            shards: (0..n).map(|_| Mutex::new(Shard::default())).collect(),
            capacity,
            len: AtomicUsize::new(0),
            max_age,
        }
    }

    fn shard(&self, hash: &TokenHash) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[hash.shard(self.shards.len())]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The claims remembered for `hash`, if the entry may still be used at `now`; an entry that
    /// may not is removed.
    pub(crate) fn get(
        &self,
        hash: &TokenHash,
        now: SystemTime,
        skew: i64,
        keys: &KeyStore,
    ) -> Option<VerifiedClaims> {
        let mut shard = self.shard(hash);
        let entry = shard.map.get_mut(hash)?;
        if Self::is_usable(entry, now, skew, keys) {
            return Some(entry.verified.claims.clone());
        }
        shard.map.remove(hash);
        self.len.fetch_sub(1, Ordering::Relaxed);
        None
    }

    fn is_usable(entry: &mut Entry, now: SystemTime, skew: i64, keys: &KeyStore) -> bool {
        if now >= entry.deadline {
            return false;
        }
        let secs = unix_seconds(now);
        let v = &mut entry.verified;
        if secs > v.exp.saturating_add(skew) {
            return false;
        }
        if v.nbf.is_some_and(|nbf| nbf.saturating_sub(skew) > secs) {
            return false;
        }
        keys.with_source(v.source_index, |current| {
            let Some(current) = current else {
                return false;
            };
            if Arc::ptr_eq(current, &v.source) {
                return true;
            }
            // The keys were refreshed: still usable if the same issuer still publishes the key.
            if current.issuer != v.source.issuer {
                return false;
            }
            let Some(key) = v.source.keys.keys().get(v.key_index) else {
                return false;
            };
            match current.keys.keys().iter().position(|k| k == key) {
                Some(i) => {
                    // Follow the new snapshot so the next hit is a pointer comparison again.
                    v.source = Arc::clone(current);
                    v.key_index = i;
                    true
                }
                None => false,
            }
        })
    }

    /// Remembers a verified token; when the cache is full, the shard's oldest entry makes room.
    pub(crate) fn insert(&self, hash: TokenHash, verified: Verified, now: SystemTime) {
        let mut shard = self.shard(&hash);
        let seq = shard.next_seq;
        shard.next_seq += 1;
        let deadline = now.checked_add(self.max_age).unwrap_or(now);
        let entry = Entry {
            verified,
            deadline,
            seq,
        };
        if shard.map.insert(hash, entry).is_none() {
            // A new entry: count it, and make room if that overfills the cache.
            if self.len.fetch_add(1, Ordering::Relaxed) >= self.capacity && shard.evict_oldest() {
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
        }
        shard.order.push_back((hash, seq));
        // Items of entries removed on lookup linger in the queue: compact now and then.
        if shard.order.len() > 2 * shard.map.len() + 16 {
            let Shard { map, order, .. } = &mut *shard;
            order.retain(|(h, s)| map.get(h).is_some_and(|e| e.seq == *s));
        }
    }

    /// The number of entries (including ones that a lookup would now refuse).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_caches_have_one_shard_and_large_ones_sixteen() {
        for capacity in [1, 3, 255, 256, 10_000] {
            let c = TokenCache::new(capacity, Duration::from_secs(60));
            assert_eq!(c.shards.len(), if capacity < 256 { 1 } else { SHARDS });
            assert_eq!(c.len(), 0);
        }
    }

    #[test]
    fn token_hash_is_sha256_of_the_whole_token() {
        let h = TokenHash::of("abc");
        assert_eq!(
            hex_prefix(&h.0),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(TokenHash::of("abc") != TokenHash::of("abd"));
    }

    fn hex_prefix(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
