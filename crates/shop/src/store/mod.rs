//! The shop's storage layer, one file per aggregate: every SQL statement of the shop lives
//! here, parameterised, in the portable dialect of [`suanpan_core::db`]. Functions take a pool for reads outside a
//! transaction or a connection inside the caller's transaction.

mod addresses;
mod carts;
mod orders;
mod products;
mod reports;
mod users;

pub use addresses::*;
pub use carts::*;
pub use orders::*;
pub use products::*;
pub use reports::*;
pub use users::*;

type R<T> = Result<T, sqlx::Error>;
