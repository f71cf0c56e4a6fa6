-- The payment flow of every system (issue 5, "payments written once"): one row per trade opened
-- at a provider, one per refund. A system owns its trades through (system_name, owner_id): the
-- shop's order, an MR recharge, a ticket order. Amounts are integer fen; times Unix ms.

CREATE TABLE pay_trades (
    id {{PK}},
    system_name VARCHAR(32) NOT NULL,
    owner_id BIGINT NOT NULL,
    provider VARCHAR(16) NOT NULL,
    out_trade_no VARCHAR(64) NOT NULL,
    amount_fen BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    prepay_kind VARCHAR(16),
    prepay_handle {{CLOB}},
    prepay_expires_at BIGINT,
    transaction_id VARCHAR(64),
    payer VARCHAR(128),
    late BIGINT NOT NULL DEFAULT 0,
    succeeded_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT ck_pay_trades_amount CHECK (amount_fen > 0)
){{TABLE}};
CREATE UNIQUE INDEX ux_pay_trades_owner ON pay_trades (system_name, owner_id);
CREATE UNIQUE INDEX ux_pay_trades_out_trade_no ON pay_trades (out_trade_no);
CREATE UNIQUE INDEX ux_pay_trades_transaction ON pay_trades (provider, transaction_id);
CREATE INDEX ix_pay_trades_status ON pay_trades (status, created_at);

CREATE TABLE pay_refunds (
    id {{PK}},
    trade_id BIGINT NOT NULL,
    system_name VARCHAR(32) NOT NULL,
    owner_id BIGINT NOT NULL,
    out_refund_no VARCHAR(64) NOT NULL,
    refund_id VARCHAR(64),
    amount_fen BIGINT NOT NULL,
    reason VARCHAR(255) NOT NULL,
    status VARCHAR(16) NOT NULL,
    owner_note VARCHAR(64) NOT NULL,
    requested_by VARCHAR(64) NOT NULL,
    last_error VARCHAR(500),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    settled_at BIGINT,
    CONSTRAINT ck_pay_refunds_amount CHECK (amount_fen > 0)
){{TABLE}};
CREATE UNIQUE INDEX ux_pay_refunds_out_refund_no ON pay_refunds (out_refund_no);
CREATE INDEX ix_pay_refunds_owner ON pay_refunds (system_name, owner_id);
CREATE INDEX ix_pay_refunds_status ON pay_refunds (status, created_at);
