-- One order's four transactions, exactly as the three services run them (src/*/: OrderStore.TryInsertAsync,
-- StockApi.Reserve, PaymentsApi.Authorize, OrderStore.ConfirmAsync), each its own autocommit transaction:
-- four statements, four commits, no client-side think time. tps of this script = orders/s.
-- Variables: :skus (number of SKUs seeded as ceil-1 .. ceil-N), set with pgbench -D skus=N.
\set sku random(1, :skus)

-- 1. insert the order as PENDING (orders database)
INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, lease_token, lease_until, api_key_name)
VALUES (gen_random_uuid(), gen_random_uuid()::text, 'ceil-' || :sku, 1, 10.00, 'PENDING', gen_random_uuid(), now() + interval '10 seconds', '')
ON CONFLICT (api_key_name, idempotency_key) DO NOTHING
RETURNING order_id, lease_token
\gset

-- 2. reserve: conditional stock update + reservation insert in one statement (inventory database)
WITH taken AS (
    UPDATE items SET available = available - 1, updated_at = now()
    WHERE sku = 'ceil-' || :sku AND available >= 1
      AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = :order_id::uuid)
    RETURNING available)
INSERT INTO reservations (order_id, sku, quantity, remaining, status)
SELECT :order_id::uuid, 'ceil-' || :sku, 1, available, 'RESERVED' FROM taken
RETURNING remaining;

-- 3. authorize: insert the payment (payments database)
INSERT INTO payments (order_id, payment_id, amount, status) VALUES (:order_id::uuid, gen_random_uuid(), 10.00, 'AUTHORIZED')
ON CONFLICT (order_id) DO NOTHING
RETURNING payment_id, amount, status;

-- 4. confirm the order (orders database)
UPDATE orders SET status = 'CONFIRMED', in_request = false, updated_at = now()
WHERE order_id = :order_id::uuid AND lease_token = :lease_token::uuid AND status = 'PENDING' AND compensate_reason IS NULL
RETURNING order_id, idempotency_key, item_sku, quantity, amount, status, failure_reason, compensate_reason, stuck_at,
          in_request, lease_token, lease_until > now(), attempts, created_at, updated_at;
