-- Seed 004, MR game licensing: operators (venue owners) with API keys, sites, applications,
-- per-operator authorizations, usage records and the operator's transaction history.
-- Balances are not columns: each operator's prepaid balance is the ledger account
-- 'mr:operator:{operator_id}' (unit CNY, fen, non-negative); consumption moves to 'mr:revenue'.
-- Times are BIGINT milliseconds, money BIGINT fen.

CREATE TABLE mr_operators (
    id {{PK}},
    operator_id VARCHAR(32) NOT NULL,
    username VARCHAR(32) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    name VARCHAR(64) NOT NULL,
    phone VARCHAR(20) NOT NULL,
    email VARCHAR(255) NOT NULL,
    category VARCHAR(16) NOT NULL,
    api_key_hash VARCHAR(64) NOT NULL,
    api_key_sealed VARCHAR(255) NOT NULL,
    api_key_generated_at BIGINT NOT NULL,
    require_signature_v2 BIGINT NOT NULL DEFAULT 0,
    is_deactivated BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT uq_mr_operators_operator_id UNIQUE (operator_id),
    CONSTRAINT uq_mr_operators_username UNIQUE (username),
    CONSTRAINT uq_mr_operators_api_key UNIQUE (api_key_hash)
){{TABLE}};

CREATE TABLE mr_sites (
    id {{PK}},
    site_id VARCHAR(64) NOT NULL,
    operator_id VARCHAR(32) NOT NULL,
    name VARCHAR(64) NOT NULL,
    address VARCHAR(255) NOT NULL,
    description VARCHAR(600),
    is_deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT uq_mr_sites_site_id UNIQUE (site_id)
){{TABLE}};
CREATE INDEX ix_mr_sites_operator ON mr_sites (operator_id, id);

CREATE TABLE mr_applications (
    id {{PK}},
    app_id VARCHAR(64) NOT NULL,
    app_name VARCHAR(64) NOT NULL,
    unit_price_fen BIGINT NOT NULL,
    min_players BIGINT NOT NULL,
    max_players BIGINT NOT NULL,
    description VARCHAR(600),
    is_active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT uq_mr_applications_app_id UNIQUE (app_id),
    CONSTRAINT ck_mr_applications_price CHECK (unit_price_fen > 0),
    CONSTRAINT ck_mr_applications_players CHECK (min_players >= 1 AND max_players >= min_players AND max_players <= 100)
){{TABLE}};

CREATE TABLE mr_authorizations (
    id {{PK}},
    operator_id VARCHAR(32) NOT NULL,
    app_id VARCHAR(64) NOT NULL,
    authorized_at BIGINT NOT NULL,
    expires_at BIGINT,
    is_active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    CONSTRAINT uq_mr_authorizations UNIQUE (operator_id, app_id)
){{TABLE}};

CREATE TABLE mr_usage_records (
    id {{PK}},
    usage_id VARCHAR(64) NOT NULL,
    session_id VARCHAR(128) NOT NULL,
    operator_id VARCHAR(32) NOT NULL,
    site_id VARCHAR(64) NOT NULL,
    app_id VARCHAR(64) NOT NULL,
    player_count BIGINT NOT NULL,
    unit_price_fen BIGINT NOT NULL,
    total_cost_fen BIGINT NOT NULL,
    authorization_token VARCHAR(64) NOT NULL,
    game_duration BIGINT,
    created_at BIGINT NOT NULL,
    CONSTRAINT uq_mr_usage_records_usage_id UNIQUE (usage_id),
    CONSTRAINT uq_mr_usage_records_session UNIQUE (session_id)
){{TABLE}};
CREATE INDEX ix_mr_usage_operator ON mr_usage_records (operator_id, created_at);

CREATE TABLE mr_transactions (
    id {{PK}},
    transaction_id VARCHAR(64) NOT NULL,
    operator_id VARCHAR(32) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    amount_fen BIGINT NOT NULL,
    balance_after_fen BIGINT NOT NULL,
    related_usage_id VARCHAR(64),
    payment_method VARCHAR(16),
    created_at BIGINT NOT NULL,
    CONSTRAINT uq_mr_transactions_id UNIQUE (transaction_id)
){{TABLE}};
CREATE INDEX ix_mr_transactions_operator ON mr_transactions (operator_id, created_at);

-- Messages to operators: price changes, announcements, low-balance reminders, authorizations.
CREATE TABLE mr_messages (
    id {{PK}},
    message_id VARCHAR(64) NOT NULL,
    operator_id VARCHAR(32) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    title VARCHAR(200) NOT NULL,
    content {{CLOB}} NOT NULL,
    read_at BIGINT,
    created_at BIGINT NOT NULL,
    CONSTRAINT uq_mr_messages_id UNIQUE (message_id)
){{TABLE}};
CREATE INDEX ix_mr_messages_operator ON mr_messages (operator_id, id);

-- Operators' requests to be authorized for an application, reviewed by an admin.
CREATE TABLE mr_app_requests (
    id {{PK}},
    request_id VARCHAR(64) NOT NULL,
    operator_id VARCHAR(32) NOT NULL,
    app_id VARCHAR(64) NOT NULL,
    reason VARCHAR(600) NOT NULL,
    status VARCHAR(16) NOT NULL,
    reject_reason VARCHAR(255),
    reviewed_by VARCHAR(64),
    reviewed_at BIGINT,
    created_at BIGINT NOT NULL,
    CONSTRAINT uq_mr_app_requests_id UNIQUE (request_id)
){{TABLE}};
CREATE INDEX ix_mr_app_requests_operator ON mr_app_requests (operator_id, id);
CREATE INDEX ix_mr_app_requests_status ON mr_app_requests (status, id);
