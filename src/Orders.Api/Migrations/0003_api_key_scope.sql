-- Idempotency keys are scoped per API key: two clients may both send 'key-1' and get two orders.
-- The name of the API key that placed the order; '' while the public endpoints are open (no keys configured).
ALTER TABLE orders ADD COLUMN api_key_name text NOT NULL DEFAULT '';

ALTER TABLE orders DROP CONSTRAINT orders_idempotency_key_key;
ALTER TABLE orders ADD CONSTRAINT orders_api_key_idempotency_key UNIQUE (api_key_name, idempotency_key);
