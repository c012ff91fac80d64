//! The catalogue on SQLite: [`ProductStore`] for [`SqliteStore`], the
//! `products` row, its SQL, and the `product_terms` index of name words
//! that search reads (kept in the same transaction as the product).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::sqlite::Sqlite;

use super::statements::{execute, optional_row};
use super::{SqliteStore, by_ids, classify, cursor_mismatch, stored, text, timestamp};
use crate::domain::{
    Description, Price, Product, ProductId, ProductName, ProductPatch, ProductSort, SortKey, Stock,
};
use crate::store::{ProductFilter, ProductQuery, ProductStore, StoreResult};

const PRODUCT_COLUMNS: &str = "id, name, price_cents, stock, description, created_at, updated_at";

sqlite_row! {
    struct ProductRow {
        id: String,
        name: String,
        price_cents: i64,
        stock: i64,
        description: String,
        created_at: String,
        updated_at: String,
    }
}

impl ProductRow {
    fn into_product(self) -> StoreResult<Product> {
        Ok(Product {
            id: stored(ProductId::parse(&self.id), "product id")?,
            name: stored(ProductName::parse(&self.name), "product name")?,
            price: stored(Price::from_cents(self.price_cents), "price")?,
            stock: stored(Stock::parse(self.stock), "stock")?,
            description: stored(Description::parse(&self.description), "description")?,
            created_at: timestamp(&self.created_at)?,
            updated_at: timestamp(&self.updated_at)?,
        })
    }
}

/// The smallest text above every text that starts with `prefix`.
fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// Indexes the words of a product's name for search, in the product's
/// own write.
fn write_terms(
    connection: &rusqlite::Connection,
    id: &ProductId,
    name: &ProductName,
) -> StoreResult<()> {
    for term in name.search_terms() {
        execute(
            connection,
            "INSERT OR IGNORE INTO product_terms (term, product_id) VALUES (?, ?)",
            (term, id.as_str()),
        )?;
    }
    Ok(())
}

/// ` AND …` for each filter of a catalogue list: what its page reads and
/// its count counts.
fn push_filter(sql: &mut QueryBuilder<Sqlite>, filter: &ProductFilter) {
    if let Some(search) = &filter.search {
        for prefix in search.prefixes() {
            sql.push(" AND id IN (SELECT product_id FROM product_terms WHERE term >= ");
            sql.push_bind(prefix.clone());
            sql.push(" AND term < ");
            sql.push_bind(prefix_upper_bound(prefix));
            sql.push(")");
        }
    }
    if let Some(min) = filter.min_price {
        sql.push(" AND price_cents >= ").push_bind(min.cents());
    }
    if let Some(max) = filter.max_price {
        sql.push(" AND price_cents <= ").push_bind(max.cents());
    }
}

fn push_key(sql: &mut QueryBuilder<Sqlite>, sort: ProductSort, key: &SortKey) -> StoreResult<()> {
    match (sort, key) {
        (ProductSort::Newest, SortKey::Time(at)) => sql.push_bind(text(*at)),
        (ProductSort::PriceAsc | ProductSort::PriceDesc, SortKey::Cents(cents)) => {
            sql.push_bind(*cents)
        }
        (ProductSort::NameAsc, SortKey::Text(name)) => sql.push_bind(name.clone()),
        _ => return Err(cursor_mismatch()),
    };
    Ok(())
}

#[async_trait]
impl ProductStore for SqliteStore {
    async fn insert_product(&self, product: &Product) -> StoreResult<()> {
        let product = product.clone();
        self.writer
            .write(move |c| {
                execute(
                    c,
                    "INSERT INTO products (id, name, name_key, price_cents, stock, description, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        product.id.as_str(),
                        product.name.as_str(),
                        product.name.sort_key(),
                        product.price.cents(),
                        product.stock.units(),
                        product.description.as_str(),
                        text(product.created_at),
                        text(product.updated_at),
                    ),
                )?;
                write_terms(c, &product.id, &product.name)
            })
            .await
    }

    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Product>> {
        let (id, patch) = (id.clone(), patch.clone());
        let row = self
            .writer
            .write(move |c| {
                let sql = format!(
                    "UPDATE products SET name = COALESCE(?1, name), name_key = COALESCE(?2, name_key), \
                     price_cents = COALESCE(?3, price_cents), stock = COALESCE(?4, stock), \
                     description = COALESCE(?5, description), updated_at = ?6 \
                     WHERE id = ?7 RETURNING {PRODUCT_COLUMNS}"
                );
                let row = optional_row(
                    c,
                    &sql,
                    (
                        patch.name.as_ref().map(ProductName::as_str),
                        patch.name.as_ref().map(ProductName::sort_key),
                        patch.price.map(Price::cents),
                        patch.stock.map(Stock::units),
                        patch.description.as_ref().map(Description::as_str),
                        text(now),
                        id.as_str(),
                    ),
                    ProductRow::from_written,
                )?;
                if let (Some(_), Some(name)) = (&row, &patch.name) {
                    execute(
                        c,
                        "DELETE FROM product_terms WHERE product_id = ?",
                        [id.as_str()],
                    )?;
                    write_terms(c, &id, name)?;
                }
                Ok(row)
            })
            .await?;
        row.map(ProductRow::into_product).transpose()
    }

    async fn delete_product(&self, id: &ProductId) -> StoreResult<bool> {
        let id = id.as_str().to_owned();
        let deleted = self
            .writer
            .write(move |c| execute(c, "DELETE FROM products WHERE id = ?", [id]))
            .await?;
        Ok(deleted > 0)
    }

    async fn product_by_id(&self, id: &ProductId) -> StoreResult<Option<Product>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?"
        ));
        sqlx::query_as::<_, ProductRow>(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(ProductRow::into_product)
            .transpose()
    }

    async fn products_by_ids(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>> {
        by_ids(
            &self.pool,
            PRODUCT_COLUMNS,
            "products",
            ids,
            ProductRow::into_product,
        )
        .await
    }

    async fn list_products(&self, query: &ProductQuery) -> StoreResult<Vec<Product>> {
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE 1 = 1"
        ));
        push_filter(&mut sql, &query.filter());
        if let Some(cursor) = &query.after {
            let (column, comparison) = match query.sort {
                ProductSort::Newest => ("created_at", "<"),
                ProductSort::PriceAsc => ("price_cents", ">"),
                ProductSort::PriceDesc => ("price_cents", "<"),
                ProductSort::NameAsc => ("name_key", ">"),
            };
            sql.push(format!(" AND ({column} {comparison} "));
            push_key(&mut sql, query.sort, &cursor.key)?;
            sql.push(format!(" OR ({column} = "));
            push_key(&mut sql, query.sort, &cursor.key)?;
            sql.push(format!(" AND id {comparison} "));
            sql.push_bind(cursor.id.clone());
            sql.push("))");
        }
        sql.push(match query.sort {
            ProductSort::Newest => " ORDER BY created_at DESC, id DESC",
            ProductSort::PriceAsc => " ORDER BY price_cents ASC, id ASC",
            ProductSort::PriceDesc => " ORDER BY price_cents DESC, id DESC",
            ProductSort::NameAsc => " ORDER BY name_key ASC, id ASC",
        });
        sql.push(" LIMIT ").push_bind(query.limit as i64);
        sql.build_query_as::<ProductRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(ProductRow::into_product)
            .collect()
    }

    async fn count_products(&self) -> StoreResult<u64> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM products")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(count.max(0) as u64)
    }

    async fn count_matching_products(&self, filter: &ProductFilter) -> StoreResult<u64> {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM products WHERE 1 = 1");
        push_filter(&mut sql, filter);
        let (count,): (i64,) = sql
            .build_query_as()
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(count.max(0) as u64)
    }

    async fn low_stock_products(&self, below: Stock, limit: usize) -> StoreResult<Vec<Product>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE stock < ? ORDER BY stock ASC, id ASC LIMIT ?"
        ));
        sqlx::query_as::<_, ProductRow>(sql)
            .bind(below.units())
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(ProductRow::into_product)
            .collect()
    }
}
