-- The order's timeline: one row per state transition, written by the same statement as the transition it records
-- (OrderStore builds every such statement as `WITH o AS (UPDATE/INSERT orders … RETURNING *) INSERT INTO order_events …`),
-- so there is never a transition without its event or an event without its transition.
--
-- sequence counts 1, 2, 3… per order without gaps: orders.last_sequence is bumped by the same conditional
-- UPDATE that makes the transition, so two writers of one order are serialized by its row lock and a statement
-- that changes nothing writes no event (a sequence from a database sequence would leave gaps on rollback).
--
-- The table is also the transactional outbox of the event relay (issue "Order events…"): published_at is set by
-- the relay after the broker confirms. The index the relay reads by comes with the relay: an index nobody reads costs
-- an entry per event on the hot path (docs/benchmarks.md, sitting 14). No foreign key to orders: every event is
-- written from the orders row it belongs to, and a key check per event would cost a lookup on the hot path for nothing.
ALTER TABLE orders ADD COLUMN last_sequence integer NOT NULL DEFAULT 0;

CREATE TABLE order_events (
    -- gen_random_uuid(): 122 random bits, unique by construction. Not indexed: a unique index on a random key costs a
    -- random B-tree page per event on the hot path; (order_id, sequence) is the key.
    event_id     uuid        NOT NULL,
    order_id     uuid        NOT NULL,
    sequence     integer     NOT NULL CHECK (sequence >= 1),
    type         text        NOT NULL CHECK (type IN ('order.created', 'order.stock_reserved', 'order.payment_authorized',
                                                      'order.confirmed', 'order.failed', 'order.cancel_requested', 'order.cancelled')),
    occurred_at  timestamptz NOT NULL,
    data         jsonb       NOT NULL DEFAULT '{}',
    published_at timestamptz NULL,
    PRIMARY KEY (order_id, sequence)
);

-- Orders placed before this migration get the timeline their state implies, so every order's timeline matches it.
INSERT INTO order_events (event_id, order_id, sequence, type, occurred_at, data)
SELECT gen_random_uuid(), o.order_id, e.sequence, e.type, e.occurred_at, e.data
FROM orders o
CROSS JOIN LATERAL (VALUES
    (1, 'order.created', o.created_at,
        jsonb_build_object('items', jsonb_build_array(jsonb_build_object('item_sku', o.item_sku, 'quantity', o.quantity)), 'amount', o.amount)),
    (2, CASE o.status WHEN 'FAILED' THEN 'order.failed' ELSE 'order.stock_reserved' END, o.updated_at,
        CASE o.status WHEN 'FAILED' THEN jsonb_build_object('failure_reason', o.failure_reason) ELSE '{}' END),
    (3, 'order.payment_authorized', o.updated_at, jsonb_build_object('amount', o.amount)),
    (4, 'order.confirmed', o.updated_at, '{}'::jsonb)
) AS e(sequence, type, occurred_at, data)
WHERE e.sequence = 1 OR (o.status = 'FAILED' AND e.sequence = 2) OR o.status = 'CONFIRMED';

UPDATE orders SET last_sequence = CASE status WHEN 'PENDING' THEN 1 WHEN 'FAILED' THEN 2 ELSE 4 END;
