//! The shop's rules as plain functions over plain types: the order state machine, order-line
//! validation and pricing, refund limits, and the checks a payment must pass before it counts.
//! Nothing here touches the database or the network; tests call these directly.
//!
//! The state machine is documented as a table in `docs/state-machines.md`; keep them in step.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use suanpan_core::AppError;
use suanpan_core::money::{self, Fen};

/// Order status (issue #2: `pending_payment → paid → shipped → completed`,
/// `pending_payment → cancelled`, `paid → refunding → refunded`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Created, stock reserved, waiting for payment until `expires_at`.
    PendingPayment,
    /// Paid; the reservation is committed (stock left the shelf).
    Paid,
    /// Handed to the carrier.
    Shipped,
    /// Received by the shopper.
    Completed,
    /// Cancelled before payment (shopper, admin or timeout); the reservation is released.
    Cancelled,
    /// A refund is with WeChat Pay.
    Refunding,
    /// Refunded in full or in part (`refunded_fen` says how much).
    Refunded,
}

impl OrderStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunding => "refunding",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<OrderStatus> {
        Some(match s {
            "pending_payment" => OrderStatus::PendingPayment,
            "paid" => OrderStatus::Paid,
            "shipped" => OrderStatus::Shipped,
            "completed" => OrderStatus::Completed,
            "cancelled" => OrderStatus::Cancelled,
            "refunding" => OrderStatus::Refunding,
            "refunded" => OrderStatus::Refunded,
            _ => return None,
        })
    }
}

/// A payment's state (table `payments`; machine in `docs/state-machines.md`): `prepaid` when the
/// provider holds a prepay for it, `succeeded` once a verified notification or query says paid
/// (applied once), `closed` when the trade was closed unpaid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Prepay created; waiting for the shopper.
    Prepaid,
    /// Paid; applied to its order once.
    Succeeded,
    /// Closed unpaid (order cancelled or timed out).
    Closed,
}

/// A refund's state (table `refunds`): `pending` (not yet accepted by the provider),
/// `processing` (accepted, not final), then `succeeded` or `failed`, each applied once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Recorded; to be submitted (or resubmitted) to the provider.
    Pending,
    /// Accepted by the provider; waiting for its result.
    Processing,
    /// Money returned.
    Succeeded,
    /// Refused or closed by the provider; the order went back to its previous status.
    Failed,
}

macro_rules! stored_names {
    ($t:ty { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),+ }
            }
            /// Parses a stored name.
            pub fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some(<$t>::$v),)+ _ => None }
            }
        }
    };
}

stored_names!(PaymentStatus { Prepaid => "prepaid", Succeeded => "succeeded", Closed => "closed" });
stored_names!(RefundStatus { Pending => "pending", Processing => "processing", Succeeded => "succeeded", Failed => "failed" });

impl RefundStatus {
    /// True for `succeeded` and `failed`, which are final.
    pub fn is_final(self) -> bool {
        matches!(self, RefundStatus::Succeeded | RefundStatus::Failed)
    }
}

/// What can happen to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderAction {
    /// A verified payment for the full amount arrived.
    Pay,
    /// Cancel before payment (shopper, admin, timeout).
    Cancel,
    /// Admin hands the parcel to a carrier.
    Ship,
    /// Shopper confirms receipt.
    Complete,
    /// Admin starts a (full or partial) refund.
    RequestRefund,
    /// WeChat Pay reports the refund succeeded.
    RefundSucceeded,
    /// WeChat Pay reports the refund closed or abnormal: back to where the refund started.
    RefundFailed(OrderStatus),
}

impl OrderAction {
    /// Name used in errors and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            OrderAction::Pay => "pay",
            OrderAction::Cancel => "cancel",
            OrderAction::Ship => "ship",
            OrderAction::Complete => "complete",
            OrderAction::RequestRefund => "refund",
            OrderAction::RefundSucceeded => "refund_succeeded",
            OrderAction::RefundFailed(_) => "refund_failed",
        }
    }
}

/// The transition table. `Err(illegal_transition)` (409) for anything not in it.
pub fn transition(from: OrderStatus, action: OrderAction) -> Result<OrderStatus, AppError> {
    use OrderAction as A;
    use OrderStatus as S;
    let to = match (from, action) {
        (S::PendingPayment, A::Pay) => Some(S::Paid),
        (S::PendingPayment, A::Cancel) => Some(S::Cancelled),
        (S::Paid, A::Ship) => Some(S::Shipped),
        (S::Shipped, A::Complete) => Some(S::Completed),
        (S::Paid | S::Shipped | S::Completed | S::Refunded, A::RequestRefund) => Some(S::Refunding),
        (S::Refunding, A::RefundSucceeded) => Some(S::Refunded),
        (
            S::Refunding,
            A::RefundFailed(prev @ (S::Paid | S::Shipped | S::Completed | S::Refunded)),
        ) => Some(prev),
        _ => None,
    };
    to.ok_or_else(|| illegal(from, action))
}

/// The `illegal_transition` error.
pub fn illegal(from: OrderStatus, action: OrderAction) -> AppError {
    AppError::conflict(
        "illegal_transition",
        format!(
            "cannot {} an order that is {}",
            action.name(),
            from.as_str()
        ),
    )
}

/// One requested line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
pub struct LineRequest {
    /// Product id.
    pub product_id: i64,
    /// Quantity, 1 – `order_max_quantity`.
    pub quantity: i64,
}

/// Limits on order input (from config).
#[derive(Clone, Copy, Debug)]
pub struct OrderLimits {
    /// Most distinct products.
    pub max_lines: usize,
    /// Largest quantity of one product.
    pub max_quantity: i64,
}

/// Validates and normalises lines: at least one, quantities in range, the same product merged,
/// sorted by product id (the order in which stock rows are locked, so concurrent orders cannot
/// deadlock). Errors: `empty_order`, `invalid_quantity`, `too_many_lines` (400).
pub fn normalize_lines(
    lines: &[LineRequest],
    limits: OrderLimits,
) -> Result<Vec<LineRequest>, AppError> {
    if lines.is_empty() {
        return Err(AppError::invalid(
            "empty_order",
            "an order needs at least one item",
        ));
    }
    let mut merged: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for l in lines {
        if l.product_id <= 0 {
            return Err(AppError::not_found(
                "product_not_found",
                format!("product {} does not exist", l.product_id),
            ));
        }
        if l.quantity <= 0 || l.quantity > limits.max_quantity {
            return Err(AppError::invalid(
                "invalid_quantity",
                format!("quantity must be 1-{}", limits.max_quantity),
            ));
        }
        let q = merged.entry(l.product_id).or_insert(0);
        *q += l.quantity;
        if *q > limits.max_quantity {
            return Err(AppError::invalid(
                "invalid_quantity",
                format!("quantity must be 1-{}", limits.max_quantity),
            ));
        }
    }
    if merged.len() > limits.max_lines {
        return Err(AppError::invalid(
            "too_many_lines",
            format!("at most {} different products per order", limits.max_lines),
        ));
    }
    Ok(merged
        .into_iter()
        .map(|(product_id, quantity)| LineRequest {
            product_id,
            quantity,
        })
        .collect())
}

/// A product as pricing sees it.
#[derive(Clone, Debug)]
pub struct PricedProduct {
    /// Id.
    pub id: i64,
    /// Name (snapshotted into the order).
    pub name: String,
    /// First image URL or empty.
    pub image: String,
    /// Current price, fen.
    pub price_fen: Fen,
    /// Sellable.
    pub on_shelf: bool,
    /// Ledger account of its stock.
    pub stock_account: String,
}

/// A priced order line.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema, JsonSchema)]
pub struct PricedLine {
    /// Product id.
    pub product_id: i64,
    /// Product name at order time.
    pub name: String,
    /// Image URL at order time.
    pub image: String,
    /// Unit price at order time, fen.
    pub unit_price_fen: Fen,
    /// Quantity.
    pub quantity: i64,
    /// `unit_price_fen × quantity`.
    pub line_total_fen: Fen,
}

/// Prices normalised lines with the current catalog: `product_not_found` (404),
/// `product_unavailable` (409, off shelf), `amount_overflow` (400). Returns lines and total.
pub fn price(
    lines: &[LineRequest],
    products: &[PricedProduct],
) -> Result<(Vec<PricedLine>, Fen), AppError> {
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let p = products
            .iter()
            .find(|p| p.id == l.product_id)
            .ok_or_else(|| {
                AppError::not_found(
                    "product_not_found",
                    format!("product {} does not exist", l.product_id),
                )
            })?;
        if !p.on_shelf {
            return Err(AppError::conflict(
                "product_unavailable",
                format!("product {} is not on sale", p.id),
            ));
        }
        let total = money::line_total(p.price_fen, l.quantity)
            .ok_or_else(|| AppError::invalid("amount_overflow", "order amount too large"))?;
        out.push(PricedLine {
            product_id: p.id,
            name: p.name.clone(),
            image: p.image.clone(),
            unit_price_fen: p.price_fen,
            quantity: l.quantity,
            line_total_fen: total,
        });
    }
    let total = money::sum(out.iter().map(|l| l.line_total_fen))
        .ok_or_else(|| AppError::invalid("amount_overflow", "order amount too large"))?;
    Ok((out, total))
}

/// Checks a refund of `amount` against what was paid and what is already refunded or in flight:
/// `invalid_amount` (400) unless positive, `refund_exceeds_paid` (409) past the paid amount.
pub fn check_refund(amount: Fen, paid: Fen, refunded_or_pending: Fen) -> Result<(), AppError> {
    if amount <= 0 {
        return Err(AppError::invalid(
            "invalid_amount",
            "refund amount must be positive",
        ));
    }
    match refunded_or_pending.checked_add(amount) {
        Some(t) if t <= paid => Ok(()),
        _ => Err(AppError::conflict(
            "refund_exceeds_paid",
            format!(
                "refund would exceed the paid amount ({} fen left)",
                paid - refunded_or_pending
            ),
        )),
    }
}

/// What a verified `TRANSACTION.SUCCESS` must match before it counts (WeChat Pay 支付通知:
/// 商户系统对于支付结果通知的内容一定要做签名验证，并校验返回的订单金额是否与商户侧的订单金额一致).
/// Errors: `merchant_mismatch` (400) for another mchid/appid, `amount_mismatch` (400).
pub fn check_transaction(
    expected_mchid: &str,
    expected_appid: &str,
    order_total: Fen,
    mchid: &str,
    appid: &str,
    amount_total: Option<Fen>,
) -> Result<(), AppError> {
    if mchid != expected_mchid || appid != expected_appid {
        return Err(AppError::invalid(
            "merchant_mismatch",
            "notification is for another merchant or app",
        ));
    }
    if amount_total != Some(order_total) {
        return Err(AppError::invalid(
            "amount_mismatch",
            format!("paid amount {amount_total:?} does not equal the order total {order_total}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderAction as A;
    use OrderStatus as S;

    const ALL: [S; 7] = [
        S::PendingPayment,
        S::Paid,
        S::Shipped,
        S::Completed,
        S::Cancelled,
        S::Refunding,
        S::Refunded,
    ];

    #[test]
    fn transition_table_is_exactly_the_documented_one() {
        let actions = [
            A::Pay,
            A::Cancel,
            A::Ship,
            A::Complete,
            A::RequestRefund,
            A::RefundSucceeded,
            A::RefundFailed(S::Paid),
            A::RefundFailed(S::Cancelled),
        ];
        let mut legal = Vec::new();
        for s in ALL {
            for a in actions {
                if let Ok(to) = transition(s, a) {
                    legal.push((s, a, to));
                } else {
                    assert_eq!(transition(s, a).unwrap_err().code, "illegal_transition");
                }
            }
        }
        let expected = vec![
            (S::PendingPayment, A::Pay, S::Paid),
            (S::PendingPayment, A::Cancel, S::Cancelled),
            (S::Paid, A::Ship, S::Shipped),
            (S::Paid, A::RequestRefund, S::Refunding),
            (S::Shipped, A::Complete, S::Completed),
            (S::Shipped, A::RequestRefund, S::Refunding),
            (S::Completed, A::RequestRefund, S::Refunding),
            (S::Refunding, A::RefundSucceeded, S::Refunded),
            (S::Refunding, A::RefundFailed(S::Paid), S::Paid),
            (S::Refunded, A::RequestRefund, S::Refunding),
        ];
        assert_eq!(legal, expected);
    }

    #[test]
    fn cancelled_and_paid_are_terminal_for_each_other() {
        assert!(transition(S::Cancelled, A::Pay).is_err());
        assert!(transition(S::Paid, A::Cancel).is_err());
    }

    #[test]
    fn lines_are_validated_merged_and_sorted() {
        let lim = OrderLimits {
            max_lines: 2,
            max_quantity: 10,
        };
        let l = |p, q| LineRequest {
            product_id: p,
            quantity: q,
        };
        assert_eq!(
            normalize_lines(&[l(3, 1), l(1, 2), l(3, 4)], lim).unwrap(),
            vec![l(1, 2), l(3, 5)]
        );
        assert_eq!(normalize_lines(&[], lim).unwrap_err().code, "empty_order");
        assert_eq!(
            normalize_lines(&[l(1, 0)], lim).unwrap_err().code,
            "invalid_quantity"
        );
        assert_eq!(
            normalize_lines(&[l(1, -3)], lim).unwrap_err().code,
            "invalid_quantity"
        );
        assert_eq!(
            normalize_lines(&[l(1, 6), l(1, 6)], lim).unwrap_err().code,
            "invalid_quantity"
        );
        assert_eq!(
            normalize_lines(&[l(1, 1), l(2, 1), l(3, 1)], lim)
                .unwrap_err()
                .code,
            "too_many_lines"
        );
        assert_eq!(
            normalize_lines(&[l(0, 1)], lim).unwrap_err().code,
            "product_not_found"
        );
    }

    #[test]
    fn pricing_checks_shelf_and_overflow() {
        let p = |id, price, on| PricedProduct {
            id,
            name: "五常大米 5kg".into(),
            image: String::new(),
            price_fen: price,
            on_shelf: on,
            stock_account: String::new(),
        };
        let l = |p, q| LineRequest {
            product_id: p,
            quantity: q,
        };
        let (lines, total) =
            price(&[l(1, 2), l(2, 1)], &[p(1, 5990, true), p(2, 100, true)]).unwrap();
        assert_eq!(total, 12080);
        assert_eq!(lines[0].line_total_fen, 11980);
        assert_eq!(
            price(&[l(1, 1)], &[p(1, 1, false)]).unwrap_err().code,
            "product_unavailable"
        );
        assert_eq!(
            price(&[l(9, 1)], &[]).unwrap_err().code,
            "product_not_found"
        );
        assert_eq!(
            price(&[l(1, 3)], &[p(1, i64::MAX / 2, true)])
                .unwrap_err()
                .code,
            "amount_overflow"
        );
    }

    #[test]
    fn refunds_never_exceed_paid() {
        assert!(check_refund(100, 100, 0).is_ok());
        assert_eq!(
            check_refund(1, 100, 100).unwrap_err().code,
            "refund_exceeds_paid"
        );
        assert_eq!(check_refund(0, 100, 0).unwrap_err().code, "invalid_amount");
        assert_eq!(
            check_refund(i64::MAX, 100, 1).unwrap_err().code,
            "refund_exceeds_paid"
        );
    }

    #[test]
    fn payments_must_match_merchant_and_amount() {
        assert!(check_transaction("m", "a", 100, "m", "a", Some(100)).is_ok());
        assert_eq!(
            check_transaction("m", "a", 100, "m", "a", Some(99))
                .unwrap_err()
                .code,
            "amount_mismatch"
        );
        assert_eq!(
            check_transaction("m", "a", 100, "m", "a", None)
                .unwrap_err()
                .code,
            "amount_mismatch"
        );
        assert_eq!(
            check_transaction("m", "a", 100, "x", "a", Some(100))
                .unwrap_err()
                .code,
            "merchant_mismatch"
        );
        assert_eq!(
            check_transaction("m", "a", 100, "m", "x", Some(100))
                .unwrap_err()
                .code,
            "merchant_mismatch"
        );
    }
}
