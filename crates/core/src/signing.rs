//! Signed requests from API clients (a principal without a session: a device or server that
//! holds a key and signs every request with it, e.g. the MR headset servers, seed 004).
//!
//! The mechanism only: HMAC-SHA256 over a message the system defines (which headers, path and
//! body it covers), Base64 signatures compared in constant time, and a timestamp window. Which
//! key belongs to which client, and what the message is, is the system's.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Base64(HMAC-SHA256(key, message)).
pub fn hmac_sha256_b64(key: &[u8], message: &[u8]) -> String {
    B64.encode(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message).as_ref())
}

/// True when `signature_b64` is Base64(HMAC-SHA256(key, message)); the comparison is constant
/// time in the signature's bytes. A signature that is not Base64 is false.
pub fn verify_hmac_sha256_b64(key: &[u8], message: &[u8], signature_b64: &str) -> bool {
    match B64.decode(signature_b64.trim()) {
        Ok(sig) => hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), message, &sig).is_ok(),
        Err(_) => false,
    }
}

/// True when `timestamp_secs` is within `window_secs` of `now_secs` (either side).
pub fn within_window(timestamp_secs: i64, now_secs: i64, window_secs: i64) -> bool {
    timestamp_secs.abs_diff(now_secs) <= window_secs.unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2_and_tampering() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = hmac_sha256_b64(b"Jefe", b"what do ya want for nothing?");
        let hex_sig = hex::encode(B64.decode(&sig).unwrap());
        assert_eq!(
            hex_sig,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_hmac_sha256_b64(
            b"Jefe",
            b"what do ya want for nothing?",
            &sig
        ));
        assert!(!verify_hmac_sha256_b64(
            b"Jefe",
            b"what do ya want for nothing!",
            &sig
        ));
        assert!(!verify_hmac_sha256_b64(
            b"jefe",
            b"what do ya want for nothing?",
            &sig
        ));
        assert!(!verify_hmac_sha256_b64(b"Jefe", b"x", "not base64!"));
        assert!(within_window(1000, 1300, 300) && !within_window(1000, 1301, 300));
    }
}
