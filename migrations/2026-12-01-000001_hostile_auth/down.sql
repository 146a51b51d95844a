ALTER TABLE idempotency_keys DROP COLUMN owner;
DROP INDEX api_keys_user_id_idx;
ALTER TABLE api_keys DROP COLUMN user_id;
