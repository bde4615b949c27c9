//! [`TenantCheck`]: tenants allowed by a lookup at run time (a database of customer tenants, for
//! a multi-tenant SaaS: fastapi-azure-auth's `iss_callable`), with a bounded cache of the
//! answers. Used through [`Requirement::tenant`](crate::Requirement::tenant).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::clock::{Clock, SystemClock};

/// The error a lookup failed with (any error type: logged at WARN, never sent to the caller).
type BoxError = Box<dyn std::error::Error + Send + Sync>;

type LookupFuture = Pin<Box<dyn Future<Output = Result<bool, BoxError>> + Send>>;
type Lookup = dyn Fn(String) -> LookupFuture + Send + Sync;

/// Default number of tenants whose answers are remembered.
pub const DEFAULT_TENANT_CACHE_CAPACITY: usize = 1_000;
/// Default time an answer is remembered: 5 minutes.
pub const DEFAULT_TENANT_CACHE_TTL: Duration = Duration::from_secs(300);

/// An asynchronous tenant allow-list: `lookup(tid)` says whether the tenant may call; answers
/// (allowed and denied) are remembered for a time, for at most `capacity` tenants; a failed
/// lookup is not remembered and answers 503 `tenant_check_unavailable`. Cheap to clone.
///
/// ```
/// use std::time::Duration;
/// use entra_auth::{Requirement, TenantCheck};
///
/// let customers = TenantCheck::builder("the customer database")
///     .capacity(10_000)
///     .ttl(Duration::from_secs(60))
///     .build(|tid: String| async move {
///         // e.g. SELECT 1 FROM customers WHERE tenant_id = $1
///         Ok::<_, std::io::Error>(tid == "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a")
///     });
/// let read = Requirement::scopes(["weather.read"]).and(Requirement::tenant(customers));
/// assert!(read.is_async());
/// ```
#[derive(Clone)]
pub struct TenantCheck {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    lookup: Box<Lookup>,
    capacity: usize,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    answers: Mutex<HashMap<String, (bool, SystemTime)>>,
    lookups: AtomicU64,
}

impl fmt::Debug for TenantCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantCheck")
            .field("name", &self.inner.name)
            .field("capacity", &self.inner.capacity)
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TenantCheck {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
impl Eq for TenantCheck {}

/// Builds a [`TenantCheck`].
#[derive(Debug)]
pub struct TenantCheckBuilder {
    name: String,
    capacity: usize,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl TenantCheckBuilder {
    /// How many tenants' answers to remember (default 1,000; at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How long an answer is remembered (default 5 minutes).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The clock the cache ages answers with (tests pass a [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The check, asking `lookup(tid)` for tenants it has no fresh answer for.
    pub fn build<F, Fut, E>(self, lookup: F) -> TenantCheck
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let lookup = move |tid: String| -> LookupFuture {
            let fut = lookup(tid);
            Box::pin(async move { fut.await.map_err(Into::into) })
        };
        TenantCheck {
            inner: Arc::new(Inner {
                name: self.name,
                lookup: Box::new(lookup),
                capacity: self.capacity,
                ttl: self.ttl,
                clock: self.clock,
                answers: Mutex::new(HashMap::new()),
                lookups: AtomicU64::new(0),
            }),
        }
    }
}

/// What a check answered for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TenantAnswer {
    Allowed,
    Denied,
    Unavailable(String),
    /// Checked without its lookup ([`Requirement::check`](crate::Requirement::check)).
    NotLookedUp,
}

impl TenantCheck {
    /// Starts a check; `name` says in 403 bodies what decided ("the customer database").
    pub fn builder(name: &str) -> TenantCheckBuilder {
        TenantCheckBuilder {
            name: name.to_owned(),
            capacity: DEFAULT_TENANT_CACHE_CAPACITY,
            ttl: DEFAULT_TENANT_CACHE_TTL,
            clock: Arc::new(SystemClock),
        }
    }

    /// The name given to [`builder`](Self::builder).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How many times the lookup was called (cache misses).
    pub fn lookups(&self) -> u64 {
        self.inner.lookups.load(Ordering::Relaxed)
    }

    /// How many answers are remembered (never more than the capacity).
    pub fn cached(&self) -> usize {
        self.answers().len()
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, HashMap<String, (bool, SystemTime)>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts).
        self.inner
            .answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The answer for `tid`: remembered, or looked up (the lock is never held across it).
    pub(crate) async fn answer(&self, tid: Option<&str>) -> TenantAnswer {
        let Some(tid) = tid else {
            return TenantAnswer::Denied;
        };
        let tid = tid.to_ascii_lowercase();
        let now = self.inner.clock.now();
        if let Some(&(allowed, until)) = self.answers().get(&tid) {
            if now < until {
                return if allowed {
                    TenantAnswer::Allowed
                } else {
                    TenantAnswer::Denied
                };
            }
        }
        self.inner.lookups.fetch_add(1, Ordering::Relaxed);
        let allowed = match (self.inner.lookup)(tid.clone()).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(target: "entra_auth", check = %self.inner.name, error = %e, "tenant check failed");
                return TenantAnswer::Unavailable(format!("{}: {e}", self.inner.name));
            }
        };
        let mut answers = self.answers();
        if answers.len() >= self.inner.capacity && !answers.contains_key(&tid) {
            answers.retain(|_, (_, until)| now < *until);
            if answers.len() >= self.inner.capacity {
                // Still full of fresh answers: forget the one closest to expiry.
                if let Some(k) = answers
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(k, _)| k.clone())
                {
                    answers.remove(&k);
                }
            }
        }
        answers.insert(tid, (allowed, now + self.inner.ttl));
        if allowed {
            TenantAnswer::Allowed
        } else {
            TenantAnswer::Denied
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
    const B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
    const C: &str = "cccccccc-0000-4000-8000-00000000000c";

    fn check(clock: &ManualClock) -> TenantCheck {
        TenantCheck::builder("test db")
            .capacity(2)
            .ttl(Duration::from_secs(60))
            .clock(Arc::new(clock.clone()))
            .build(|tid: String| async move {
                if tid == C {
                    Err::<bool, BoxError>("database down".into())
                } else {
                    Ok(tid == A)
                }
            })
    }

    #[tokio::test]
    async fn tenant_check_remembers_answers_until_ttl_and_stays_bounded() {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let t = check(&clock);
        assert_eq!(t.answer(Some(A)).await, TenantAnswer::Allowed);
        assert_eq!(t.answer(Some(A)).await, TenantAnswer::Allowed);
        assert_eq!(t.answer(Some(B)).await, TenantAnswer::Denied);
        assert_eq!(t.answer(Some(B)).await, TenantAnswer::Denied);
        assert_eq!(t.lookups(), 2);
        clock.advance(Duration::from_secs(61));
        assert_eq!(t.answer(Some(A)).await, TenantAnswer::Allowed);
        assert_eq!(t.lookups(), 3);
        // a third tenant in a cache of two: still two entries
        let other = "dddddddd-0000-4000-8000-00000000000d";
        assert_eq!(t.answer(Some(other)).await, TenantAnswer::Denied);
        assert_eq!(t.cached(), 2);
    }

    #[tokio::test]
    async fn tenant_check_failure_is_unavailable_and_not_remembered() {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let t = check(&clock);
        assert_eq!(
            t.answer(Some(C)).await,
            TenantAnswer::Unavailable("test db: database down".into())
        );
        let _ = t.answer(Some(C)).await;
        assert_eq!((t.lookups(), t.cached()), (2, 0));
        assert_eq!(t.answer(None).await, TenantAnswer::Denied);
    }
}
