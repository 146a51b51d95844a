-- Login tokens name their user (API.md data model); plain API keys name none.
-- Deleting a user revokes its tokens.
ALTER TABLE api_keys ADD COLUMN user_id BIGINT REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id) WHERE user_id IS NOT NULL;

-- An idempotency claim names its owner (a random token per request): only the owner
-- completes or releases it (src/db/queries/idempotency.rs).
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;
