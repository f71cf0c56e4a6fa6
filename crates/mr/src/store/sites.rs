//! Operation sites (venues) of an operator.

use sqlx::Row;
use suanpan_core::db::{Db, opt_text, text};
use suanpan_core::{AppError, sql};

/// A site's row.
#[derive(Clone, Debug)]
pub struct Site {
    /// Public id.
    pub site_id: String,
    /// Owner.
    pub operator_id: String,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Optional description.
    pub description: Option<String>,
    /// Logically deleted.
    pub is_deleted: bool,
    /// Created (ms).
    pub created_at: i64,
    /// Updated (ms).
    pub updated_at: i64,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Site, sqlx::Error> {
    Ok(Site {
        site_id: text(r, 0)?,
        operator_id: text(r, 1)?,
        name: text(r, 2)?,
        address: text(r, 3)?,
        description: opt_text(r, 4)?,
        is_deleted: r.try_get::<i64, _>(5)? != 0,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
    })
}

/// Inserts a site.
pub async fn insert(db: &Db, s: &Site) -> Result<(), AppError> {
    let d = db.dialect;
    sqlx::query(sql!(d, "INSERT INTO mr_sites (site_id, operator_id, name, address, description, is_deleted, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)"))
        .bind(&s.site_id)
        .bind(&s.operator_id)
        .bind(&s.name)
        .bind(&s.address)
        .bind(s.description.as_deref())
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// The operator's sites, oldest first; deleted ones only with `include_deleted`.
pub async fn of_operator(
    db: &Db,
    operator_id: &str,
    include_deleted: bool,
) -> Result<Vec<Site>, AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(d, "SELECT site_id, operator_id, name, address, description, is_deleted, created_at, updated_at FROM mr_sites WHERE operator_id = ? AND (is_deleted = 0 OR ? = 1) ORDER BY id"))
        .bind(operator_id)
        .bind(i64::from(include_deleted))
        .fetch_all(db.reader())
        .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Updates the fields given of the operator's live site; returns false when there is none.
pub async fn update(
    db: &Db,
    operator_id: &str,
    site_id: &str,
    name: Option<&str>,
    address: Option<&str>,
    description: Option<&str>,
    now: i64,
) -> Result<bool, AppError> {
    let d = db.dialect;
    let n = sqlx::query(sql!(d, "UPDATE mr_sites SET name = COALESCE(?, name), address = COALESCE(?, address), description = COALESCE(?, description), updated_at = ? WHERE site_id = ? AND operator_id = ? AND is_deleted = 0"))
        .bind(name)
        .bind(address)
        .bind(description)
        .bind(now)
        .bind(site_id)
        .bind(operator_id)
        .execute(db.writer())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Deletes the operator's live site logically (history keeps it); false when there is none.
pub async fn delete(db: &Db, operator_id: &str, site_id: &str, now: i64) -> Result<bool, AppError> {
    let d = db.dialect;
    let n = sqlx::query(sql!(d, "UPDATE mr_sites SET is_deleted = 1, updated_at = ? WHERE site_id = ? AND operator_id = ? AND is_deleted = 0"))
        .bind(now)
        .bind(site_id)
        .bind(operator_id)
        .execute(db.writer())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// The operator's site `site_id`, deleted or not.
pub async fn one(db: &Db, operator_id: &str, site_id: &str) -> Result<Option<Site>, AppError> {
    Ok(of_operator(db, operator_id, true)
        .await?
        .into_iter()
        .find(|s| s.site_id == site_id))
}
