//! `POST /mr/v1/auth/game/authorize` (contract `authorizeGame`; spec.md user story 2; issue #6):
//! one charge per session, the checks in their order, and exactly-once under concurrency.

mod common;

use common::{Mr, now_secs, session, signed};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn body(v: &common::Venue, players: i64) -> serde_json::Value {
    json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": players})
}

#[tokio::test]
async fn us2_1_authorized_session_charges_players_times_price_and_replays_identically() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    let ts = now_secs();
    let sid = session(&v, ts);
    let (st, first) = mr.authorize(&v, &body(&v, 4), &sid, ts, false).await;
    assert_eq!(st, StatusCode::OK, "{first}");
    let d = &first["data"];
    assert_eq!(d["total_cost"], "40.00");
    assert_eq!(d["unit_price"], "10.00");
    assert_eq!(d["balance_after"], "60.00");
    assert_eq!(d["player_count"], 4);
    assert_eq!(d["session_id"], sid.as_str());
    assert_eq!(d["authorization_token"].as_str().unwrap().len(), 36);
    let (st, again) = mr.authorize(&v, &body(&v, 4), &sid, ts, false).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        again, first,
        "a replay answers the first answer field for field"
    );
    assert_eq!(mr.balance(&v).await, "60.00", "the replay charged nothing");
    let (st, other) = mr.authorize(&v, &body(&v, 5), &sid, ts, false).await;
    assert_eq!(st, StatusCode::CONFLICT, "{other}");
    assert_eq!(other["error_code"], "SESSION_DUPLICATE");
    assert_eq!(other["data"], first["data"]);
    let (st, page) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/usage-records",
            Some(&v.token),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["total_cost"], "40.00");
    assert_eq!(page["items"][0]["site_name"], "一号店");
}

#[tokio::test]
async fn us2_2_insufficient_balance_is_402_and_changes_nothing() {
    let mr = Mr::new().await;
    let v = mr.venue(3_000).await;
    let ts = now_secs();
    let (st, e) = mr
        .authorize(&v, &body(&v, 4), &session(&v, ts), ts, false)
        .await;
    assert_eq!(st, StatusCode::PAYMENT_REQUIRED, "{e}");
    assert_eq!(e["error_code"], "INSUFFICIENT_BALANCE");
    assert_eq!(
        e["details"],
        json!({"current_balance": "30.00", "required_amount": "40.00", "shortage": "10.00"})
    );
    assert_eq!(mr.balance(&v).await, "30.00");
    let (st, ok) = mr
        .authorize(&v, &body(&v, 3), &session(&v, ts), ts, false)
        .await;
    assert_eq!(st, StatusCode::OK, "{ok}");
    assert_eq!(ok["data"]["balance_after"], "0.00");
}

#[tokio::test]
async fn a_tampered_request_is_invalid_signature_before_anything_else() {
    let mr = Mr::new().await;
    let v = mr.venue(0).await;
    let ts = now_secs();
    let sid = session(&v, ts);
    let raw = serde_json::to_vec(&body(&v, 4)).unwrap();
    let headers = signed(&v, &raw, &sid, ts, false);
    let tampered = serde_json::to_vec(&body(&v, 5)).unwrap();
    let (st, e) = mr
        .call(Method::POST, common::AUTHORIZE, &headers, Some(&tampered))
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_SIGNATURE")),
        "{e}"
    );
    let mut short = headers.clone();
    short[0].1 = "short".into();
    let (st, e) = mr
        .call(Method::POST, common::AUTHORIZE, &short, Some(&raw))
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_API_KEY"))
    );
    let mut other_key = headers.clone();
    other_key[0].1 = "k".repeat(64);
    let (st, e) = mr
        .call(Method::POST, common::AUTHORIZE, &other_key, Some(&raw))
        .await;
    assert_eq!(
        e["error_code"], "INVALID_SIGNATURE",
        "signed with another key: {st}"
    );
}

#[tokio::test]
async fn stale_timestamps_foreign_sessions_and_bad_bodies_are_refused() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    let w = mr.venue(10_000).await;
    let old = now_secs() - 301;
    let (st, e) = mr
        .authorize(&v, &body(&v, 2), &session(&v, old), old, false)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("TIMESTAMP_EXPIRED")),
        "{e}"
    );
    assert_eq!(e["details"]["max_diff_seconds"], 300);
    let ts = now_secs();
    let (st, e) = mr
        .authorize(&v, &body(&v, 2), &session(&w, ts), ts, false)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS")),
        "another operator's session: {e}"
    );
    let (st, e) = mr
        .authorize(&v, &body(&v, 2), &session(&v, ts - 1), ts, false)
        .await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "session time differs from X-Timestamp: {e}"
    );
    let (st, e) = mr
        .authorize(
            &v,
            &json!({"app_id": v.app_id}),
            &session(&v, ts),
            ts,
            false,
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS")),
        "{e}"
    );
    assert_eq!(mr.balance(&v).await, "100.00");
}

#[tokio::test]
async fn us2_3_unauthorized_app_unknown_site_and_player_range() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    let w = mr.venue(10_000).await;
    let ts = now_secs();
    let foreign_app = json!({"app_id": w.app_id, "site_id": v.site_id, "player_count": 2});
    let (st, e) = mr
        .authorize(&v, &foreign_app, &session(&v, ts), ts, false)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("APP_NOT_AUTHORIZED")),
        "{e}"
    );
    let foreign_site = json!({"app_id": v.app_id, "site_id": w.site_id, "player_count": 2});
    let (st, e) = mr
        .authorize(&v, &foreign_site, &session(&v, ts), ts, false)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("SITE_NOT_FOUND")),
        "{e}"
    );
    let (st, e) = mr
        .authorize(&v, &body(&v, 9), &session(&v, ts), ts, false)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("PLAYER_COUNT_OUT_OF_RANGE")),
        "{e}"
    );
    assert_eq!(
        e["details"],
        json!({"min_players": 1, "max_players": 8, "requested_players": 9})
    );
    assert_eq!(mr.balance(&v).await, "100.00");
}

#[tokio::test]
async fn signature_version_2_covers_the_session_id_and_can_be_required() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    let ts = now_secs();
    let (st, ok) = mr
        .authorize(&v, &body(&v, 1), &session(&v, ts), ts, true)
        .await;
    assert_eq!(st, StatusCode::OK, "{ok}");
    // A v2 signature replayed under a new session id no longer matches.
    let raw = serde_json::to_vec(&body(&v, 1)).unwrap();
    let mut h = signed(&v, &raw, &session(&v, ts), ts, true);
    h[2].1 = session(&v, ts);
    let (st, e) = mr
        .call(Method::POST, common::AUTHORIZE, &h, Some(&raw))
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_SIGNATURE"))
    );
    sqlx::query("UPDATE mr_operators SET require_signature_v2 = 1")
        .execute(mr.state.core.db.writer())
        .await
        .unwrap();
    let (st, e) = mr
        .authorize(&v, &body(&v, 1), &session(&v, ts), ts, false)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_SIGNATURE")),
        "v1 refused: {e}"
    );
}

/// Issue #6: 10,000 concurrent authorizations against a balance that covers exactly 1,000 give
/// exactly 1,000 charges and a balance of "0.00"; the ledger verifies; replaying every session
/// charges nothing more and returns the first tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_authorizations_charge_exactly_what_the_balance_covers() {
    let mr = std::sync::Arc::new(Mr::new().await);
    let v = mr.venue(1_000 * 1_000).await; // 1,000 sessions of one player at 10.00
    let ts = now_secs();
    let sessions: Vec<String> = (0..10_000).map(|_| session(&v, ts)).collect();
    let run = |sids: Vec<String>| {
        let (mr, v) = (mr.clone(), v.clone());
        async move {
            let tasks: Vec<_> = sids
                .into_iter()
                .map(|sid| {
                    let (mr, v) = (mr.clone(), v.clone());
                    tokio::spawn(async move {
                        let r = mr.authorize(&v, &body(&v, 1), &sid, ts, false).await;
                        (sid, r)
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        }
    };
    let first = run(sessions.clone()).await;
    let ok: Vec<_> = first
        .iter()
        .filter(|(_, (st, _))| *st == StatusCode::OK)
        .collect();
    let refused = first
        .iter()
        .filter(|(_, (st, e))| {
            *st == StatusCode::PAYMENT_REQUIRED && e["error_code"] == "INSUFFICIENT_BALANCE"
        })
        .count();
    assert_eq!(ok.len(), 1_000, "exactly what the balance covers");
    assert_eq!(refused, 9_000);
    assert_eq!(mr.balance(&v).await, "0.00");
    let mut afters: Vec<String> = ok
        .iter()
        .map(|(_, (_, b))| b["data"]["balance_after"].as_str().unwrap().to_string())
        .collect();
    afters.sort();
    afters.dedup();
    assert_eq!(afters.len(), 1_000, "every charge saw its own balance");
    let report = suanpan_core::ledger::verify_db(&mr.state.core.db)
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.violations);
    let charged: Vec<String> = ok.iter().map(|(sid, _)| sid.clone()).collect();
    let again = run(charged).await;
    for ((sid, (st, b)), (_, (_, first_b))) in again.iter().zip(ok.iter()) {
        assert_eq!(*st, StatusCode::OK, "{sid}");
        assert_eq!(b, first_b, "the first answer, token included");
    }
    assert_eq!(mr.balance(&v).await, "0.00");
    let usage: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mr_usage_records")
        .fetch_one(mr.state.core.db.reader())
        .await
        .unwrap();
    assert_eq!(usage, 1_000);
}

/// FR-055: at most `rate_limit_per_operator_per_min` authorization requests per operator and
/// `rate_limit_per_ip_per_min` per client address; over either, 429 `RATE_LIMIT_EXCEEDED` with
/// the contract's details. `rate_limits = off` (the other tests) turns both off.
#[tokio::test]
async fn rate_limits_per_operator_and_per_address() {
    let mr = Mr::with(|core, s| {
        core.trust_proxy_headers = true;
        s.rate_limit_per_operator_per_min = 3;
        s.rate_limit_per_ip_per_min = 5;
    })
    .await;
    let v = mr.venue(100_000).await;
    let w = mr.venue(100_000).await;
    let ts = now_secs();
    let from = |ip: &str, venue: &common::Venue| {
        let raw = serde_json::to_vec(&body(venue, 1)).unwrap();
        let mut h = signed(venue, &raw, &session(venue, ts), ts, false);
        h.push(("x-forwarded-for", ip.to_string()));
        (h, raw)
    };
    for i in 0..3 {
        let (h, raw) = from(&format!("10.0.0.{i}"), &v);
        let (st, r) = mr
            .call(Method::POST, common::AUTHORIZE, &h, Some(&raw))
            .await;
        assert_eq!(st, StatusCode::OK, "{r}");
    }
    let (h, raw) = from("10.0.0.9", &v);
    let (st, e) = mr
        .call(Method::POST, common::AUTHORIZE, &h, Some(&raw))
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("RATE_LIMIT_EXCEEDED")),
        "{e}"
    );
    assert_eq!(e["details"]["limit"], 3);
    assert_eq!(e["details"]["window_seconds"], 60);
    assert!(e["details"]["retry_after"].as_u64().unwrap() >= 1);
    assert_eq!(
        mr.balance(&v).await,
        "970.00",
        "the refused request charged nothing"
    );
    // Another operator is not limited by the first one's budget, but one address is: 5 a minute.
    for _ in 0..2 {
        let (h, raw) = from("10.9.9.9", &w);
        assert_eq!(
            mr.call(Method::POST, common::AUTHORIZE, &h, Some(&raw))
                .await
                .0,
            StatusCode::OK
        );
    }
    let (h, raw) = from("10.9.9.9", &w);
    assert_eq!(
        mr.call(Method::POST, common::AUTHORIZE, &h, Some(&raw))
            .await
            .0,
        StatusCode::OK
    );
    for _ in 0..2 {
        let (h, raw) = from("10.9.9.9", &v);
        let _ = mr
            .call(Method::POST, common::AUTHORIZE, &h, Some(&raw))
            .await;
    }
    let (h, raw) = from("10.9.9.9", &w);
    let (st, e) = mr
        .call(Method::POST, common::AUTHORIZE, &h, Some(&raw))
        .await;
    assert_eq!(
        (st, e["details"]["limit"].as_u64()),
        (StatusCode::TOO_MANY_REQUESTS, Some(5)),
        "{e}"
    );
}

/// FR-056: more than 20 failures from one address in five minutes lock the operators whose
/// valid keys failed from it (authorizations refused with 403 until an admin unlocks, who is
/// audited), and the address is refused for the window; another address is not affected.
#[tokio::test]
async fn fr056_abnormal_failures_from_one_address_lock_the_operator_until_an_admin_unlocks() {
    let mr = Mr::with(|core, s| {
        core.trust_proxy_headers = true;
        s.rate_limit_per_operator_per_min = 0;
        s.rate_limit_per_ip_per_min = 0;
    })
    .await;
    let v = mr.venue(100_000).await;
    let ts = now_secs();
    let (mr, v) = (&mr, &v);
    let send = |ip: &'static str, players: i64| {
        let raw = serde_json::to_vec(&body(v, players)).unwrap();
        let mut h = signed(v, &raw, &session(v, ts), ts, false);
        h.push(("x-forwarded-for", ip.to_string()));
        async move {
            mr.call(Method::POST, common::AUTHORIZE, &h, Some(&raw))
                .await
        }
    };
    for _ in 0..20 {
        let (st, _) = send("10.9.9.9", 0).await; // player_count 0: a 400
        assert_eq!(st, StatusCode::BAD_REQUEST);
    }
    let (st, _) = send("10.9.9.9", 0).await; // the 21st failure trips the rule
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, e) = send("10.9.9.9", 1).await;
    assert_eq!(
        st,
        StatusCode::TOO_MANY_REQUESTS,
        "the address is refused: {e}"
    );
    let (st, e) = send("10.1.1.1", 1).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "the operator is locked: {e}");
    assert_eq!(e["details"]["reason"], "account_locked");
    let (_, msgs) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/messages",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(msgs["items"][0]["title"], "账户已锁定");
    let admin = common::staff(mr, "adm", "admin", "mr").await;
    let detail = format!("/mr/v1/admin/operators/{}", v.operator_id);
    let (_, d) = mr
        .json(Method::GET, &detail, Some(&admin), Value::Null)
        .await;
    assert!(d["data"]["locked_at"].is_string(), "{d}");
    let unlock = format!("{detail}/unlock");
    let (st, _) = mr
        .json(Method::POST, &unlock, Some(&admin), Value::Null)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = mr
        .json(Method::POST, &unlock, Some(&admin), Value::Null)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "not locked any more");
    let (st, r) = send("10.1.1.2", 1).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(
        mr.balance(v).await,
        "990.00",
        "nothing was charged while locked"
    );
}

/// FR-057: every authorization request is in the audit with its result and address: the
/// charge, its replay, and a refusal.
#[tokio::test]
async fn fr057_every_authorization_request_is_audited_with_result_and_address() {
    let mr = Mr::with(|core, s| {
        core.trust_proxy_headers = true;
        s.rate_limits = "off".into();
    })
    .await;
    let v = mr.venue(1_000).await; // covers one 10.00 game
    let ts = now_secs();
    let sid = session(&v, ts);
    let send = |players: i64, sid: String| {
        let raw = serde_json::to_vec(&body(&v, players)).unwrap();
        let mut h = signed(&v, &raw, &sid, ts, false);
        h.push(("x-forwarded-for", "10.7.7.7".to_string()));
        (h, raw)
    };
    for (players, sid) in [(1, sid.clone()), (1, sid.clone()), (1, session(&v, ts))] {
        let (h, raw) = send(players, sid);
        mr.call(Method::POST, common::AUTHORIZE, &h, Some(&raw))
            .await;
    }
    mr.state.auth_log.flush().await;
    let admin = common::staff(&mr, "adm", "admin", "mr").await;
    let path = format!("/mr/v1/admin/auth-logs?operator_id={}", v.operator_id);
    let (st, page) = mr.json(Method::GET, &path, Some(&admin), Value::Null).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 3, "{page}");
    let mut results: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["result"].as_str().unwrap())
        .collect();
    results.sort();
    assert_eq!(results, ["INSUFFICIENT_BALANCE", "authorized", "replayed"]);
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["ip_address"] == "10.7.7.7" && i["app_id"] == v.app_id.as_str())
    );
}
