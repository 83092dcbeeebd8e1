-- Stock levels and reservations keyed by order id.
-- sku uses the "C" collation: byte order, so keyset paging by sku is exact and index-backed.

CREATE TABLE items (
    sku        text COLLATE "C" PRIMARY KEY,
    available  bigint      NOT NULL CHECK (available >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per order id, ever. sku is NULL for a tombstone (a release that arrived before any reserve).
-- remaining = available stock right after the reserve, so a replay answers the first result exactly.
CREATE TABLE reservations (
    order_id   uuid PRIMARY KEY,
    sku        text COLLATE "C" NULL,
    quantity   integer     NOT NULL CHECK (quantity >= 0),
    remaining  bigint      NULL,
    status     text        NOT NULL CHECK (status IN ('RESERVED', 'RELEASED')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
