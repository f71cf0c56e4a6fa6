//! The shop's domain events (seed 001 §三.2: 事件 Schema). Each is written to the outbox in the
//! transaction of the change it reports and published inside an
//! [`Envelope`](suanpan_core::outbox::Envelope). JSON Schemas: `docs/events/*.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use suanpan_core::outbox::DomainEvent;

/// A line of an order in events.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct EventLine {
    /// Product id.
    pub product_id: i64,
    /// Quantity.
    pub quantity: i64,
    /// Unit price, fen.
    pub unit_price_fen: i64,
}

/// `Order.Created`: an order was placed and its stock reserved.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct OrderCreated {
    /// Order id.
    pub order_id: i64,
    /// Order number (also the WeChat Pay `out_trade_no`).
    pub order_no: String,
    /// Shopper id.
    pub user_id: i64,
    /// Total, fen.
    pub total_fen: i64,
    /// Lines.
    pub items: Vec<EventLine>,
    /// Payment deadline, RFC 3339.
    pub expires_at: String,
}

/// `Payment.Succeeded`: WeChat Pay confirmed a payment (emitted once per payment).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PaymentSucceeded {
    /// Order id.
    pub order_id: i64,
    /// Order number.
    pub order_no: String,
    /// Our trade number.
    pub out_trade_no: String,
    /// WeChat Pay transaction id.
    pub transaction_id: String,
    /// Amount, fen.
    pub amount_fen: i64,
    /// True when the order had already been cancelled: the money is refunded automatically.
    pub late: bool,
}

/// `Order.Cancelled`: an unpaid order was cancelled and its stock released.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct OrderCancelled {
    /// Order id.
    pub order_id: i64,
    /// Order number.
    pub order_no: String,
    /// `shopper`, `admin` or `timeout`.
    pub reason: String,
}

/// `Order.Refunded`: a refund succeeded.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct OrderRefunded {
    /// Order id.
    pub order_id: i64,
    /// Order number.
    pub order_no: String,
    /// Our refund number.
    pub out_refund_no: String,
    /// This refund, fen.
    pub refund_fen: i64,
    /// All refunds of the order so far, fen.
    pub refunded_total_fen: i64,
    /// True when everything paid has been refunded.
    pub full: bool,
}

macro_rules! event {
    ($t:ty, $name:literal) => {
        impl DomainEvent for $t {
            const EVENT_TYPE: &'static str = $name;
            const AGGREGATE_TYPE: &'static str = "order";
            fn aggregate_id(&self) -> String {
                self.order_id.to_string()
            }
        }
    };
}
event!(OrderCreated, "Order.Created");
event!(PaymentSucceeded, "Payment.Succeeded");
event!(OrderCancelled, "Order.Cancelled");
event!(OrderRefunded, "Order.Refunded");

/// `(event type, JSON Schema of its envelope)` for every shop event, for `docs/events/`.
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    use suanpan_core::outbox::Envelope;
    fn one<E: DomainEvent>() -> (&'static str, serde_json::Value) {
        let mut s = serde_json::to_value(schemars::schema_for!(Envelope<E>)).unwrap_or_default();
        s["title"] = serde_json::json!(E::EVENT_TYPE);
        (E::EVENT_TYPE, s)
    }
    vec![
        one::<OrderCreated>(),
        one::<PaymentSucceeded>(),
        one::<OrderCancelled>(),
        one::<OrderRefunded>(),
    ]
}
