//! `/auth/*`: game authorization (HMAC-signed, FR-009…FR-017), operator registration and login.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use suanpan_core::auth::ClientIp;
use suanpan_core::error::{AppError, ErrorKind};
use suanpan_core::http::ApiJson;
use suanpan_core::idempotency::{self, Key};
use suanpan_core::{signing, time};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::MrState;
use crate::domain::{self, SignatureVersion, yuan};
use crate::envelope::{code, invalid_field};
use crate::service::{Charge, Charged, operators};
use crate::store::apps;
use crate::store::authlog::AuthEvent;

/// The routes of this prefix.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(authorize_game))
        .routes(routes!(register_operator))
        .routes(routes!(operator_login))
        .routes(routes!(operator_logout))
        .routes(routes!(admin_login))
        .routes(routes!(finance_login))
}

/// The body of an authorization request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// The application.
    pub app_id: String,
    /// The operator's site.
    pub site_id: String,
    /// Players, 1..100.
    pub player_count: i64,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn err(kind: ErrorKind, code: &'static str, message: &str) -> AppError {
    AppError::new(kind, code, message)
}

/// Authorizes one game session and charges players × unit price, once per `X-Session-ID`.
///
/// Checks, in order: API key present and 64 characters (401 `INVALID_API_KEY`); the signature
/// with the presented key, before anything is looked up (400 `INVALID_SIGNATURE`); the key's
/// operator (401 `INVALID_API_KEY`); `X-Timestamp` within 300 s (400 `TIMESTAMP_EXPIRED`); the
/// session id's shape, operator and timestamp (400 `INVALID_PARAMS`); the body (400); a
/// completed session replays its first answer (another body: 409); the app authorization (403
/// `APP_NOT_AUTHORIZED`), the site (404 `SITE_NOT_FOUND`), the player range (400
/// `PLAYER_COUNT_OUT_OF_RANGE`), the balance (402 `INSUFFICIENT_BALANCE`, nothing changes).
#[utoipa::path(post, path = "/auth/game/authorize", tag = "auth", request_body = AuthorizeRequest,
    params(("X-Api-Key" = String, Header), ("X-Signature" = String, Header), ("X-Timestamp" = i64, Header), ("X-Session-ID" = String, Header), ("X-Signature-Version" = Option<String>, Header)),
    responses((status = 200, description = "authorized and charged"), (status = 400, description = "INVALID_SIGNATURE, TIMESTAMP_EXPIRED, PLAYER_COUNT_OUT_OF_RANGE, INVALID_PARAMS"), (status = 401, description = "INVALID_API_KEY"), (status = 402, description = "INSUFFICIENT_BALANCE"), (status = 403, description = "APP_NOT_AUTHORIZED"), (status = 404, description = "SITE_NOT_FOUND"), (status = 409, description = "the session id was used with another body")))]
pub async fn authorize_game(
    State(s): State<MrState>,
    OriginalUri(uri): OriginalUri,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let now = time::now_ms();
    let mut seen = Seen {
        ip: ip.clone(),
        ..Seen::default()
    };
    let answer = match &ip {
        Some(ip) => guarded(&s, ip, now, &uri, &headers, &body, &mut seen).await,
        None => checked(&s, uri.path(), &headers, &body, &mut seen).await,
    };
    if !seen.charged {
        let event = seen.event((&headers, &body), &answer, now);
        s.auth_log.record(event).await;
    }
    answer
}

/// [`checked`] under FR-055's address limit and FR-056's guard.
async fn guarded(
    s: &MrState,
    ip: &str,
    now: i64,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    seen: &mut Seen,
) -> Result<Response, AppError> {
    if let Some(left_ms) = s.abuse.blocked(ip, now) {
        let wait = std::time::Duration::from_millis(left_ms.unsigned_abs());
        let mut e = rate_limited(s.settings.abuse_failures_per_5min, wait);
        e.message = "this address is blocked after abnormal use (FR-056)".into();
        return Err(e);
    }
    s.limits
        .ip
        .check(ip)
        .map_err(|w| rate_limited(s.limits.ip.per_minute(), w))?;
    let answer = checked(s, uri.path(), headers, body, seen).await;
    let failed = matches!(&answer, Err(e) if matches!(e.kind.status().as_u16(), 400 | 401 | 403));
    let key_index = seen.key_index.as_deref();
    if let Some(t) = s.abuse.record(ip, key_index, seen.valid_key, failed, now)
        && let Err(e) = crate::service::abuse::lock(s, ip, &t).await
    {
        tracing::error!(error = %e, ip, "FR-056 lock failed");
    }
    answer
}

/// What one request showed: for FR-056's guard the presented key's lookup index and whether it
/// is an active operator's; for FR-057's audit the client address, the key's operator and
/// whether it charged.
#[derive(Debug, Default)]
struct Seen {
    key_index: Option<String>,
    valid_key: bool,
    ip: Option<String>,
    operator_id: Option<String>,
    charged: bool,
}

impl Seen {
    /// The audit row of an answer that charged nothing; what the request named is read again
    /// from it here, off the charging path.
    fn event(
        self,
        (headers, body): (&HeaderMap, &[u8]),
        answer: &Result<Response, AppError>,
        now: i64,
    ) -> AuthEvent {
        let cut = |s: &str, n: usize| Some(s.chars().take(n).collect::<String>());
        let named = serde_json::from_slice::<AuthorizeRequest>(body).ok();
        let (status, result) = match answer {
            Ok(r) if r.status() == StatusCode::OK => (200, "replayed".to_string()),
            Ok(r) => (
                i64::from(r.status().as_u16()),
                code::SESSION_DUPLICATE.to_string(),
            ),
            Err(e) => (
                i64::from(e.kind.status().as_u16()),
                crate::envelope::contract_code(e).to_string(),
            ),
        };
        AuthEvent {
            operator_id: self.operator_id,
            session_id: header(headers, "x-session-id").and_then(|v| cut(v, 128)),
            site_id: named.as_ref().and_then(|r| cut(&r.site_id, 64)),
            app_id: named.as_ref().and_then(|r| cut(&r.app_id, 64)),
            player_count: named.map(|r| r.player_count),
            status,
            result,
            client_ip: self.ip,
            created_at: now,
        }
    }
}

/// The checks and the charge of [`authorize_game`], in the contract's order.
async fn checked(
    s: &MrState,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    seen: &mut Seen,
) -> Result<Response, AppError> {
    let key = header(headers, "x-api-key")
        .filter(|k| k.len() == domain::API_KEY_LEN)
        .ok_or_else(|| {
            err(
                ErrorKind::Unauthenticated,
                code::INVALID_API_KEY,
                "X-Api-Key is missing or not 64 characters",
            )
        })?;
    let ts_text = header(headers, "x-timestamp").unwrap_or("");
    let session = header(headers, "x-session-id").unwrap_or("");
    let version = SignatureVersion::parse(header(headers, "x-signature-version"))
        .ok_or_else(|| invalid_field("X-Signature-Version", "1 or 2"))?;
    let message = domain::signed_message(version, ts_text, "POST", path, session, body);
    let signature = header(headers, "x-signature").unwrap_or("");
    let key_index = s.seal.index(key);
    seen.key_index = Some(key_index.clone());
    if !signing::verify_hmac_sha256_b64(key.as_bytes(), &message, signature) {
        return Err(err(
            ErrorKind::Invalid,
            code::INVALID_SIGNATURE,
            "the signature does not match",
        ));
    }
    // Parsed now, reported in the contract's order below: one read serves every check.
    let req = serde_json::from_slice::<AuthorizeRequest>(body);
    let (app_id, site_id, players) = match &req {
        Ok(r) => (r.app_id.as_str(), r.site_id.as_str(), r.player_count),
        Err(_) => ("", "", 0),
    };
    let hash = idempotency::request_hash(&[
        app_id.as_bytes(),
        site_id.as_bytes(),
        players.to_string().as_bytes(),
    ]);
    let idem = Key {
        scope: "mr_authorize".into(),
        key: session.to_string(),
        hash,
    };
    let now = time::now_ms();
    let facts = apps::authorize_facts(&s.core.db, &key_index, &idem, app_id, site_id, now)
        .await?
        .filter(|f| !f.is_deactivated)
        .ok_or_else(|| {
            err(
                ErrorKind::Unauthenticated,
                code::INVALID_API_KEY,
                "unknown API key",
            )
        })?;
    seen.valid_key = true;
    seen.operator_id = Some(facts.operator_id.clone());
    if facts.is_locked {
        return Err(err(
            ErrorKind::Forbidden,
            code::PERMISSION_DENIED,
            "the account is locked after abnormal use (FR-056); an admin must unlock it",
        )
        .with_details(json!({"reason": "account_locked"})));
    }
    let ts: i64 = ts_text
        .parse()
        .map_err(|_| invalid_field("X-Timestamp", "Unix seconds"))?;
    if !signing::within_window(ts, now / 1000, s.settings.signature_window_secs) {
        return Err(err(ErrorKind::Invalid, code::TIMESTAMP_EXPIRED, "X-Timestamp is too far from the server clock")
            .with_details(json!({"server_time": now / 1000, "request_time": ts, "max_diff_seconds": s.settings.signature_window_secs})));
    }
    s.limits
        .operator
        .check(&facts.operator_id)
        .map_err(|w| rate_limited(s.limits.operator.per_minute(), w))?;
    if facts.require_signature_v2 && version != SignatureVersion::V2 {
        return Err(err(
            ErrorKind::Invalid,
            code::INVALID_SIGNATURE,
            "this operator must sign with X-Signature-Version: 2",
        ));
    }
    match domain::parse_session_id(session) {
        Some(p) if p.operator_id == facts.operator_id && p.timestamp == ts => {}
        _ => {
            return Err(invalid_field(
                "X-Session-ID",
                "{operator_id}_{X-Timestamp}_{16 letters or digits} of this key's operator",
            ));
        }
    }
    let req = req.map_err(|e| invalid_field("body", &e.to_string()))?;
    let answer = authorize(s, facts, idem, req, now, seen.ip.clone()).await?;
    seen.charged = answer.1;
    Ok(answer.0)
}

/// 429 `RATE_LIMIT_EXCEEDED` (FR-055) with the contract's details and `Retry-After`.
fn rate_limited(limit: u32, wait: std::time::Duration) -> AppError {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    err(ErrorKind::TooManyRequests, code::RATE_LIMIT_EXCEEDED, "too many authorization requests")
        .with_details(json!({"limit": limit, "window_seconds": 60, "retry_after": secs, "retry_after_secs": secs}))
}

/// The checks on what was read, and the charge: the answer, and whether this request charged.
async fn authorize(
    s: &MrState,
    facts: apps::AuthorizeFacts,
    key: Key,
    req: AuthorizeRequest,
    now: i64,
    client_ip: Option<String>,
) -> Result<(Response, bool), AppError> {
    let (lo, hi) = domain::PLAYER_COUNT_RANGE;
    if !(lo..=hi).contains(&req.player_count) {
        return Err(invalid_field("player_count", "1-100"));
    }
    match idempotency::interpret(&key, facts.stored.clone()) {
        Ok(Some(stored)) => return Ok((json_response(StatusCode::OK, stored.body), false)),
        Ok(None) => {}
        Err(e) if e.code == "idempotency_key_reused" => {
            return Ok((duplicate(facts.stored.map(|r| r.2)), false));
        }
        Err(e) => return Err(e),
    }
    let not_authorized = || {
        err(
            ErrorKind::Forbidden,
            code::APP_NOT_AUTHORIZED,
            "the operator is not authorized for this application",
        )
    };
    let (app_name, price, min, max) = facts.app.ok_or_else(not_authorized)?;
    if !facts.authorized {
        return Err(
            not_authorized().with_details(json!({"app_id": req.app_id, "app_name": app_name}))
        );
    }
    if !facts.site_ok {
        return Err(AppError::not_found(
            code::SITE_NOT_FOUND,
            "no such site of this operator",
        ));
    }
    if !domain::players_in_range(req.player_count, min, max) {
        return Err(err(
            ErrorKind::Invalid,
            code::PLAYER_COUNT_OUT_OF_RANGE,
            "player count outside the application's range",
        )
        .with_details(
            json!({"min_players": min, "max_players": max, "requested_players": req.player_count}),
        ));
    }
    let cost = domain::authorization_cost(req.player_count, price)
        .ok_or_else(|| invalid_field("player_count", "too large"))?;
    let charge = Charge {
        key: key.clone(),
        operator_id: facts.operator_id,
        site_id: req.site_id,
        app_id: req.app_id,
        app_name,
        player_count: req.player_count,
        unit_price_fen: price,
        cost_fen: cost,
        token: uuid_v4(),
        now_ms: now,
        low_balance_fen: domain::low_balance_threshold(&facts.category),
        client_ip,
    };
    match s.charges.submit(charge).await? {
        Charged::Done(body) => Ok((json_response(StatusCode::OK, body), true)),
        Charged::Insufficient(balance) => Err(err(ErrorKind::PaymentRequired, code::INSUFFICIENT_BALANCE, "the balance does not cover this session")
            .with_details(json!({"current_balance": yuan(balance), "required_amount": yuan(cost), "shortage": yuan(cost - balance)}))),
        Charged::Taken => Ok((replay(s, &key).await?.ok_or_else(|| AppError::internal("claimed session without an answer"))?, false)),
    }
}

/// 409 for a session id reused with another body, carrying the first answer's `data`
/// (contract: `SESSION_DUPLICATE`).
fn duplicate(first: Option<String>) -> Response {
    let data = first
        .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("data").cloned());
    let body = json!({"success": false, "error_code": code::SESSION_DUPLICATE, "message": "this session id was used with another request", "data": data});
    (StatusCode::CONFLICT, axum::Json(body)).into_response()
}

/// The first answer of a session completed meanwhile (its claim was lost to a concurrent
/// request): 200 with it for the same body, 409 for another. `None` when there is none.
async fn replay(s: &MrState, key: &Key) -> Result<Option<Response>, AppError> {
    match idempotency::begin(&s.core.db, key).await {
        Ok(Some(stored)) => Ok(Some(json_response(StatusCode::OK, stored.body))),
        Ok(None) => Ok(None),
        Err(e) if e.code == "idempotency_key_reused" => Ok(Some(duplicate(
            idempotency::stored_body(&s.core.db, key).await?,
        ))),
        Err(e) => Err(e),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A random UUID version 4 (RFC 9562).
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Registration body (contract `registerOperator`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    /// `^[a-zA-Z0-9_]{3,20}$`.
    pub username: String,
    /// 8..32, upper, lower and digit.
    pub password: String,
    /// 2..50 characters.
    pub name: String,
    /// `^1[3-9]\d{9}$`.
    pub phone: String,
    /// E-mail.
    pub email: String,
}

/// Registers an operator (category `trial`, balance `"0.00"`); the API key is shown once.
/// Errors: 400 `USERNAME_EXISTS`, 400 `INVALID_PARAMS` (`details.field`).
#[utoipa::path(post, path = "/auth/operators/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, description = "registered"), (status = 400, description = "USERNAME_EXISTS, INVALID_PARAMS")))]
pub async fn register_operator(
    State(s): State<MrState>,
    ApiJson(r): ApiJson<RegisterRequest>,
) -> Result<Response, AppError> {
    let reg = operators::Registration {
        username: r.username,
        password: r.password,
        name: r.name,
        phone: r.phone,
        email: r.email,
        category: crate::domain::Category::Trial,
    };
    let (op, key) = operators::register(&s, reg).await?;
    Ok(crate::http::success(
        StatusCode::CREATED,
        json!({
            "operator_id": op.operator_id,
            "username": op.username,
            "api_key": key,
            "category": op.category,
            "balance": "0.00",
            "created_at": crate::http::rfc3339_ms(op.created_at),
        }),
    ))
}

/// Login body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// Username.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
}

/// Operator login: a bearer token. Errors: 401 `UNAUTHORIZED`, 403 `ACCOUNT_DEACTIVATED`, 429
/// when throttled.
#[utoipa::path(post, path = "/auth/operators/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "token"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "ACCOUNT_DEACTIVATED")))]
pub async fn operator_login(
    State(s): State<MrState>,
    ClientIp(ip): ClientIp,
    ApiJson(r): ApiJson<LoginRequest>,
) -> Result<Response, AppError> {
    s.core
        .throttle
        .check("mr_operator", &r.username, ip.as_deref())?;
    let op = match operators::login(&s, &r.username, &r.password).await {
        Ok(op) => op,
        Err(e) => {
            suanpan_core::auth::audit_login_failure(&s.core.db, "mr_operator", &r.username, ip)
                .await;
            return Err(e);
        }
    };
    let token = s.core.tokens.access(
        &op.operator_id,
        crate::http::OPERATOR_TOKEN,
        Some("operator"),
    )?;
    Ok(crate::http::success(
        StatusCode::OK,
        json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": s.core.config.access_token_ttl_secs,
            "operator": {"operator_id": op.operator_id, "username": op.username, "name": op.name, "category": op.category},
        }),
    ))
}

/// Logs the operator out: the bearer token is revoked until it would have expired (contract
/// `operatorLogout`: 注销当前JWT Token（加入黑名单）). Errors: 401.
#[utoipa::path(post, path = "/auth/operators/logout", tag = "auth", responses((status = 200, description = "logged out"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn operator_logout(
    State(s): State<MrState>,
    crate::http::AuthOperator(_op): crate::http::AuthOperator,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let token = suanpan_core::auth::bearer_of(&headers)?;
    let claims = s
        .core
        .tokens
        .verify(token, crate::http::OPERATOR_TOKEN, "access")?;
    let hash = crate::store::tokens::token_hash(token);
    crate::store::tokens::revoke(&s.core.db, &hash, claims.exp * 1000, time::now_ms()).await?;
    Ok(axum::Json(json!({"success": true, "message": "已退出登录"})).into_response())
}

/// Back-office login of `role` (admin or finance): core password check with the login
/// throttle; a token of kind `admin` valid for the account's MR role.
async fn staff_login(
    s: &MrState,
    r: LoginRequest,
    role: crate::auth::Role,
    ip: Option<String>,
) -> Result<(String, suanpan_core::auth::Staff), AppError> {
    s.core
        .throttle
        .check(crate::SYSTEM, &r.username, ip.as_deref())?;
    let unauthorized = || {
        AppError::new(
            ErrorKind::Unauthenticated,
            code::UNAUTHORIZED,
            "wrong username or password",
        )
    };
    let checked = suanpan_core::auth::login_staff(&s.core.db, &r.username, &r.password).await;
    let (staff, _) = match checked {
        Ok(x) if crate::auth::Role::of(&x.1) == Some(role) => x,
        Ok(_)
        | Err(AppError {
            kind: ErrorKind::Unauthenticated,
            ..
        }) => {
            suanpan_core::auth::audit_login_failure(&s.core.db, crate::SYSTEM, &r.username, ip)
                .await;
            return Err(unauthorized());
        }
        Err(e) => return Err(e),
    };
    let token = s
        .core
        .tokens
        .access(&staff.id.to_string(), "admin", Some(role.as_str()))?;
    Ok((token, staff))
}

/// Admin login (contract `adminLogin`). Errors: 401 `UNAUTHORIZED` (also for an account
/// without the MR admin role).
#[utoipa::path(post, path = "/auth/admin/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "token"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn admin_login(
    State(s): State<MrState>,
    ClientIp(ip): ClientIp,
    ApiJson(r): ApiJson<LoginRequest>,
) -> Result<Response, AppError> {
    staff_answer(&s, r, crate::auth::Role::Admin, ip).await
}

/// Finance login (contract `financeLogin`). Errors: 401 `UNAUTHORIZED`.
#[utoipa::path(post, path = "/auth/finance/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "token"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn finance_login(
    State(s): State<MrState>,
    ClientIp(ip): ClientIp,
    ApiJson(r): ApiJson<LoginRequest>,
) -> Result<Response, AppError> {
    staff_answer(&s, r, crate::auth::Role::Finance, ip).await
}

/// The login answer of `role`: the token and the account under `admin` (with `admin_id`) or
/// `finance` (with `finance_id` and the contract's finance role, `specialist` for now).
async fn staff_answer(
    s: &MrState,
    r: LoginRequest,
    role: crate::auth::Role,
    ip: Option<String>,
) -> Result<Response, AppError> {
    let (token, staff) = staff_login(s, r, role, ip).await?;
    let name = role.as_str();
    let mut who = json!({format!("{name}_id"): staff.id.to_string(), "username": staff.username, "name": staff.username});
    if role == crate::auth::Role::Finance {
        who["role"] = json!("specialist");
    }
    Ok(crate::http::success(
        StatusCode::OK,
        json!({"access_token": token, "token_type": "Bearer", "expires_in": s.core.config.access_token_ttl_secs, name: who}),
    ))
}
