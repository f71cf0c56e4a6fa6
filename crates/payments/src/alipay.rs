//! Alipay asynchronous notifications (异步通知): signature verification with the Alipay public
//! key, RSA2 (SHA256withRSA). Rule (Alipay open platform, 异步通知验签): drop `sign` and
//! `sign_type`, drop empty values, sort the rest by key (byte order), join as `k=v` with `&`,
//! verify the base64 `sign` over that string.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::PayError;

/// The string Alipay signed, from the notification's form parameters (already URL-decoded).
pub fn signing_content(params: &[(String, String)]) -> String {
    let mut kv: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, v)| k != "sign" && k != "sign_type" && !v.is_empty())
        .collect();
    kv.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    kv.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Verifies `sign_b64` over `content` with the Alipay public key (base64 SPKI DER, as Alipay's
/// console shows it).
pub fn verify_rsa2(
    content: &str,
    sign_b64: &str,
    public_key_spki_b64: &str,
) -> Result<(), PayError> {
    let der = B64
        .decode(public_key_spki_b64.trim())
        .map_err(|_| PayError::Config("Alipay public key is not base64".into()))?;
    let sig = B64
        .decode(sign_b64.trim())
        .map_err(|_| PayError::BadSignature("sign is not base64".into()))?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
        .verify(content.as_bytes(), &sig)
        .map_err(|_| PayError::BadSignature("RSA2 signature does not verify".into()))
}

/// Verifies a whole notification given its form parameters.
pub fn verify_notify(
    params: &[(String, String)],
    public_key_spki_b64: &str,
) -> Result<(), PayError> {
    let sign = params
        .iter()
        .find(|(k, _)| k == "sign")
        .map(|(_, v)| v.as_str())
        .ok_or(PayError::MissingHeader("sign"))?;
    verify_rsa2(&signing_content(params), sign, public_key_spki_b64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_excludes_sign_fields_and_empties_and_sorts() {
        let p: Vec<(String, String)> = [
            ("b", "2"),
            ("sign", "x"),
            ("a", "1"),
            ("sign_type", "RSA2"),
            ("c", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(super::signing_content(&p), "a=1&b=2");
    }
}
