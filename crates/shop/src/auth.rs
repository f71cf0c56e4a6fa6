//! The shop's back-office roles and their permissions (seed 001 §九: admin, operator, finance),
//! and the extractor that checks them. The account itself is the core's
//! ([`suanpan_core::auth::AuthStaff`]); its role in the shop is its grant for [`SYSTEM`].

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use suanpan_core::audit::Actor;
use suanpan_core::auth::{AuthStaff, Grants, Staff};
use suanpan_core::{AppError, CoreState};

/// The shop's name in role grants and login throttling.
pub const SYSTEM: &str = "shop";

/// Back-office roles of the shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including managing admins.
    Admin,
    /// Catalog and order fulfilment.
    Operator,
    /// Refunds, reports, exports, audit.
    Finance,
}

/// What an admin route needs. The matrix is in `docs/api.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Create/edit products, categories, stock, uploads.
    ManageCatalog,
    /// Search and read orders.
    ViewOrders,
    /// Ship, cancel orders.
    FulfilOrders,
    /// Refund orders.
    Refund,
    /// Daily reports and CSV exports.
    ViewReports,
    /// Read the audit log.
    ViewAudit,
    /// Create admins.
    ManageAdmins,
}

impl Role {
    /// Parses `admin`, `operator` or `finance`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "finance" => Some(Role::Finance),
            _ => None,
        }
    }
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Finance => "finance",
        }
    }
    /// Whether this role holds `p`.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Operator => matches!(p, ManageCatalog | ViewOrders | FulfilOrders),
            Role::Finance => matches!(p, ViewOrders | Refund | ViewReports | ViewAudit),
        }
    }
    /// The shop role of an account's grants, if it has one the shop knows.
    pub fn of(grants: &Grants) -> Option<Role> {
        grants.role_in(SYSTEM).and_then(Role::parse)
    }
}

/// An admin account as the shop's API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AdminUser {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role in the shop.
    pub role: Role,
    /// Disabled admins cannot log in or use tokens.
    pub disabled: bool,
}

impl AdminUser {
    /// The API view of `staff` with `role`.
    pub fn new(staff: &Staff, role: Role) -> AdminUser {
        AdminUser {
            id: staff.id,
            username: staff.username.clone(),
            role,
            disabled: staff.disabled,
        }
    }
}

/// A verified, enabled back-office account with a shop role. Handlers call
/// [`ShopAdmin::require`]. Errors: 401 as [`AuthStaff`]; `forbidden` (403) without a shop role.
#[derive(Clone, Debug)]
pub struct ShopAdmin {
    /// The account.
    pub admin: AdminUser,
    /// Client IP if known.
    pub ip: Option<String>,
}

impl ShopAdmin {
    /// `forbidden` (403) unless the admin's role holds `p`.
    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if self.admin.role.allows(p) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "role {} may not do this",
                self.admin.role.as_str()
            )))
        }
    }
    /// As an audit actor.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: "admin",
            id: self.admin.id.to_string(),
            name: self.admin.username.clone(),
            ip: self.ip.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ShopAdmin
where
    CoreState: FromRef<S>,
{
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let staff = AuthStaff::from_request_parts(parts, state).await?;
        let role = Role::of(&staff.grants)
            .ok_or_else(|| AppError::forbidden("this account has no role in the shop"))?;
        Ok(ShopAdmin {
            admin: AdminUser::new(&staff.staff, role),
            ip: staff.ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_matrix() {
        assert!(Role::Admin.allows(Permission::ManageAdmins));
        assert!(Role::Operator.allows(Permission::FulfilOrders));
        assert!(!Role::Operator.allows(Permission::Refund));
        assert!(Role::Finance.allows(Permission::Refund));
        assert!(!Role::Finance.allows(Permission::ManageCatalog));
        let g = Grants(vec![("*".into(), "finance".into())]);
        assert_eq!(Role::of(&g), Some(Role::Finance));
        assert_eq!(Role::of(&Grants(vec![("mr".into(), "admin".into())])), None);
    }
}
