//! Every WeChat Pay and Alipay vector (see [`crate::vectors`] for their sources) is a test
//! here. The values live in the repository; the ignored test `repo_vectors_match_shared` checks
//! them against the shared `vectors/payments.json` (run it with `--ignored`).

use super::*;
use crate::vectors as vec_;

fn test_key() -> MerchantKey {
    MerchantKey::from_pem(vec_::TEST_RSA_PRIVATE_KEY_PKCS8_PEM).unwrap()
}

#[test]
fn test_rsa_private_key_pkcs8_pem_parses() {
    let k = test_key();
    assert!(k.public_key_der().len() > 256);
    // Round trip through our own PEM encoder keeps the key.
    let again = MerchantKey::from_pem(&k.to_pkcs8_pem().unwrap()).unwrap();
    assert_eq!(again.public_key_der(), k.public_key_der());
}

#[test]
fn sha256withrsa_signature_matches_vector() {
    use vec_::sha256withrsa_of_ascii_source as v;
    let sig = test_key().sign_b64(v::MESSAGE.as_bytes()).unwrap();
    assert_eq!(sig, v::SIGNATURE_B64);
}

#[test]
fn request_authorization_header_matches_vector() {
    use vec_::request_authorization as r;
    let h = authorization(
        &test_key(),
        r::MCHID,
        r::SERIAL_NO,
        r::METHOD,
        r::URL,
        r::TIMESTAMP,
        r::NONCE,
        r::BODY,
    )
    .unwrap();
    assert_eq!(h, r::AUTHORIZATION);
    let fields = parse_authorization(&h).unwrap();
    assert_eq!(fields["mchid"], r::MCHID);
    assert_eq!(fields["serial_no"], r::SERIAL_NO);
}

#[test]
fn jsapi_pay_sign_matches_vector() {
    use vec_::jsapi_pay_sign as p;
    let msg = pay_sign_message(p::APP_ID, p::TIME_STAMP, p::NONCE_STR, p::PACKAGE);
    assert_eq!(test_key().sign_b64(msg.as_bytes()).unwrap(), p::PAY_SIGN);
}

fn vector_headers() -> http::HeaderMap {
    use vec_::notification_signature_only as n;
    let mut headers = http::HeaderMap::new();
    headers.insert("Wechatpay-Timestamp", n::TIMESTAMP.parse().unwrap());
    headers.insert("Wechatpay-Nonce", n::NONCE.parse().unwrap());
    headers.insert("Wechatpay-Serial", n::SERIAL.parse().unwrap());
    headers.insert("Wechatpay-Signature", n::SIGNATURE_B64.parse().unwrap());
    headers
}

#[test]
fn notification_signature_verifies_but_16_byte_key_is_refused() {
    use vec_::notification_signature_only as n;
    let mut keys = PlatformKeys::default();
    keys.insert(n::SERIAL, test_key().public_key_der());
    let body = n::BODY.as_bytes();
    let (ts, nonce, sig) = (n::TIMESTAMP, n::NONCE, n::SIGNATURE_B64);
    keys.verify(n::SERIAL, ts, nonce, body, sig)
        .expect("vector signature verifies");

    // Tampering with any signed part breaks it.
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert!(matches!(
        keys.verify(n::SERIAL, ts, nonce, &tampered, sig),
        Err(PayError::BadSignature(_))
    ));
    assert!(matches!(
        keys.verify(n::SERIAL, "1624523847", nonce, body, sig),
        Err(PayError::BadSignature(_))
    ));
    assert!(matches!(
        keys.verify("UNKNOWN", ts, nonce, body, sig),
        Err(PayError::UnknownSerial(_))
    ));

    let mut headers = vector_headers();
    let apiv3 = n::APIV3_KEY.as_bytes();
    let now: i64 = ts.parse().unwrap();
    // Today the 2021 timestamp is stale.
    let today = chrono::Utc::now().timestamp();
    assert!(matches!(
        open_notification(&headers, body, &keys, apiv3, today, 300),
        Err(PayError::StaleTimestamp)
    ));
    // At its own time it verifies, and then AES-256-GCM must refuse the 16-byte key.
    assert!(matches!(
        open_notification(&headers, body, &keys, apiv3, now + 299, 300),
        Err(PayError::Decrypt)
    ));
    assert!(matches!(
        open_notification(&headers, body, &keys, apiv3, now - 301, 300),
        Err(PayError::StaleTimestamp)
    ));
    headers.remove("Wechatpay-Signature");
    assert!(matches!(
        open_notification(&headers, body, &keys, apiv3, now, 300),
        Err(PayError::MissingHeader("Wechatpay-Signature"))
    ));
}

#[test]
fn aes_256_gcm_vector_decrypts() {
    use vec_::aes_256_gcm as a;
    let key = a::KEY.as_bytes();
    let plain = decrypt_resource(key, a::NONCE, a::ASSOCIATED_DATA, a::CIPHERTEXT_B64).unwrap();
    assert_eq!(plain, a::PLAINTEXT.as_bytes());
    // Wrong associated data fails authentication.
    assert!(decrypt_resource(key, a::NONCE, "other", a::CIPHERTEXT_B64).is_err());
    // Round trip through our encryptor gives the vector's ciphertext.
    let ct = encrypt_resource(key, a::NONCE, a::ASSOCIATED_DATA, a::PLAINTEXT.as_bytes()).unwrap();
    assert_eq!(ct, a::CIPHERTEXT_B64);
}

#[test]
fn aes_gcm_with_16_byte_key_is_rejected() {
    use vec_::aes_gcm_16_byte_key_must_be_rejected as a;
    assert_eq!(a::KEY.len(), 16);
    let r = decrypt_resource(
        a::KEY.as_bytes(),
        a::NONCE,
        a::ASSOCIATED_DATA,
        a::CIPHERTEXT_B64,
    );
    assert!(matches!(r, Err(PayError::Decrypt)));
    // Nor does the would-be AES-128 plaintext come out of a 32-byte-padded key.
    let mut padded = a::KEY.as_bytes().to_vec();
    padded.resize(32, b'0');
    let r = decrypt_resource(&padded, a::NONCE, a::ASSOCIATED_DATA, a::CIPHERTEXT_B64);
    assert!(!matches!(r, Ok(p) if p == a::PLAINTEXT_IF_AES128.as_bytes()));
}

#[test]
fn alipay_notify_vector_verifies_and_sign_type_breaks_it() {
    use vec_::alipay_notify_verify as a;
    let key = a::ALIPAY_PUBLIC_KEY_SPKI_B64;
    crate::alipay::verify_rsa2(a::SIGN_CONTENT, a::SIGN_B64, key).expect("vector verifies");
    assert!(
        crate::alipay::verify_rsa2(
            &format!("{}&sign_type=RSA2", a::SIGN_CONTENT),
            a::SIGN_B64,
            key
        )
        .is_err()
    );

    // Rebuilding the content from the notification's parameters (with sign and sign_type
    // present, as Alipay posts them) gives the same string.
    let mut params: Vec<(String, String)> = a::SIGN_CONTENT
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    params.reverse();
    params.push(("sign_type".into(), "RSA2".into()));
    params.push(("sign".into(), a::SIGN_B64.into()));
    params.push(("empty_field".into(), String::new()));
    assert_eq!(crate::alipay::signing_content(&params), a::SIGN_CONTENT);
    crate::alipay::verify_notify(&params, key).expect("full notification verifies");
}

#[test]
fn generated_keys_round_trip_through_pem() {
    let k = MerchantKey::generate().unwrap();
    let k2 = MerchantKey::from_pem(&k.to_pkcs8_pem().unwrap()).unwrap();
    let der = public_key_from_pem(&k.public_key_pem().unwrap()).unwrap();
    let mut keys = PlatformKeys::default();
    keys.insert("PUB_KEY_ID_TEST", der);
    let body = b"{}";
    let sig = k2.sign_b64(&response_message("1", "n", body)).unwrap();
    keys.verify("PUB_KEY_ID_TEST", "1", "n", body, &sig)
        .unwrap();
}

#[cfg(unix)]
#[test]
fn dev_keys_are_written_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!(
        "suanpan-devkeys-{}",
        suanpan_core::ids::random_alnum(12)
    ));
    let keys = simulator::dev_keys(&dir).unwrap();
    for f in [
        "merchant_key.pem",
        "simulator_platform_key.pem",
        "apiv3_key.txt",
    ] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f} has mode {mode:o}");
    }
    // Loading them again keeps the same keys.
    assert_eq!(simulator::dev_keys(&dir).unwrap().apiv3_key, keys.apiv3_key);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The repository's vectors equal the shared `vectors/payments.json` (CI runs this with
/// `--ignored`; `SUANPAN_SHARED_DIR` overrides where `shared/` is).
#[test]
#[ignore = "needs ../shared/vectors/payments.json; run with --ignored"]
fn repo_vectors_match_shared() {
    let dir = std::env::var("SUANPAN_SHARED_DIR")
        .unwrap_or_else(|_| format!("{}/../../../shared", env!("CARGO_MANIFEST_DIR")));
    let path = format!("{dir}/vectors/payments.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut shared: serde_json::Value = serde_json::from_str(&text).expect("vectors are JSON");
    strip_notes(&mut shared);
    assert_eq!(shared, repo_vectors_as_json());
}

fn strip_notes(v: &mut serde_json::Value) {
    if let serde_json::Value::Object(m) = v {
        m.retain(|k, _| !k.starts_with('_'));
        m.values_mut().for_each(strip_notes);
    }
}

fn repo_vectors_as_json() -> serde_json::Value {
    use vec_::*;
    serde_json::json!({
        "wechatpay": {
            "test_rsa_private_key_pkcs8_pem": TEST_RSA_PRIVATE_KEY_PKCS8_PEM,
            "sha256withrsa_of_ascii_source": {
                "message": sha256withrsa_of_ascii_source::MESSAGE,
                "signature_b64": sha256withrsa_of_ascii_source::SIGNATURE_B64,
            },
            "notification_signature_only": {
                "headers": {
                    "Wechatpay-Timestamp": notification_signature_only::TIMESTAMP,
                    "Wechatpay-Nonce": notification_signature_only::NONCE,
                    "Wechatpay-Serial": notification_signature_only::SERIAL,
                },
                "body": notification_signature_only::BODY,
                "signature_b64": notification_signature_only::SIGNATURE_B64,
                "apiv3_key": notification_signature_only::APIV3_KEY,
            },
            "aes_256_gcm": {
                "key": aes_256_gcm::KEY,
                "associated_data": aes_256_gcm::ASSOCIATED_DATA,
                "nonce": aes_256_gcm::NONCE,
                "plaintext": aes_256_gcm::PLAINTEXT,
                "ciphertext_b64": aes_256_gcm::CIPHERTEXT_B64,
            },
            "aes_gcm_16_byte_key_must_be_rejected": {
                "key": aes_gcm_16_byte_key_must_be_rejected::KEY,
                "associated_data": aes_gcm_16_byte_key_must_be_rejected::ASSOCIATED_DATA,
                "nonce": aes_gcm_16_byte_key_must_be_rejected::NONCE,
                "ciphertext_b64": aes_gcm_16_byte_key_must_be_rejected::CIPHERTEXT_B64,
                "plaintext_if_aes128": aes_gcm_16_byte_key_must_be_rejected::PLAINTEXT_IF_AES128,
            },
            "request_authorization": {
                "method": request_authorization::METHOD,
                "url": request_authorization::URL,
                "timestamp": request_authorization::TIMESTAMP,
                "nonce": request_authorization::NONCE,
                "mchid": request_authorization::MCHID,
                "serial_no": request_authorization::SERIAL_NO,
                "body": request_authorization::BODY,
                "authorization": request_authorization::AUTHORIZATION,
            },
            "jsapi_pay_sign": {
                "appId": jsapi_pay_sign::APP_ID,
                "timeStamp": jsapi_pay_sign::TIME_STAMP,
                "nonceStr": jsapi_pay_sign::NONCE_STR,
                "package": jsapi_pay_sign::PACKAGE,
                "paySign": jsapi_pay_sign::PAY_SIGN,
            },
        },
        "alipay": {
            "notify_verify": {
                "alipay_public_key_spki_b64": alipay_notify_verify::ALIPAY_PUBLIC_KEY_SPKI_B64,
                "sign_content": alipay_notify_verify::SIGN_CONTENT,
                "sign_b64": alipay_notify_verify::SIGN_B64,
            }
        }
    })
}
