//! A read cache for the admin resources' GET answers.
//!
//! Reading a profile list costs three database round trips; the lists change only when someone writes. Every
//! successful 200 answer to a GET on a resource route is kept (body and ETag), keyed by path and query, with
//! the configuration generation it was computed at (`Db::config_generation`: a counter that triggers move in
//! the same transaction as every write to a configuration table, whoever writes). A cached answer is served
//! only after reading the generation again (one single-row query) and finding it unchanged, so no read through
//! any replica can return data older than a write that has already returned — the reference never allows that
//! either. Writes through this process also move a local counter before and after they run. A zero TTL turns
//! the cache off; entries older than the TTL are computed afresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use super::http::is_fresh;
use crate::db::Db;

/// Entries beyond this are dropped wholesale (pages of big lists are few; this bounds memory).
const MAX_ENTRIES: usize = 1024;

pub struct ResponseCache {
    ttl: Duration,
    generation: AtomicU64,
    /// Where the configuration generation is read; `None` only in unit tests of this module.
    db: Option<Db>,
    entries: Mutex<HashMap<String, Entry>>,
}

/// The state an answer was computed in: this process's write counter and the database's generation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Generation {
    local: u64,
    database: Option<i64>,
}

struct Entry {
    generation: Generation,
    stored: Instant,
    etag: HeaderValue,
    body: Bytes,
}

impl ResponseCache {
    pub fn new(ttl: Duration, db: Option<Db>) -> Self {
        Self {
            ttl,
            generation: AtomicU64::new(0),
            db,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// Retires every entry.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The generation now; `None` when the database cannot say (the request then bypasses the cache).
    async fn current(&self) -> Option<Generation> {
        let local = self.generation.load(Ordering::SeqCst);
        let database = match &self.db {
            Some(db) => Some(db.config_generation().await.ok()?),
            None => None,
        };
        Some(Generation { local, database })
    }

    fn lookup(&self, key: &str, now: Generation) -> Option<(HeaderValue, Bytes)> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let e = entries.get(key)?;
        (e.generation == now && e.stored.elapsed() < self.ttl)
            .then(|| (e.etag.clone(), e.body.clone()))
    }

    fn store(&self, key: String, generation: Generation, etag: HeaderValue, body: Bytes) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                generation,
                stored: Instant::now(),
                etag,
                body,
            },
        );
    }
}

/// Only the resource routes are cached: health and version must always look.
fn cacheable_path(path: &str) -> bool {
    path.strip_prefix("/api/v1/admin/").is_some_and(|rest| {
        let resource = rest.split('/').next().unwrap_or_default();
        matches!(
            resource,
            "domains"
                | "ciraconfigs"
                | "profiles"
                | "wirelessconfigs"
                | "ieee8021xconfigs"
                | "proxyconfigs"
        )
    })
}

fn cached_response(request_headers: &HeaderMap, etag: HeaderValue, body: Bytes) -> Response {
    let fresh = etag
        .to_str()
        .is_ok_and(|tag| is_fresh(request_headers, tag));
    let mut response = if fresh {
        (StatusCode::NOT_MODIFIED, Body::empty()).into_response()
    } else {
        let mut r = (StatusCode::OK, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        r
    };
    response.headers_mut().insert(header::ETAG, etag);
    response
}

/// The middleware: serves GETs from the cache, fills it, and retires it around every write.
pub async fn layer(
    State(cache): State<Arc<ResponseCache>>,
    request: Request,
    next: Next,
) -> Response {
    if !cache.enabled() {
        return next.run(request).await;
    }
    let method = request.method().clone();
    if method != Method::GET {
        let writes = !matches!(method, Method::HEAD | Method::OPTIONS);
        if writes {
            cache.invalidate();
        }
        let response = next.run(request).await;
        if writes {
            cache.invalidate();
        }
        return response;
    }
    if !cacheable_path(request.uri().path()) {
        return next.run(request).await;
    }
    let key = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), |pq| pq.to_string());
    let headers = request.headers().clone();
    // Read before the answer is computed: a write that lands meanwhile retires it.
    let Some(generation) = cache.current().await else {
        return next.run(request).await;
    };
    if let Some((etag, body)) = cache.lookup(&key, generation) {
        return cached_response(&headers, etag, body);
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK && response.status() != StatusCode::NOT_MODIFIED {
        return response;
    }
    let Some(etag) = response.headers().get(header::ETAG).cloned() else {
        return response;
    };
    if response.status() == StatusCode::NOT_MODIFIED {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    cache.store(key, generation, etag, bytes.clone());
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(cache: &ResponseCache, g: Generation) {
        cache.store(
            "/a".into(),
            g,
            HeaderValue::from_static("W/\"1-x\""),
            Bytes::from_static(b"[]"),
        );
    }

    #[tokio::test]
    async fn a_write_retires_entries_read_before_it() {
        let cache = ResponseCache::new(Duration::from_secs(60), None);
        let g = cache.current().await.unwrap();
        store(&cache, g);
        assert!(cache.lookup("/a", g).is_some());
        cache.invalidate();
        assert!(cache.lookup("/a", cache.current().await.unwrap()).is_none());
    }

    #[tokio::test]
    async fn a_write_by_anyone_on_the_database_retires_entries() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("rps.db").display());
        let db = Db::connect(&url).await.unwrap();
        let cache = ResponseCache::new(Duration::from_secs(60), Some(db.clone()));
        let g = cache.current().await.unwrap();
        store(&cache, g);
        assert!(cache.lookup("/a", cache.current().await.unwrap()).is_some());
        // Another process on the same database: nothing of this cache sees the write but the counter.
        let other = Db::connect(&url).await.unwrap();
        other
            .execute(
                "INSERT INTO proxyconfigs (proxy_config_name, address, info_format, port, tenant_id) \
                 VALUES ('p', 'proxy.example', 201, 8080, '')",
                vec![],
            )
            .await
            .unwrap();
        let now = cache.current().await.unwrap();
        assert_ne!(now, g);
        assert!(cache.lookup("/a", now).is_none());
    }

    #[tokio::test]
    async fn entries_expire_after_the_ttl() {
        let cache = ResponseCache::new(Duration::from_millis(1), None);
        let g = cache.current().await.unwrap();
        store(&cache, g);
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.lookup("/a", g).is_none());
    }

    #[test]
    fn only_resource_routes_are_cached() {
        assert!(cacheable_path("/api/v1/admin/profiles"));
        assert!(cacheable_path("/api/v1/admin/domains/d1"));
        assert!(!cacheable_path("/api/v1/admin/health"));
        assert!(!cacheable_path("/api/v1/admin/version"));
    }
}
