//! The route table: every path and method, the extractors' limits and error handlers,
//! JSON 404/405 answers, OpenAPI and Swagger UI.

use actix_web::{http::header, web, HttpResponse};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{self, ApiError};
use crate::handlers::{analytics, health, transactions};
use crate::openapi;

/// The largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The JSON 404 of every path no route matches.
pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("Not found"))
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// Registers every route and the extractors' limits and error handlers.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let json = web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .content_type_required(true)
        .error_handler(error::json_error);
    let query = web::QueryConfig::default().error_handler(error::query_error);
    let path = web::PathConfig::default().error_handler(error::path_error);
    // Every resource answers other methods with 405 and the `Allow` header (RFC 9110).
    let resource = |path: &str, allow: &'static str| {
        web::resource(path).default_service(web::to(move || async move {
            Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allow))
        }))
    };

    cfg.app_data(json)
        .app_data(query)
        .app_data(path)
        .service(resource("/", "GET").route(web::get().to(health::root)))
        .service(resource("/health/live", "GET").route(web::get().to(health::live)))
        .service(resource("/health/ready", "GET").route(web::get().to(health::ready)))
        .service(
            web::scope("/api/v1")
                .default_service(web::to(not_found))
                .service(
                    resource("/transactions", "POST").route(web::post().to(transactions::create)),
                )
                .service(
                    resource("/transactions/user/{user_id}", "GET")
                        .route(web::get().to(transactions::list_by_user)),
                )
                .service(
                    resource("/transactions/{id}", "GET, PATCH, DELETE")
                        .route(web::get().to(transactions::get))
                        .route(web::patch().to(transactions::update))
                        .route(web::delete().to(transactions::delete)),
                )
                .service(
                    resource("/analytics/transactions/{user_id}", "GET")
                        .route(web::get().to(analytics::statistics)),
                ),
        )
        .service(web::resource("/docs").route(web::get().to(docs_redirect)))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi::ApiDoc::openapi()));
}
