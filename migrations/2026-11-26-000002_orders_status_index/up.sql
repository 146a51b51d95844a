-- Serves status-filtered order pages and their counts (index-only) per tenant.
CREATE INDEX orders_tenant_status_created_idx ON orders (tenant_id, status, created_at DESC, id DESC);
