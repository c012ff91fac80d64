//! `/products`: the catalogue over REST.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::extract::IdempotencyKeyHeader;
use super::{AppJson, number_param, page_body};
use crate::auth::Principal;
use crate::compat::envelope;
use crate::compat::openapi::{
    DeletedEnvelope, ErrorEnvelope, ProductEnvelope, ProductPage, product_sort_schema,
};
use crate::compat::wire::ProductBody;
use crate::domain::{NewProduct, Page, ProductId, ProductListing, ProductPatch};
use crate::error::AppError;
use crate::services::Services;

/// `GET /products` query parameters, read as text so that a bad number is a
/// validation error naming the parameter (documented as the numbers they are).
#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ProductsParams {
    /// Words that must each begin a word of the name (case-insensitive).
    search: Option<String>,
    /// Lowest price, inclusive.
    #[param(value_type = Option<f64>)]
    min_price: Option<String>,
    /// Highest price, inclusive.
    #[param(value_type = Option<f64>)]
    max_price: Option<String>,
    #[param(schema_with = product_sort_schema)]
    sort: Option<String>,
    /// Items per page: 20 by default, at most 100 (more is clamped).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// `meta.nextCursor` of the previous page.
    cursor: Option<String>,
}

/// `POST /products` body.
#[derive(Deserialize, ToSchema)]
pub struct CreateProductBody {
    name: String,
    /// A decimal amount with at most two decimals, from 0 to 1,000,000,000.
    price: f64,
    /// Units in stock; 0 when left out.
    stock: Option<i64>,
    description: Option<String>,
}

/// `PUT /products/:id` body: any subset of the fields.
#[derive(Deserialize, ToSchema)]
pub struct UpdateProductBody {
    name: Option<String>,
    price: Option<f64>,
    stock: Option<i64>,
    description: Option<String>,
}

fn product_id(raw: &str) -> Result<ProductId, AppError> {
    ProductId::parse(raw).map_err(|e| e.on("id"))
}

/// A page of the catalogue.
#[utoipa::path(
    get,
    path = "/products",
    tag = "products",
    params(ProductsParams),
    responses(
        (status = 200, description = "A page of products", body = ProductPage),
        (status = 400, description = "A bad number, sort or cursor", body = ErrorEnvelope),
    )
)]
pub async fn list_products(
    State(services): State<Services>,
    Query(params): Query<ProductsParams>,
) -> Result<impl IntoResponse, AppError> {
    let min_price = number_param("minPrice", params.min_price.as_deref())?;
    let max_price = number_param("maxPrice", params.max_price.as_deref())?;
    let limit = number_param("limit", params.limit.as_deref())?;
    let listing = ProductListing::parse(
        params.search.as_deref(),
        min_price,
        max_price,
        params.sort.as_deref(),
        limit.map(|n: f64| n as i64),
        params.cursor.as_deref(),
    )
    .map_err(|e| e.renamed("after", "cursor"))?;
    let listed = services.catalog.listed(listing).await?;
    // Serialised once per kept page (and catalogue version), then shared:
    // the same bytes and header `Json` would give.
    let body = listed.rendered(|page| {
        let items = page.items.iter().map(ProductBody::from).collect();
        let page = Page {
            items,
            next_cursor: page.next_cursor.clone(),
        };
        Bytes::from(page_body(page).to_string())
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    ))
}

/// One product.
#[utoipa::path(
    get,
    path = "/products/{id}",
    tag = "products",
    params(("id" = String, Path, description = "The product id")),
    responses(
        (status = 200, description = "The product", body = ProductEnvelope),
        (status = 400, description = "A malformed id", body = ErrorEnvelope),
        (status = 404, description = "No such product", body = ErrorEnvelope),
    )
)]
pub async fn get_product(
    State(services): State<Services>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let product = services.catalog.product(&product_id(&id)?).await?;
    Ok(Json(envelope::success(ProductBody::from(&product))))
}

/// Adds a product (admins).
///
/// Every socket hears `new_product`.
#[utoipa::path(
    post,
    path = "/products",
    tag = "products",
    request_body = CreateProductBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key from the same user within 24 hours returns the first result; with a different body, 409")),
    security(("bearerAuth" = [])),
    responses(
        (status = 201, description = "The product, created", body = ProductEnvelope),
        (status = 400, description = "A malformed body or a value out of range", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
        (status = 409, description = "The Idempotency-Key was used for another request", body = ErrorEnvelope),
    )
)]
pub async fn create_product(
    State(services): State<Services>,
    principal: Principal,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    AppJson(body): AppJson<CreateProductBody>,
) -> Result<impl IntoResponse, AppError> {
    let new = NewProduct::parse(
        &body.name,
        body.price,
        body.stock,
        body.description.as_deref(),
    )?;
    let product = services
        .catalog
        .create(&principal, new, key.as_ref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::success(ProductBody::from(&product))),
    ))
}

/// Changes any subset of a product's fields (admins).
///
/// Every socket hears `product_updated`.
#[utoipa::path(
    put,
    path = "/products/{id}",
    tag = "products",
    params(("id" = String, Path, description = "The product id")),
    request_body = UpdateProductBody,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The product, changed", body = ProductEnvelope),
        (status = 400, description = "A malformed id or body, or a value out of range", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such product", body = ErrorEnvelope),
    )
)]
pub async fn update_product(
    State(services): State<Services>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<UpdateProductBody>,
) -> Result<impl IntoResponse, AppError> {
    let id = product_id(&id)?;
    let patch = ProductPatch::parse(
        body.name.as_deref(),
        body.price,
        body.stock,
        body.description.as_deref(),
    )
    // The patch is the whole body here, GraphQL's `input`.
    .map_err(|e| e.renamed("input", "body"))?;
    let product = services.catalog.update(&principal, &id, patch).await?;
    Ok(Json(envelope::success(ProductBody::from(&product))))
}

/// Removes a product (admins).
///
/// Its orders are kept. Every socket hears `product_deleted`.
#[utoipa::path(
    delete,
    path = "/products/{id}",
    tag = "products",
    params(("id" = String, Path, description = "The product id")),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The id of the removed product", body = DeletedEnvelope),
        (status = 400, description = "A malformed id", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such product", body = ErrorEnvelope),
    )
)]
pub async fn delete_product(
    State(services): State<Services>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let id = services
        .catalog
        .delete(&principal, &product_id(&id)?)
        .await?;
    Ok(Json(envelope::success(json!({ "id": id.to_string() }))))
}
