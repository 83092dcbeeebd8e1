-- One row per order; the unique idempotency key is what makes retries safe.
CREATE TABLE orders (
    order_id          uuid          PRIMARY KEY,
    idempotency_key   text          NOT NULL UNIQUE,
    item_sku          text          NOT NULL,
    quantity          integer       NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    amount            numeric(12,2) NOT NULL CHECK (amount >= 0),
    status            text          NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'FAILED')),
    failure_reason    text          NULL,
    -- Set while PENDING once the order is decided to fail: compensation (void, release) is then
    -- finished by whoever holds the lease next, and the order can no longer be confirmed.
    compensate_reason text          NULL,
    -- Which dependency the last attempt was stuck on ('inventory' or 'payment'), for *_UNAVAILABLE.
    stuck_at          text          NULL,
    -- True while the request that created the order is still running (a replay then gets 409).
    in_request        boolean       NOT NULL DEFAULT true,
    -- Whoever holds the current lease token may advance the order; the recovery worker only claims
    -- PENDING orders whose lease has expired.
    lease_token       uuid          NOT NULL,
    lease_until       timestamptz   NOT NULL,
    attempts          integer       NOT NULL DEFAULT 0,
    created_at        timestamptz   NOT NULL DEFAULT now(),
    updated_at        timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT failed_has_reason CHECK ((status = 'FAILED') = (failure_reason IS NOT NULL))
);

CREATE INDEX orders_pending_lease ON orders (lease_until) WHERE status = 'PENDING';
CREATE INDEX orders_newest ON orders (created_at DESC, order_id DESC);
