-- One payment per order: order_id is the idempotency key of authorize and void.
-- A void that arrives before any authorize stores a tombstone (amount 0, VOIDED)
-- so that a late authorize for that order is refused.
CREATE TABLE payments (
    order_id   uuid          PRIMARY KEY,
    payment_id uuid          NOT NULL UNIQUE,
    amount     numeric(12,2) NOT NULL CHECK (amount >= 0),
    status     text          NOT NULL CHECK (status IN ('AUTHORIZED', 'DECLINED', 'VOIDED')),
    created_at timestamptz   NOT NULL DEFAULT now(),
    updated_at timestamptz   NOT NULL DEFAULT now()
);
