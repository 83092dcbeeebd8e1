-- Multi-line reservations. A reservation with two or more lines keeps its header in reservations (sku and remaining
-- NULL, quantity = total units) and one row per line here. A one-line reservation keeps its line in reservations
-- itself, as before, so the hot path still writes one row; a tombstone is sku NULL, quantity 0 and no lines.
-- The runtime role gets DML on these through the owner's default privileges (deploy/postgres/provision-roles.sql).
CREATE TABLE reservation_lines (
    order_id  uuid             NOT NULL REFERENCES reservations (order_id),
    sku       text COLLATE "C" NOT NULL,
    -- Position in the first request, so a replay answers exactly the first result.
    line      smallint         NOT NULL CHECK (line >= 1),
    quantity  integer          NOT NULL CHECK (quantity > 0),
    -- Available stock of the SKU right after the reserve.
    remaining bigint           NOT NULL,
    PRIMARY KEY (order_id, sku)
);

-- Every reservation line, whichever form made it: what a check of conservation per SKU sums.
CREATE VIEW reservation_items AS
    SELECT order_id, sku, quantity, status FROM reservations WHERE sku IS NOT NULL
    UNION ALL
    SELECT l.order_id, l.sku, l.quantity, r.status FROM reservation_lines l JOIN reservations r USING (order_id);
