//! The HTTP adapter: routes, extractor settings, error mapping, OpenAPI and Swagger UI.

pub mod access;
pub mod dto;
pub mod envelope;
pub mod error;
pub mod handlers;
pub mod input;
pub mod openapi;
pub mod request_context;

use actix_web::{http::header, web, HttpResponse};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use self::error::ApiError;
use self::handlers::{analytics, health, transactions};

/// The largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("Not found"))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// Registers every route and the extractors' limits and error handlers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let json = web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .content_type_required(true)
        .error_handler(error::json_error);
    let query = web::QueryConfig::default().error_handler(error::query_error);
    let path = web::PathConfig::default().error_handler(error::path_error);
    let resource = |path: &str| web::resource(path).default_service(web::to(method_not_allowed));

    cfg.app_data(json)
        .app_data(query)
        .app_data(path)
        .service(resource("/").route(web::get().to(health::root)))
        .service(resource("/health/live").route(web::get().to(health::live)))
        .service(resource("/health/ready").route(web::get().to(health::ready)))
        .service(
            web::scope("/api/v1")
                .service(resource("/transactions").route(web::post().to(transactions::create)))
                .service(
                    resource("/transactions/user/{user_id}")
                        .route(web::get().to(transactions::list_by_user)),
                )
                .service(
                    resource("/transactions/{id}")
                        .route(web::get().to(transactions::get))
                        .route(web::patch().to(transactions::update))
                        .route(web::delete().to(transactions::delete)),
                )
                .service(
                    resource("/analytics/transactions/{user_id}")
                        .route(web::get().to(analytics::statistics)),
                ),
        )
        .service(web::resource("/docs").route(web::get().to(docs_redirect)))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi::ApiDoc::openapi()))
        .default_service(web::to(not_found));
}
