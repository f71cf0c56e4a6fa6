//! WeChat Pay API v3, merchant side (微信支付 APIv3). Rules cited from the official guide:
//! 签名生成 (request signing), 签名验证 (response/notification verification), 证书和回调报文解密
//! (AEAD_AES_256_GCM), JSAPI调起支付 (`paySign`), 支付通知 / 退款结果通知.
//!
//! - Requests carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
//!   signature="…",timestamp="…",serial_no="…"`; the signature is SHA256withRSA (PKCS#1 v1.5) by
//!   the merchant key over `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n` ([`request_message`]).
//! - Responses and notifications are signed by WeChat Pay over `TIMESTAMP\nNONCE\nBODY\n`, with the
//!   key named by `Wechatpay-Serial` (a `PUB_KEY_ID_…` public key id or a platform certificate
//!   serial) ([`PlatformKeys::verify`]). Timestamps more than the allowed skew (5 min) away are
//!   rejected.
//! - Notification resources are AEAD_AES_256_GCM with the 32-byte APIv3 key, 12-byte nonce and
//!   the given associated data ([`decrypt_resource`]).

pub mod certificates;
pub mod client;
pub mod neutral;
pub mod simulator;

use std::collections::HashMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    KeyPair, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::PayError;

pub use certificates::{CertificateManager, PlatformCertificate};
pub use client::{WechatPayClient, WechatPayConfig};

/// The merchant's API private key (`apiclient_key.pem`), which signs requests and `paySign`.
pub struct MerchantKey {
    key: RsaKeyPair,
}

impl std::fmt::Debug for MerchantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MerchantKey(..)")
    }
}

impl MerchantKey {
    /// Parses a PEM `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1).
    pub fn from_pem(pem: &str) -> Result<Self, PayError> {
        let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes())
            .map_err(|e| PayError::Config(format!("merchant key is not PEM: {e}")))?;
        let key = match label {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            other => {
                return Err(PayError::Config(format!(
                    "merchant key PEM has label {other}, expected PRIVATE KEY"
                )));
            }
        }
        .map_err(|e| PayError::Config(format!("merchant key rejected: {e}")))?;
        Ok(MerchantKey { key })
    }

    /// A fresh 2048-bit key (development keys and the simulator's platform key).
    pub fn generate() -> Result<Self, PayError> {
        let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| PayError::Config("RSA key generation failed".into()))?;
        Ok(MerchantKey { key })
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<String, PayError> {
        let der = self
            .key
            .as_der()
            .map_err(|_| PayError::Config("cannot encode key".into()))?;
        pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, der.as_ref())
            .map_err(|e| PayError::Config(e.to_string()))
    }

    /// The public key as SPKI (`PUBLIC KEY`) PEM, the form WeChat Pay hands out platform keys in.
    pub fn public_key_pem(&self) -> Result<String, PayError> {
        let der = self
            .key
            .public_key()
            .as_der()
            .map_err(|_| PayError::Config("cannot encode public key".into()))?;
        pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, der.as_ref())
            .map_err(|e| PayError::Config(e.to_string()))
    }

    /// The public key, SPKI DER (`PUBLIC KEY`; base64 of it is the form Alipay's console shows).
    pub fn public_key_spki_der(&self) -> Result<Vec<u8>, PayError> {
        self.key
            .public_key()
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| PayError::Config("cannot encode public key".into()))
    }

    /// The public key, PKCS#1 DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// Base64 SHA256withRSA (PKCS#1 v1.5) signature of `message`.
    pub fn sign_b64(&self, message: &[u8]) -> Result<String, PayError> {
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
            .map_err(|_| PayError::Config("signing failed".into()))?;
        Ok(B64.encode(sig))
    }
}

/// `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n` — what a request's signature covers. `url` is the
/// path with query string, e.g. `/v3/pay/transactions/jsapi`; `body` is empty for GET.
pub fn request_message(
    method: &str,
    url: &str,
    timestamp: &str,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{url}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The `Authorization` header value for a request (field order as in the official SDKs).
#[allow(clippy::too_many_arguments)]
pub fn authorization(
    key: &MerchantKey,
    mchid: &str,
    serial_no: &str,
    method: &str,
    url: &str,
    timestamp: &str,
    nonce: &str,
    body: &str,
) -> Result<String, PayError> {
    let signature =
        key.sign_b64(request_message(method, url, timestamp, nonce, body).as_bytes())?;
    Ok(format!(
        "WECHATPAY2-SHA256-RSA2048 mchid=\"{mchid}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{serial_no}\""
    ))
}

/// The fields of an `Authorization` header, parsed (the simulator verifies requests with this).
pub fn parse_authorization(value: &str) -> Option<HashMap<String, String>> {
    let rest = value.strip_prefix("WECHATPAY2-SHA256-RSA2048 ")?;
    let mut m = HashMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        m.insert(k.to_string(), v.trim_matches('"').to_string());
    }
    Some(m)
}

/// `appId\ntimeStamp\nnonceStr\npackage\n` — what `paySign` covers (JSAPI调起支付).
pub fn pay_sign_message(app_id: &str, timestamp: &str, nonce: &str, package: &str) -> String {
    format!("{app_id}\n{timestamp}\n{nonce}\n{package}\n")
}

/// `TIMESTAMP\nNONCE\nBODY\n` — what WeChat Pay's response and notification signatures cover.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(body.len() + 64);
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(nonce.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// Parses a public key PEM: `PUBLIC KEY` (SPKI, what 微信支付公钥 downloads are),
/// `RSA PUBLIC KEY` (PKCS#1) or `CERTIFICATE` (a platform certificate). Returns DER that
/// verification accepts.
pub fn public_key_from_pem(pem: &str) -> Result<Vec<u8>, PayError> {
    let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes())
        .map_err(|e| PayError::Config(format!("public key is not PEM: {e}")))?;
    let der = match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => der,
        "CERTIFICATE" => {
            use x509_cert::der::{Decode, Encode};
            let cert = x509_cert::Certificate::from_der(&der)
                .map_err(|e| PayError::Config(format!("bad certificate: {e}")))?;
            cert.tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|e| PayError::Config(e.to_string()))?
        }
        other => {
            return Err(PayError::Config(format!(
                "public key PEM has label {other}"
            )));
        }
    };
    aws_lc_rs::rsa::PublicKey::from_der(&der)
        .map_err(|e| PayError::Config(format!("not an RSA public key: {e}")))?;
    Ok(der)
}

/// WeChat Pay's verification keys by id: the `PUB_KEY_ID_…` of a 微信支付公钥 or the serial of a
/// platform certificate, as `Wechatpay-Serial` names them.
#[derive(Clone, Debug, Default)]
pub struct PlatformKeys {
    keys: HashMap<String, Vec<u8>>,
}

impl PlatformKeys {
    /// Adds a key (DER, SPKI or PKCS#1) under `id`.
    pub fn insert(&mut self, id: impl Into<String>, der: Vec<u8>) {
        self.keys.insert(id.into(), der);
    }

    /// Adds every key of `other` (same ids are replaced).
    pub fn extend(&mut self, other: &PlatformKeys) {
        for (k, v) in &other.keys {
            self.keys.insert(k.clone(), v.clone());
        }
    }

    /// Whether a key named `id` is held.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// The ids held, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.keys.keys().cloned().collect();
        v.sort();
        v
    }

    /// Verifies `signature_b64` over `TIMESTAMP\nNONCE\nBODY\n` with the key named `serial`.
    pub fn verify(
        &self,
        serial: &str,
        timestamp: &str,
        nonce: &str,
        body: &[u8],
        signature_b64: &str,
    ) -> Result<(), PayError> {
        let key = self
            .keys
            .get(serial)
            .ok_or_else(|| PayError::UnknownSerial(serial.to_string()))?;
        let sig = B64
            .decode(signature_b64.trim())
            .map_err(|_| PayError::BadSignature("signature is not base64".into()))?;
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
            .verify(&response_message(timestamp, nonce, body), &sig)
            .map_err(|_| PayError::BadSignature("signature does not verify".into()))
    }
}

/// Decrypts an AEAD_AES_256_GCM resource: `ciphertext_b64` is ciphertext‖16-byte tag. The APIv3
/// key must be exactly 32 bytes (anything else is refused, never silently treated as AES-128).
pub fn decrypt_resource(
    apiv3_key: &[u8],
    nonce: &str,
    associated_data: &str,
    ciphertext_b64: &str,
) -> Result<Vec<u8>, PayError> {
    let key = UnboundKey::new(&AES_256_GCM, apiv3_key).map_err(|_| PayError::Decrypt)?;
    let nonce =
        Nonce::try_assume_unique_for_key(nonce.as_bytes()).map_err(|_| PayError::Decrypt)?;
    let mut buf = B64
        .decode(ciphertext_b64.trim())
        .map_err(|_| PayError::Decrypt)?;
    let plain = LessSafeKey::new(key)
        .open_in_place(nonce, Aad::from(associated_data.as_bytes()), &mut buf)
        .map_err(|_| PayError::Decrypt)?;
    Ok(plain.to_vec())
}

/// Encrypts like WeChat Pay does (used by the simulator).
pub fn encrypt_resource(
    apiv3_key: &[u8],
    nonce: &str,
    associated_data: &str,
    plaintext: &[u8],
) -> Result<String, PayError> {
    let key = UnboundKey::new(&AES_256_GCM, apiv3_key)
        .map_err(|_| PayError::Config("APIv3 key must be 32 bytes".into()))?;
    let n = Nonce::try_assume_unique_for_key(nonce.as_bytes())
        .map_err(|_| PayError::Config("nonce must be 12 bytes".into()))?;
    let mut buf = plaintext.to_vec();
    LessSafeKey::new(key)
        .seal_in_place_append_tag(n, Aad::from(associated_data.as_bytes()), &mut buf)
        .map_err(|_| PayError::Config("encryption failed".into()))?;
    Ok(B64.encode(buf))
}

/// A notification as WeChat Pay posts it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Notification {
    /// Notification id.
    pub id: String,
    /// RFC 3339.
    pub create_time: String,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`, …
    pub event_type: String,
    /// `encrypt-resource`.
    pub resource_type: String,
    /// The encrypted payload.
    pub resource: EncryptedResource,
    /// Human summary.
    #[serde(default)]
    pub summary: String,
}

/// The `resource` of a notification.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EncryptedResource {
    /// Must be `AEAD_AES_256_GCM`.
    pub algorithm: String,
    /// Base64 ciphertext‖tag.
    pub ciphertext: String,
    /// Associated data (may be empty).
    #[serde(default)]
    pub associated_data: String,
    /// 12-character nonce.
    pub nonce: String,
    /// `transaction` or `refund`.
    #[serde(default)]
    pub original_type: String,
}

/// The signature headers of a response or notification.
#[derive(Clone, Debug)]
pub struct SignatureHeaders {
    /// `Wechatpay-Timestamp` (Unix seconds).
    pub timestamp: String,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
    /// `Wechatpay-Serial`.
    pub serial: String,
    /// `Wechatpay-Signature` (base64).
    pub signature: String,
}

impl SignatureHeaders {
    /// Reads the four headers; [`PayError::MissingHeader`] names the first one absent.
    pub fn from_headers(h: &http::HeaderMap) -> Result<Self, PayError> {
        let get = |name: &'static str| -> Result<String, PayError> {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .filter(|s| !s.is_empty())
                .ok_or(PayError::MissingHeader(name))
        };
        Ok(SignatureHeaders {
            timestamp: get("Wechatpay-Timestamp")?,
            nonce: get("Wechatpay-Nonce")?,
            serial: get("Wechatpay-Serial")?,
            signature: get("Wechatpay-Signature")?,
        })
    }

    /// Checks the timestamp window, then the signature over `body`.
    pub fn verify(
        &self,
        keys: &PlatformKeys,
        body: &[u8],
        now_secs: i64,
        max_skew_secs: i64,
    ) -> Result<(), PayError> {
        let ts: i64 = self
            .timestamp
            .parse()
            .map_err(|_| PayError::MissingHeader("Wechatpay-Timestamp"))?;
        if (now_secs - ts).abs() > max_skew_secs {
            return Err(PayError::StaleTimestamp);
        }
        keys.verify(
            &self.serial,
            &self.timestamp,
            &self.nonce,
            body,
            &self.signature,
        )
    }
}

/// Verifies and decrypts a notification: headers → timestamp window → signature → JSON →
/// algorithm → AEAD. Returns the envelope and the decrypted resource JSON.
pub fn open_notification(
    headers: &http::HeaderMap,
    body: &[u8],
    keys: &PlatformKeys,
    apiv3_key: &[u8],
    now_secs: i64,
    max_skew_secs: i64,
) -> Result<(Notification, Vec<u8>), PayError> {
    SignatureHeaders::from_headers(headers)?.verify(keys, body, now_secs, max_skew_secs)?;
    let n: Notification =
        serde_json::from_slice(body).map_err(|e| PayError::Malformed(e.to_string()))?;
    if n.resource.algorithm != "AEAD_AES_256_GCM" {
        return Err(PayError::Malformed(format!(
            "unsupported algorithm {}",
            n.resource.algorithm
        )));
    }
    let plain = decrypt_resource(
        apiv3_key,
        &n.resource.nonce,
        &n.resource.associated_data,
        &n.resource.ciphertext,
    )?;
    Ok((n, plain))
}

/// `amount` of a transaction.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TransactionAmount {
    /// Order total, fen.
    pub total: i64,
    /// What the payer paid, fen.
    #[serde(default)]
    pub payer_total: Option<i64>,
    /// `CNY`.
    #[serde(default)]
    pub currency: Option<String>,
}

/// `payer` of a transaction.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Payer {
    /// The payer's openid.
    #[serde(default)]
    pub openid: Option<String>,
}

/// A transaction (order query answer, `TRANSACTION.SUCCESS` resource).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Transaction {
    /// AppID.
    pub appid: String,
    /// Merchant id.
    pub mchid: String,
    /// Our order number.
    pub out_trade_no: String,
    /// WeChat Pay's transaction id (once paid).
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// `JSAPI`, …
    #[serde(default)]
    pub trade_type: Option<String>,
    /// `SUCCESS`, `NOTPAY`, `CLOSED`, `REFUND`, `USERPAYING`, `PAYERROR`, `REVOKED`.
    pub trade_state: String,
    /// Description of the state.
    #[serde(default)]
    pub trade_state_desc: Option<String>,
    /// RFC 3339 payment time.
    #[serde(default)]
    pub success_time: Option<String>,
    /// The payer.
    #[serde(default)]
    pub payer: Option<Payer>,
    /// Amounts.
    #[serde(default)]
    pub amount: Option<TransactionAmount>,
}

/// Refund amounts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RefundAmount {
    /// Order total, fen.
    pub total: i64,
    /// Refunded, fen.
    pub refund: i64,
    /// `CNY`.
    #[serde(default)]
    pub currency: Option<String>,
}

/// A refund (refund API answer, refund notification resource).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Refund {
    /// WeChat Pay's refund id.
    #[serde(default)]
    pub refund_id: Option<String>,
    /// Our refund number.
    pub out_refund_no: String,
    /// Our order number.
    #[serde(default)]
    pub out_trade_no: Option<String>,
    /// Merchant id (notifications).
    #[serde(default)]
    pub mchid: Option<String>,
    /// `SUCCESS`, `CLOSED`, `PROCESSING`, `ABNORMAL` (`refund_status` in notifications).
    #[serde(alias = "refund_status")]
    pub status: String,
    /// RFC 3339.
    #[serde(default)]
    pub success_time: Option<String>,
    /// Amounts.
    pub amount: RefundAmount,
}

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;
