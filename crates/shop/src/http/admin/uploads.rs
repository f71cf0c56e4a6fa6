//! `/v1/admin/uploads`: product images, content-addressed.

use crate::auth::{Permission, ShopAdmin};
use axum::extract::{Multipart, State};
use axum::response::Response;
use serde::Serialize;
use suanpan_core::error::ErrorBody;
use suanpan_core::{AppError, AppResult};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::http::created;

/// Upload answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    /// Public URL of the stored image.
    pub url: String,
}

/// Uploads a product image (multipart field `file`; JPEG, PNG, WebP or GIF by content, at most
/// `upload_max_bytes`). Content-addressed: the same bytes give the same URL.
#[utoipa::path(post, path = "/v1/admin/uploads", tag = "admin", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", content = String, description = "field `file`"),
    responses((status = 201, body = Uploaded), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn upload(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    mut mp: Multipart,
) -> AppResult<Response> {
    admin.require(Permission::ManageCatalog)?;
    let too_large = || {
        AppError::new(
            suanpan_core::ErrorKind::TooLarge,
            "payload_too_large",
            "file too large",
        )
    };
    while let Some(field) = mp.next_field().await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            AppError::invalid("invalid_multipart", e.body_text())
        }
    })? {
        if field.name() != Some("file") {
            continue;
        }
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                AppError::invalid("invalid_multipart", e.body_text())
            }
        })?;
        if bytes.len() > s.core.config.upload_max_bytes {
            return Err(too_large());
        }
        let ext = suanpan_core::storage::sniff_image(&bytes).ok_or_else(|| {
            AppError::invalid("unsupported_image", "only JPEG, PNG, WebP and GIF images")
        })?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let name = format!("{}.{ext}", hex::encode(digest.as_ref()));
        let url = s.core.blobs.put(&name, bytes.to_vec()).await?;
        return Ok(created(Uploaded { url }));
    }
    Err(AppError::invalid(
        "missing_file",
        "multipart field `file` is required",
    ))
}

/// Body limit of the upload route; the configured `upload_max_bytes` is checked inside.
pub const UPLOAD_BODY_LIMIT: usize = 20 << 20;

/// `/v1/admin/uploads` routes, with the upload body limit.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(axum::extract::DefaultBodyLimit::max(UPLOAD_BODY_LIMIT))
}
