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

pub use suanpan_payments::flow::{PaymentStatus, RefundStatus};

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

/// The back office's product rules (seed 001, 商品管理): name 1–200 characters
/// (`invalid_name`), price 1 – 10,000,000,000 fen (`invalid_price`), description at most 5,000
/// characters (`invalid_description`), at most 9 image URLs of 1–500 characters
/// (`invalid_images`); all 400.
pub fn check_product(
    name: &str,
    price_fen: Fen,
    description: &str,
    images: &[String],
) -> Result<(), AppError> {
    let n = name.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(AppError::invalid(
            "invalid_name",
            "name must be 1-200 characters",
        ));
    }
    if price_fen <= 0 || price_fen > 10_000_000_000 {
        return Err(AppError::invalid(
            "invalid_price",
            "price_fen must be 1-10000000000",
        ));
    }
    if description.chars().count() > 5000 {
        return Err(AppError::invalid(
            "invalid_description",
            "description must be at most 5000 characters",
        ));
    }
    if images.len() > 9 || images.iter().any(|u| u.is_empty() || u.len() > 500) {
        return Err(AppError::invalid(
            "invalid_images",
            "at most 9 image URLs of at most 500 characters",
        ));
    }
    Ok(())
}

/// The largest stock on hand a product may have, and the largest single adjustment.
pub const MAX_STOCK: i64 = 1_000_000_000;

/// A stock level (initial stock, a count) must be 0 – [`MAX_STOCK`]: else `invalid_stock` (400).
pub fn check_stock_level(stock: i64) -> Result<(), AppError> {
    if (0..=MAX_STOCK).contains(&stock) {
        Ok(())
    } else {
        Err(AppError::invalid(
            "invalid_stock",
            "stock must be 0-1000000000",
        ))
    }
}

/// A stock adjustment: change on hand by `Delta` (receipt > 0, write-off < 0) or set it to
/// `OnHand` (a stock count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StockChange {
    /// Change on hand by this, non-zero, |x| ≤ [`MAX_STOCK`].
    Delta(i64),
    /// Set on hand to this, 0 – [`MAX_STOCK`].
    OnHand(i64),
}

/// The ledger movement of a stock adjustment given on hand now: a non-zero `Delta` of at most
/// [`MAX_STOCK`] either way, or the difference to an `OnHand` count of 0 – [`MAX_STOCK`] (which
/// may be 0: a count that matches moves nothing). Else `invalid_stock` (400).
pub fn stock_delta(change: StockChange, on_hand: i64) -> Result<i64, AppError> {
    match change {
        StockChange::Delta(x) if x != 0 && x.abs() <= MAX_STOCK => Ok(x),
        StockChange::OnHand(h) if (0..=MAX_STOCK).contains(&h) => Ok(h - on_hand),
        _ => Err(AppError::invalid(
            "invalid_stock",
            "give exactly one of delta (non-zero) or on_hand (0-1000000000)",
        )),
    }
}

/// A category name: 1–64 characters after trimming, else `invalid_name` (400).
pub fn check_category_name(name: &str) -> Result<(), AppError> {
    let n = name.trim().chars().count();
    if n == 0 || n > 64 {
        return Err(AppError::invalid(
            "invalid_name",
            "name must be 1-64 characters",
        ));
    }
    Ok(())
}

/// An address as the shop keeps it (seed 001, 收货地址): receiver, province, city and district
/// 1–32 characters and detail 1–120 after trimming; phone 7–20 digits or `-` (a mobile number
/// or a landline with area code). Returns the trimmed address, or `invalid_address` (400).
pub fn check_address(a: &crate::store::Address) -> Result<crate::store::Address, AppError> {
    let bad = |m: &str| AppError::invalid("invalid_address", m.to_string());
    let len = |s: &str, max: usize| !s.trim().is_empty() && s.trim().chars().count() <= max;
    if !len(&a.receiver, 32)
        || !len(&a.province, 32)
        || !len(&a.city, 32)
        || !len(&a.district, 32)
        || !len(&a.detail, 120)
    {
        return Err(bad(
            "receiver, province, city, district and detail are required and short",
        ));
    }
    let p = a.phone.trim();
    if p.len() < 7 || p.len() > 20 || !p.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Err(bad("phone must be 7-20 digits or '-'"));
    }
    Ok(crate::store::Address {
        id: a.id,
        receiver: a.receiver.trim().into(),
        phone: p.into(),
        province: a.province.trim().into(),
        city: a.city.trim().into(),
        district: a.district.trim().into(),
        detail: a.detail.trim().into(),
        is_default: a.is_default,
    })
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
    fn product_rules_name_each_bad_field() {
        let ok = check_product("米", 1, "", &[]);
        assert!(ok.is_ok());
        let code = |r: Result<(), AppError>| r.err().map(|e| e.code);
        assert_eq!(
            code(check_product("  ", 100, "", &[])),
            Some("invalid_name")
        );
        assert_eq!(
            code(check_product(&"x".repeat(201), 100, "", &[])),
            Some("invalid_name")
        );
        assert_eq!(code(check_product("a", 0, "", &[])), Some("invalid_price"));
        assert_eq!(
            code(check_product("a", 10_000_000_001, "", &[])),
            Some("invalid_price")
        );
        assert_eq!(
            code(check_product("a", 1, &"字".repeat(5001), &[])),
            Some("invalid_description")
        );
        let ten = vec!["u".to_string(); 10];
        assert_eq!(
            code(check_product("a", 1, "", &ten)),
            Some("invalid_images")
        );
        assert_eq!(
            code(check_product("a", 1, "", &[String::new()])),
            Some("invalid_images")
        );
    }

    #[test]
    fn stock_changes_are_bounded_and_counts_give_the_difference() {
        assert_eq!(stock_delta(StockChange::Delta(-5), 10).ok(), Some(-5));
        assert_eq!(stock_delta(StockChange::OnHand(3), 10).ok(), Some(-7));
        assert_eq!(stock_delta(StockChange::OnHand(10), 10).ok(), Some(0));
        for bad in [
            StockChange::Delta(0),
            StockChange::Delta(MAX_STOCK + 1),
            StockChange::OnHand(-1),
        ] {
            assert_eq!(
                stock_delta(bad, 0).err().map(|e| e.code),
                Some("invalid_stock")
            );
        }
        assert!(check_stock_level(MAX_STOCK).is_ok());
        assert!(check_stock_level(-1).is_err());
        assert!(check_category_name(" 杂粮 ").is_ok());
        assert!(check_category_name(&"类".repeat(65)).is_err());
    }
}
