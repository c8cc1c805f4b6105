-- +goose Up
CREATE TABLE customer_phones (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id BIGINT UNSIGNED NOT NULL,
    position    SMALLINT        NOT NULL DEFAULT 0,
    label       VARCHAR(32)     NOT NULL DEFAULT '',
    raw         VARCHAR(64)     NOT NULL,
    -- NULL when raw could not be normalised: kept, flagged, never matched.
    e164        VARCHAR(20)     NULL,
    extension   VARCHAR(16)     NOT NULL DEFAULT '',
    invalid     BOOLEAN         NOT NULL DEFAULT FALSE,
    PRIMARY KEY (id),
    -- Not unique: several customers may share a number (a switchboard, a family).
    KEY ix_customer_phones_e164 (e164),
    KEY ix_customer_phones_customer (customer_id, position),
    CONSTRAINT fk_customer_phones_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE customer_phones;
