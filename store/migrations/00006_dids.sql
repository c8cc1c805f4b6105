-- +goose Up
CREATE TABLE dids (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    -- The dialled number as the trunk sends it, normalised to E.164 when possible.
    number      VARCHAR(64)     NOT NULL,
    queue_id    BIGINT UNSIGNED NOT NULL,
    description VARCHAR(200)    NOT NULL DEFAULT '',
    created_at  DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_dids_number (number),
    CONSTRAINT fk_dids_queue FOREIGN KEY (queue_id) REFERENCES queues (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE dids;
