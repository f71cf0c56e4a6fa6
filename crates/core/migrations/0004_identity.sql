-- Identity for every system: back-office roles per system, refresh-token rotation.
-- admin_roles: a back-office account's role in one system ('shop', 'mr', …) or in every system ('*').
-- The shop's roles (admin_users.role, written by 0001) become grants in the shop; the column stays
-- for old binaries but is no longer read.

CREATE TABLE admin_roles (
    admin_id BIGINT NOT NULL,
    system_name VARCHAR(32) NOT NULL,
    role VARCHAR(32) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (admin_id, system_name)
){{TABLE}};

INSERT INTO admin_roles (admin_id, system_name, role, created_at)
SELECT id, 'shop', role, created_at FROM admin_users;

-- One row per issued refresh token. A token is used once: refreshing marks it used and issues the
-- next token of the same family; presenting a used token again revokes the whole family.
CREATE TABLE refresh_tokens (
    jti VARCHAR(64) NOT NULL PRIMARY KEY,
    family VARCHAR(64) NOT NULL,
    subject VARCHAR(64) NOT NULL,
    kind VARCHAR(32) NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
){{TABLE}};
CREATE INDEX ix_refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX ix_refresh_tokens_expiry ON refresh_tokens (expires_at);
