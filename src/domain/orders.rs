//! Order listing options, parsed at the edge.

use chrono::{DateTime, Utc};

use super::types::OrderStatus;

/// Which order fields a response carries (sparse fieldsets). Relations that are
/// not named are not loaded at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderFields {
    pub id: bool,
    pub status: bool,
    pub total_cents: bool,
    pub created_at: bool,
    pub customer: bool,
    pub items: bool,
}

impl OrderFields {
    pub const NAMES: [&'static str; 6] = [
        "id",
        "status",
        "total_cents",
        "created_at",
        "customer",
        "items",
    ];

    pub const ALL: OrderFields = OrderFields {
        id: true,
        status: true,
        total_cents: true,
        created_at: true,
        customer: true,
        items: true,
    };

    pub const NONE: OrderFields = OrderFields {
        id: false,
        status: false,
        total_cents: false,
        created_at: false,
        customer: false,
        items: false,
    };

    /// Parses `id,status,...`; the error names the unknown field.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut fields = OrderFields::NONE;
        for name in raw.split(',').map(str::trim) {
            match name {
                "id" => fields.id = true,
                "status" => fields.status = true,
                "total_cents" => fields.total_cents = true,
                "created_at" => fields.created_at = true,
                "customer" => fields.customer = true,
                "items" => fields.items = true,
                "" => return Err("fields must name at least one field, comma-separated".into()),
                other => {
                    return Err(format!(
                        "unknown field {other:?}; known fields: {}",
                        Self::NAMES.join(", ")
                    ))
                }
            }
        }
        Ok(fields)
    }
}

/// Where a keyset page starts: after this (created_at, id), in descending order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderPosition {
    pub created_at: DateTime<Utc>,
    pub id: i64,
}

/// How a list of orders is paged.
#[derive(Debug, Clone, Copy)]
pub enum OrderPage {
    Offset {
        page: i64,
        per_page: i64,
    },
    Keyset {
        after: Option<OrderPosition>,
        limit: i64,
    },
}

/// A list request, tenant-scoped by the caller.
#[derive(Debug, Clone, Copy)]
pub struct OrderQuery {
    pub status: Option<OrderStatus>,
    pub fields: OrderFields,
    pub page: OrderPage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_names_and_reject_unknown_ones() {
        let f = OrderFields::parse("id,status,total_cents").unwrap();
        assert!(f.id && f.status && f.total_cents && !f.customer && !f.items);
        assert!(OrderFields::parse("id,bogus")
            .unwrap_err()
            .contains("bogus"));
        assert!(OrderFields::parse("").is_err());
    }
}

/// A field of a request that breaks a rule: the field's name and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput {
    /// The field's name or path.
    pub field: String,
    /// What is wrong, naming the field.
    pub detail: String,
}

impl InvalidInput {
    /// `field` breaks the rule `detail` states.
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }
}
