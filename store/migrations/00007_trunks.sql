-- +goose Up
CREATE TABLE trunks (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    name          VARCHAR(64)     NOT NULL,
    -- Source addresses allowed to send INVITEs, e.g. '203.0.113.0/24' (IPv4 or IPv6 CIDR).
    source_cidr   VARCHAR(64)     NOT NULL,
    -- Optional digest auth for inbound calls, and the outbound target.
    username      VARCHAR(64)     NOT NULL DEFAULT '',
    ha1           CHAR(32)        NOT NULL DEFAULT '',
    outbound_host VARCHAR(255)    NOT NULL DEFAULT '',
    outbound_port INT UNSIGNED    NOT NULL DEFAULT 5060,
    transport     VARCHAR(8)      NOT NULL DEFAULT 'udp',
    -- Trust P-Asserted-Identity from this trunk.
    trust_pai     BOOLEAN         NOT NULL DEFAULT TRUE,
    enabled       BOOLEAN         NOT NULL DEFAULT TRUE,
    created_at    DATETIME(3)     NOT NULL,
    updated_at    DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_trunks_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE trunks;
