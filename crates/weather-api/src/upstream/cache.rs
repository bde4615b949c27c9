//! A time-to-live cache in front of any [`WeatherProvider`]: one hour by default, bounded in size, keyed by
//! the normalised query. Time comes from an injected [`Clock`] (entra-auth's, so one clock type serves the
//! whole workspace), so tests advance a [`ManualClock`].
//!
//! The lock is never held across the upstream call: a miss releases it, fetches, then takes it again to
//! insert.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

pub use entra_auth::{Clock, ManualClock, SystemClock};

use super::{CurrentWeather, UpstreamError, WeatherProvider};
use crate::domain::WeatherQuery;
use crate::metrics::Metrics;
use futures_util::future::BoxFuture;

#[derive(Debug)]
struct Entry {
    stored_at: SystemTime,
    weather: CurrentWeather,
}

/// The caching decorator.
#[derive(Debug)]
pub struct CachedWeather<P> {
    inner: P,
    ttl: Duration,
    capacity: usize,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<WeatherQuery, Entry>>,
    metrics: Option<Arc<Metrics>>,
}

impl<P: WeatherProvider> CachedWeather<P> {
    /// Caches `inner`'s answers for `ttl`, keeping at most `capacity` entries (at least one).
    pub fn new(inner: P, ttl: Duration, capacity: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner,
            ttl,
            capacity: capacity.max(1),
            clock,
            entries: Mutex::new(HashMap::new()),
            metrics: None,
        }
    }

    /// Counts hits, misses and upstream calls (with failure kinds) in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn is_fresh(&self, entry: &Entry, now: SystemTime) -> bool {
        now.duration_since(entry.stored_at)
            .is_ok_and(|age| age < self.ttl)
    }

    fn lookup(&self, query: &WeatherQuery) -> Option<CurrentWeather> {
        let now = self.clock.now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(query) {
            Some(entry) if self.is_fresh(entry, now) => Some(entry.weather.clone()),
            Some(_) => {
                entries.remove(query);
                None
            }
            None => None,
        }
    }

    fn insert(&self, query: &WeatherQuery, weather: &CurrentWeather) {
        let now = self.clock.now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(query) {
            entries.retain(|_, e| {
                now.duration_since(e.stored_at)
                    .is_ok_and(|age| age < self.ttl)
            });
        }
        if entries.len() >= self.capacity && !entries.contains_key(query) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.stored_at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            query.clone(),
            Entry {
                stored_at: now,
                weather: weather.clone(),
            },
        );
    }

    /// How many entries the cache holds (fresh or not yet evicted).
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<P: WeatherProvider> WeatherProvider for CachedWeather<P> {
    fn current<'a>(
        &'a self,
        query: &'a WeatherQuery,
    ) -> BoxFuture<'a, Result<CurrentWeather, UpstreamError>> {
        Box::pin(async move {
            let cached = self.lookup(query);
            if let Some(metrics) = &self.metrics {
                metrics.record_weather_cache(cached.is_some());
            }
            if let Some(hit) = cached {
                tracing::debug!(q = %query.q(), "weather cache hit");
                return Ok(hit);
            }
            let fetched = self.inner.current(query).await;
            if let Some(metrics) = &self.metrics {
                metrics.record_upstream(fetched.as_ref().err().map(UpstreamError::kind));
            }
            let weather = fetched?;
            self.insert(query, &weather);
            Ok(weather)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl WeatherProvider for Counting {
        fn current<'a>(
            &'a self,
            _query: &'a WeatherQuery,
        ) -> BoxFuture<'a, Result<CurrentWeather, UpstreamError>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                let mut m = serde_json::Map::new();
                m.insert("call".into(), n.into());
                Ok(CurrentWeather::new(m))
            })
        }
    }

    fn q(city: &str) -> WeatherQuery {
        WeatherQuery::parse(city, None, None, None).unwrap()
    }

    fn cache(capacity: usize) -> (CachedWeather<Counting>, ManualClock) {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
        let c = CachedWeather::new(
            Counting::default(),
            Duration::from_secs(3600),
            capacity,
            Arc::new(clock.clone()),
        );
        (c, clock)
    }

    #[tokio::test]
    async fn second_call_within_ttl_is_a_hit() {
        let (c, clock) = cache(10);
        c.current(&q("a")).await.unwrap();
        clock.advance(Duration::from_secs(3599));
        let again = c.current(&q(" A ")).await.unwrap();
        assert_eq!(again.get("call").unwrap(), 0);
        assert_eq!(c.inner.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn entry_expires_after_ttl() {
        let (c, clock) = cache(10);
        c.current(&q("a")).await.unwrap();
        clock.advance(Duration::from_secs(3600));
        let again = c.current(&q("a")).await.unwrap();
        assert_eq!(again.get("call").unwrap(), 1);
    }

    #[tokio::test]
    async fn capacity_bounds_the_cache_evicting_the_oldest() {
        let (c, clock) = cache(2);
        c.current(&q("a")).await.unwrap();
        clock.advance(Duration::from_secs(1));
        c.current(&q("b")).await.unwrap();
        clock.advance(Duration::from_secs(1));
        c.current(&q("c")).await.unwrap();
        assert_eq!(c.len(), 2);
        // "b" is still cached, "a" was evicted.
        assert_eq!(c.current(&q("b")).await.unwrap().get("call").unwrap(), 1);
        assert_eq!(c.current(&q("a")).await.unwrap().get("call").unwrap(), 3);
    }
}
