-- +goose Up
CREATE TABLE cases (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id BIGINT UNSIGNED NOT NULL,
    -- The call the case was opened from, if any.
    call_id     CHAR(36)        NULL,
    subject     VARCHAR(200)    NOT NULL,
    description TEXT            NOT NULL,
    -- open | pending | closed
    status      VARCHAR(16)     NOT NULL DEFAULT 'open',
    -- low | normal | high | urgent
    priority    VARCHAR(16)     NOT NULL DEFAULT 'normal',
    owner_id    BIGINT UNSIGNED NULL,
    version     BIGINT UNSIGNED NOT NULL DEFAULT 1,
    created_at  DATETIME(3)     NOT NULL,
    updated_at  DATETIME(3)     NOT NULL,
    closed_at   DATETIME(3)     NULL,
    PRIMARY KEY (id),
    KEY ix_cases_customer (customer_id, status, created_at),
    KEY ix_cases_owner (owner_id, status),
    CONSTRAINT fk_cases_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE cases;
