-- +goose Up
-- The customer last chosen for a caller's number (a shared number pops a
-- chooser, and the last choice is offered first): the latest call per
-- (caller, customer) is read from this index alone.
CREATE INDEX ix_calls_caller_customer ON calls (caller_e164, customer_id, offered_at);

-- +goose Down
DROP INDEX ix_calls_caller_customer ON calls;
