//! All of MR's SQL, one file per aggregate.

pub mod apps;
pub mod messages;
pub mod operators;
pub mod requests;
pub mod sites;
pub mod stats;
pub mod usage;
