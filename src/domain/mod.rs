//! The order application's domain: statuses, plans, list requests and positions.
//! The bottom of the application: imports nothing of the crate.

pub mod ordering;
pub mod orders;
pub mod types;

pub use orders::{OrderFields, OrderPage, OrderPosition, OrderQuery};
pub use types::{OrderStatus, Plan};
