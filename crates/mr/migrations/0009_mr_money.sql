-- Seed 004, MR money: recharges through the payment flow, refunds of the remaining balance,
-- invoices, finance reports, revoked operator tokens (logout), the lock of an operator after
-- abnormal use of its API key from one address (FR-056; only an admin unlocks), and the
-- authorization audit (FR-057): charged sessions are the usage records (now with the client
-- address), every other answer to an authorization request is an `mr_auth_events` row.
-- Times are BIGINT milliseconds, money BIGINT fen.

-- A recharge order (contract `rechargeBalance`); its trade is the payment flow's
-- `pay_trades` row of system 'mr' and owner id `id`. pending -> paid (credited once); unpaid
-- after 15 minutes it reads as expired and reconciliation closes its trade (a payment that still
-- arrives is credited). `idem_key`: the client's `Idempotency-Key`, one order per key.
CREATE TABLE mr_recharges (
    id {{PK}},
    order_id VARCHAR(64) NOT NULL,
    operator_id VARCHAR(32) NOT NULL,
    amount_fen BIGINT NOT NULL,
    payment_method VARCHAR(16) NOT NULL,
    status VARCHAR(16) NOT NULL,
    qr_code_url VARCHAR(512),
    expires_at BIGINT NOT NULL,
    paid_at BIGINT,
    idem_key VARCHAR(64),
    created_at BIGINT NOT NULL,
    CONSTRAINT uq_mr_recharges_order UNIQUE (order_id),
    CONSTRAINT uq_mr_recharges_idem UNIQUE (operator_id, idem_key),
    CONSTRAINT ck_mr_recharges_amount CHECK (amount_fen > 0)
){{TABLE}};
CREATE INDEX ix_mr_recharges_operator ON mr_recharges (operator_id, id);

-- A refund request of the remaining balance (contract `requestRefund`, reviewed by finance):
-- pending -> approved (the balance at approval is refunded: paid back through the providers of
-- the operator's recharges, newest first; what they cannot take back is `offline_fen`, paid by
-- hand) | rejected. `payout_status`: none, processing, succeeded, partly_failed.
CREATE TABLE mr_refunds (
    id {{PK}},
    refund_id VARCHAR(64) NOT NULL,
    operator_id VARCHAR(32) NOT NULL,
    requested_fen BIGINT NOT NULL,
    actual_fen BIGINT,
    offline_fen BIGINT NOT NULL DEFAULT 0,
    status VARCHAR(16) NOT NULL,
    payout_status VARCHAR(16) NOT NULL DEFAULT 'none',
    reason VARCHAR(600) NOT NULL,
    reject_reason VARCHAR(255),
    note VARCHAR(255),
    reviewed_by VARCHAR(64),
    reviewed_at BIGINT,
    created_at BIGINT NOT NULL,
    CONSTRAINT uq_mr_refunds_id UNIQUE (refund_id)
){{TABLE}};
CREATE INDEX ix_mr_refunds_operator ON mr_refunds (operator_id, id);
CREATE INDEX ix_mr_refunds_status ON mr_refunds (status, id);

-- An invoice request (contract `requestInvoice`): pending -> approved (the PDF is rendered and
-- kept in `pdf`) | rejected.
CREATE TABLE mr_invoices (
    id {{PK}},
    invoice_id VARCHAR(64) NOT NULL,
    operator_id VARCHAR(32) NOT NULL,
    amount_fen BIGINT NOT NULL,
    invoice_title VARCHAR(200) NOT NULL,
    tax_id VARCHAR(32) NOT NULL,
    email VARCHAR(255),
    status VARCHAR(16) NOT NULL,
    note VARCHAR(255),
    reject_reason VARCHAR(255),
    reviewed_by VARCHAR(64),
    reviewed_at BIGINT,
    pdf {{BLOB}},
    created_at BIGINT NOT NULL,
    CONSTRAINT uq_mr_invoices_id UNIQUE (invoice_id)
){{TABLE}};
CREATE INDEX ix_mr_invoices_operator ON mr_invoices (operator_id, id);
CREATE INDEX ix_mr_invoices_status ON mr_invoices (status, id);

-- A finance report (contract `generateFinanceReport`): generating -> completed | failed; the
-- file (PDF or XLSX) is kept in `content`, the same tables as CSV in `csv_content`.
CREATE TABLE mr_reports (
    id {{PK}},
    report_id VARCHAR(64) NOT NULL,
    report_type VARCHAR(16) NOT NULL,
    start_date VARCHAR(10) NOT NULL,
    end_date VARCHAR(10) NOT NULL,
    format VARCHAR(8) NOT NULL,
    sections VARCHAR(255) NOT NULL,
    status VARCHAR(16) NOT NULL,
    file_size BIGINT,
    error_message VARCHAR(255),
    content {{BLOB}},
    csv_content {{BLOB}},
    created_by VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    completed_at BIGINT,
    CONSTRAINT uq_mr_reports_id UNIQUE (report_id)
){{TABLE}};
CREATE INDEX ix_mr_reports_type ON mr_reports (report_type, id);

-- Operator access tokens revoked by logout (contract `operatorLogout`), by SHA-256 of the token,
-- kept until the token would have expired.
CREATE TABLE mr_revoked_tokens (
    token_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
){{TABLE}};

-- FR-056: when and why the abuse guard locked the operator (NULL: not locked).
ALTER TABLE mr_operators ADD COLUMN locked_at BIGINT;
ALTER TABLE mr_operators ADD COLUMN lock_reason VARCHAR(255);

-- FR-057: the client address of each charged session.
ALTER TABLE mr_usage_records ADD COLUMN client_ip VARCHAR(64);

-- FR-057: authorization requests that charged nothing (refused, or a replay of a session),
-- with what the request named and the answer's status and code.
CREATE TABLE mr_auth_events (
    id {{PK}},
    operator_id VARCHAR(32),
    session_id VARCHAR(128),
    site_id VARCHAR(64),
    app_id VARCHAR(64),
    player_count BIGINT,
    status BIGINT NOT NULL,
    result VARCHAR(32) NOT NULL,
    client_ip VARCHAR(64),
    created_at BIGINT NOT NULL
){{TABLE}};
CREATE INDEX ix_mr_auth_events_operator ON mr_auth_events (operator_id, created_at);
CREATE INDEX ix_mr_auth_events_created ON mr_auth_events (created_at);

-- Usage statistics (FR-036…FR-038) read whole days from this rollup, kept by each charge's group
-- commit (one upsert per charge), and the raw usage records only for the partial first and last
-- day of a window. Days are business days (days since 1970-01-01 at UTC+8).
CREATE TABLE mr_usage_daily (
    operator_id VARCHAR(32) NOT NULL,
    day BIGINT NOT NULL,
    site_id VARCHAR(64) NOT NULL,
    app_id VARCHAR(64) NOT NULL,
    sessions BIGINT NOT NULL,
    players BIGINT NOT NULL,
    cost_fen BIGINT NOT NULL,
    PRIMARY KEY (operator_id, day, site_id, app_id)
){{TABLE}};
INSERT INTO mr_usage_daily (operator_id, day, site_id, app_id, sessions, players, cost_fen) SELECT operator_id, CAST((created_at + 28800000 - (created_at + 28800000) % 86400000) / 86400000 AS {{INT}}), site_id, app_id, COUNT(*), SUM(player_count), SUM(total_cost_fen) FROM mr_usage_records GROUP BY operator_id, CAST((created_at + 28800000 - (created_at + 28800000) % 86400000) / 86400000 AS {{INT}}), site_id, app_id;
