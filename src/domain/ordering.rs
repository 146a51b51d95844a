//! The rules of a new order, free of storage: which lines are valid, and how the
//! locked products price them (stock checked, total by checked arithmetic).

use super::orders::InvalidInput;
use std::collections::HashSet;

/// Most lines an order may hold.
pub const MAX_LINES: usize = 50;
/// Largest quantity of one line.
pub const MAX_QUANTITY: i64 = 1_000;

/// One line of a new order, validated: distinct products, quantity 1..=1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewLine {
    /// The product ordered.
    pub product_id: i64,
    /// How many.
    pub quantity: i32,
}

/// A line as the client sent it.
#[derive(Debug, Clone, Copy)]
pub struct RequestedLine {
    /// The product named.
    pub product_id: i64,
    /// The quantity asked for, unchecked.
    pub quantity: i64,
}

/// Validates the requested lines.
pub fn validate_lines(items: &[RequestedLine]) -> Result<Vec<NewLine>, InvalidInput> {
    if !(1..=MAX_LINES).contains(&items.len()) {
        return Err(InvalidInput::new(
            "items",
            format!("items must hold 1 to {MAX_LINES} lines"),
        ));
    }
    let mut seen = HashSet::new();
    let mut lines = Vec::with_capacity(items.len());
    for (i, line) in items.iter().enumerate() {
        if !seen.insert(line.product_id) {
            return Err(InvalidInput {
                field: format!("items[{i}].product_id"),
                detail: format!(
                    "items[{i}].product_id: product {} appears twice",
                    line.product_id
                ),
            });
        }
        let quantity = i32::try_from(line.quantity)
            .ok()
            .filter(|q| (1..=MAX_QUANTITY).contains(&i64::from(*q)));
        let Some(quantity) = quantity else {
            return Err(InvalidInput {
                field: format!("items[{i}].quantity"),
                detail: format!("items[{i}].quantity must be 1 to {MAX_QUANTITY}"),
            });
        };
        lines.push(NewLine {
            product_id: line.product_id,
            quantity,
        });
    }
    Ok(lines)
}

/// Why an order cannot be placed as asked (nothing is written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRejection {
    /// The tenant has no such customer.
    CustomerNotFound(i64),
    /// The tenant has no such product.
    ProductNotFound(i64),
    /// Not enough stock for a line.
    InsufficientStock {
        /// The product short of stock.
        product_id: i64,
        /// The quantity asked for.
        requested: i32,
        /// The stock there is.
        available: i32,
    },
    /// The total does not fit in the money type.
    TotalOverflow,
}

/// A product as locked for the order: (id, price in cents, stock).
#[derive(Debug, Clone, Copy)]
pub struct LockedProduct {
    /// The product's id.
    pub id: i64,
    /// Its current price.
    pub price_cents: i64,
    /// Its current stock.
    pub stock: i32,
}

/// A line priced at the current price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricedLine {
    /// The product.
    pub product_id: i64,
    /// How many.
    pub quantity: i32,
    /// Its price at the time of the order.
    pub unit_price_cents: i64,
}

/// Prices `lines` (in the caller's order) against the locked products: every
/// product must be the tenant's and in stock; the total is computed with checked
/// arithmetic.
pub fn price(
    lines: &[NewLine],
    locked: &[LockedProduct],
) -> Result<(Vec<PricedLine>, i64), OrderRejection> {
    let mut priced = Vec::with_capacity(lines.len());
    let mut total: i64 = 0;
    for line in lines {
        let product = locked
            .iter()
            .find(|p| p.id == line.product_id)
            .ok_or(OrderRejection::ProductNotFound(line.product_id))?;
        if product.stock < line.quantity {
            return Err(OrderRejection::InsufficientStock {
                product_id: line.product_id,
                requested: line.quantity,
                available: product.stock,
            });
        }
        let line_total = product
            .price_cents
            .checked_mul(i64::from(line.quantity))
            .ok_or(OrderRejection::TotalOverflow)?;
        total = total
            .checked_add(line_total)
            .ok_or(OrderRejection::TotalOverflow)?;
        priced.push(PricedLine {
            product_id: line.product_id,
            quantity: line.quantity,
            unit_price_cents: product.price_cents,
        });
    }
    Ok((priced, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product_id: i64, quantity: i64) -> RequestedLine {
        RequestedLine {
            product_id,
            quantity,
        }
    }

    #[test]
    fn lines_are_validated_naming_the_field() {
        assert_eq!(validate_lines(&[]).unwrap_err().field, "items");
        let e = validate_lines(&[line(1, 1), line(1, 2)]).unwrap_err();
        assert_eq!(e.field, "items[1].product_id");
        let e = validate_lines(&[line(1, 0)]).unwrap_err();
        assert_eq!(e.field, "items[0].quantity");
        let e = validate_lines(&[line(1, i64::from(i32::MAX) + 1)]).unwrap_err();
        assert_eq!(e.field, "items[0].quantity");
        assert_eq!(validate_lines(&[line(3, 2)]).unwrap()[0].quantity, 2);
    }

    #[test]
    fn pricing_checks_ownership_stock_and_overflow() {
        let locked = [LockedProduct {
            id: 1,
            price_cents: 250,
            stock: 3,
        }];
        let ok = price(
            &[NewLine {
                product_id: 1,
                quantity: 2,
            }],
            &locked,
        )
        .unwrap();
        assert_eq!(ok.1, 500);
        assert_eq!(
            price(
                &[NewLine {
                    product_id: 2,
                    quantity: 1
                }],
                &locked
            ),
            Err(OrderRejection::ProductNotFound(2))
        );
        assert!(matches!(
            price(
                &[NewLine {
                    product_id: 1,
                    quantity: 4
                }],
                &locked
            ),
            Err(OrderRejection::InsufficientStock { available: 3, .. })
        ));
        let dear = [LockedProduct {
            id: 1,
            price_cents: i64::MAX,
            stock: 10,
        }];
        assert_eq!(
            price(
                &[NewLine {
                    product_id: 1,
                    quantity: 2
                }],
                &dear
            ),
            Err(OrderRejection::TotalOverflow)
        );
    }
}
