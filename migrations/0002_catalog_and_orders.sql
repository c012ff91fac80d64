-- Products, their search terms, and orders. Money is integer minor units.

CREATE TABLE products (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL,            -- lower-cased name, for name order
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    stock       INTEGER NOT NULL CHECK (stock >= 0),
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE INDEX products_newest ON products (created_at, id);
CREATE INDEX products_price ON products (price_cents, id);
CREATE INDEX products_name ON products (name_key, id);
CREATE INDEX products_stock ON products (stock);

-- One row per lower-cased word of a product name: search is a range scan
-- (word prefix) on the primary key.
CREATE TABLE product_terms (
    term       TEXT NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    PRIMARY KEY (term, product_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX product_terms_product ON product_terms (product_id);

-- Orders keep their product id when the product is deleted: history stays.
CREATE TABLE orders (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id),
    product_id       TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    total_cents      INTEGER NOT NULL CHECK (total_cents >= 0),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'shipped', 'delivered')),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;

CREATE INDEX orders_newest ON orders (created_at, id);
CREATE INDEX orders_user ON orders (user_id, created_at, id);
CREATE INDEX orders_status ON orders (status, created_at, id);
