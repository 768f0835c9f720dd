//! One module per area; each handler parses, calls one service method, maps the result.

pub mod analytics;
pub mod balances;
pub mod events;
pub mod export;
pub mod health;
pub mod metrics;
pub mod transactions;
