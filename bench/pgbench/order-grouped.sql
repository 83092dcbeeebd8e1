-- What PostgreSQL can do for orders written the way the services write them under load (bench/pgbench/order.sql
-- is the one-order-at-a-time ceiling): a group of 8 orders per transaction of this script —
--   1. one statement inserts the 8 orders (as OrderStore's grouped insert),
--   2. 8 reserves, one statement each (inventory does not coalesce),
--   3. one statement inserts the 8 payments (as PaymentInserts' grouped insert),
--   4. one statement confirms the 8 orders (as OrderStore's grouped confirm).
-- Eleven autocommit statements, eleven commits, 8 orders: orders/s = 8 × tps (pgbench has no loops: the 8 reserves
-- are written out). Same scratch database as
-- bench/ceiling.sh (run that first); e.g. for 64 clients' worth of orders in flight:
--   pgbench -n -M prepared -c 8 -j 2 -T 30 -D skus=1024 -f bench/pgbench/order-grouped.sql bench_ceiling
\set sku random(1, :skus - 8)
WITH ins AS (
    INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, lease_token, lease_until, api_key_name)
    SELECT gen_random_uuid(), gen_random_uuid()::text, 'ceil-' || (:sku + g), 1, 10.00, 'PENDING', gen_random_uuid(), now() + interval '10 seconds', ''
    FROM generate_series(1, 8) g
    ON CONFLICT (api_key_name, idempotency_key) DO NOTHING
    RETURNING order_id, lease_token, item_sku)
SELECT array_agg(order_id)::text AS ids, array_agg(lease_token)::text AS tokens, array_agg(item_sku)::text AS item_skus FROM ins
\gset

WITH taken AS (
    UPDATE items SET available = available - 1, updated_at = now()
    WHERE sku = (:item_skus::text[])[1] AND available >= 1
      AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = (:ids::uuid[])[1])
    RETURNING available)
INSERT INTO reservations (order_id, sku, quantity, remaining, status)
SELECT (:ids::uuid[])[1], (:item_skus::text[])[1], 1, available, 'RESERVED' FROM taken
RETURNING remaining;

WITH taken AS (
    UPDATE items SET available = available - 1, updated_at = now()
    WHERE sku = (:item_skus::text[])[2] AND available >= 1
      AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = (:ids::uuid[])[2])
    RETURNING available)
INSERT INTO reservations (order_id, sku, quantity, remaining, status)
SELECT (:ids::uuid[])[2], (:item_skus::text[])[2], 1, available, 'RESERVED' FROM taken
RETURNING remaining;

WITH taken AS (
    UPDATE items SET available = available - 1, updated_at = now()
    WHERE sku = (:item_skus::text[])[3] AND available >= 1
      AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = (:ids::uuid[])[3])
    RETURNING available)
INSERT INTO reservations (order_id, sku, quantity, remaining, status)
SELECT (:ids::uuid[])[3], (:item_skus::text[])[3], 1, available, 'RESERVED' FROM taken
RETURNING remaining;

WITH taken AS (
    UPDATE items SET available = available - 1, updated_at = now()
    WHERE sku = (:item_skus::text[])[4] AND available >= 1
      AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = (:ids::uuid[])[4])
    RETURNING available)
INSERT INTO reservations (order_id, sku, quantity, remaining, status)
SELECT (:ids::uuid[])[4], (:item_skus::text[])[4], 1, available, 'RESERVED' FROM taken
RETURNING remaining;

WITH taken AS (
    UPDATE items SET available = available - 1, updated_at = now()
    WHERE sku = (:item_skus::text[])[5] AND available >= 1
      AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = (:ids::uuid[])[5])
    RETURNING available)
INSERT INTO reservations (order_id, sku, quantity, remaining, status)
SELECT (:ids::uuid[])[5], (:item_skus::text[])[5], 1, available, 'RESERVED' FROM taken
RETURNING remaining;

WITH taken AS (
    UPDATE items SET available = available - 1, updated_at = now()
    WHERE sku = (:item_skus::text[])[6] AND available >= 1
      AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = (:ids::uuid[])[6])
    RETURNING available)
INSERT INTO reservations (order_id, sku, quantity, remaining, status)
SELECT (:ids::uuid[])[6], (:item_skus::text[])[6], 1, available, 'RESERVED' FROM taken
RETURNING remaining;

WITH taken AS (
    UPDATE items SET available = available - 1, updated_at = now()
    WHERE sku = (:item_skus::text[])[7] AND available >= 1
      AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = (:ids::uuid[])[7])
    RETURNING available)
INSERT INTO reservations (order_id, sku, quantity, remaining, status)
SELECT (:ids::uuid[])[7], (:item_skus::text[])[7], 1, available, 'RESERVED' FROM taken
RETURNING remaining;

WITH taken AS (
    UPDATE items SET available = available - 1, updated_at = now()
    WHERE sku = (:item_skus::text[])[8] AND available >= 1
      AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = (:ids::uuid[])[8])
    RETURNING available)
INSERT INTO reservations (order_id, sku, quantity, remaining, status)
SELECT (:ids::uuid[])[8], (:item_skus::text[])[8], 1, available, 'RESERVED' FROM taken
RETURNING remaining;

INSERT INTO payments (order_id, payment_id, amount, status)
SELECT o, gen_random_uuid(), 10.00, 'AUTHORIZED' FROM unnest(:ids::uuid[]) AS u(o)
ORDER BY o
ON CONFLICT (order_id) DO NOTHING
RETURNING payment_id, amount, status;

UPDATE orders SET status = 'CONFIRMED', in_request = false, updated_at = now()
FROM unnest(:ids::uuid[], :tokens::uuid[]) AS u(id, token)
WHERE order_id = u.id AND lease_token = u.token AND status = 'PENDING' AND compensate_reason IS NULL
RETURNING order_id, idempotency_key, item_sku, quantity, amount, status, failure_reason, compensate_reason, stuck_at,
          in_request, lease_token, lease_until > now(), attempts, created_at, updated_at;
