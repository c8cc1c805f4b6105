-- +goose Up
CREATE TABLE users (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    username      VARCHAR(64)     NOT NULL,
    display_name  VARCHAR(200)    NOT NULL DEFAULT '',
    role          VARCHAR(16)     NOT NULL,
    -- argon2id in PHC string form.
    password_hash VARCHAR(255)    NOT NULL,
    -- SIP digest credentials: only HA1 = MD5(user:realm:password) is kept.
    sip_username  VARCHAR(64)     NULL,
    sip_realm     VARCHAR(128)    NOT NULL DEFAULT '',
    sip_ha1       CHAR(32)        NOT NULL DEFAULT '',
    disabled      BOOLEAN         NOT NULL DEFAULT FALSE,
    created_at    DATETIME(3)     NOT NULL,
    updated_at    DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_users_username (username),
    UNIQUE KEY uq_users_sip_username (sip_username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE users;
