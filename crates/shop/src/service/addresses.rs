//! The shopper's address book (seed 001, 收货地址): at most 50 addresses, the first one is the
//! default.

use suanpan_core::auth::AuthUser;
use suanpan_core::{AppError, AppResult};

use crate::ShopState;
use crate::store::{self, Address};

/// The most addresses one shopper may keep.
pub const MAX_ADDRESSES: i64 = 50;

fn address_not_found() -> AppError {
    AppError::not_found("address_not_found", "no such address")
}

/// Saves `addr` (already checked by [`crate::domain::check_address`]) as a new address (`id`
/// `None`) or over address `id`. The first address becomes the default. Errors:
/// `too_many_addresses` (409), `address_not_found` (404).
pub async fn save(
    s: &ShopState,
    user: &AuthUser,
    id: Option<i64>,
    addr: &Address,
) -> AppResult<Address> {
    let d = s.core.db.dialect;
    let uid = user.user_id;
    s.core
        .db
        .transaction(addr, |tx, addr| {
            Box::pin(async move {
                let mut addr = addr.clone();
                if id.is_none() {
                    if store::address_count(tx, d, uid).await? >= MAX_ADDRESSES {
                        return Err(AppError::conflict(
                            "too_many_addresses",
                            "at most 50 addresses",
                        ));
                    }
                    if store::address(tx, d, uid, None).await?.is_none() {
                        addr.is_default = true;
                    }
                }
                addr.id = store::save_address(tx, d, uid, id, &addr)
                    .await?
                    .ok_or_else(address_not_found)?;
                Ok(addr)
            })
        })
        .await
}

/// Deletes address `id` of the shopper: `address_not_found` (404) if there is none.
pub async fn delete(s: &ShopState, user: &AuthUser, id: i64) -> AppResult<()> {
    let db = &s.core.db;
    let mut conn = db.writer().acquire().await?;
    if !store::delete_address(&mut conn, db.dialect, user.user_id, id).await? {
        return Err(address_not_found());
    }
    Ok(())
}
