-- Seed 001, the mini-program shop: catalog, cart, addresses, orders, payments, refunds.
-- Stock is not a column: it lives in ledger_balances under products.stock_account ('product:{id}').

CREATE TABLE categories (
    id {{PK}},
    name VARCHAR(64) NOT NULL,
    sort BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
){{TABLE}};

CREATE TABLE products (
    id {{PK}},
    name VARCHAR(200) NOT NULL,
    description {{CLOB}} NOT NULL,
    images {{CLOB}} NOT NULL,
    price_fen BIGINT NOT NULL,
    category_id BIGINT,
    stock_account VARCHAR(100) NOT NULL,
    on_shelf BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT ck_products_price CHECK (price_fen > 0)
){{TABLE}};
CREATE INDEX ix_products_shelf ON products (on_shelf, id);
CREATE INDEX ix_products_category ON products (category_id, id);

CREATE TABLE cart_items (
    user_id BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, product_id)
){{TABLE}};

CREATE TABLE addresses (
    id {{PK}},
    user_id BIGINT NOT NULL,
    receiver VARCHAR(64) NOT NULL,
    phone VARCHAR(32) NOT NULL,
    province VARCHAR(64) NOT NULL,
    city VARCHAR(64) NOT NULL,
    district VARCHAR(64) NOT NULL,
    detail VARCHAR(255) NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
){{TABLE}};
CREATE INDEX ix_addresses_user ON addresses (user_id, id);

CREATE TABLE orders (
    id {{PK}},
    order_no VARCHAR(32) NOT NULL,
    user_id BIGINT NOT NULL,
    status VARCHAR(20) NOT NULL,
    total_fen BIGINT NOT NULL,
    paid_fen BIGINT NOT NULL DEFAULT 0,
    refunded_fen BIGINT NOT NULL DEFAULT 0,
    item_count BIGINT NOT NULL,
    address_json {{CLOB}},
    remark VARCHAR(255) NOT NULL,
    cancel_reason VARCHAR(32),
    carrier VARCHAR(64),
    tracking_no VARCHAR(64),
    expires_at BIGINT NOT NULL,
    paid_at BIGINT,
    shipped_at BIGINT,
    completed_at BIGINT,
    cancelled_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT ck_orders_amounts CHECK (total_fen > 0 AND refunded_fen >= 0 AND refunded_fen <= paid_fen)
){{TABLE}};
CREATE UNIQUE INDEX ux_orders_order_no ON orders (order_no);
CREATE INDEX ix_orders_user ON orders (user_id, id);
CREATE INDEX ix_orders_status_expiry ON orders (status, expires_at);
CREATE INDEX ix_orders_created ON orders (created_at);

CREATE TABLE order_items (
    id {{PK}},
    order_id BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    name VARCHAR(200) NOT NULL,
    image VARCHAR(500) NOT NULL,
    unit_price_fen BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    line_total_fen BIGINT NOT NULL
){{TABLE}};
CREATE INDEX ix_order_items_order ON order_items (order_id);

CREATE TABLE payments (
    id {{PK}},
    order_id BIGINT NOT NULL,
    out_trade_no VARCHAR(32) NOT NULL,
    amount_fen BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    prepay_id VARCHAR(128),
    prepay_expires_at BIGINT,
    transaction_id VARCHAR(64),
    payer_openid VARCHAR(64),
    late BIGINT NOT NULL DEFAULT 0,
    succeeded_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
){{TABLE}};
CREATE UNIQUE INDEX ux_payments_order ON payments (order_id);
CREATE UNIQUE INDEX ux_payments_out_trade_no ON payments (out_trade_no);
CREATE UNIQUE INDEX ux_payments_transaction ON payments (transaction_id);
CREATE INDEX ix_payments_status ON payments (status, created_at);

CREATE TABLE refunds (
    id {{PK}},
    order_id BIGINT NOT NULL,
    out_refund_no VARCHAR(64) NOT NULL,
    refund_id VARCHAR(64),
    amount_fen BIGINT NOT NULL,
    reason VARCHAR(255) NOT NULL,
    status VARCHAR(16) NOT NULL,
    prev_order_status VARCHAR(20) NOT NULL,
    requested_by VARCHAR(64) NOT NULL,
    last_error VARCHAR(500),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    settled_at BIGINT,
    CONSTRAINT ck_refunds_amount CHECK (amount_fen > 0)
){{TABLE}};
CREATE UNIQUE INDEX ux_refunds_out_refund_no ON refunds (out_refund_no);
CREATE INDEX ix_refunds_order ON refunds (order_id);
CREATE INDEX ix_refunds_status ON refunds (status, created_at);
