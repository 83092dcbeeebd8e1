-- Autovacuum per table, from the numbers of bench/ten-million.sh (docs/benchmarks.md, "Ten million orders").
--
-- orders: every order is inserted PENDING and then updated (confirm; fail or cancel twice). Measured under 64 clients:
-- 1.07 dead versions per order placed, none of them HOT (status is in every list index's key or predicate, lease_until
-- in orders_pending_lease). PostgreSQL's default trigger, 50 + 20 % of the table, is 2,000,050 dead versions at 10 M
-- orders: 1.87 M orders between vacuums, about 21 minutes at 1,500 orders/s. Until then their space is not reused (the
-- table and its 12 indexes grow by a fifth of the table), and the newest pages, the ones the lists and the stats counts
-- read, stay off the visibility map (index-only scans fall back to the heap). 1 % + 10,000 is 110,000 at 10 M (about
-- 100,000 orders, a minute of full load) and 20,000 at 1 M. Such a vacuum is cheap: the visibility map lets it skip
-- every page but the newest, and while dead versions sit on fewer than 2 % of the pages PostgreSQL skips the index
-- pass. Analyze at 1 % too: the share of PENDING orders and the newest created_at move with the load, not the size.
-- (Not the reason: the recovery worker's claim stayed O(PENDING) with the dead versions in place, since B-tree deletes
-- the entries a scan found dead.)
ALTER TABLE orders SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 10000,
                        autovacuum_analyze_scale_factor = 0.01);
-- order_lines: the lines of a multi-line order are updated with its status, the same way (not HOT: status is in
-- order_lines_sku_newest), so the same trigger.
ALTER TABLE order_lines SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 10000,
                             autovacuum_analyze_scale_factor = 0.01);

-- Defaults kept: order_events is insert-only (no dead versions; an insert-driven vacuum does work in proportion to
-- what was inserted whenever it runs). In the inventory and payments databases, items' updates were 98 % HOT (pruned
-- in place) and reservations and payments took inserts only under the load generator's mix.
