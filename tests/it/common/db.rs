//! Databases made for one test: a SQLite file, or a PostgreSQL database on
//! the server `ATS_TEST_PG_URL` names; each removed when the test ends.

use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, Database};

/// Which store a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Installs rustls' ring provider for the process. reqwest is built with
/// `rustls-no-provider` (the `ats` CLI installs ring itself), so a
/// `reqwest::Client` panics unless a provider is installed first; every test
/// passes through [`TestDb::create`], which calls this.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A database made for one test and removed when the test ends.
pub struct TestDb {
    /// The URL the server uses.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteFile(std::path::PathBuf),
    PgDatabase { admin_url: String, name: String },
}

impl TestDb {
    /// A new, empty database; `None` for PostgreSQL when it is not configured.
    pub async fn create(backend: Backend) -> Option<Self> {
        install_tls_provider();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}_{}_{:x}", std::process::id(), n, rand::random::<u32>());
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("ats_test_{tag}.db"));
                Some(Self {
                    url: format!("sqlite://{}", path.display()),
                    cleanup: Cleanup::SqliteFile(path),
                })
            }
            Backend::Postgres => {
                let admin_url = std::env::var("ATS_TEST_PG_URL")
                    .ok()
                    .filter(|u| !u.is_empty())?;
                let name = format!("ats_test_{tag}");
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("ATS_TEST_PG_URL is set but PostgreSQL cannot be reached");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                Some(Self {
                    url: format!("{base}/{name}"),
                    cleanup: Cleanup::PgDatabase {
                        admin_url: admin_url.clone(),
                        name,
                    },
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::PgDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: do the async cleanup on a thread of its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        let admin = Database::connect(&admin_url).await.ok()?;
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await
                            .ok()?;
                        admin.close().await.ok()
                    })
                })
                .join();
            }
        }
    }
}
