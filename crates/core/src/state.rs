//! The state every system's HTTP layer shares, and how it is opened from settings.

use std::sync::Arc;

use crate::auth::TokenService;
use crate::config::{Config, Settings};
use crate::db::migrate::Migration;
use crate::db::{Db, DbOptions};
use crate::storage::{BlobStore, LocalDirStore};
use crate::throttle::LoginThrottle;

/// Handles shared by all handlers. A clone is one reference count (axum clones the state for
/// each extractor that asks for it). Systems embed it in their own state and implement
/// `FromRef<TheirState> for CoreState` so core extractors work there. It holds no system's
/// settings or clients: each system keeps those in its own state.
#[derive(Clone)]
pub struct CoreState(pub Arc<CoreShared>);

impl std::ops::Deref for CoreState {
    type Target = CoreShared;

    fn deref(&self) -> &CoreShared {
        &self.0
    }
}

/// What [`CoreState`] shares.
pub struct CoreShared {
    /// The database.
    pub db: Db,
    /// Token issuing and checking.
    pub tokens: Arc<TokenService>,
    /// The core's settings.
    pub config: Arc<Config>,
    /// Every source of settings, for systems to read their sections from.
    pub settings: Arc<Settings>,
    /// Where uploads go.
    pub blobs: Arc<dyn BlobStore>,
    /// Password-login throttling, shared by every system's login routes.
    pub throttle: Arc<LoginThrottle>,
}

impl CoreState {
    /// Connects to the configured database, applies every migration of `migrations` (the core's
    /// and each system's sets), loads or creates the JWT secret, and builds the state. Errors
    /// are messages for the operator.
    pub async fn open(
        settings: Settings,
        migrations: &[&[Migration]],
    ) -> Result<CoreState, String> {
        let cfg = settings.core.clone();
        let opts = DbOptions {
            max_connections: cfg.db_max_connections,
            sqlite_synchronous: cfg.sqlite_synchronous.clone(),
            ..Default::default()
        };
        let db = Db::connect(&cfg.database_url, &opts)
            .await
            .map_err(|e| format!("database: {e}"))?;
        crate::db::migrate::migrate(&db, migrations)
            .await
            .map_err(|e| format!("migrations: {e}"))?;
        let secret = jwt_secret(&cfg)?;
        Ok(CoreState(Arc::new(CoreShared {
            db,
            tokens: Arc::new(TokenService::new(
                &secret,
                cfg.access_token_ttl_secs,
                cfg.refresh_token_ttl_secs,
            )),
            blobs: Arc::new(LocalDirStore {
                dir: upload_dir(&cfg),
                url_prefix: format!("{}/uploads", cfg.public_base_url.trim_end_matches('/')),
            }),
            throttle: Arc::new(LoginThrottle::new(
                cfg.login_attempts_per_account_per_minute,
                cfg.login_attempts_per_ip_per_minute,
            )),
            config: Arc::new(cfg),
            settings: Arc::new(settings),
        })))
    }
}

impl CoreState {
    /// The core's periodic housekeeping: idempotency keys past their retention, expired refresh
    /// tokens, idle login-throttle buckets. Failures are logged; the next pass tries again.
    pub async fn housekeeping(&self) {
        let now = crate::time::now_ms();
        let db = &self.db;
        if let Err(e) = crate::idempotency::purge_older_than(
            db.writer(),
            db.dialect,
            now - crate::idempotency::RETENTION_MS,
        )
        .await
        {
            tracing::warn!(error = %e, "idempotency purge failed");
        }
        if let Err(e) = crate::refresh::purge_expired(db, now).await {
            tracing::warn!(error = %e, "refresh token purge failed");
        }
        self.throttle.purge();
    }
}

/// Where uploads are stored: `{data_dir}/uploads`.
pub fn upload_dir(cfg: &Config) -> std::path::PathBuf {
    std::path::Path::new(&cfg.data_dir).join("uploads")
}

/// The JWT secret: the setting, or `{data_dir}/jwt.secret` (created with mode 0600 when absent).
fn jwt_secret(cfg: &Config) -> Result<Vec<u8>, String> {
    if !cfg.jwt_secret.is_empty() {
        if cfg.jwt_secret.len() < 32 {
            return Err("jwt_secret must be at least 32 characters".into());
        }
        return Ok(cfg.jwt_secret.as_bytes().to_vec());
    }
    let path = std::path::Path::new(&cfg.data_dir).join("jwt.secret");
    if let Ok(s) = std::fs::read_to_string(&path)
        && s.trim().len() >= 32
    {
        crate::secrets::restrict(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(s.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", cfg.data_dir))?;
    let s = crate::ids::random_alnum(48);
    crate::secrets::write_private(&path, s.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(s.into_bytes())
}
