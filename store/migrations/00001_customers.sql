-- +goose Up
CREATE TABLE customers (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    name           VARCHAR(200)    NOT NULL DEFAULT '',
    company        VARCHAR(200)    NOT NULL DEFAULT '',
    email          VARCHAR(254)    NOT NULL DEFAULT '',
    -- NULL when the customer has none; unique when set (imports are idempotent by it).
    account_number VARCHAR(64)     NULL,
    status         VARCHAR(16)     NOT NULL DEFAULT 'active',
    -- Comma-separated; tags never contain commas (validated).
    tags           VARCHAR(2000)   NOT NULL DEFAULT '',
    address        TEXT            NOT NULL,
    notes          TEXT            NOT NULL,
    version        BIGINT UNSIGNED NOT NULL DEFAULT 1,
    created_at     DATETIME(3)     NOT NULL,
    updated_at     DATETIME(3)     NOT NULL,
    deleted_at     DATETIME(3)     NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_customers_account (account_number),
    KEY ix_customers_name (name, id),
    KEY ix_customers_company (company),
    KEY ix_customers_email (email),
    -- Word-prefix search ("acme" finds "Amy Acme"); the B-tree keys above serve prefix search.
    FULLTEXT KEY ft_customers_words (name, company)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE customers;
