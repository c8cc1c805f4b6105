-- +goose Up
-- The callback worklist. A caller whose call overflowed to a callback request
-- is the call row itself (state overflowed, end_reason overflow-callback,
-- written through the call log's spool like every outcome, so no request is
-- lost while MySQL is down); this table records what was done about it. A
-- request without a row here is open.
CREATE TABLE callbacks (
    call_id     CHAR(36)        NOT NULL,
    -- done (the caller was called back) | cancelled (no longer needed)
    status      VARCHAR(16)     NOT NULL,
    note        TEXT            NOT NULL,
    done_by     BIGINT UNSIGNED NULL,
    done_at     DATETIME(3)     NOT NULL,
    PRIMARY KEY (call_id),
    CONSTRAINT fk_callbacks_call FOREIGN KEY (call_id) REFERENCES calls (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
-- The open worklist reads calls by end reason, oldest request first.
CREATE INDEX ix_calls_end_reason ON calls (end_reason, ended_at);

-- +goose Down
DROP INDEX ix_calls_end_reason ON calls;
DROP TABLE callbacks;
