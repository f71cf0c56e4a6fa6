-- Suanpan core schema: identity, the quantity ledger, idempotency keys, the outbox, the audit log.
-- Portable SQL for SQLite, PostgreSQL and MySQL/MariaDB. Tokens replaced by the migration runner:
--   {{PK}}    auto-increment BIGINT primary key
--   {{CLOB}}  long text (TEXT; MEDIUMTEXT on MySQL)
--   {{TABLE}} table options (InnoDB + utf8mb4 on MySQL, empty elsewhere)
-- Times are BIGINT Unix milliseconds; money is BIGINT fen; flags are BIGINT 0/1.

CREATE TABLE admin_users (
    id {{PK}},
    username VARCHAR(64) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role VARCHAR(16) NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
){{TABLE}};
CREATE UNIQUE INDEX ux_admin_users_username ON admin_users (username);

CREATE TABLE users (
    id {{PK}},
    openid VARCHAR(64) NOT NULL,
    unionid VARCHAR(64),
    nickname VARCHAR(64),
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL
){{TABLE}};
CREATE UNIQUE INDEX ux_users_openid ON users (openid);

CREATE TABLE ledger_balances (
    account VARCHAR(100) NOT NULL PRIMARY KEY,
    on_hand BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT ck_ledger_balances_nonneg CHECK (reserved >= 0 AND on_hand >= reserved)
){{TABLE}};

CREATE TABLE ledger_reservations (
    id {{PK}},
    account VARCHAR(100) NOT NULL,
    quantity BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    ref VARCHAR(100) NOT NULL,
    created_at BIGINT NOT NULL,
    settled_at BIGINT
){{TABLE}};
CREATE INDEX ix_ledger_reservations_ref ON ledger_reservations (ref);
CREATE INDEX ix_ledger_reservations_account ON ledger_reservations (account, status);

CREATE TABLE ledger_journal (
    id {{PK}},
    account VARCHAR(100) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    on_hand_delta BIGINT NOT NULL,
    reserved_delta BIGINT NOT NULL,
    reservation_id BIGINT,
    ref VARCHAR(100) NOT NULL,
    created_at BIGINT NOT NULL
){{TABLE}};
CREATE INDEX ix_ledger_journal_account ON ledger_journal (account, id);

CREATE TABLE idempotency_keys (
    scope VARCHAR(100) NOT NULL,
    idem_key VARCHAR(255) NOT NULL,
    request_hash VARCHAR(64) NOT NULL,
    status_code BIGINT NOT NULL,
    response_body {{CLOB}} NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
){{TABLE}};
CREATE INDEX ix_idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE outbox (
    id {{PK}},
    event_id VARCHAR(64) NOT NULL,
    event_type VARCHAR(64) NOT NULL,
    aggregate_type VARCHAR(32) NOT NULL,
    aggregate_id VARCHAR(64) NOT NULL,
    payload {{CLOB}} NOT NULL,
    created_at BIGINT NOT NULL,
    published_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error VARCHAR(500)
){{TABLE}};
CREATE UNIQUE INDEX ux_outbox_event_id ON outbox (event_id);
CREATE INDEX ix_outbox_pending ON outbox (published_at, next_attempt_at, id);

CREATE TABLE audit_log (
    id {{PK}},
    actor_type VARCHAR(16) NOT NULL,
    actor_id VARCHAR(64) NOT NULL,
    actor_name VARCHAR(64) NOT NULL,
    action VARCHAR(64) NOT NULL,
    entity_type VARCHAR(32) NOT NULL,
    entity_id VARCHAR(64) NOT NULL,
    ip VARCHAR(64),
    before_json {{CLOB}},
    after_json {{CLOB}},
    created_at BIGINT NOT NULL
){{TABLE}};
CREATE INDEX ix_audit_log_entity ON audit_log (entity_type, entity_id);
CREATE INDEX ix_audit_log_created ON audit_log (created_at);
