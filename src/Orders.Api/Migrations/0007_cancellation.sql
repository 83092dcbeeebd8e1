-- Cancellation. cancel_requested_at is the durable record of a cancel, written (with its order.cancel_requested
-- event) before anything is given back; from then on the order can no longer be confirmed (the confirm is
-- conditional on it), and whoever holds the order's lease voids, releases and ends it CANCELLED.
ALTER TABLE orders ADD COLUMN cancel_requested_at timestamptz NULL;
ALTER TABLE orders ADD CONSTRAINT cancelled_was_requested CHECK (status <> 'CANCELLED' OR cancel_requested_at IS NOT NULL);

-- A CONFIRMED order whose cancel was recorded but not finished (its canceller crashed or a dependency was down):
-- the recovery worker claims these as it claims PENDING orders (orders_pending_lease).
CREATE INDEX orders_cancelling_lease ON orders (lease_until) WHERE status = 'CONFIRMED' AND cancel_requested_at IS NOT NULL;
