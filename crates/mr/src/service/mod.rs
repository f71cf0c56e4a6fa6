//! MR's workflows; each is one unit of work.

pub mod abuse;
pub mod authorize;
pub mod invoices;
pub mod operators;
pub mod recharge;
pub mod refunds;
pub mod reports;

pub use authorize::{Charge, Charged};
