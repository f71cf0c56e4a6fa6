//! The Alipay open API (支付宝开放平台), merchant side, RSA2 (SHA256withRSA, PKCS#1 v1.5).
//!
//! - Requests (《签名规则》 / 自行实现签名): every parameter but `sign`, empty values dropped,
//!   sorted by key (byte order), joined as `k=v` with `&`, signed with the merchant private key
//!   ([`request_signing_content`], [`sign_rsa2`]).
//! - Responses (《同步验签》): `{"<method, . → _>_response": {…}, "sign": "…"}`; the signature
//!   covers the exact raw text of the response node ([`response_node`]).
//! - Asynchronous notifications (异步通知验签): like requests but `sign_type` is dropped too
//!   ([`signing_content`], [`verify_notify`]); the answer is the text `success`.
//!
//! [`client::AlipayClient`] implements the calls and [`crate::provider::PaymentProvider`];
//! [`simulator`] is a development fake of the gateway.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::PayError;
use crate::wechatpay::MerchantKey;

pub mod client;
pub mod simulator;

pub use client::{AlipayClient, AlipayConfig, DEFAULT_GATEWAY};

/// The string a request is signed over: every parameter but `sign` (so `sign_type` is
/// included), empty values dropped, sorted by key, `k=v` joined by `&` (《签名规则》).
pub fn request_signing_content(params: &[(String, String)]) -> String {
    let mut kv: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, v)| k != "sign" && !v.is_empty())
        .collect();
    kv.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    kv.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Base64 RSA2 (SHA256withRSA, PKCS#1 v1.5) signature of `content` with `key`. Deterministic.
pub fn sign_rsa2(content: &str, key: &MerchantKey) -> Result<String, PayError> {
    key.sign_b64(content.as_bytes())
}

/// The exact raw JSON text of the node `name` of a gateway answer and the answer's `sign`
/// (if any). The text is cut out of `raw`, never re-serialized, since the signature covers
/// the bytes as sent. Errors: [`PayError::Malformed`] when `raw` is not a JSON object.
pub fn response_node<'a>(
    raw: &'a str,
    name: &str,
) -> Result<(Option<&'a str>, Option<String>), PayError> {
    let whole: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| PayError::Malformed(e.to_string()))?;
    if !whole.is_object() {
        return Err(PayError::Malformed("answer is not a JSON object".into()));
    }
    let sign = match whole.get("sign") {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(PayError::Malformed("sign is not a string".into())),
    };
    let mut node = None;
    for (key, span) in top_level_members(raw) {
        if serde_json::from_str::<String>(key).ok().as_deref() == Some(name) {
            node = Some(span);
        }
    }
    Ok((node, sign))
}

/// The `(raw key, raw value)` text spans of a JSON object's top-level members. `raw` must be
/// valid JSON (checked by the caller).
fn top_level_members(raw: &str) -> Vec<(&str, &str)> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = raw.find('{').map(|i| i + 1).unwrap_or(b.len());
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_ws(i);
        if i >= b.len() || b[i] != b'"' {
            return out;
        }
        let key_end = value_end(b, i);
        let key = &raw[i..key_end];
        i = skip_ws(key_end);
        if i >= b.len() || b[i] != b':' {
            return out;
        }
        let start = skip_ws(i + 1);
        let end = value_end(b, start);
        out.push((key, raw[start..end].trim_end()));
        i = skip_ws(end);
        if i < b.len() && b[i] == b',' {
            i += 1;
        }
    }
}

/// The index just past the JSON value starting at `start` (strings, objects, arrays, scalars).
fn value_end(b: &[u8], start: usize) -> usize {
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => {
                    in_str = false;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth == 0 => return i,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                b',' if depth == 0 => return i,
                _ => {}
            }
        }
        i += 1;
    }
    i
}

/// The string Alipay signed in an asynchronous notification, from its form parameters (already
/// URL-decoded): `sign` and `sign_type` dropped, empty values dropped, sorted, `k=v` joined by
/// `&` (异步通知验签).
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

/// Decodes an Alipay public key (base64 SPKI DER) and checks it is an RSA key. Errors:
/// [`PayError::Config`].
pub fn parse_public_key(public_key_spki_b64: &str) -> Result<Vec<u8>, PayError> {
    let der = B64
        .decode(public_key_spki_b64.trim())
        .map_err(|_| PayError::Config("Alipay public key is not base64".into()))?;
    aws_lc_rs::rsa::PublicKey::from_der(&der)
        .map_err(|_| PayError::Config("Alipay public key is not an RSA SPKI key".into()))?;
    Ok(der)
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

/// Verifies a whole notification given its form parameters. Errors:
/// [`PayError::MissingHeader`]`("sign")`, [`PayError::BadSignature`].
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
mod tests;
