//! Every WeChat Pay and Alipay vector in `../shared/vectors/payments.json` (from the upstream
//! SDKs' own tests) is a test here. A missing vector file fails the tests; it never skips them.

use super::*;

fn vectors() -> serde_json::Value {
    let dir = std::env::var("SUANPAN_SHARED_DIR")
        .unwrap_or_else(|_| format!("{}/../../../shared", env!("CARGO_MANIFEST_DIR")));
    let path = format!("{dir}/vectors/payments.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    serde_json::from_str(&text).expect("vectors are JSON")
}

fn s<'a>(v: &'a serde_json::Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("vector {path:?} missing"))
}

fn test_key(v: &serde_json::Value) -> MerchantKey {
    MerchantKey::from_pem(s(v, &["wechatpay", "test_rsa_private_key_pkcs8_pem"])).unwrap()
}

#[test]
fn sha256withrsa_signature_matches_vector() {
    let v = vectors();
    let key = test_key(&v);
    let sig = key
        .sign_b64(
            s(
                &v,
                &["wechatpay", "sha256withrsa_of_ascii_source", "message"],
            )
            .as_bytes(),
        )
        .unwrap();
    assert_eq!(
        sig,
        s(
            &v,
            &[
                "wechatpay",
                "sha256withrsa_of_ascii_source",
                "signature_b64"
            ]
        )
    );
}

#[test]
fn request_authorization_header_matches_vector() {
    let v = vectors();
    let r = &v["wechatpay"]["request_authorization"];
    let h = authorization(
        &test_key(&v),
        s(r, &["mchid"]),
        s(r, &["serial_no"]),
        s(r, &["method"]),
        s(r, &["url"]),
        s(r, &["timestamp"]),
        s(r, &["nonce"]),
        s(r, &["body"]),
    )
    .unwrap();
    assert_eq!(h, s(r, &["authorization"]));
    let fields = parse_authorization(&h).unwrap();
    assert_eq!(fields["mchid"], s(r, &["mchid"]));
    assert_eq!(fields["serial_no"], s(r, &["serial_no"]));
}

#[test]
fn jsapi_pay_sign_matches_vector() {
    let v = vectors();
    let p = &v["wechatpay"]["jsapi_pay_sign"];
    let msg = pay_sign_message(
        s(p, &["appId"]),
        s(p, &["timeStamp"]),
        s(p, &["nonceStr"]),
        s(p, &["package"]),
    );
    assert_eq!(
        test_key(&v).sign_b64(msg.as_bytes()).unwrap(),
        s(p, &["paySign"])
    );
}

#[test]
fn notification_signature_verifies_but_16_byte_key_is_refused() {
    let v = vectors();
    let n = &v["wechatpay"]["notification_signature_only"];
    let key = test_key(&v);
    let mut keys = PlatformKeys::default();
    let serial = s(n, &["headers", "Wechatpay-Serial"]);
    keys.insert(serial, key.public_key_der());
    let body = s(n, &["body"]).as_bytes();
    let ts = s(n, &["headers", "Wechatpay-Timestamp"]);
    let nonce = s(n, &["headers", "Wechatpay-Nonce"]);
    let sig = s(n, &["signature_b64"]);
    keys.verify(serial, ts, nonce, body, sig)
        .expect("vector signature verifies");

    // Tampering with any signed part breaks it.
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert!(matches!(
        keys.verify(serial, ts, nonce, &tampered, sig),
        Err(PayError::BadSignature(_))
    ));
    assert!(matches!(
        keys.verify(serial, "1624523847", nonce, body, sig),
        Err(PayError::BadSignature(_))
    ));
    assert!(matches!(
        keys.verify("UNKNOWN", ts, nonce, body, sig),
        Err(PayError::BadSignature(_))
    ));

    let mut headers = http::HeaderMap::new();
    headers.insert("Wechatpay-Timestamp", ts.parse().unwrap());
    headers.insert("Wechatpay-Nonce", nonce.parse().unwrap());
    headers.insert("Wechatpay-Serial", serial.parse().unwrap());
    headers.insert("Wechatpay-Signature", sig.parse().unwrap());
    let apiv3 = s(n, &["apiv3_key"]).as_bytes();
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
    let v = vectors();
    let a = &v["wechatpay"]["aes_256_gcm"];
    let plain = decrypt_resource(
        s(a, &["key"]).as_bytes(),
        s(a, &["nonce"]),
        s(a, &["associated_data"]),
        s(a, &["ciphertext_b64"]),
    )
    .unwrap();
    assert_eq!(plain, s(a, &["plaintext"]).as_bytes());
    // Wrong associated data fails authentication.
    assert!(
        decrypt_resource(
            s(a, &["key"]).as_bytes(),
            s(a, &["nonce"]),
            "other",
            s(a, &["ciphertext_b64"])
        )
        .is_err()
    );
    // Round trip through our encryptor gives the vector's ciphertext.
    let ct = encrypt_resource(
        s(a, &["key"]).as_bytes(),
        s(a, &["nonce"]),
        s(a, &["associated_data"]),
        s(a, &["plaintext"]).as_bytes(),
    )
    .unwrap();
    assert_eq!(ct, s(a, &["ciphertext_b64"]));
}

#[test]
fn aes_gcm_with_16_byte_key_is_rejected() {
    let v = vectors();
    let a = &v["wechatpay"]["aes_gcm_16_byte_key_must_be_rejected"];
    let r = decrypt_resource(
        s(a, &["key"]).as_bytes(),
        s(a, &["nonce"]),
        s(a, &["associated_data"]),
        s(a, &["ciphertext_b64"]),
    );
    assert!(matches!(r, Err(PayError::Decrypt)));
}

#[test]
fn alipay_notify_vector_verifies_and_sign_type_breaks_it() {
    let v = vectors();
    let a = &v["alipay"]["notify_verify"];
    let key = s(a, &["alipay_public_key_spki_b64"]);
    let content = s(a, &["sign_content"]);
    let sign = s(a, &["sign_b64"]);
    crate::alipay::verify_rsa2(content, sign, key).expect("vector verifies");
    assert!(crate::alipay::verify_rsa2(&format!("{content}&sign_type=RSA2"), sign, key).is_err());

    // Rebuilding the content from the notification's parameters (with sign and sign_type
    // present, as Alipay posts them) gives the same string.
    let mut params: Vec<(String, String)> = content
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    params.reverse();
    params.push(("sign_type".into(), "RSA2".into()));
    params.push(("sign".into(), sign.into()));
    assert_eq!(crate::alipay::signing_content(&params), content);
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
