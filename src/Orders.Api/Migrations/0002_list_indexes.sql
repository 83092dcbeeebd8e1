-- Indexes for GET /api/v1/orders. A page is newest first, keyset-paged on
-- (created_at, order_id). Each filter combination has SQL of its own (OrderStore.ListSql) that walks these
-- indexes in exactly that order, so a page reads about `limit` rows however many or few orders match.
--
-- They are partial, one per status: status has three values (the CHECK on orders.status), and the SQL names
-- the status as a literal, so a list of one status reads its own index and a list of all three merges the
-- three in order. Each order version has an entry in exactly one index of each kind, so the six cost on
-- insert what two full indexes would (the keys are smaller: no status in them), and the planner, which
-- judges an index by the correlation of its first column, sees created_at lead where a full index would
-- start with status (it then preferred orders_pending_lease plus a sort of every PENDING order).
--
-- Write cost: an entry on every insert and on every update that is not HOT. Updates that change status or
-- lease_until were never HOT (both are in orders_pending_lease); the columns here are status, item_sku,
-- created_at and order_id, of which only status is ever updated, so no update that was HOT stops being HOT.
-- Net against 0001: two entries per order version instead of one (orders_newest goes).

-- ?status=X, and no filter (the three merged).
CREATE INDEX orders_pending_newest   ON orders (created_at DESC, order_id DESC) WHERE status = 'PENDING';
CREATE INDEX orders_confirmed_newest ON orders (created_at DESC, order_id DESC) WHERE status = 'CONFIRMED';
CREATE INDEX orders_failed_newest    ON orders (created_at DESC, order_id DESC) WHERE status = 'FAILED';

-- ?item_sku=X&status=Y, and ?item_sku=X (the three merged). A SKU without orders, or with few FAILED
-- ones, is an empty or short range here instead of a walk through the table.
CREATE INDEX orders_pending_sku_newest   ON orders (item_sku, created_at DESC, order_id DESC) WHERE status = 'PENDING';
CREATE INDEX orders_confirmed_sku_newest ON orders (item_sku, created_at DESC, order_id DESC) WHERE status = 'CONFIRMED';
CREATE INDEX orders_failed_sku_newest    ON orders (item_sku, created_at DESC, order_id DESC) WHERE status = 'FAILED';

-- Every list it served is served by the per-status indexes now: one entry fewer per order version.
DROP INDEX orders_newest;
