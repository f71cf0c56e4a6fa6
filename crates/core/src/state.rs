//! The state every system's HTTP layer shares.

use std::sync::Arc;

use crate::auth::TokenService;
use crate::config::Config;
use crate::db::Db;
use crate::storage::BlobStore;
use crate::wechat_login::WechatLogin;

/// Handles shared by all handlers. Cheap to clone. Systems embed it in their own state and
/// implement `FromRef<TheirState> for CoreState` so core extractors and routes work there.
#[derive(Clone)]
pub struct CoreState {
    /// The database.
    pub db: Db,
    /// Token issuing and checking.
    pub tokens: Arc<TokenService>,
    /// Settings.
    pub config: Arc<Config>,
    /// Mini-program login (`jscode2session`).
    pub wechat: Arc<WechatLogin>,
    /// Where uploads go.
    pub blobs: Arc<dyn BlobStore>,
}
