//! All of MR's SQL, one file per aggregate.

pub mod apps;
pub mod finance;
pub mod invoices;
pub mod messages;
pub mod operators;
pub mod recharges;
pub mod refunds;
pub mod requests;
pub mod sites;
pub mod stats;
pub mod tokens;
pub mod usage;
