-- The transactional outbox of the event relay (OutboxRelay). Written only while publishing is on (ConnectionStrings:events
-- set): every statement that writes events to order_events also writes, in the same statement (OrderStore.WithEvents),
-- one row here per order it wrote events for, naming that order's sequences first..last (a confirm's three events are one
-- row). The events themselves stay in order_events, which is the timeline the API serves: a row here only says "not sent yet".
--
-- position is the publishing order. A statement of an order takes its position after it has taken the order's row lock
-- (the outbox insert reads the updated row), so the positions of one order grow with its sequences; ORDER BY position
-- publishes each order's events in sequence order. A smaller position committing after a larger one is simply read in
-- the relay's next round (the relay reads what is unsent, never "after the last position").
--
-- The runtime role gets DML here and USAGE on the identity's sequence through the owner's default privileges
-- (deploy/postgres/provision-roles.sql), like every table since 0001; the relay's pruning needs the DELETE among them.
CREATE TABLE outbox (
    position       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id       uuid        NOT NULL,
    first_sequence integer     NOT NULL,
    last_sequence  integer     NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Set by the relay once the broker confirmed every event of the row; sent rows are pruned after Events:Retention.
    sent_at        timestamptz NULL,
    CONSTRAINT outbox_sequences CHECK (first_sequence BETWEEN 1 AND last_sequence)
);

-- What the relay reads every round (and the backlog gauges count): only the unsent rows, in publishing order. Entries
-- leave it when a row is marked sent, so it stays as small as the backlog.
CREATE INDEX outbox_unsent ON outbox (position) WHERE sent_at IS NULL;

-- Superseded by the outbox table (it was never written).
ALTER TABLE order_events DROP COLUMN published_at;
