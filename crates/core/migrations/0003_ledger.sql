-- The double-entry ledger (crates/core/src/ledger, docs/ledger.md): accounts with a unit, and
-- transfers between two accounts of one unit. Replaces ledger_balances / ledger_reservations /
-- ledger_journal, whose rows are carried over below; the old tables stay, unused.
-- Portable SQL for SQLite (bundled, 3.44+ for CONCAT), PostgreSQL and MySQL/MariaDB.

CREATE TABLE ledger_accounts (
    account VARCHAR(100) NOT NULL PRIMARY KEY,
    unit VARCHAR(16) NOT NULL,
    non_negative BIGINT NOT NULL,
    balance BIGINT NOT NULL,
    pending_out BIGINT NOT NULL,
    pending_in BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT ck_ledger_accounts_pending CHECK (pending_out >= 0 AND pending_in >= 0),
    CONSTRAINT ck_ledger_accounts_nonneg CHECK (non_negative = 0 OR balance - pending_out >= 0)
){{TABLE}};

CREATE TABLE ledger_transfers (
    id VARCHAR(100) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    debit_account VARCHAR(100) NOT NULL,
    credit_account VARCHAR(100) NOT NULL,
    unit VARCHAR(16) NOT NULL,
    amount BIGINT NOT NULL,
    pending_id VARCHAR(100),
    status VARCHAR(16),
    captured BIGINT,
    expires_at BIGINT,
    ref VARCHAR(100) NOT NULL,
    created_at BIGINT NOT NULL,
    closed_at BIGINT,
    CONSTRAINT ck_ledger_transfers_amount CHECK (amount > 0)
){{TABLE}};
-- One capture, void or expiry per pending transfer (NULLs do not collide on any engine).
CREATE UNIQUE INDEX ux_ledger_transfers_pending ON ledger_transfers (pending_id);
CREATE INDEX ix_ledger_transfers_ref ON ledger_transfers (ref);
CREATE INDEX ix_ledger_transfers_debit ON ledger_transfers (debit_account);
CREATE INDEX ix_ledger_transfers_credit ON ledger_transfers (credit_account);
CREATE INDEX ix_ledger_transfers_open ON ledger_transfers (status, expires_at);

-- Stock accounts: each old account keeps its quantities (balance = on_hand, pending_out =
-- reserved); its twin '<account>:sold' holds what was sold (committed reservations) and is the
-- credit side of the open holds; 'stock:receipts' is the clearing account that received stock
-- comes from, so the unit 'pcs' sums to zero.
INSERT INTO ledger_accounts (account, unit, non_negative, balance, pending_out, pending_in, created_at, updated_at)
SELECT account, 'pcs', 1, on_hand, reserved, 0, created_at, updated_at FROM ledger_balances;

INSERT INTO ledger_accounts (account, unit, non_negative, balance, pending_out, pending_in, created_at, updated_at)
SELECT CONCAT(b.account, ':sold'), 'pcs', 1,
    COALESCE((SELECT SUM(r.quantity) FROM ledger_reservations r WHERE r.account = b.account AND r.status = 'committed'), 0),
    0, b.reserved, b.created_at, b.updated_at
FROM ledger_balances b;

INSERT INTO ledger_accounts (account, unit, non_negative, balance, pending_out, pending_in, created_at, updated_at)
VALUES ('stock:receipts', 'pcs', 0,
    0 - COALESCE((SELECT SUM(on_hand) FROM ledger_balances), 0) - COALESCE((SELECT SUM(quantity) FROM ledger_reservations WHERE status = 'committed'), 0),
    0, 0, 0, 0);

-- History: every journal adjustment becomes a posted transfer from or to the clearing account.
INSERT INTO ledger_transfers (id, kind, debit_account, credit_account, unit, amount, ref, created_at)
SELECT CONCAT('journal:', id), 'posted', 'stock:receipts', account, 'pcs', on_hand_delta, ref, created_at
FROM ledger_journal WHERE kind = 'adjust' AND on_hand_delta > 0;

INSERT INTO ledger_transfers (id, kind, debit_account, credit_account, unit, amount, ref, created_at)
SELECT CONCAT('journal:', id), 'posted', account, 'stock:receipts', 'pcs', 0 - on_hand_delta, ref, created_at
FROM ledger_journal WHERE kind = 'adjust' AND on_hand_delta < 0;

-- Every reservation becomes a pending transfer to '<account>:sold' (held → pending, committed →
-- posted, released → voided) ...
INSERT INTO ledger_transfers (id, kind, debit_account, credit_account, unit, amount, status, captured, ref, created_at, closed_at)
SELECT CONCAT('reservation:', id), 'pending', account, CONCAT(account, ':sold'), 'pcs', quantity,
    CASE status WHEN 'held' THEN 'pending' WHEN 'committed' THEN 'posted' ELSE 'voided' END,
    CASE status WHEN 'committed' THEN quantity ELSE NULL END,
    ref, created_at, settled_at
FROM ledger_reservations;

-- ... and a settled one is closed by its capture or void.
INSERT INTO ledger_transfers (id, kind, debit_account, credit_account, unit, amount, pending_id, ref, created_at)
SELECT CONCAT('reservation:', id, ':', CASE status WHEN 'committed' THEN 'capture' ELSE 'void' END),
    CASE status WHEN 'committed' THEN 'capture' ELSE 'void' END,
    account, CONCAT(account, ':sold'), 'pcs', quantity, CONCAT('reservation:', id), ref, COALESCE(settled_at, created_at)
FROM ledger_reservations WHERE status <> 'held';
