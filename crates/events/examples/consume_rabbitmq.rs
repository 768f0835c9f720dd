//! Consumes the Transactions API's events from RabbitMQ and prints them.
//!
//! ```text
//! AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f cargo run -p fido-events --example consume_rabbitmq
//! ```
//!
//! It declares a durable queue `fido.example` bound to `transaction.*` on the exchange
//! `fido.events`, decodes each message into `fido_events::Event`, skips ids it has seen
//! (delivery is at least once), prints it, and acknowledges it. Ctrl-C stops it.

use std::collections::HashSet;

use fido_events::{Event, EventType};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let exchange = std::env::var("FIDO_EXCHANGE").unwrap_or_else(|_| "fido.events".into());
    let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            "fido.example".into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            "fido.example".into(),
            exchange.as_str().into(),
            "transaction.*".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut deliveries = channel
        .basic_consume(
            "fido.example".into(),
            "fido-example".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    println!("waiting for events on {exchange} (Ctrl-C to stop)");
    // A real consumer keeps this in its own database, in the transaction that applies
    // the event.
    let mut seen = HashSet::new();
    loop {
        let delivery = tokio::select! {
            next = deliveries.next() => match next {
                Some(delivery) => delivery?,
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        };
        match serde_json::from_slice::<Event>(&delivery.data) {
            Ok(event) => {
                if seen.insert(event.id.clone()) {
                    let what = match event.kind {
                        EventType::Created => "created",
                        EventType::Updated => "updated",
                        EventType::Deleted => "deleted",
                    };
                    println!(
                        "#{:<6} {what:<7} transaction {} of user {}: {} cents {} (v{}){}",
                        event.sequence,
                        event.transaction_id,
                        event.user_id,
                        event.data.transaction_amount_cents,
                        event.data.transaction_type,
                        event.data.version,
                        if event.changed_fields.is_empty() {
                            String::new()
                        } else {
                            format!(", changed: {}", event.changed_fields.join(", "))
                        }
                    );
                }
                delivery.ack(BasicAckOptions::default()).await?;
            }
            Err(e) => {
                eprintln!("not an event ({e}); rejecting it");
                delivery
                    .nack(BasicNackOptions {
                        requeue: false,
                        ..BasicNackOptions::default()
                    })
                    .await?;
            }
        }
    }
    Ok(())
}
