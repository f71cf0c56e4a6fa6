//! `/v1/admin/orders`: search, detail, cancel, ship, refund, CSV export.

use crate::auth::{Permission, ShopAdmin};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use suanpan_core::AppResult;
use suanpan_core::error::ErrorBody;
use suanpan_core::http::{ApiJson, ApiPath, ApiQuery, Page, PageParams};
use suanpan_core::time::china_day_range;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::domain::OrderStatus;
use crate::http::idem;
use crate::service::exports;
use crate::service::{self, OrderView};
use crate::service::{PaymentRow, RefundRow};
use crate::store::OrderFilter;

/// Admin order filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// Status.
    pub status: Option<OrderStatus>,
    /// Exact order number.
    pub order_no: Option<String>,
    /// Shopper id.
    pub user_id: Option<i64>,
    /// Created on or after this day (`YYYY-MM-DD`, UTC+08:00).
    pub from: Option<chrono::NaiveDate>,
    /// Created on or before this day (`YYYY-MM-DD`, UTC+08:00).
    pub to: Option<chrono::NaiveDate>,
    /// Page.
    pub page: Option<i64>,
    /// Page size.
    pub page_size: Option<i64>,
}

impl OrderQuery {
    fn filter(&self) -> OrderFilter {
        OrderFilter {
            user_id: self.user_id,
            status: self.status,
            order_no: self.order_no.clone(),
            from: self.from.map(|d| china_day_range(d).0),
            to: self.to.map(|d| china_day_range(d).1),
        }
    }
}

/// Searches orders, newest first.
#[utoipa::path(get, path = "/v1/admin/orders", tag = "admin", security(("bearer" = [])), params(OrderQuery),
    responses((status = 200, body = inline(Page<OrderView>)), (status = 403, body = ErrorBody)))]
pub async fn search(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiQuery(q): ApiQuery<OrderQuery>,
) -> AppResult<ApiJson<Page<OrderView>>> {
    admin.require(Permission::ViewOrders)?;
    let page = PageParams {
        page: q.page,
        page_size: q.page_size,
    };
    Ok(ApiJson(service::order_page(&s, &q.filter(), page).await?))
}

/// Order detail for admins: the order, its payment and its refunds.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminOrderDetail {
    /// The order.
    #[serde(flatten)]
    pub order: OrderView,
    /// Its payment, once started.
    pub payment: Option<PaymentRow>,
    /// Its refunds.
    pub refunds: Vec<RefundRow>,
}

/// One order with payment and refunds.
#[utoipa::path(get, path = "/v1/admin/orders/{id}", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = AdminOrderDetail), (status = 404, body = ErrorBody)))]
pub async fn detail(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<ApiJson<AdminOrderDetail>> {
    admin.require(Permission::ViewOrders)?;
    let order = service::get_order(&s, id, None).await?;
    let (payment, refunds) = service::payments::payment_of(&s, id).await?;
    Ok(ApiJson(AdminOrderDetail {
        order,
        payment,
        refunds,
    }))
}

/// Cancels an unpaid order. Audited.
#[utoipa::path(post, path = "/v1/admin/orders/{id}/cancel", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<ApiJson<OrderView>> {
    admin.require(Permission::FulfilOrders)?;
    Ok(ApiJson(
        service::cancel_order(&s, id, None, &admin.actor(), "admin").await?,
    ))
}

/// `POST /v1/admin/orders/{id}/ship` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ShipRequest {
    /// Carrier, e.g. `顺丰速运`.
    pub carrier: String,
    /// Tracking number.
    pub tracking_no: String,
}

/// Marks a paid order shipped. Audited.
#[utoipa::path(post, path = "/v1/admin/orders/{id}/ship", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = ShipRequest,
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn ship(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<ShipRequest>,
) -> AppResult<ApiJson<OrderView>> {
    admin.require(Permission::FulfilOrders)?;
    Ok(ApiJson(
        service::ship_order(&s, id, &admin.actor(), &r.carrier, &r.tracking_no).await?,
    ))
}

/// `POST /v1/admin/orders/{id}/refunds` body.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct RefundRequestBody {
    /// Amount in fen; everything not yet refunded if absent.
    pub amount_fen: Option<i64>,
    /// Reason shown to the payer, 1–80 characters.
    pub reason: String,
}

/// Refunds a paid order in full or in part through WeChat Pay. Audited. Honours
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/admin/orders/{id}/refunds", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = RefundRequestBody,
    responses((status = 201, body = RefundRow), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "illegal_transition, refund_exceeds_paid")))]
pub async fn refund(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<RefundRequestBody>,
) -> AppResult<Response> {
    admin.require(Permission::Refund)?;
    let idem = idem(&headers, format!("refunds:order:{id}"), &r)?;
    Ok(
        service::request_refund(&s, id, r.amount_fen, &r.reason, &admin.actor(), idem)
            .await?
            .into_response(),
    )
}

/// Exports orders as CSV, streamed page by page: UTF-8 with a byte-order mark so that Excel
/// opens the Chinese text correctly; amounts in yuan with two decimals; times in UTC+08:00.
#[utoipa::path(get, path = "/v1/admin/orders/export.csv", tag = "admin", security(("bearer" = [])), params(OrderQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody)))]
pub async fn export_csv(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiQuery(q): ApiQuery<OrderQuery>,
) -> AppResult<Response> {
    admin.require(Permission::ViewReports)?;
    let chunks = exports::order_csv(s.core.db.clone(), q.filter()).await?;
    let name = format!(
        "orders-{}.csv",
        suanpan_core::time::china_today().format("%Y%m%d")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

/// `/v1/admin/orders` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(export_csv))
        .routes(routes!(detail))
        .routes(routes!(cancel))
        .routes(routes!(ship))
        .routes(routes!(refund))
}
