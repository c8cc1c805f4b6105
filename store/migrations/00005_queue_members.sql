-- +goose Up
CREATE TABLE queue_members (
    queue_id    BIGINT UNSIGNED NOT NULL,
    user_id     BIGINT UNSIGNED NOT NULL,
    -- Lower is better: tier 0 gets calls first (Asterisk's penalty, FreeSWITCH's tier level).
    skill_level SMALLINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, user_id),
    KEY ix_queue_members_user (user_id),
    CONSTRAINT fk_queue_members_queue FOREIGN KEY (queue_id) REFERENCES queues (id) ON DELETE CASCADE,
    CONSTRAINT fk_queue_members_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE queue_members;
