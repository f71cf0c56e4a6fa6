//! MR's back-office roles (contract: admin and finance consoles): `admin` manages operators,
//! applications and authorizations; `finance` reviews money. Granted with
//! `suanpan admin create NAME --password P --role admin|finance [--system mr]`.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use suanpan_core::CoreState;
use suanpan_core::auth::{AuthStaff, Grants};
use suanpan_core::error::{AppError, ErrorKind};

use crate::envelope::code;

/// A back-office role in MR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Operators, applications, authorizations, announcements.
    Admin,
    /// Dashboard, refunds, invoices, reports.
    Finance,
}

impl Role {
    /// From the grant's role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "finance" => Some(Role::Finance),
            _ => None,
        }
    }
    /// The grant's role name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Finance => "finance",
        }
    }
    /// The MR role of an account's grants.
    pub fn of(grants: &Grants) -> Option<Role> {
        grants.role_in(crate::SYSTEM).and_then(Role::parse)
    }
}

/// A signed-in back-office account with an MR role. Errors: 401 `UNAUTHORIZED` without a valid
/// token; 403 `PERMISSION_DENIED` without an MR role or with the other one ([`MrStaff::require`]).
#[derive(Clone, Debug)]
pub struct MrStaff {
    /// The account.
    pub staff: AuthStaff,
    /// Its MR role.
    pub role: Role,
}

impl MrStaff {
    /// 403 `PERMISSION_DENIED` unless the role is `r`.
    pub fn require(&self, r: Role) -> Result<(), AppError> {
        match self.role == r {
            true => Ok(()),
            false => Err(denied()),
        }
    }
}

fn denied() -> AppError {
    AppError::new(
        ErrorKind::Forbidden,
        code::PERMISSION_DENIED,
        "this account may not do this",
    )
}

impl<S: Send + Sync> FromRequestParts<S> for MrStaff
where
    CoreState: FromRef<S>,
{
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let staff = AuthStaff::from_request_parts(parts, state)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::Unauthenticated => AppError::new(e.kind, code::UNAUTHORIZED, e.message),
                _ => e,
            })?;
        let role = Role::of(&staff.grants).ok_or_else(denied)?;
        Ok(MrStaff { staff, role })
    }
}
