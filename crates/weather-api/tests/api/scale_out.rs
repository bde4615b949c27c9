//! Scale-out: several instances share one PostgreSQL database (TEST_POSTGRES_URL; otherwise skipped).
//!
//! Two instances start at the same moment on a fresh schema, so both run the embedded migrations at once:
//! sqlx's PostgreSQL migrator holds `pg_advisory_lock` (keyed by the database name) on one connection from
//! creating `_sqlx_migrations` to the last migration, so the second waits and then finds nothing to do.
//! Then concurrent posts to both instances: every 201 is listed by both, exactly once.

use std::collections::HashSet;
use std::sync::Arc;

use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{DevIssuer, DevIssuerConfig, RunningDevIssuer};
use serde_json::Value;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use weather_api::startup::{Overrides, StartupError};
use weather_api::{Application, Settings};

use crate::helpers::{client, report_body, user_with_scopes};

const POSTS: usize = 200;
const IN_FLIGHT: usize = 32;

/// One running instance.
struct Instance {
    address: String,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Result<(), StartupError>>,
}

async fn build(database_url: &str, issuer: &RunningDevIssuer) -> Application {
    let env = [
        ("BIND", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
        ("OPENWEATHER_BASE_URL", "http://127.0.0.1:9".to_owned()),
        ("AZURE_AD__INSTANCE", issuer.issuer.instance().to_string()),
        ("AZURE_AD__TENANT_ID", DEV_TENANT_ID.to_owned()),
        ("AZURE_AD__CLIENT_ID", DEV_API_CLIENT_ID.to_owned()),
        ("RATE_LIMIT__READ__REQUESTS", "1000000".to_owned()),
        ("RATE_LIMIT__WRITE__REQUESTS", "1000000".to_owned()),
    ]
    .map(|(k, v)| (format!("WEATHER_API__{k}"), v));
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::load(None, dir.path(), env).unwrap();
    Application::build_with(settings, Overrides::default())
        .await
        .expect("instance starts (migrations included)")
}

async fn serve(app: Application) -> Instance {
    app.validator().warm_up().await.unwrap();
    let address = format!("http://{}", app.local_addr());
    let (stop, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    Instance {
        address,
        stop,
        server,
    }
}

impl Instance {
    async fn shutdown(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
    }
}

/// Rows in the schema's migration table, and how many of them succeeded.
async fn applied_migrations(database_url: &str) -> (i64, i64) {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let row: (i64, i64) =
        sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE success) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    row
}

fn migration_files() -> i64 {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count()
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn two_instances_starting_at_once_migrate_one_schema_once() {
    let issuer = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    // Several rounds: each a fresh schema and two instances migrating it concurrently.
    for _ in 0..3 {
        let Some((url, schema)) = crate::store::postgres_schema().await else {
            return;
        };
        let (a, b) = tokio::join!(build(&url, &issuer), build(&url, &issuer));
        let files = migration_files();
        assert_eq!(applied_migrations(&url).await, (files, files));
        drop((a, b));
        crate::store::drop_schema(&schema).await;
    }
}

/// CRC-32 (IEEE), as sqlx uses to derive its migration lock id.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn an_instance_waits_for_the_migration_lock_held_by_another() {
    let Some((url, schema)) = crate::store::postgres_schema().await else {
        return;
    };
    let issuer = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    // Play the instance that is migrating: hold sqlx's advisory lock for this database.
    let mut holder = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let (database,): (String,) = sqlx::query_as("SELECT current_database()")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    let lock_id: i64 = 0x3d32_ad9e * i64::from(crc32(database.as_bytes()));
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock_id)
        .execute(&mut holder)
        .await
        .unwrap();

    let starting = {
        let url = url.clone();
        tokio::spawn(async move { build(&url, &issuer).await })
    };
    // The starting instance's migrator queues behind the lock (observed in pg_locks, not guessed by time).
    let observer = sqlx::PgPool::connect(&url).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let (waiting,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                 AND ((classid::bigint << 32) | objid::bigint) = $1",
            )
            .bind(lock_id)
            .fetch_one(&observer)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the starting instance waits for the migration lock");
    assert!(!starting.is_finished(), "started while the lock was held");
    let (tables,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM information_schema.tables WHERE table_schema = $1")
            .bind(&schema)
            .fetch_one(&observer)
            .await
            .unwrap();
    assert_eq!(tables, 0, "nothing migrated while the lock was held");

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lock_id)
        .execute(&mut holder)
        .await
        .unwrap();
    let app = starting.await.unwrap();
    let files = migration_files();
    assert_eq!(applied_migrations(&url).await, (files, files));
    drop(app);
    observer.close().await;
    crate::store::drop_schema(&schema).await;
}

#[tokio::test]
async fn concurrent_posts_to_two_instances_are_all_listed_by_both_exactly_once() {
    let Some((url, schema)) = crate::store::postgres_schema().await else {
        return;
    };
    let issuer = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let (a, b) = tokio::join!(build(&url, &issuer), build(&url, &issuer));
    let instances = [serve(a).await, serve(b).await];
    let writer = issuer
        .issuer
        .mint(&user_with_scopes(&["weather.write"]))
        .unwrap();
    let reader = issuer
        .issuer
        .mint(&user_with_scopes(&["weather.read"]))
        .unwrap();

    let http = client();
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut posts = JoinSet::new();
    for i in 0..POSTS {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let url = format!("{}/api/reports", instances[i % 2].address);
        let (http, writer) = (http.clone(), writer.clone());
        posts.spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(writer)
                .json(&report_body(&format!("report {i}"), "Portland"))
                .send()
                .await
                .unwrap();
            drop(permit);
            assert_eq!(response.status().as_u16(), 201, "post {i}");
            let body: Value = response.json().await.unwrap();
            body["id"].as_str().unwrap().to_owned()
        });
    }
    let mut created = HashSet::new();
    while let Some(id) = posts.join_next().await {
        assert!(created.insert(id.unwrap()), "an id was answered twice");
    }
    assert_eq!(created.len(), POSTS);

    for instance in &instances {
        let list = crate::helpers::all_reports(&http, &instance.address, &reader).await;
        let ids: Vec<String> = list
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        let distinct: HashSet<String> = ids.iter().cloned().collect();
        assert_eq!(
            ids.len(),
            POSTS,
            "{} lists each report once",
            instance.address
        );
        assert_eq!(distinct, created, "{} lists every report", instance.address);
    }
    for instance in instances {
        instance.shutdown().await;
    }
    crate::store::drop_schema(&schema).await;
}
