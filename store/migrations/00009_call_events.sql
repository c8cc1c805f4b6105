-- +goose Up
CREATE TABLE call_events (
    id       BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    call_id  CHAR(36)        NOT NULL,
    -- Per-call sequence number: replays after an outage insert each event once.
    seq      INT UNSIGNED    NOT NULL,
    at       DATETIME(3)     NOT NULL,
    -- offered | queued | offer | ringing | rona | answered | abandoned | ended | overflow | wrapup_end ...
    kind     VARCHAR(32)     NOT NULL,
    queue_id BIGINT UNSIGNED NULL,
    agent_id BIGINT UNSIGNED NULL,
    data     TEXT            NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_call_events_seq (call_id, seq),
    KEY ix_call_events_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE call_events;
