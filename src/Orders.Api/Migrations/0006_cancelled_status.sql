-- CANCELLED: a cancelled order holds nothing (its payment voided, its stock released). Like every status it has
-- its own partial list indexes (see 0002: a status without them would make its lists, and unfiltered lists, walk
-- the table).
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN ('PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED'));

CREATE INDEX orders_cancelled_newest     ON orders (created_at DESC, order_id DESC) WHERE status = 'CANCELLED';
CREATE INDEX orders_cancelled_sku_newest ON orders (item_sku, created_at DESC, order_id DESC) WHERE status = 'CANCELLED';
