//! `/v1/cart`: cart items and checkout from the cart at current prices to the default address;
//! on the database named by `SUANPAN_TEST_DATABASE_URL` (SQLite when unset).

mod common;

use common::{TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn cart_checkout_uses_current_prices_and_default_address() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p1 = app.product(&admin, 1000, 10).await;
    let p2 = app.product(&admin, 500, 10).await;
    let alice = app.shopper("alice").await;
    app.add_to_cart(&alice, p1, 2).await;
    app.add_to_cart(&alice, p1, 1).await;
    let (s, cart) = app.add_to_cart(&alice, p2, 1).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cart[0]["quantity"], 3);
    let (_, cart) = app
        .call(
            Method::PUT,
            &format!("/v1/cart/items/{p2}"),
            Some(&alice),
            Some(json!({"quantity": 4})),
        )
        .await;
    assert_eq!(cart[1]["quantity"], 4);
    let (s, a) = app.add_address(&alice, "张三").await;
    assert_eq!(
        (s, a["is_default"].as_bool()),
        (StatusCode::CREATED, Some(true))
    );
    app.update_product(&admin, p1, json!({"price_fen": 1100}))
        .await;
    let from_cart = json!({"from_cart": true});
    let (s, o) = app.place_order(&alice, from_cart.clone(), None).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["total_fen"], 3 * 1100 + 4 * 500);
    assert_eq!(o["address"]["receiver"], "张三");
    let (_, cart) = app.cart(&alice).await;
    assert_eq!(cart, json!([]));
    assert_error(
        app.place_order(&alice, from_cart, None).await,
        StatusCode::BAD_REQUEST,
        "empty_order",
    );
    let unknown_address =
        json!({"items": [{"product_id": p1, "quantity": 1}], "address_id": 99999});
    assert_error(
        app.place_order(&alice, unknown_address, None).await,
        StatusCode::NOT_FOUND,
        "address_not_found",
    );
}
