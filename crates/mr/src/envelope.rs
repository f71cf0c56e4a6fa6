//! MR's error body (contract `ErrorResponse`): `{error_code, message, details?}` with
//! `error_code` one of the contract's 22 codes. Errors raised by MR carry those codes already;
//! the shared extractors' and middleware's codes are mapped here by kind.

use suanpan_core::error::{AppError, ErrorEnvelope, ErrorKind};

/// The contract's error codes (`ErrorResponse.error_code`), as MR raises them.
pub mod code {
    /// Missing, invalid, expired or revoked token; wrong credentials.
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    /// The balance does not cover the charge (402).
    pub const INSUFFICIENT_BALANCE: &str = "INSUFFICIENT_BALANCE";
    /// The operator holds no active authorization for the app (403).
    pub const APP_NOT_AUTHORIZED: &str = "APP_NOT_AUTHORIZED";
    /// Players outside the app's range (400).
    pub const PLAYER_COUNT_OUT_OF_RANGE: &str = "PLAYER_COUNT_OUT_OF_RANGE";
    /// A session id reused with another body (409).
    pub const SESSION_DUPLICATE: &str = "SESSION_DUPLICATE";
    /// Missing or unknown API key (401).
    pub const INVALID_API_KEY: &str = "INVALID_API_KEY";
    /// The HMAC does not match (400).
    pub const INVALID_SIGNATURE: &str = "INVALID_SIGNATURE";
    /// `X-Timestamp` more than 300 s from the server clock (400).
    pub const TIMESTAMP_EXPIRED: &str = "TIMESTAMP_EXPIRED";
    /// Unknown application (404).
    pub const APP_NOT_FOUND: &str = "APP_NOT_FOUND";
    /// Unknown operator (404).
    pub const OPERATOR_NOT_FOUND: &str = "OPERATOR_NOT_FOUND";
    /// Unknown site, another operator's, or deleted (404).
    pub const SITE_NOT_FOUND: &str = "SITE_NOT_FOUND";
    /// Invalid input (400).
    pub const INVALID_PARAMS: &str = "INVALID_PARAMS";
    /// Authenticated with another role (403).
    pub const PERMISSION_DENIED: &str = "PERMISSION_DENIED";
    /// The account was deactivated (403 at login).
    pub const ACCOUNT_DEACTIVATED: &str = "ACCOUNT_DEACTIVATED";
    /// Too many requests (429).
    pub const RATE_LIMIT_EXCEEDED: &str = "RATE_LIMIT_EXCEEDED";
    /// A bug or an outage (500/503).
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
    /// Anything else not found (404).
    pub const RESOURCE_NOT_FOUND: &str = "RESOURCE_NOT_FOUND";
    /// The username is taken (400).
    pub const USERNAME_EXISTS: &str = "USERNAME_EXISTS";
    /// Unknown refund request (404).
    pub const REFUND_NOT_FOUND: &str = "REFUND_NOT_FOUND";
    /// Unknown invoice request (404).
    pub const INVOICE_NOT_FOUND: &str = "INVOICE_NOT_FOUND";
    /// The payment provider is not configured, refused or could not be reached (502/503).
    pub const PAYMENT_FAILED: &str = "PAYMENT_FAILED";
    /// The report is unknown or not generated yet (404).
    pub const REPORT_NOT_READY: &str = "REPORT_NOT_READY";
}

/// Every code the contract's enum allows.
const CONTRACT_CODES: &[&str] = &[
    "UNAUTHORIZED",
    "INSUFFICIENT_BALANCE",
    "APP_NOT_AUTHORIZED",
    "PLAYER_COUNT_OUT_OF_RANGE",
    "SESSION_DUPLICATE",
    "INVALID_API_KEY",
    "INVALID_SIGNATURE",
    "TIMESTAMP_EXPIRED",
    "APP_NOT_FOUND",
    "OPERATOR_NOT_FOUND",
    "SITE_NOT_FOUND",
    "REFUND_NOT_FOUND",
    "INVOICE_NOT_FOUND",
    "INVALID_PARAMS",
    "PERMISSION_DENIED",
    "ACCOUNT_DEACTIVATED",
    "PAYMENT_FAILED",
    "RATE_LIMIT_EXCEEDED",
    "INTERNAL_ERROR",
    "RESOURCE_NOT_FOUND",
    "USERNAME_EXISTS",
    "REPORT_NOT_READY",
];

/// The contract code for `e`: its own when it is one, else by kind (shared extractors' codes
/// such as `invalid_json` become `INVALID_PARAMS`, `invalid_token` `UNAUTHORIZED`).
pub fn contract_code(e: &AppError) -> &'static str {
    if let Some(c) = CONTRACT_CODES.iter().find(|c| **c == e.code) {
        return c;
    }
    match e.kind {
        ErrorKind::Invalid
        | ErrorKind::TooLarge
        | ErrorKind::UnsupportedMediaType
        | ErrorKind::Unprocessable
        | ErrorKind::MethodNotAllowed
        | ErrorKind::Conflict => code::INVALID_PARAMS,
        ErrorKind::Unauthenticated => code::UNAUTHORIZED,
        ErrorKind::Forbidden => code::PERMISSION_DENIED,
        ErrorKind::NotFound => code::RESOURCE_NOT_FOUND,
        ErrorKind::PaymentRequired => code::INSUFFICIENT_BALANCE,
        ErrorKind::TooManyRequests => code::RATE_LIMIT_EXCEEDED,
        ErrorKind::Upstream | ErrorKind::Unavailable | ErrorKind::Internal => code::INTERNAL_ERROR,
    }
}

/// `{error_code, message, details?}`; a shared extractor's own code goes into
/// `details.reason` so that nothing is lost.
#[derive(Clone, Copy, Debug, Default)]
pub struct MrEnvelope;

impl ErrorEnvelope for MrEnvelope {
    fn body(&self, e: &AppError) -> serde_json::Value {
        let code = contract_code(e);
        let mut body = serde_json::json!({"error_code": code, "message": e.message});
        let details = match (&e.details, code == e.code) {
            (Some(d), _) => Some(d.clone()),
            (None, false) => Some(serde_json::json!({"reason": e.code})),
            (None, true) => None,
        };
        if let Some(d) = details {
            body["details"] = d;
        }
        body
    }
}

/// A 400 `INVALID_PARAMS` naming the field (contract `BadRequestError`: `details {field, error}`).
pub fn invalid_field(field: &str, error: &str) -> AppError {
    AppError::invalid(code::INVALID_PARAMS, format!("{field}: {error}"))
        .with_details(serde_json::json!({"field": field, "error": error}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_codes_map_to_the_contracts() {
        let e = AppError::invalid("invalid_json", "bad");
        assert_eq!(
            MrEnvelope.body(&e),
            serde_json::json!({"error_code": "INVALID_PARAMS", "message": "bad", "details": {"reason": "invalid_json"}})
        );
        let e = AppError::new(ErrorKind::Unauthenticated, "token_expired", "old");
        assert_eq!(contract_code(&e), "UNAUTHORIZED");
        let e = AppError::new(ErrorKind::Invalid, code::INVALID_SIGNATURE, "sig");
        assert_eq!(
            MrEnvelope.body(&e),
            serde_json::json!({"error_code": "INVALID_SIGNATURE", "message": "sig"})
        );
        assert_eq!(contract_code(&AppError::internal("x")), "INTERNAL_ERROR");
    }
}
