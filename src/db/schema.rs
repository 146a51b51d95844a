// @generated-shape: kept in step with migrations/ (diesel print-schema layout).

diesel::table! {
    tenants (id) {
        id -> Int8,
        name -> Text,
        plan -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Int8,
        tenant_id -> Int8,
        key_hash -> Text,
        label -> Text,
        expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        user_id -> Nullable<Int8>,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        tenant_id -> Int8,
        email -> Text,
        password_hash -> Text,
    }
}

diesel::table! {
    customers (id) {
        id -> Int8,
        tenant_id -> Int8,
        name -> Text,
        email -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    products (id) {
        id -> Int8,
        tenant_id -> Int8,
        sku -> Text,
        name -> Text,
        price_cents -> Int8,
        stock -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    orders (id) {
        id -> Int8,
        tenant_id -> Int8,
        customer_id -> Int8,
        status -> Text,
        total_cents -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    order_items (id) {
        id -> Int8,
        order_id -> Int8,
        product_id -> Int8,
        quantity -> Int4,
        unit_price_cents -> Int8,
    }
}

diesel::table! {
    idempotency_keys (tenant_id, key) {
        tenant_id -> Int8,
        key -> Text,
        request_hash -> Text,
        status -> Nullable<Int4>,
        body -> Nullable<Text>,
        created_at -> Timestamptz,
        owner -> Nullable<Text>,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(users -> tenants (tenant_id));
diesel::joinable!(customers -> tenants (tenant_id));
diesel::joinable!(products -> tenants (tenant_id));
diesel::joinable!(orders -> customers (customer_id));
diesel::joinable!(order_items -> orders (order_id));
diesel::joinable!(order_items -> products (product_id));

diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    api_keys,
    users,
    customers,
    products,
    orders,
    order_items,
    idempotency_keys,
);
