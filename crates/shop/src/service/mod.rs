//! The shop's workflows, one file per aggregate. Each validates with [`crate::domain`], then
//! makes its whole change (order row, stock ledger movements, outbox event, audit row,
//! idempotency record) in one unit of work: a [`Db::transaction`](suanpan_core::db::Db::transaction)
//! or a unit of the core's group-commit writer. Payment providers are called only outside
//! transactions, through the payment flow.

pub mod addresses;
pub mod cart;
pub mod catalog;
pub mod exports;
pub mod orders;
pub mod payments;

pub use orders::*;
pub use payments::{PayResponse, PaymentRow, RefundRow, ShopPayments, pay_order, request_refund};
