-- +goose Up
CREATE TABLE queues (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    name              VARCHAR(64)     NOT NULL,
    display_name      VARCHAR(200)    NOT NULL DEFAULT '',
    -- longest-idle | round-robin | fewest-calls | skills
    strategy          VARCHAR(32)     NOT NULL DEFAULT 'longest-idle',
    ring_timeout_s    INT UNSIGNED    NOT NULL DEFAULT 20,
    wrapup_s          INT UNSIGNED    NOT NULL DEFAULT 30,
    max_wait_s        INT UNSIGNED    NOT NULL DEFAULT 600,
    max_len           INT UNSIGNED    NOT NULL DEFAULT 200,
    -- Seconds a call waits before it is offered to the next skill tier.
    tier_widen_s      INT UNSIGNED    NOT NULL DEFAULT 30,
    -- '' (hang up with a callback request only when the caller is known), 'queue' or 'callback'.
    overflow_kind     VARCHAR(16)     NOT NULL DEFAULT 'callback',
    overflow_queue_id BIGINT UNSIGNED NULL,
    -- Service level: answered within sl_threshold_s; abandons under short_abandon_s are not counted.
    sl_threshold_s    INT UNSIGNED    NOT NULL DEFAULT 20,
    short_abandon_s   INT UNSIGNED    NOT NULL DEFAULT 5,
    -- standard | sl1 (answered only, Asterisk SL) | sl2 (abandons within T count as met)
    sl_variant        VARCHAR(16)     NOT NULL DEFAULT 'standard',
    created_at        DATETIME(3)     NOT NULL,
    updated_at        DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_queues_name (name),
    CONSTRAINT fk_queues_overflow FOREIGN KEY (overflow_queue_id) REFERENCES queues (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE queues;
