//! Server functions whose arguments cannot even be read (a missing field, an
//! unknown value) fail inside the framework before Steward's code runs, and
//! the framework answers 500. Such a body is an input error; say so with 422.

use actix_web::{
    body::{to_bytes, BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::StatusCode,
    middleware::Next,
    Error,
};

pub async fn bad_input_status(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let is_server_fn = req.path().starts_with("/api/");
    let res = next.call(req).await?.map_into_boxed_body();
    if !is_server_fn || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    let bytes =
        to_bytes(body).await.map_err(|_| actix_web::error::ErrorInternalServerError("unreadable response body"))?;
    if bytes.starts_with(br#"{"Invalid""#) {
        *head.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(ServiceResponse::new(req, head.set_body(BoxBody::new(bytes))))
}
