//! Payment protocol errors and their API codes.

use suanpan_core::{AppError, ErrorKind};

/// What can go wrong speaking a payment protocol.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    /// Local configuration is unusable (bad key file, wrong APIv3 key length).
    #[error("payment configuration: {0}")]
    Config(String),
    /// A required signature header is missing or malformed.
    #[error("missing or malformed header {0}")]
    MissingHeader(&'static str),
    /// The signature does not verify, or names an unknown key.
    #[error("signature verification failed: {0}")]
    BadSignature(String),
    /// The message is signed with a key id (`Wechatpay-Serial`) we do not hold. Stable: callers
    /// may refresh platform certificates once and retry; a notification answered with an error
    /// is redelivered by the provider.
    #[error("unknown signing key serial {0}")]
    UnknownSerial(String),
    /// The notification was meant for another merchant application (Alipay `app_id`, WeChat
    /// `mchid`/`appid` mismatch).
    #[error("notification for another merchant: {0}")]
    WrongMerchant(String),
    /// A money amount is not a valid amount (negative, too many decimals, overflow).
    #[error("invalid amount: {0}")]
    Amount(String),
    /// The provider does not support this operation or payment scene.
    #[error("unsupported by this provider: {0}")]
    Unsupported(String),
    /// The signed timestamp is too far from our clock.
    #[error("timestamp outside the accepted window")]
    StaleTimestamp,
    /// The encrypted resource could not be decrypted (wrong key, tampered data).
    #[error("cannot decrypt the resource")]
    Decrypt,
    /// The body is not the expected JSON.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The provider could not be reached.
    #[error("payment provider unreachable: {0}")]
    Transport(String),
    /// The provider answered with an error.
    #[error("payment provider error {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Provider's code, e.g. `ORDER_NOT_EXIST`.
        code: String,
        /// Provider's message.
        message: String,
    },
}

impl PayError {
    /// The provider's error code, if this is an API error.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            PayError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl From<PayError> for AppError {
    fn from(e: PayError) -> Self {
        let msg = e.to_string();
        match e {
            PayError::Config(_) => {
                AppError::new(ErrorKind::Unavailable, "payment_not_configured", msg)
            }
            PayError::MissingHeader(_) | PayError::BadSignature(_) | PayError::UnknownSerial(_) => {
                AppError::new(ErrorKind::Unauthenticated, "invalid_signature", msg)
            }
            // Correctly signed, but for another merchant or app.
            PayError::WrongMerchant(_) => AppError::invalid("merchant_mismatch", msg),
            PayError::StaleTimestamp => {
                AppError::new(ErrorKind::Unauthenticated, "stale_timestamp", msg)
            }
            PayError::Decrypt => AppError::invalid("decrypt_failed", msg),
            PayError::Amount(_) => AppError::invalid("invalid_amount", msg),
            PayError::Unsupported(_) => AppError::invalid("unsupported_payment_scene", msg),
            PayError::Malformed(_) => AppError::invalid("invalid_notification", msg),
            PayError::Transport(_) => AppError::upstream("payment_provider_unavailable", msg),
            PayError::Api { .. } => AppError::upstream("payment_provider_error", msg),
        }
    }
}
