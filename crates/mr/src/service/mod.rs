//! MR's workflows; each is one unit of work.

pub mod authorize;
pub mod operators;
pub mod recharge;
pub mod refunds;

pub use authorize::{Charge, Charged};
