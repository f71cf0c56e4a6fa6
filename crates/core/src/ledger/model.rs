//! The rules of the ledger as plain functions on plain data. The SQL in `store.rs` mirrors them;
//! `resolve` uses them to explain a failed guard; the property test compares the two.

use std::collections::BTreeMap;

use super::{Account, Applied, Kind, LedgerError, Op, Status, Transfer};

/// A whole ledger in memory: accounts by key, transfers by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    /// Accounts by key.
    pub accounts: BTreeMap<String, Account>,
    /// Transfers by id.
    pub transfers: BTreeMap<String, Transfer>,
}

const MAX_KEY: usize = 100;
const MAX_UNIT: usize = 16;

fn key_ok(k: &str) -> bool {
    !k.is_empty() && k.chars().count() <= MAX_KEY
}

/// The checks that need no state: positive amounts, key and unit lengths, distinct accounts.
/// [`push`](super::push) runs them before writing anything.
pub(crate) fn validate(op: &Op) -> Result<(), LedgerError> {
    let ok = match op {
        Op::Open { account, unit, .. } => {
            key_ok(account) && !unit.is_empty() && unit.len() <= MAX_UNIT
        }
        Op::Transfer {
            id,
            debit,
            credit,
            unit,
            amount,
            reference,
        }
        | Op::Hold {
            id,
            debit,
            credit,
            unit,
            amount,
            reference,
            ..
        } => {
            if debit == credit {
                return Err(LedgerError::SameAccount(debit.clone()));
            }
            *amount > 0
                && [id, debit, credit].iter().all(|k| key_ok(k))
                && reference.chars().count() <= MAX_KEY
                && !unit.is_empty()
                && unit.len() <= MAX_UNIT
        }
        Op::Capture {
            id,
            pending_id,
            amount,
        } => *amount > 0 && key_ok(id) && key_ok(pending_id),
        Op::Void { id, pending_id } | Op::Expire { id, pending_id, .. } => {
            key_ok(id) && key_ok(pending_id)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(LedgerError::Invalid(
            "amounts must be positive, keys 1-100 and units 1-16 characters",
        ))
    }
}

/// The transfer row an operation writes (before the hold's fields are filled in for closers).
pub(crate) fn row_of(op: &Op, hold: Option<&Transfer>) -> Option<Transfer> {
    let closer = |id: &str, kind, amount: Option<i64>| {
        hold.map(|h| Transfer {
            id: id.to_string(),
            kind,
            debit: h.debit.clone(),
            credit: h.credit.clone(),
            unit: h.unit.clone(),
            amount: amount.unwrap_or(h.amount),
            pending_id: Some(h.id.clone()),
            status: None,
            captured: None,
            expires_at: None,
            reference: h.reference.clone(),
        })
    };
    match op {
        Op::Open { .. } => None,
        Op::Transfer {
            id,
            debit,
            credit,
            unit,
            amount,
            reference,
        } => Some(plain(
            id,
            Kind::Posted,
            debit,
            credit,
            unit,
            *amount,
            reference,
        )),
        Op::Hold {
            id,
            debit,
            credit,
            unit,
            amount,
            expires_at,
            reference,
        } => {
            let mut t = plain(id, Kind::Pending, debit, credit, unit, *amount, reference);
            t.status = Some(Status::Pending);
            t.expires_at = *expires_at;
            Some(t)
        }
        Op::Capture { id, amount, .. } => closer(id, Kind::Capture, Some(*amount)),
        Op::Void { id, .. } => closer(id, Kind::Void, None),
        Op::Expire { id, .. } => closer(id, Kind::Expire, None),
    }
}

fn plain(id: &str, kind: Kind, d: &str, c: &str, unit: &str, amount: i64, r: &str) -> Transfer {
    Transfer {
        id: id.to_string(),
        kind,
        debit: d.to_string(),
        credit: c.to_string(),
        unit: unit.to_string(),
        amount,
        pending_id: None,
        status: None,
        captured: None,
        expires_at: None,
        reference: r.to_string(),
    }
}

/// True when a stored transfer is what `op` would write: the idempotent replay test. Status,
/// captured amount and the expiry clock are state, not fields of the request.
fn same_request(stored: &Transfer, op: &Op) -> bool {
    match op {
        Op::Capture {
            pending_id, amount, ..
        } => {
            stored.kind == Kind::Capture
                && stored.pending_id.as_deref() == Some(pending_id)
                && stored.amount == *amount
        }
        Op::Void { pending_id, .. } => {
            stored.kind == Kind::Void && stored.pending_id.as_deref() == Some(pending_id)
        }
        Op::Expire { pending_id, .. } => {
            stored.kind == Kind::Expire && stored.pending_id.as_deref() == Some(pending_id)
        }
        _ => row_of(op, None).is_some_and(|mut t| {
            t.status = stored.status;
            t.captured = stored.captured;
            t == *stored
        }),
    }
}

impl Model {
    /// Applies `op` by the ledger's rules, in this order (the SQL reports the same errors):
    /// static checks ([`LedgerError::Invalid`], [`LedgerError::SameAccount`]); a used id
    /// (→ [`Applied::Already`] or [`LedgerError::IdConflict`]); for transfers and holds the
    /// accounts (unknown, unit, then funds of a non-negative debit side); for closers the hold
    /// (unknown, closed, over-capture, not due).
    pub fn apply(&mut self, op: &Op) -> Result<Applied, LedgerError> {
        validate(op)?;
        if let Op::Open {
            account,
            unit,
            non_negative,
        } = op
        {
            return match self.accounts.get(account) {
                Some(a) if a.unit == *unit && a.non_negative == *non_negative => {
                    Ok(Applied::Already)
                }
                Some(_) => Err(LedgerError::IdConflict(account.clone())),
                None => {
                    let a = Account::new(account, unit, *non_negative);
                    self.accounts.insert(account.clone(), a);
                    Ok(Applied::Now)
                }
            };
        }
        let id = op_id(op);
        if let Some(t) = self.transfers.get(id) {
            return if same_request(t, op) {
                Ok(Applied::Already)
            } else {
                Err(LedgerError::IdConflict(id.to_string()))
            };
        }
        match op {
            Op::Transfer { .. } | Op::Hold { .. } => self.move_or_hold(op),
            _ => self.close(op),
        }
    }

    fn move_or_hold(&mut self, op: &Op) -> Result<Applied, LedgerError> {
        let t = row_of(op, None).ok_or(LedgerError::Invalid("not a transfer"))?;
        for key in [&t.debit, &t.credit] {
            let a = self
                .accounts
                .get(key)
                .ok_or_else(|| LedgerError::UnknownAccount(key.clone()))?;
            if a.unit != t.unit {
                return Err(LedgerError::UnitMismatch {
                    account: key.clone(),
                    expected: t.unit.clone(),
                    found: a.unit.clone(),
                });
            }
        }
        let d = self.account(&t.debit)?;
        if d.non_negative && d.available() < t.amount {
            return Err(LedgerError::Insufficient {
                account: d.account.clone(),
                unit: d.unit.clone(),
                available: d.available(),
                requested: t.amount,
            });
        }
        let pending = t.kind == Kind::Pending;
        let (amount, debit, credit) = (t.amount, t.debit.clone(), t.credit.clone());
        self.transfers.insert(t.id.clone(), t);
        let d = self.account_mut(&debit)?;
        if pending {
            d.pending_out += amount;
        } else {
            d.balance -= amount;
        }
        let c = self.account_mut(&credit)?;
        if pending {
            c.pending_in += amount;
        } else {
            c.balance += amount;
        }
        Ok(Applied::Now)
    }

    fn close(&mut self, op: &Op) -> Result<Applied, LedgerError> {
        let (pending_id, status) = match op {
            Op::Capture { pending_id, .. } => (pending_id, Status::Posted),
            Op::Void { pending_id, .. } => (pending_id, Status::Voided),
            Op::Expire { pending_id, .. } => (pending_id, Status::Expired),
            _ => return Err(LedgerError::Invalid("not a closer")),
        };
        let hold = match self.transfers.get(pending_id) {
            Some(h) if h.kind == Kind::Pending => h.clone(),
            _ => return Err(LedgerError::UnknownPending(pending_id.clone())),
        };
        match hold.status {
            Some(Status::Pending) => {}
            s => {
                return Err(LedgerError::PendingClosed {
                    id: hold.id.clone(),
                    status: s.unwrap_or(Status::Posted),
                });
            }
        }
        let posted = match op {
            Op::Capture { amount, .. } if *amount > hold.amount => {
                return Err(LedgerError::OverCapture {
                    id: hold.id.clone(),
                    held: hold.amount,
                    requested: *amount,
                });
            }
            Op::Capture { amount, .. } => *amount,
            Op::Expire { now, .. } if hold.expires_at.is_none_or(|t| t > *now) => {
                return Err(LedgerError::NotDue(hold.id.clone()));
            }
            _ => 0,
        };
        let row = row_of(op, Some(&hold)).ok_or(LedgerError::Invalid("not a closer"))?;
        self.transfers.insert(row.id.clone(), row);
        if let Some(h) = self.transfers.get_mut(pending_id) {
            h.status = Some(status);
            h.captured = (status == Status::Posted).then_some(posted);
        }
        let d = self.account_mut(&hold.debit)?;
        d.pending_out -= hold.amount;
        d.balance -= posted;
        let c = self.account_mut(&hold.credit)?;
        c.pending_in -= hold.amount;
        c.balance += posted;
        Ok(Applied::Now)
    }

    /// Expires every open hold with `expires_at ≤ now` (ids `<hold id>:expire`, as
    /// [`expire_due`](super::expire_due) does), in id order. Returns how many.
    pub fn expire_due(&mut self, now: i64) -> usize {
        let due: Vec<String> = self
            .transfers
            .values()
            .filter(|t| t.status == Some(Status::Pending) && t.expires_at.is_some_and(|e| e <= now))
            .map(|t| t.id.clone())
            .collect();
        due.into_iter()
            .filter(|p| {
                let op = Op::Expire {
                    id: format!("{p}:expire"),
                    pending_id: p.clone(),
                    now,
                };
                matches!(self.apply(&op), Ok(Applied::Now))
            })
            .count()
    }

    /// The account `key`, or [`LedgerError::UnknownAccount`].
    pub fn account(&self, key: &str) -> Result<&Account, LedgerError> {
        self.accounts
            .get(key)
            .ok_or_else(|| LedgerError::UnknownAccount(key.to_string()))
    }

    fn account_mut(&mut self, key: &str) -> Result<&mut Account, LedgerError> {
        self.accounts
            .get_mut(key)
            .ok_or_else(|| LedgerError::UnknownAccount(key.to_string()))
    }
}

/// The id an operation is keyed by (the account key for [`Op::Open`]).
pub(crate) fn op_id(op: &Op) -> &str {
    match op {
        Op::Open { account, .. } => account,
        Op::Transfer { id, .. }
        | Op::Hold { id, .. }
        | Op::Capture { id, .. }
        | Op::Void { id, .. }
        | Op::Expire { id, .. } => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(m: &mut Model, a: &str, nn: bool) {
        let op = Op::Open {
            account: a.into(),
            unit: "pcs".into(),
            non_negative: nn,
        };
        assert_eq!(m.apply(&op).unwrap(), Applied::Now);
    }

    fn xfer(id: &str, d: &str, c: &str, amount: i64) -> Op {
        Op::Transfer {
            id: id.into(),
            debit: d.into(),
            credit: c.into(),
            unit: "pcs".into(),
            amount,
            reference: "r".into(),
        }
    }

    #[test]
    fn transfers_holds_and_closers_follow_the_rules() {
        let mut m = Model::default();
        open(&mut m, "in", false);
        open(&mut m, "a", true);
        open(&mut m, "b", true);
        assert_eq!(m.apply(&xfer("t1", "in", "a", 10)).unwrap(), Applied::Now);
        assert_eq!(
            m.apply(&xfer("t1", "in", "a", 10)).unwrap(),
            Applied::Already
        );
        assert!(matches!(
            m.apply(&xfer("t1", "in", "a", 11)),
            Err(LedgerError::IdConflict(_))
        ));
        let hold = Op::Hold {
            id: "h1".into(),
            debit: "a".into(),
            credit: "b".into(),
            unit: "pcs".into(),
            amount: 7,
            expires_at: Some(100),
            reference: "o".into(),
        };
        m.apply(&hold).unwrap();
        assert_eq!(m.account("a").unwrap().available(), 3);
        assert!(matches!(
            m.apply(&xfer("t2", "a", "b", 4)),
            Err(LedgerError::Insufficient {
                available: 3,
                requested: 4,
                ..
            })
        ));
        let cap = |id: &str, amount| Op::Capture {
            id: id.into(),
            pending_id: "h1".into(),
            amount,
        };
        assert!(matches!(
            m.apply(&cap("c1", 8)),
            Err(LedgerError::OverCapture { held: 7, .. })
        ));
        let exp = Op::Expire {
            id: "e".into(),
            pending_id: "h1".into(),
            now: 99,
        };
        assert!(matches!(m.apply(&exp), Err(LedgerError::NotDue(_))));
        assert_eq!(m.apply(&cap("c1", 5)).unwrap(), Applied::Now);
        assert!(matches!(
            m.apply(&cap("c2", 1)),
            Err(LedgerError::PendingClosed { .. })
        ));
        let (a, b) = (m.account("a").unwrap(), m.account("b").unwrap());
        assert_eq!(
            (a.balance, a.pending_out, b.balance, b.pending_in),
            (5, 0, 5, 0)
        );
        let sum: i64 = m.accounts.values().map(|a| a.balance).sum();
        assert_eq!(sum, 0);
    }

    #[test]
    fn expiry_releases_due_holds_only() {
        let mut m = Model::default();
        open(&mut m, "in", false);
        open(&mut m, "a", true);
        m.apply(&xfer("t", "in", "a", 5)).unwrap();
        for (id, at) in [("h1", Some(10)), ("h2", Some(20)), ("h3", None)] {
            let op = Op::Hold {
                id: id.into(),
                debit: "a".into(),
                credit: "in".into(),
                unit: "pcs".into(),
                amount: 1,
                expires_at: at,
                reference: "o".into(),
            };
            m.apply(&op).unwrap();
        }
        assert_eq!(m.expire_due(15), 1);
        assert_eq!(m.expire_due(15), 0);
        assert_eq!(m.account("a").unwrap().pending_out, 2);
        assert!(matches!(
            m.apply(&xfer("x", "a", "a", 1)),
            Err(LedgerError::SameAccount(_))
        ));
        assert!(matches!(
            m.apply(&xfer("y", "a", "in", 0)),
            Err(LedgerError::Invalid(_))
        ));
    }
}
