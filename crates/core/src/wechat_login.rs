//! Mini-program login: the `code` from `wx.login()` is exchanged for the user's openid through
//! `GET {wechat_api_base}/sns/jscode2session?appid&secret&js_code&grant_type=authorization_code`
//! (WeChat Mini Program server API, 小程序登录).

use serde::{Deserialize, Serialize};

use crate::config::{Section, lenient_string};

use crate::error::{AppError, ErrorKind};

/// Mini-program settings (flat keys, as the shop has always spelled them).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct WechatLoginSettings {
    /// Mini-program AppID.
    #[serde(deserialize_with = "lenient_string")]
    pub wechat_appid: String,
    /// Mini-program AppSecret.
    #[serde(deserialize_with = "lenient_string")]
    pub wechat_secret: String,
    /// Base of the WeChat API (`jscode2session`).
    #[serde(deserialize_with = "lenient_string")]
    pub wechat_api_base: String,
}

impl Default for WechatLoginSettings {
    fn default() -> Self {
        WechatLoginSettings {
            wechat_appid: String::new(),
            wechat_secret: String::new(),
            wechat_api_base: "https://api.weixin.qq.com".into(),
        }
    }
}

impl Section for WechatLoginSettings {
    const NAME: &'static str = "";
}

/// The client; always calls the configured base.
pub struct WechatLogin {
    http: reqwest::Client,
    base: String,
    appid: String,
    secret: String,
}

/// What `jscode2session` returns on success.
#[derive(Clone, Debug)]
pub struct Session {
    /// The user's openid under this AppID.
    pub openid: String,
    /// The unionid, when the app is bound to an Open Platform account.
    pub unionid: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    openid: Option<String>,
    unionid: Option<String>,
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

impl WechatLogin {
    /// A client for the mini-program of `s`.
    pub fn from_settings(http: reqwest::Client, s: &WechatLoginSettings) -> Self {
        WechatLogin::new(http, &s.wechat_api_base, &s.wechat_appid, &s.wechat_secret)
    }

    /// A client for `base` (e.g. `https://api.weixin.qq.com`).
    pub fn new(http: reqwest::Client, base: &str, appid: &str, secret: &str) -> Self {
        WechatLogin {
            http,
            base: base.trim_end_matches('/').to_string(),
            appid: appid.into(),
            secret: secret.into(),
        }
    }

    /// Exchanges a login code. Errors: `invalid_code` (400) for a malformed code,
    /// `wechat_code_invalid` (401) when WeChat rejects it (40029 invalid, 40163 used, 45011
    /// rate-limited), `wechat_unavailable` (502) when WeChat cannot be reached or answers garbage,
    /// `wechat_not_configured` (503) without an AppID.
    pub async fn code2session(&self, code: &str) -> Result<Session, AppError> {
        if code.is_empty() || code.len() > 128 || !code.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(AppError::invalid(
                "invalid_code",
                "code must be 1-128 visible ASCII characters",
            ));
        }
        if self.appid.is_empty() {
            return Err(AppError::new(
                ErrorKind::Unavailable,
                "wechat_not_configured",
                "WeChat AppID is not configured",
            ));
        }
        let url = format!("{}/sns/jscode2session", self.base);
        let resp = self
            .http
            .get(&url)
            .query(&[
                ("appid", self.appid.as_str()),
                ("secret", self.secret.as_str()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .map_err(|e| {
                AppError::upstream("wechat_unavailable", format!("jscode2session failed: {e}"))
            })?;
        let text = resp
            .text()
            .await
            .map_err(|e| AppError::upstream("wechat_unavailable", e.to_string()))?;
        let raw: Raw = serde_json::from_str(&text).map_err(|_| {
            AppError::upstream("wechat_unavailable", "jscode2session answered non-JSON")
        })?;
        match (raw.errcode, raw.openid) {
            (0, Some(openid)) if !openid.is_empty() && openid.len() <= 64 => Ok(Session {
                openid,
                unionid: raw.unionid,
            }),
            (40029 | 40163 | 45011 | 40226, _) => Err(AppError::new(
                ErrorKind::Unauthenticated,
                "wechat_code_invalid",
                format!("WeChat rejected the code ({}: {})", raw.errcode, raw.errmsg),
            )),
            (c, _) => Err(AppError::upstream(
                "wechat_unavailable",
                format!("jscode2session error {c}: {}", raw.errmsg),
            )),
        }
    }
}
