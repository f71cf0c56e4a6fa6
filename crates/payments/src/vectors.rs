//! Known-answer test vectors, kept in the repository so `cargo test` needs nothing beside the
//! clone. The values are facts taken from the upstream SDKs' own tests:
//!
//! - wechatpay-go: `utils/sign_test.go` (test key, SHA256withRSA of `source`, request
//!   `Authorization`, JSAPI `paySign`), `core/notify/notify_test.go` (signed notification),
//!   `utils/aes_test.go` (AEAD_AES_256_GCM);
//! - wechatpay-java: `cipher/AeadAesCipherTest.java` (a 16-byte key that AES-256-GCM must refuse);
//! - alipay-sdk-nodejs-all: `test/alipay.test.ts` (async notification RSA2 verification).
//!
//! Derived vectors (request `Authorization`, `paySign`) were computed with the upstream test key.
//! The same values are published in the shared `vectors/payments.json`; the ignored test
//! `repo_vectors_match_shared` checks this copy against it.

/// wechatpay-go test private key (PKCS#8 PEM, RSA 2048).
pub const TEST_RSA_PRIVATE_KEY_PKCS8_PEM: &str = r#"-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDZUJN33V+dSfvd
fL0Mu+39XrZNXFFMQSy1V15FpncHeV47SmV0TzTqZc7hHB0ddqAdDi8Z5k3TKqb7
6sOwYr5TcAfuR6PIPaleyE0/0KrljBum2Isa2Nyq7Dgc3ElBQ6YN4l/a+DpvKaz1
FSKmKrhLNskqokWVSlu4g8OlKlbPXQ9ibII14MZRQrrkTmHYHzfi7GXXM0thAKuR
0HNvyhTHBh4/lrYM3GaMvmWwkwvsMavnOex6+eioZHBOb1/EIZ/LzC6zuHArPpyW
3daGaZ1rtQB1vVzTyERAVVFsXXgBHvfFud3w3ShsJYk8JvMwK2RpJ5/gV0QSARcm
LDRUAlPzAgMBAAECggEBAMc7rDeUaXiWv6bMGbZ3BTXpg1FhdddnWUnYE8HfX/km
OFI7XtBHXcgYFpcjYz4D5787pcsk7ezPidAj58zqenuclmjKnUmT3pfbI5eCA2v4
C9HnbYDrmUPK1ZcADtka4D6ScDccpNYNa1g2TFHzkIrEa6H+q7S3O2fqxY/DRVtN
0JIXalBb8daaqL5QVzSmM2BMVnHy+YITJWIkP2a3pKs9C0W65JGDsnG0wVrHinHF
+cnhFZIbaPEI//DAFMc9NkrWOKVRTEgcCUxCFaHOZVNxDWZD7A2ZfJB2rK6eg//y
gEiFDR2h6mTaDowMB4YF2n2dsIO4/dCG8vPHI20jn4ECgYEA/ZGu6lEMlO0XZnam
AZGtiNgLcCfM/C2ZERZE7QTRPZH1WdK92Al9ndldsswFw4baJrJLCmghjF/iG4zi
hhBvLnOLksnZUfjdumxoHDWXo2QBWbI5QsWIE7AuTiWgWj1I7X4fCXSQf6i+M/y2
6TogQ7d0ANpZFyOkTNMn/tiJvLECgYEA22XqlamG/yfAGWery5KNH2DGlTIyd6xJ
WtJ9j3jU99lZ0bCQ5xhiBbU9ImxCi3zgTsoqLWgA/p00HhNFNoUcTl9ofc0G3zwT
D1y0ZzcnVKxGJdZ6ohW52V0hJStAigtjYAsUgjm7//FH7PiQDBDP1Wa6xSRkDQU/
aSbQxvEE8+MCgYEA3bb8krW7opyM0XL9RHH0oqsFlVO30Oit5lrqebS0oHl3Zsr2
ZGgoBlWBsEzk3UqUhTFwm/DhJLTSJ/TQPRkxnhQ5/mewNhS9C7yua7wQkzVmWN+V
YeUGTvDGDF6qDz12/vJAgSwDDRym8x4NcXD5tTw7mmNRcwIfL22SkysThIECgYAV
BgccoEoXWS/HP2/u6fQr9ZIR6eV8Ij5FPbZacTG3LlS1Cz5XZra95UgebFFUHHtC
EY1JHJY7z8SWvTH8r3Su7eWNaIAoFBGffzqqSVazfm6aYZsOvRY6BfqPHT3p/H1h
Tq6AbBffxrcltgvXnCTORjHPglU0CjSxVs7awW3AEQKBgB5WtaC8VLROM7rkfVIq
+RXqE5vtJfa3e3N7W3RqxKp4zHFAPfr82FK5CX2bppEaxY7SEZVvVInKDc5gKdG/
jWNRBmvvftZhY59PILHO2X5vO4FXh7suEjy6VIh0gsnK36mmRboYIBGsNuDHjXLe
BDa+8mDLkWu5nHEhOxy2JJZl
-----END PRIVATE KEY-----
"#;

/// SHA256withRSA of an ASCII message with the test key (wechatpay-go `utils/sign_test.go`).
pub mod sha256withrsa_of_ascii_source {

    /// Message.
    pub const MESSAGE: &str = r#"source"#;
    /// Base64 signature.
    pub const SIGNATURE_B64: &str = r#"BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="#;
}

/// A signed notification (wechatpay-go `core/notify/notify_test.go`): the signature verifies
/// with the test key; its APIv3 key is 16 bytes, so AES-256-GCM must refuse the resource.
pub mod notification_signature_only {

    /// `Wechatpay-Timestamp` header.
    pub const TIMESTAMP: &str = r#"1624523846"#;

    /// `Wechatpay-Nonce` header.
    pub const NONCE: &str = r#"EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz"#;

    /// `Wechatpay-Serial` header.
    pub const SERIAL: &str = r#"D7CE59D1F522D701"#;

    /// Body.
    pub const BODY: &str = r#"{"id":"3119dfba-e649-5eec-ab1e-3412bc4d2e17","create_time":"2021-06-24T16:37:26+08:00","resource_type":"encrypt-resource","event_type":"PAYSCORE.USER_OPEN_SERVICE","summary":"签约成功","resource":{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM","ciphertext":"YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZttevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOcgSLgh21YJXYR7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==","associated_data":"payscore","nonce":"Kj7QIyUiYx1q"}}"#;
    /// `Wechatpay-Signature`.
    pub const SIGNATURE_B64: &str = r#"tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXFlbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1VEA1IBLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY406ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q=="#;
    /// The (16-byte) APIv3 key.
    pub const APIV3_KEY: &str = r#"testMchAPIv3Key0"#;
}

/// AEAD_AES_256_GCM (wechatpay-go `utils/aes_test.go`).
pub mod aes_256_gcm {

    /// `key`.
    pub const KEY: &str = r#"a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"#;

    /// `associated_data`.
    pub const ASSOCIATED_DATA: &str = r#"associatedData"#;

    /// `nonce`.
    pub const NONCE: &str = r#"uluk4a9R25RW"#;

    /// `plaintext`.
    pub const PLAINTEXT: &str = r#"message"#;

    /// `ciphertext_b64`.
    pub const CIPHERTEXT_B64: &str = r#"ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="#;
}

/// A 16-byte key ciphertext (wechatpay-java `AeadAesCipherTest`): must be refused.
pub mod aes_gcm_16_byte_key_must_be_rejected {

    /// `key`.
    pub const KEY: &str = r#"testAPIv3Key0000"#;

    /// `associated_data`.
    pub const ASSOCIATED_DATA: &str = r#"Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8"#;

    /// `nonce`.
    pub const NONCE: &str = r#"wCq51qZv4Yfg"#;

    /// `ciphertext_b64`.
    pub const CIPHERTEXT_B64: &str = r#"FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"#;

    /// `plaintext_if_aes128`.
    pub const PLAINTEXT_IF_AES128: &str = r#"Hello World"#;
}

/// Request `Authorization` header (derived with the wechatpay-go test key).
pub mod request_authorization {

    /// `method`.
    pub const METHOD: &str = r#"POST"#;

    /// `url`.
    pub const URL: &str = r#"/v3/pay/transactions/jsapi"#;

    /// `timestamp`.
    pub const TIMESTAMP: &str = r#"1554208460"#;

    /// `nonce`.
    pub const NONCE: &str = r#"593BEC0C930BF1AFEB40B4A08C8FB242"#;

    /// `mchid`.
    pub const MCHID: &str = r#"1230000109"#;

    /// `serial_no`.
    pub const SERIAL_NO: &str = r#"F5765756002FDD77"#;

    /// `body`.
    pub const BODY: &str = r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","description":"Image形象店-深圳腾大-QQ公仔","out_trade_no":"1217752501201407033233368018","notify_url":"https://www.weixin.qq.com/wxpay/pay.php","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}"#;

    /// `authorization`.
    pub const AUTHORIZATION: &str = r#"WECHATPAY2-SHA256-RSA2048 mchid="1230000109",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="pZiQhrF522xeAq+RRHDJybp2Pa+UY+kdjK/7ttFy6n20wjQGCBWdMWasBFz0gS+hxH3ljSj6KXmwA2jtjZTsdZoWBf5SDw1OfgmXpI0onXKS08kt7+mnMkJFpuT3QtlDBtfOcW5DQjA2JezMtJLsVDfd1cja8EyDVkRAmVeI2ZK3/+OFZirZ9Qt10l7ojFZyc2nb8yOCi6w1W2UUEZenveeim5v9qFLZbTupUkzR8TwjSJXOKK4EA+OY6HACrFD8QeaKvezTwQbGqTiH3gZvajrbuK4iHIZKThBs413j4xRau+ZocaMYm18dgCX2DitoYqjpsmIiL69zeD8dWz4LuQ==",timestamp="1554208460",serial_no="F5765756002FDD77""#;
}

/// JSAPI `paySign` (derived with the wechatpay-go test key).
pub mod jsapi_pay_sign {

    /// `appId`.
    pub const APP_ID: &str = r#"wx8888888888888888"#;

    /// `timeStamp`.
    pub const TIME_STAMP: &str = r#"1414561699"#;

    /// `nonceStr`.
    pub const NONCE_STR: &str = r#"5K8264ILTKCH16CQ2502SI8ZNMTM67VS"#;

    /// `package`.
    pub const PACKAGE: &str = r#"prepay_id=wx201410272009395522657a690389285100"#;

    /// `paySign`.
    pub const PAY_SIGN: &str = r#"UV+EKQ3OdnOkUbbKaVi53s/67T59JbHx9gc9MaWoQEOaiZH+uYMByfW2MWXTZW1gnOXl1CqwzHtx7QUxfatSdSxgBhbNhJx1QaxkP0zSXAgXIoWPAktOlj9n/phfOH95rNl8bHzRDUoNAMQmfQy8SHGooKtEU6/87nWXHhcYarv/nmtgAJcwsV+lGJQ4jLZhGl5BaAvpLW1Xg8yYg1DXNjik2SPK8d+4FRSkW671wIvxXQCYqG3mi3FvxP5XJ3OBVbPk4GRf/8wi2r2eiqXYd5e4mRMIAOGxqape9Cm46kxrjlHF0uM+wSir4Nychn2H5geUh2YvE8vJJMAqmkN2gg=="#;
}

/// Alipay async notification (alipay-sdk-nodejs-all `test/alipay.test.ts`): `SIGN_B64` verifies
/// over `SIGN_CONTENT` with the public key; the same content with `&sign_type=RSA2` appended fails.
pub mod alipay_notify_verify {

    /// `alipay_public_key_spki_b64`.
    pub const ALIPAY_PUBLIC_KEY_SPKI_B64: &str = r#"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqObrdC7hrgAVM98tK0nv3hSQRGGKT4lBsQjHiGjeYZjOPIPHR5knm2jnnz/YGIXIofVHkA/tAlBAd5DrY7YpvI4tP5EONLtZKC2ghBMx7McI2wRD0xiqzxOQr1FuhZGJ8/AUokBzJrzY+aGX2xcOrxFYRlFilvVLTXg4LWjR1tdPkO6+i7wQZAIVMClPkwVRZEbaERRHlKqTzv2gGv5rDU8gRoe1LeaN+6BlbTqHWkQcNCUNrA8C6l17XAXGKDsm/9TFWwO8EPHHHCaQdjtV5/FdcWIt+L8SR1ss7EXTjYDFtxcKVv9rEoY1lX8T4mX+GbXfZHraG5NCF1+XioL5JwIDAQAB"#;

    /// `sign_content`.
    pub const SIGN_CONTENT: &str = r#"app_id=2019073166072302&auth_app_id=2019073166072302&buyer_id=2088102534368455&buyer_logon_id=xud***@126.com&buyer_pay_amount=0.10&charset=utf-8&fund_bill_list=[{"amount":"0.10","fundChannel":"ALIPAYACCOUNT"}]&gmt_create=2019-08-15 15:56:22&gmt_payment=2019-08-15 15:56:24&invoice_amount=0.10&notify_id=2019081500222155624068450559358070&notify_time=2019-08-15 15:56:25&notify_type=trade_status_sync&out_trade_no=20190815155618536-564-57&point_amount=0.00&receipt_amount=0.10&seller_email=z97-yuquerevenue@service.aliyun.com&seller_id=2088531891668739&subject=语雀空间 500人规模&total_amount=0.10&trade_no=2019081522001468450512505578&trade_status=TRADE_SUCCESS&version=1.0"#;

    /// `sign_b64`.
    pub const SIGN_B64: &str = r#"QfTb8tqE1BMhS5qAnXtvsF3/jBkEvu9q9en0pdbBUDDjvKycZhQb7h8GDs4FKfi049PynaNuatxSgLb/nLWZpXyyh0LEWdK2S6Ri7nPwrVgOs08zugLO20vOQz44y3ti2Ncm8/wZts1Fr2gZ7pShnVX3d1B50hbsXnObT1r/U8ONNQjWXd0HIul4TG+Q3fm3svmSvFEy0WnzuhcyHPX5Gm4ELNctL6Qd5YniGJFNcc7kopHYtI/XD9YCKCH6Ct02rzUs9i11C9CsadtZn+WhxF26Dqt9sGEFajkJ8cxUTLi8+VCpLHsgPE8P0y095uQcDdK0YjCh4x7wVSov+lrmOQ=="#;
}

/// Alipay RSA2 signing vectors, derived here (not upstream): RSA2 (SHA256withRSA, PKCS#1 v1.5)
/// is deterministic, so signing with the wechatpay-go test key
/// ([`TEST_RSA_PRIVATE_KEY_PKCS8_PEM`]) gives fixed signatures. Computed with
/// `openssl dgst -sha256 -sign`; not part of the shared file.
pub mod alipay_rsa2_signing {
    /// The base64 RSA2 signature of [`super::alipay_notify_verify::SIGN_CONTENT`] with the test
    /// key.
    pub const NOTIFY_CONTENT_SIGN_B64: &str = r#"cVRvrjs/m9YCOS8s7E9An0E2iPLmz2rKMpE9m5ryazrVE7QEMemkbG07270NsQ0hFaR5y37CzIQ0r6Xy4lez4Vd8F7zvE3iJzfYfEBioOYOl64p1AR99k83jg8NpTvzwnvGiOqzZ/RkVGf4LTwFd5bXaGHYGdto+HPZQA97yaJDfoiW0bjfX5FLUtn6n1WhqKlZK5FSli4I0xj2KFIJKZc62nOlSaXFNL6srCppDSEAhiKJTcHozKN16lllJGM3HA/4RiD9qjcY7R0VPMOB9mq6/2m2j3lPiC/ssTj6l7AfrN6Pj5hK6Ls6JQa99dQXqm4F3N/UYD/EG1h7zBgN3ow=="#;
    /// A request's parameters (an `alipay.trade.precreate` call), in no particular order.
    pub const REQUEST_PARAMS: &[(&str, &str)] = &[
        ("timestamp", "2026-12-02 18:00:00"),
        ("method", "alipay.trade.precreate"),
        ("app_id", "2021000000000001"),
        ("format", "JSON"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("version", "1.0"),
        ("notify_url", "https://shop.example.com/pay/alipay/notify"),
        ("return_url", ""),
        (
            "biz_content",
            r#"{"out_trade_no":"SP20261202000001","subject":"算盘测试","total_amount":"10.00"}"#,
        ),
    ];
    /// What a request is signed over: every parameter but `sign`, no empty values, sorted.
    pub const REQUEST_CONTENT: &str = r#"app_id=2021000000000001&biz_content={"out_trade_no":"SP20261202000001","subject":"算盘测试","total_amount":"10.00"}&charset=utf-8&format=JSON&method=alipay.trade.precreate&notify_url=https://shop.example.com/pay/alipay/notify&sign_type=RSA2&timestamp=2026-12-02 18:00:00&version=1.0"#;
    /// Its base64 RSA2 signature with the test key.
    pub const REQUEST_SIGN_B64: &str = r#"M7wQjDLM1pZTLoVNZWtLvuocvLP9Q4hKqBNcuj+VrkT6FRt0g0evgN4lqO6z/boY6RCr9hf7qLldkAyqXaxADDwxBfxnj0yEo9PyJ2nvt0cru03hx4SBzK6Ydo+U4GZPd7uNxqgswfBdWxePAuShYDNLUlCGUcwvzupaP1qJjPPjvxYZhC+Hf/+WQAkyv/IgB/mGrZt5oxzLNFWI6wC47HsinuePdTBrV/filg5vp2hcC2QJAZ1N26fIKC7FxkzJY0JbL9IArO7IrNyq1JBbHxSDNI4Oi8blwPmR0LNnpsEGqHcCI06nHMW+DQX69pNMM5t+22jSNJx+6R/6j04Ojw=="#;
}
