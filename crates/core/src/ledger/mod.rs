//! The double-entry ledger: one core for every quantity in Suanpan that must be conserved —
//! shop stock now; prepaid money, points and ticket quotas next. `docs/ledger.md` has the whole
//! design; this is its summary.
//!
//! - An **account** (`VARCHAR(100)`, e.g. `product:42`, `prepaid:user:7`) has a **unit**
//!   (`pcs`, `fen`, …), a flag `non_negative` (may not go below zero; clearing accounts such as
//!   `stock:receipts` may), a posted `balance`, and the sums of its open holds: `pending_out`
//!   (held on it as debit side) and `pending_in` (coming to it). `available = balance −
//!   pending_out`; a non-negative account keeps `available ≥ 0` under any concurrency, on all
//!   three databases (guarded `UPDATE … WHERE`, with a `CHECK` constraint as the last defence).
//! - A **transfer** moves a positive integer `amount` from a debit account to a credit account
//!   of the same unit, so the sum of balances of a unit never changes (it is zero: every unit
//!   starts from nothing and quantities enter through a clearing account).
//!   [`Op::Transfer`] posts at once. [`Op::Hold`] creates a **pending** transfer: `pending_out`
//!   of the debit side and `pending_in` of the credit side grow by the amount. A hold is closed
//!   exactly once, by [`Op::Capture`] (posts `q ≤ amount` and releases the rest — one capture
//!   closes the hold, as TigerBeetle's post-pending does), [`Op::Void`] (releases all) or
//!   [`Op::Expire`] (releases a hold whose `expires_at` has passed; [`expire_due`] sweeps them).
//! - A transfer's `id` is its **idempotency key**: applying the same operation twice applies it
//!   once ([`Applied::Already`]); the same id with other fields is [`LedgerError::IdConflict`].
//!
//! The rules are plain functions: [`Model::apply`] on plain [`Account`]s and [`Transfer`]s.
//! The SQL in [`push`] mirrors them with guards, and when a guard fails [`resolve`] loads the
//! rows involved into a [`Model`] and asks the same rules for the error, so the two cannot
//! disagree about what went wrong. `tests/ledger_model.rs` runs random operations against both
//! and compares every balance. [`verify()`] checks every invariant of a database.
//!
//! Writes join the caller's unit of work: [`push`] adds an operation's statements to a
//! [`Batch`](crate::db::Batch) that also carries the caller's own writes (one transaction, one
//! round trip on SQLite); [`execute`] is the same code path for one operation inside a savepoint.

mod model;
mod store;
mod verify;

pub use model::Model;
pub use store::{
    Pushed, STOCK_RECEIPTS, STOCK_UNIT, account, accounts, close_ref, execute, expire_due,
    insufficient, open_stock_account, push, resolve, sold_account, transfer, transfers_of_ref,
};
pub use verify::{VerifyReport, Violation, verify, verify_db};

use serde::Serialize;

use crate::error::{AppError, ErrorKind};

/// An account as stored in `ledger_accounts`. Amounts are integers in the account's unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The key, at most 100 characters (`product:42`, `stock:receipts`).
    pub account: String,
    /// The unit, at most 16 characters (`pcs`, `fen`); transfers never mix units.
    pub unit: String,
    /// True when `balance − pending_out` may not go below zero.
    pub non_negative: bool,
    /// Posted balance: Σ posted credits − Σ posted debits.
    pub balance: i64,
    /// Σ amounts of open holds that debit this account.
    pub pending_out: i64,
    /// Σ amounts of open holds that credit this account.
    pub pending_in: i64,
}

impl Account {
    /// A new, empty account.
    pub fn new(account: &str, unit: &str, non_negative: bool) -> Account {
        Account {
            account: account.to_string(),
            unit: unit.to_string(),
            non_negative,
            balance: 0,
            pending_out: 0,
            pending_in: 0,
        }
    }

    /// `balance − pending_out`: what the account can still give (stock: on hand − reserved).
    pub fn available(&self) -> i64 {
        self.balance - self.pending_out
    }
}

/// What a row of `ledger_transfers` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Posted at once ([`Op::Transfer`]).
    Posted,
    /// A hold ([`Op::Hold`]); its `status` says whether it is still open.
    Pending,
    /// Closes a hold, posting `amount` ([`Op::Capture`]).
    Capture,
    /// Closes a hold, releasing it ([`Op::Void`]).
    Void,
    /// Closes a due hold, releasing it ([`Op::Expire`]).
    Expire,
}

/// The state of a pending transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Open: its amount counts in `pending_out` / `pending_in`.
    Pending,
    /// Captured (fully or partly).
    Posted,
    /// Voided.
    Voided,
    /// Expired.
    Expired,
}

macro_rules! names {
    ($t:ty, $($v:ident = $s:literal),+) => {
        impl $t {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            /// Parses a stored name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }
    };
}
names!(
    Kind,
    Posted = "posted",
    Pending = "pending",
    Capture = "capture",
    Void = "void",
    Expire = "expire"
);
names!(
    Status,
    Pending = "pending",
    Posted = "posted",
    Voided = "voided",
    Expired = "expired"
);

/// A row of `ledger_transfers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transfer {
    /// The idempotency key, at most 100 characters.
    pub id: String,
    /// What it is.
    pub kind: Kind,
    /// The account the amount leaves (for closers: the hold's debit account).
    pub debit: String,
    /// The account the amount reaches (for closers: the hold's credit account).
    pub credit: String,
    /// Unit of both accounts.
    pub unit: String,
    /// Positive: moved (posted, capture), held (pending) or released (void, expire).
    pub amount: i64,
    /// For capture, void and expire: the hold it closes.
    pub pending_id: Option<String>,
    /// For pending transfers: open or how it closed.
    pub status: Option<Status>,
    /// For a captured hold: the amount posted.
    pub captured: Option<i64>,
    /// For holds: when [`expire_due`] may release it (Unix ms).
    pub expires_at: Option<i64>,
    /// The business reference (`order:7`), for [`transfers_of_ref`]; closers copy the hold's.
    pub reference: String,
}

/// One ledger operation; [`Model::apply`] gives its rules, [`push`] its SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Opens an account (empty). Idempotent on `account`.
    Open {
        /// Key.
        account: String,
        /// Unit.
        unit: String,
        /// May not go below zero.
        non_negative: bool,
    },
    /// Posts `amount` from `debit` to `credit` now.
    Transfer {
        /// Idempotency key.
        id: String,
        /// From.
        debit: String,
        /// To.
        credit: String,
        /// Unit of both accounts.
        unit: String,
        /// Positive.
        amount: i64,
        /// Business reference.
        reference: String,
    },
    /// Holds `amount` of `debit` for `credit` until captured, voided or expired.
    Hold {
        /// Idempotency key, and the id closers refer to.
        id: String,
        /// From.
        debit: String,
        /// To.
        credit: String,
        /// Unit of both accounts.
        unit: String,
        /// Positive.
        amount: i64,
        /// When it may expire (Unix ms); `None`: never.
        expires_at: Option<i64>,
        /// Business reference.
        reference: String,
    },
    /// Posts `amount ≤` the hold's amount and releases the rest; closes the hold.
    Capture {
        /// Idempotency key.
        id: String,
        /// The hold.
        pending_id: String,
        /// Positive, at most the hold's amount.
        amount: i64,
    },
    /// Releases a hold.
    Void {
        /// Idempotency key.
        id: String,
        /// The hold.
        pending_id: String,
    },
    /// Releases a hold whose `expires_at ≤ now`.
    Expire {
        /// Idempotency key.
        id: String,
        /// The hold.
        pending_id: String,
        /// The clock (Unix ms).
        now: i64,
    },
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// This call applied it.
    Now,
    /// It had been applied before (same id, same fields); nothing changed.
    Already,
}

/// Why an operation was refused. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Amounts must be positive; ids and account keys non-empty and at most 100 characters,
    /// units at most 16.
    #[error("invalid ledger operation: {0}")]
    Invalid(&'static str),
    /// A transfer's debit and credit account are the same.
    #[error("transfer from {0} to itself")]
    SameAccount(String),
    /// No such account.
    #[error("unknown ledger account {0}")]
    UnknownAccount(String),
    /// The account's unit is not the transfer's.
    #[error("account {account} counts {found}, not {expected}")]
    UnitMismatch {
        /// The account.
        account: String,
        /// The transfer's unit.
        expected: String,
        /// The account's unit.
        found: String,
    },
    /// A non-negative account has not enough available.
    #[error("insufficient {unit} on {account}: {available} available, {requested} requested")]
    Insufficient {
        /// The account.
        account: String,
        /// Its unit: callers map the code by it (stock → `insufficient_stock`, money →
        /// `INSUFFICIENT_BALANCE`).
        unit: String,
        /// `balance − pending_out`.
        available: i64,
        /// The amount asked for.
        requested: i64,
    },
    /// The id (a transfer id, or an account key for [`Op::Open`]) was used with other fields.
    #[error("ledger id {0} was already used for another operation")]
    IdConflict(String),
    /// No pending transfer with this id.
    #[error("unknown pending transfer {0}")]
    UnknownPending(String),
    /// The hold was closed before (by another capture, void or expiry).
    #[error("pending transfer {id} is already {status:?}")]
    PendingClosed {
        /// The hold.
        id: String,
        /// How it closed.
        status: Status,
    },
    /// A capture larger than the hold.
    #[error("capture of {requested} exceeds the {held} held by {id}")]
    OverCapture {
        /// The hold.
        id: String,
        /// Its amount.
        held: i64,
        /// The capture's amount.
        requested: i64,
    },
    /// An expiry before the hold's `expires_at` (or of a hold without one).
    #[error("pending transfer {0} is not due to expire")]
    NotDue(String),
    /// A guard failed but the rows read afterwards allow the operation: a concurrent change in
    /// between. Retry the transaction.
    #[error("the ledger changed concurrently, retry")]
    Raced,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl LedgerError {
    /// The API error, with `insufficient_code` for [`LedgerError::Insufficient`] (the caller
    /// knows what the unit means to its users: `insufficient_stock`, `INSUFFICIENT_BALANCE`).
    pub fn into_app(self, insufficient_code: &'static str) -> AppError {
        let msg = self.to_string();
        match self {
            LedgerError::Insufficient { .. } => AppError::conflict(insufficient_code, msg),
            LedgerError::Invalid(_) | LedgerError::SameAccount(_) => {
                AppError::invalid("invalid_ledger_operation", msg)
            }
            LedgerError::UnknownAccount(_) | LedgerError::UnknownPending(_) => {
                AppError::new(ErrorKind::NotFound, "not_found", msg)
            }
            LedgerError::UnitMismatch { .. } => AppError::invalid("unit_mismatch", msg),
            LedgerError::IdConflict(_) => AppError::conflict("ledger_id_conflict", msg),
            LedgerError::PendingClosed { .. } => AppError::conflict("hold_closed", msg),
            LedgerError::OverCapture { .. } => AppError::conflict("over_capture", msg),
            LedgerError::NotDue(_) => AppError::conflict("hold_not_due", msg),
            LedgerError::Raced => AppError::new(
                ErrorKind::Unavailable,
                crate::db::TX_CONFLICT,
                "concurrent update, retry",
            ),
            LedgerError::Db(e) => crate::error::AppError::from(e),
        }
    }
}

impl From<LedgerError> for AppError {
    /// [`LedgerError::into_app`] with the generic code `insufficient_balance`.
    fn from(e: LedgerError) -> Self {
        e.into_app("insufficient_balance")
    }
}
