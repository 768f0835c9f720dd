//! `GET /api/v1/transactions/user/{user_id}/export`: a user's matching transactions as
//! CSV or NDJSON, streamed.
//!
//! The body is produced batch by batch ([`BATCH`] records, read by position, names
//! decrypted) while the client reads it, so memory stays constant whatever the export's
//! size; actix pulls the next batch only when the previous one has gone out. An error
//! after the first byte cannot change the status any more: the stream then stops without
//! its terminating chunk (HTTP/1.1 chunked encoding), which every HTTP client reports as
//! an incomplete body — and a complete CSV export always ends with CRLF, a complete
//! NDJSON export with a newline.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use fido_domain::{
    DomainError, ListFilter, MoneySum, Position, RunningBalance, Transaction, TransactionService,
    UserId,
};
use futures_util::{stream, StreamExt};

use crate::auth::ReadAccess;
use crate::dto::TransactionBody;
use crate::error::{ApiError, DataRouteErrors, ErrorBody};
use crate::input::{self, ExportFormat, ExportQuery, Query};
use crate::params::{ListFilterQuery, RunningBalanceQuery, UserIdPath};

/// Records read per store call.
pub const BATCH: u32 = 1_000;

/// The CSV columns (the JSON fields, in the JSON order), for the header rows below.
macro_rules! csv_columns {
    () => {
        "id,user_id,full_name,transaction_amount,transaction_type,transaction_date,\
         created_at,updated_at,version"
    };
}

/// The CSV header row.
pub const CSV_HEADER: &str = concat!(csv_columns!(), "\r\n");

/// The CSV header row with running balances: one more column, last.
pub const CSV_HEADER_WITH_BALANCE: &str = concat!(csv_columns!(), ",balance_after\r\n");

/// Writes `cell` as an RFC 4180 field. A cell a spreadsheet would run as a formula (it
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, so it is
/// shown as text (OWASP's advice on CSV injection).
fn cell(out: &mut String, cell: &str) {
    let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || cell.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    if cell.contains('"') {
        out.push_str(&cell.replace('"', "\"\""));
    } else {
        out.push_str(cell);
    }
    if quote {
        out.push('"');
    }
}

fn csv_row(out: &mut String, t: &Transaction, balance_after: Option<MoneySum>) {
    use std::fmt::Write;
    // Ids, amounts, types, dates and versions never need quoting; the name may.
    let _ = write!(out, "{},{},", t.id, t.user_id);
    cell(out, t.full_name.expose());
    let _ = write!(
        out,
        ",{},{},{},{},{},{}",
        t.amount,
        t.kind.as_str(),
        t.transaction_date,
        t.created_at,
        t.updated_at,
        t.version
    );
    if let Some(balance) = balance_after {
        let _ = write!(out, ",{balance}");
    }
    out.push_str("\r\n");
}

fn ndjson_row(
    out: &mut String,
    t: &Transaction,
    balance_after: Option<MoneySum>,
) -> Result<(), serde_json::Error> {
    out.push_str(&serde_json::to_string(&TransactionBody::with_balance(
        t,
        balance_after,
    ))?);
    out.push('\n');
    Ok(())
}

/// The export's state between batches.
struct Export {
    service: web::Data<TransactionService>,
    user: UserId,
    filter: ListFilter,
    format: ExportFormat,
    after: Option<Position>,
    /// Whether rows carry running balances, and the walk once the first row is known.
    running: bool,
    balances: Option<RunningBalance>,
    started: bool,
    finished: bool,
}

impl Export {
    /// The next chunk: the header with the first batch, then one batch per chunk.
    async fn next_chunk(&mut self) -> Result<Option<web::Bytes>, DomainError> {
        if self.finished {
            return Ok(None);
        }
        let batch = self
            .service
            .export_batch(self.user, self.filter, self.after, BATCH)
            .await?;
        self.finished = batch.len() < BATCH as usize;
        self.after = batch.last().map(|t| Position {
            date: t.transaction_date,
            id: t.id,
        });
        if self.running && self.balances.is_none() {
            if let Some(first) = batch.first() {
                let walk = self
                    .service
                    .running_balance_from(self.user, self.filter, first)
                    .await?;
                self.balances = Some(walk);
            }
        }
        let mut out = String::with_capacity(batch.len() * 200 + CSV_HEADER_WITH_BALANCE.len());
        if !self.started && self.format == ExportFormat::Csv {
            out.push_str(if self.running {
                CSV_HEADER_WITH_BALANCE
            } else {
                CSV_HEADER
            });
        }
        self.started = true;
        for t in &batch {
            let balance_after = self.balances.as_mut().map(|w| w.step(t.kind, t.amount));
            match self.format {
                ExportFormat::Csv => csv_row(&mut out, t, balance_after),
                ExportFormat::Ndjson => ndjson_row(&mut out, t, balance_after).map_err(|e| {
                    DomainError::Internal(fido_domain::InternalError::Encode(
                        fido_domain::EncodeError(e.to_string()),
                    ))
                })?,
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        Ok(Some(web::Bytes::from(out)))
    }
}

/// Streams a user's transactions (matching the filters) as CSV or NDJSON.
#[utoipa::path(get, path = "/api/v1/transactions/user/{user_id}/export", tag = "transactions",
    operation_id = "export_user_transactions", security(("bearer" = ["read"])),
    params(
        UserIdPath,
        ("format" = Option<String>, Query, nullable = false, description = "`csv` (RFC 4180, a header row, CRLF) or `ndjson` (one JSON object per line, as in the API). Without it, `Accept: application/x-ndjson` picks NDJSON; otherwise CSV. Example: `csv`"),
        ListFilterQuery, RunningBalanceQuery),
    responses(
        (status = 200, description = "The matching transactions, newest first, streamed (chunked). CSV: a header row, then `id,user_id,full_name,transaction_amount,transaction_type,transaction_date,created_at,updated_at,version` (and `balance_after` with `running_balance=true`), amounts with two decimals, names decrypted, a name a spreadsheet would run as a formula prefixed with `'`. An error after the first byte ends the response without its terminating chunk: the client sees an incomplete body.",
            content((String = "text/csv"), (String = "application/x-ndjson")),
            headers(("Content-Disposition" = String, description = "attachment; filename=\"transactions-<user_id>-<UTC date>.csv|ndjson\""))),
        (status = 422, description = "Bad user id, format or filter (each named); a parameter repeated or unknown", body = ErrorBody),
        DataRouteErrors))]
pub async fn export(
    _caller: ReadAccess,
    req: HttpRequest,
    service: web::Data<TransactionService>,
    path: web::Path<UserIdPath>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let user = input::path_user_id(&path.user_id)?;
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let ExportQuery {
        format,
        filter,
        running_balance,
    } = input::export(&query, accept)?;
    if running_balance {
        filter.allows_running_balance()?;
    }
    let mut export = Export {
        service,
        user,
        filter,
        format,
        after: None,
        running: running_balance,
        balances: None,
        started: false,
        finished: false,
    };
    // The first batch is read before the status is sent: a store that is down is a 503,
    // not a broken download.
    let first = export.next_chunk().await?;
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    let day = fido_domain::Timestamp::now().day();
    let disposition = format!("attachment; filename=\"transactions-{user}-{day}.{extension}\"");
    let rest = stream::unfold(export, move |mut export| async move {
        match export.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), export)),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %fido_domain::error_chain(&e), "an export stopped halfway");
                // The status went out as 200: this counter is what tells it apart.
                metrics::counter!(
                    fido_observability::names::EXPORTS_TRUNCATED,
                    "format" => extension
                )
                .increment(1);
                export.finished = true;
                // No detail leaves: the client learns only that the body is incomplete.
                Some((
                    Err(std::io::Error::other("the export stopped halfway")),
                    export,
                ))
            }
        }
    });
    let body = stream::iter(first.map(Ok)).chain(rest);
    let mut response = HttpResponse::Ok();
    response.content_type(content_type);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response.insert_header((header::CONTENT_DISPOSITION, value));
    }
    Ok(response.streaming(body))
}
