//! `/v1/orders`: the shopper's orders and their payment.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use suanpan_core::auth::AuthUser;
use suanpan_core::error::ErrorBody;
use suanpan_core::http::{ApiJson, ApiPath, ApiQuery, Page, PageParams};
use suanpan_core::{AppError, AppResult};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::domain::{LineRequest, OrderStatus};
use crate::http::idem;
use crate::service::{self, CreateOrder, OrderView, PayResponse};
use crate::store::OrderFilter;

/// `POST /v1/orders` body: explicit `items`, or `from_cart: true`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct CreateOrderRequest {
    /// Lines to order.
    #[serde(default)]
    pub items: Vec<LineRequest>,
    /// Order the whole cart instead (and remove those lines from it).
    #[serde(default)]
    pub from_cart: bool,
    /// Shipping address id; the default address if absent.
    pub address_id: Option<i64>,
    /// Remark for the seller, ≤ 200 characters.
    #[serde(default)]
    pub remark: String,
}

/// Places an order and reserves its stock. With an `Idempotency-Key` header, repeating the
/// request (same key, same body) returns the first answer and creates nothing; the same key
/// with another body is `idempotency_key_reused` (422).
#[utoipa::path(post, path = "/v1/orders", tag = "orders", security(("bearer" = [])), request_body = CreateOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1-255 visible ASCII characters; kept 24 h")),
    responses((status = 201, body = OrderView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "insufficient_stock, product_unavailable"), (status = 422, body = ErrorBody)))]
pub async fn create_order(
    State(s): State<ShopState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateOrderRequest>,
) -> AppResult<Response> {
    if req.from_cart && !req.items.is_empty() {
        return Err(AppError::invalid(
            "invalid_body",
            "give items or from_cart, not both",
        ));
    }
    let idem = idem(&headers, format!("orders:user:{}", user.user_id), &req)?;
    let out = service::create_order(
        &s,
        &user,
        CreateOrder {
            items: req.items,
            from_cart: req.from_cart,
            address_id: req.address_id,
            remark: req.remark,
        },
        idem,
    )
    .await?;
    Ok(out.into_response())
}

/// "My orders" filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyOrdersQuery {
    /// Only this status.
    pub status: Option<OrderStatus>,
    /// Page.
    pub page: Option<i64>,
    /// Page size.
    pub page_size: Option<i64>,
}

/// The shopper's orders, newest first.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", security(("bearer" = [])), params(MyOrdersQuery),
    responses((status = 200, body = inline(Page<OrderView>))))]
pub async fn my_orders(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<MyOrdersQuery>,
) -> AppResult<ApiJson<Page<OrderView>>> {
    let f = OrderFilter {
        user_id: Some(user.user_id),
        status: q.status,
        ..Default::default()
    };
    let page = PageParams {
        page: q.page,
        page_size: q.page_size,
    };
    Ok(ApiJson(service::order_page(&s, &f, page).await?))
}

/// One of the shopper's orders.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody)))]
pub async fn get_order(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<ApiJson<OrderView>> {
    Ok(ApiJson(
        service::get_order(&s, id, Some(user.user_id)).await?,
    ))
}

/// Cancels an unpaid order (releases its stock).
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_order(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<ApiJson<OrderView>> {
    Ok(ApiJson(
        service::cancel_order(&s, id, Some(user.user_id), &user.actor(), "shopper").await?,
    ))
}

/// Confirms receipt of a shipped order.
#[utoipa::path(post, path = "/v1/orders/{id}/confirm", tag = "orders", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn confirm_order(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<ApiJson<OrderView>> {
    Ok(ApiJson(service::confirm_order(&s, id, &user).await?))
}

/// Starts WeChat Pay for an unpaid order: returns the `wx.requestPayment` parameters. Calling
/// it again reuses the prepay while it is valid.
#[utoipa::path(post, path = "/v1/orders/{id}/pay", tag = "orders", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = PayResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn pay_order(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<ApiJson<PayResponse>> {
    Ok(ApiJson(service::pay_order(&s, &user, id).await?))
}

/// `/v1/orders` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(create_order, my_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(confirm_order))
        .routes(routes!(pay_order))
}
