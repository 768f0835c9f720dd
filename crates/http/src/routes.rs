//! The route table: every path and method, the extractors' limits and error handlers,
//! JSON 404/405 answers, OpenAPI and Swagger UI.

use actix_web::{guard, http::header, web, HttpResponse, Route};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{self, ApiError};
use crate::handlers::{analytics, balances, events, export, health, transactions};
use crate::openapi;

/// The JSON 404 of every path no route matches.
pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("Not found"))
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// GET, and HEAD with it: RFC 9110 requires HEAD wherever GET is allowed (the server
/// sends the headers of the GET answer without its body).
fn read() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Registers the health routes alone.
pub(crate) fn configure_health(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health/live").route(read().to(health::live)))
        .service(web::resource("/health/ready").route(read().to(health::ready)));
}

/// Registers every route and the extractors' error handlers.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let query = web::QueryConfig::default().error_handler(error::query_error);
    let path = web::PathConfig::default().error_handler(error::path_error);
    // Every resource answers other methods with 405 and the `Allow` header (RFC 9110).
    let resource = |path: &str, allow: &'static str| {
        web::resource(path).default_service(web::to(move || async move {
            Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allow))
        }))
    };

    cfg.app_data(query)
        .app_data(path)
        .service(resource("/", "GET, HEAD").route(read().to(health::root)))
        .service(resource("/health/live", "GET, HEAD").route(read().to(health::live)))
        .service(resource("/health/ready", "GET, HEAD").route(read().to(health::ready)))
        .service(
            web::scope("/api/v1")
                .default_service(web::to(not_found))
                .service(
                    resource("/transactions", "POST").route(web::post().to(transactions::create)),
                )
                .service(
                    resource("/transactions/user/{user_id}", "GET, HEAD")
                        .route(read().to(transactions::list_by_user)),
                )
                .service(
                    resource("/transactions/user/{user_id}/export", "GET, HEAD")
                        .route(read().to(export::export)),
                )
                .service(
                    resource("/transactions/{transaction_id}", "GET, HEAD, PATCH, DELETE")
                        .route(read().to(transactions::get))
                        .route(web::patch().to(transactions::update))
                        .route(web::delete().to(transactions::delete)),
                )
                .service(
                    resource("/transactions/{transaction_id}/history", "GET, HEAD")
                        .route(read().to(transactions::history)),
                )
                .service(
                    resource("/analytics/transactions/{user_id}", "GET, HEAD")
                        .route(read().to(analytics::statistics)),
                )
                .service(
                    resource("/analytics/transactions/{user_id}/daily", "GET, HEAD")
                        .route(read().to(analytics::series)),
                )
                .service(
                    resource("/balances/{user_id}", "GET, HEAD")
                        .route(read().to(balances::balance)),
                )
                .service(resource("/events", "GET, HEAD").route(read().to(events::feed))),
        )
        .service(web::resource("/docs").route(read().to(docs_redirect)))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi::ApiDoc::openapi()));
}
