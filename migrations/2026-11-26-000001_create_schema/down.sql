DROP TABLE idempotency_keys;
DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE products;
DROP TABLE customers;
DROP TABLE users;
DROP TABLE api_keys;
DROP TABLE tenants;
