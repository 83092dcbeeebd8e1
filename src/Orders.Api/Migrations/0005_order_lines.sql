-- Multi-line orders. A one-line order keeps its line in orders.item_sku and quantity (lines NULL), so the hot path
-- writes and reads exactly what it did. An order of several lines has item_sku NULL, quantity = its total units,
-- its lines in request order in orders.lines (what every read of the order returns, without a join), and one
-- order_lines row per line: the primary key keeps each SKU to one line, and order_lines_sku_newest serves
-- ?item_sku= for the lines of multi-line orders as the per-status indexes of 0002 serve it for one-line orders.
-- order_lines.status is the order's status, copied by the statement that changes it (OrderStore.WithEvents), so that
-- a list of one status reads about one page of lines, not every line of the SKU.
ALTER TABLE orders ALTER COLUMN item_sku DROP NOT NULL;
ALTER TABLE orders ADD COLUMN lines jsonb NULL;
-- Total units: up to 50 lines of 1,000,000.
ALTER TABLE orders DROP CONSTRAINT orders_quantity_check;
ALTER TABLE orders ADD CONSTRAINT orders_quantity_check CHECK (quantity BETWEEN 1 AND 50000000);
ALTER TABLE orders ADD CONSTRAINT one_line_or_lines CHECK ((item_sku IS NULL) = (lines IS NOT NULL));

CREATE TABLE order_lines (
    order_id   uuid        NOT NULL,
    item_sku   text        NOT NULL,
    quantity   integer     NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    status     text        NOT NULL,
    -- The order's created_at, so that a SKU's lines are read newest first in the lists' keyset order.
    created_at timestamptz NOT NULL,
    PRIMARY KEY (order_id, item_sku)
);

CREATE INDEX order_lines_sku_newest ON order_lines (item_sku, status, created_at DESC, order_id DESC);
