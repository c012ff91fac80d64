//! `/products`: the catalogue over REST.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::{AppJson, number_param, page_body};
use crate::auth::Principal;
use crate::compat::envelope;
use crate::compat::wire::ProductBody;
use crate::domain::{NewProduct, ProductId, ProductPatch};
use crate::error::AppError;
use crate::http::AppState;
use crate::services::ProductListing;

/// `GET /products` query parameters, read as text so that a bad number is a
/// validation error naming the parameter.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductsParams {
    search: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
    sort: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `POST /products` body.
#[derive(Deserialize)]
pub struct CreateProductBody {
    name: String,
    price: f64,
    stock: Option<i64>,
    description: Option<String>,
}

/// `PUT /products/:id` body: any subset of the fields.
#[derive(Deserialize)]
pub struct UpdateProductBody {
    name: Option<String>,
    price: Option<f64>,
    stock: Option<i64>,
    description: Option<String>,
}

fn product_id(raw: &str) -> Result<ProductId, AppError> {
    ProductId::parse(raw).map_err(|e| e.on("id"))
}

pub async fn list_products(
    State(state): State<AppState>,
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
    )?;
    let page = state.services.catalog.list(listing).await?;
    Ok(Json(page_body(
        page.map(|product| ProductBody::from(&product)),
    )))
}

pub async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let product = state.services.catalog.product(&product_id(&id)?).await?;
    Ok(Json(envelope::success(ProductBody::from(&product))))
}

pub async fn create_product(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(body): AppJson<CreateProductBody>,
) -> Result<impl IntoResponse, AppError> {
    let new = NewProduct::parse(
        &body.name,
        body.price,
        body.stock,
        body.description.as_deref(),
    )?;
    let product = state.services.catalog.create(&principal, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::success(ProductBody::from(&product))),
    ))
}

pub async fn update_product(
    State(state): State<AppState>,
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
    )?;
    let product = state
        .services
        .catalog
        .update(&principal, &id, patch)
        .await?;
    Ok(Json(envelope::success(ProductBody::from(&product))))
}

pub async fn delete_product(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let id = state
        .services
        .catalog
        .delete(&principal, &product_id(&id)?)
        .await?;
    Ok(Json(envelope::success(json!({ "id": id.to_string() }))))
}
