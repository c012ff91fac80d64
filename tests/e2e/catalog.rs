//! The catalogue on REST and GraphQL, on both stores: the two doors agree,
//! only admins write, bad input writes nothing, search / filters / sorts,
//! cursor pages that stay correct while products are inserted, and listings
//! (served from memory once read) that show every change at once, also one
//! made by another process on the same store.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Backend, TestApp, assert_rest_error, graphql_code, on_both_stores, unique_email,
};

const PRODUCT_FIELDS: &str = "id name price stock description createdAt updatedAt";

fn product_query() -> String {
    format!("query($id: ID!) {{ product(id: $id) {{ {PRODUCT_FIELDS} }} }}")
}

fn create_mutation() -> String {
    format!(
        "mutation($input: CreateProductInput!) {{ createProduct(input: $input) {{ {PRODUCT_FIELDS} }} }}"
    )
}

fn update_mutation() -> String {
    format!(
        "mutation($id: ID!, $input: UpdateProductInput!) {{ updateProduct(id: $id, input: $input) {{ {PRODUCT_FIELDS} }} }}"
    )
}

const DELETE_MUTATION: &str = "mutation($id: ID!) { deleteProduct(id: $id) }";

/// A well-formed id that names no product.
const UNKNOWN_ID: &str = "65f0000000000000000000aa";
/// An id that is not an id at all.
const MALFORMED_ID: &str = "not-an-id";

/// `GET /products/:id` → the product JSON; asserts 200.
async fn rest_product(app: &TestApp, id: &str) -> Value {
    let response = app.get(&format!("/products/{id}"), None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "GET /products/{id}: {body}");
    assert_eq!(body["status"], "success", "{body}");
    body["data"].clone()
}

/// `product(id)` over GraphQL → the product JSON; asserts no errors.
async fn graphql_product(app: &TestApp, id: &str) -> Value {
    app.graphql_ok(&product_query(), json!({ "id": id }), None)
        .await["product"]
        .clone()
}

/// Every product in the catalogue (one page of 100), as REST shows it.
async fn listing(app: &TestApp) -> Vec<Value> {
    let response = app.get_with("/products", &[("limit", "100")], None).await;
    assert_eq!(response.status(), 200, "GET /products");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["meta"]["nextCursor"].is_null(),
        "the catalogue fits one page here: {body}"
    );
    body["data"].as_array().expect("data is an array").clone()
}

// ---------------------------------------------------------------------------
// The two doors agree
// ---------------------------------------------------------------------------

async fn admin_crud_over_rest_and_graphql_agree(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let token = Some(admin.token.as_str());

    // Create over REST, read over GraphQL.
    let response = app
        .post(
            "/products",
            json!({ "name": "  Blue Kettle ", "price": 19.99, "stock": 7, "description": "Boils water." }),
            token,
        )
        .await;
    assert_eq!(response.status(), 201, "POST /products");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success", "{body}");
    let created = body["data"].clone();
    let id = created["id"].as_str().expect("an id").to_owned();
    assert_eq!(id.len(), 24, "a 24-hex id: {id}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "hex id: {id}");
    assert_eq!(created["name"], "Blue Kettle", "the name is trimmed");
    assert_eq!(created["price"], 19.99);
    assert_eq!(created["stock"], 7);
    assert_eq!(created["description"], "Boils water.");
    assert!(created["createdAt"].is_string() && created["updatedAt"].is_string());
    assert_eq!(
        graphql_product(&app, &id).await,
        created,
        "GraphQL reads what REST wrote"
    );
    assert_eq!(rest_product(&app, &id).await, created, "GET /products/:id");
    let versioned = app.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(versioned.status(), 200, "GET /api/v1/products/:id");
    assert_eq!(versioned.json::<Value>().await.unwrap()["data"], created);

    // Create over GraphQL (defaults for stock and description), read over REST.
    let data = app
        .graphql_ok(
            &create_mutation(),
            json!({ "input": { "name": "Green Teapot", "price": 5 } }),
            token,
        )
        .await;
    let teapot = data["createProduct"].clone();
    let teapot_id = teapot["id"].as_str().unwrap().to_owned();
    assert_eq!(teapot["price"], 5.0);
    assert_eq!(teapot["stock"], 0, "stock defaults to 0");
    assert_eq!(teapot["description"], "", "description defaults to empty");
    assert_eq!(
        rest_product(&app, &teapot_id).await,
        teapot,
        "REST reads what GraphQL wrote"
    );

    // Partial update over REST, read over GraphQL: only the price changes.
    let response = app
        .put(&format!("/products/{id}"), json!({ "price": 25.5 }), token)
        .await;
    assert_eq!(response.status(), 200, "PUT /products/:id");
    let updated = response.json::<Value>().await.unwrap()["data"].clone();
    assert_eq!(updated["price"], 25.5);
    for field in ["id", "name", "stock", "description", "createdAt"] {
        assert_eq!(
            updated[field], created[field],
            "{field} is unchanged by a price update"
        );
    }
    assert!(
        updated["updatedAt"].as_str() >= created["updatedAt"].as_str(),
        "updatedAt moves forward: {updated}"
    );
    assert_eq!(graphql_product(&app, &id).await, updated);

    // Partial update over GraphQL, read over REST.
    let data = app
        .graphql_ok(
            &update_mutation(),
            json!({ "id": teapot_id, "input": { "name": "Green Teapot XL", "stock": 3 } }),
            token,
        )
        .await;
    let teapot_updated = data["updateProduct"].clone();
    assert_eq!(teapot_updated["name"], "Green Teapot XL");
    assert_eq!(teapot_updated["stock"], 3);
    assert_eq!(teapot_updated["price"], 5.0, "the price is unchanged");
    assert_eq!(rest_product(&app, &teapot_id).await, teapot_updated);

    // Both in the listings of both doors.
    let rest_ids: BTreeSet<String> = listing(&app)
        .await
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let data = app
        .graphql_ok("{ products(first: 100) { nodes { id } } }", json!({}), None)
        .await;
    let graphql_ids: BTreeSet<String> = data["products"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rest_ids, BTreeSet::from([id.clone(), teapot_id.clone()]));
    assert_eq!(graphql_ids, rest_ids);
    assert_eq!(app.product_count(&admin.token).await, 2);

    // Delete over REST: GraphQL no longer finds it.
    let response = app.delete(&format!("/products/{id}"), token).await;
    assert_eq!(response.status(), 200, "DELETE /products/:id");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"], json!({ "id": id }), "{body}");
    let gone = app
        .graphql(&product_query(), json!({ "id": id }), None)
        .await;
    assert!(
        gone["data"]["product"].is_null(),
        "deleted over REST: {gone}"
    );
    if !gone["errors"].is_null() {
        assert_eq!(graphql_code(&gone), "NOT_FOUND", "{gone}");
    }

    // Delete over GraphQL: REST no longer finds it.
    let data = app
        .graphql_ok(DELETE_MUTATION, json!({ "id": teapot_id }), token)
        .await;
    assert_eq!(data["deleteProduct"], teapot_id.as_str());
    let response = app.get(&format!("/products/{teapot_id}"), None).await;
    assert_rest_error(response, 404, "NOT_FOUND", "GET after deleteProduct").await;
    assert!(
        listing(&app).await.is_empty(),
        "the catalogue is empty again"
    );
    assert_eq!(app.product_count(&admin.token).await, 0);
}

on_both_stores!(admin_crud_over_rest_and_graphql_agree);

// ---------------------------------------------------------------------------
// Only admins write
// ---------------------------------------------------------------------------

async fn a_plain_user_cannot_create_update_or_delete_products(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let user = app.register(&unique_email("catalog-user")).await;
    let original = app
        .create_product(&admin.token, "Admin's Lamp", 12.5, 4)
        .await;
    let id = original["id"].as_str().unwrap().to_owned();
    let as_user = Some(user.token.as_str());

    // Act + Assert: REST
    let response = app
        .post("/products", json!({ "name": "Mine", "price": 1 }), as_user)
        .await;
    assert_rest_error(response, 403, "FORBIDDEN", "a user's POST /products").await;
    let response = app
        .post(
            "/api/v1/products",
            json!({ "name": "Mine", "price": 1 }),
            as_user,
        )
        .await;
    assert_rest_error(response, 403, "FORBIDDEN", "a user's POST /api/v1/products").await;
    let response = app
        .put(&format!("/products/{id}"), json!({ "price": 0 }), as_user)
        .await;
    assert_rest_error(response, 403, "FORBIDDEN", "a user's PUT /products/:id").await;
    let response = app.delete(&format!("/products/{id}"), as_user).await;
    assert_rest_error(response, 403, "FORBIDDEN", "a user's DELETE /products/:id").await;
    let response = app
        .post("/products", json!({ "name": "Anon", "price": 1 }), None)
        .await;
    assert_rest_error(
        response,
        401,
        "UNAUTHENTICATED",
        "an anonymous POST /products",
    )
    .await;

    // Act + Assert: GraphQL
    let cases = [
        (
            "createProduct",
            create_mutation(),
            json!({ "input": { "name": "Mine", "price": 1 } }),
        ),
        (
            "updateProduct",
            update_mutation(),
            json!({ "id": id, "input": { "price": 0 } }),
        ),
        (
            "deleteProduct",
            DELETE_MUTATION.to_owned(),
            json!({ "id": id }),
        ),
    ];
    for (what, query, variables) in cases {
        let body = app.graphql(&query, variables.clone(), as_user).await;
        assert_eq!(graphql_code(&body), "FORBIDDEN", "a user's {what}: {body}");
        assert!(
            body["data"].is_null() || body["data"][what].is_null(),
            "{what} returned data: {body}"
        );
        let body = app.graphql(&query, variables, None).await;
        assert_eq!(
            graphql_code(&body),
            "UNAUTHENTICATED",
            "an anonymous {what}: {body}"
        );
    }

    // Nothing was written.
    assert_eq!(
        rest_product(&app, &id).await,
        original,
        "the product is untouched"
    );
    assert_eq!(
        app.product_count(&admin.token).await,
        1,
        "no product was added"
    );
}

on_both_stores!(a_plain_user_cannot_create_update_or_delete_products);

// ---------------------------------------------------------------------------
// Bad input writes nothing
// ---------------------------------------------------------------------------

async fn bad_product_inputs_get_the_documented_error_class_and_write_nothing(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let token = Some(admin.token.as_str());
    let original = app
        .create_product(&admin.token, "Steady Chair", 40.0, 3)
        .await;
    let id = original["id"].as_str().unwrap().to_owned();
    let long_name = "n".repeat(201);
    let long_description = "d".repeat(5001);
    let valid = |field: &str, value: Value| {
        let mut body =
            json!({ "name": "Fine Name", "price": 1.5, "stock": 1, "description": "ok" });
        body[field] = value;
        body
    };
    // (case, body): every one is invalid on creation.
    let create_cases = [
        ("a negative price", valid("price", json!(-1))),
        ("a price with three decimals", valid("price", json!(1.999))),
        ("a huge price (1e12)", valid("price", json!(1e12))),
        (
            "a price just above 1e9",
            valid("price", json!(1_000_000_000.01)),
        ),
        (
            "the price \"NaN\" as a string",
            valid("price", json!("NaN")),
        ),
        (
            "a price as a numeric string",
            valid("price", json!("12.50")),
        ),
        ("no price", json!({ "name": "Fine Name" })),
        ("an empty name", valid("name", json!(""))),
        ("a whitespace name", valid("name", json!("   \t "))),
        ("a 201-character name", valid("name", json!(long_name))),
        ("a name that is not a string", valid("name", json!(42))),
        ("no name", json!({ "price": 1 })),
        (
            "a 5001-character description",
            valid("description", json!(long_description)),
        ),
        ("a negative stock", valid("stock", json!(-1))),
        ("a fractional stock", valid("stock", json!(1.5))),
        (
            "a stock above 1e9",
            valid("stock", json!(1_000_000_001_i64)),
        ),
    ];

    // Act + Assert: REST creation
    for (case, body) in &create_cases {
        let response = app.post("/products", body.clone(), token).await;
        assert_rest_error(
            response,
            400,
            "BAD_USER_INPUT",
            &format!("POST /products with {case}"),
        )
        .await;
    }

    // Act + Assert: GraphQL creation (the same inputs as variables)
    for (case, input) in &create_cases {
        let body = app
            .graphql(&create_mutation(), json!({ "input": input }), token)
            .await;
        assert_eq!(
            graphql_code(&body),
            "BAD_USER_INPUT",
            "createProduct with {case}: {body}"
        );
        assert!(
            body["data"].is_null() || body["data"]["createProduct"].is_null(),
            "{case}: {body}"
        );
    }

    // Updates, reads and deletes: (case, response, status, code)
    let update_cases: [(&str, Value); 7] = [
        ("an empty body", json!({})),
        ("a negative price", json!({ "price": -0.01 })),
        ("a price with three decimals", json!({ "price": 0.001 })),
        ("a huge price", json!({ "price": 1e12 })),
        ("an empty name", json!({ "name": "" })),
        (
            "a 5001-character description",
            json!({ "description": long_description }),
        ),
        ("a negative stock", json!({ "stock": -5 })),
    ];
    for (case, body) in &update_cases {
        let response = app
            .put(&format!("/products/{id}"), body.clone(), token)
            .await;
        assert_rest_error(response, 400, "BAD_USER_INPUT", &format!("PUT with {case}")).await;
        let answer = app
            .graphql(
                &update_mutation(),
                json!({ "id": id, "input": body }),
                token,
            )
            .await;
        assert_eq!(
            graphql_code(&answer),
            "BAD_USER_INPUT",
            "updateProduct with {case}: {answer}"
        );
    }
    let id_cases = [
        (MALFORMED_ID, 400, "BAD_USER_INPUT"),
        (UNKNOWN_ID, 404, "NOT_FOUND"),
    ];
    for (bad_id, status, code) in id_cases {
        let path = format!("/products/{bad_id}");
        let response = app.get(&path, None).await;
        assert_rest_error(response, status, code, &format!("GET {path}")).await;
        let response = app.put(&path, json!({ "price": 2 }), token).await;
        assert_rest_error(response, status, code, &format!("PUT {path}")).await;
        let response = app.delete(&path, token).await;
        assert_rest_error(response, status, code, &format!("DELETE {path}")).await;

        let body = app
            .graphql(
                &update_mutation(),
                json!({ "id": bad_id, "input": { "price": 2 } }),
                token,
            )
            .await;
        assert_eq!(graphql_code(&body), code, "updateProduct({bad_id}): {body}");
        let body = app
            .graphql(DELETE_MUTATION, json!({ "id": bad_id }), token)
            .await;
        assert_eq!(graphql_code(&body), code, "deleteProduct({bad_id}): {body}");
        let body = app
            .graphql(&product_query(), json!({ "id": bad_id }), None)
            .await;
        assert!(
            body["data"]["product"].is_null(),
            "product({bad_id}): {body}"
        );
        // A malformed id must be refused; an unknown one may be a plain null.
        if bad_id == MALFORMED_ID || !body["errors"].is_null() {
            assert_eq!(graphql_code(&body), code, "product({bad_id}): {body}");
        }
    }

    // Nothing was written.
    assert_eq!(
        app.product_count(&admin.token).await,
        1,
        "no product was added"
    );
    assert_eq!(
        listing(&app).await,
        vec![original.clone()],
        "the listing is unchanged"
    );
    assert_eq!(
        rest_product(&app, &id).await,
        original,
        "the product is untouched"
    );
}

on_both_stores!(bad_product_inputs_get_the_documented_error_class_and_write_nothing);

// ---------------------------------------------------------------------------
// Search, price filters and sorts
// ---------------------------------------------------------------------------

/// Names of the products REST lists for `query` (one page of 100), in order.
async fn rest_names(app: &TestApp, query: &[(&str, &str)]) -> Vec<String> {
    let mut query = query.to_vec();
    query.push(("limit", "100"));
    let response = app.get_with("/products", &query, None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "GET /products {query:?}: {body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Names of the products GraphQL lists for `variables` (first 100), in order.
async fn graphql_names(app: &TestApp, variables: Value) -> Vec<String> {
    let data = app
        .graphql_ok(
            "query($search: String, $minPrice: Float, $maxPrice: Float, $sort: ProductSort! = NEWEST) {
               products(search: $search, minPrice: $minPrice, maxPrice: $maxPrice, sort: $sort, first: 100) {
                 nodes { name }
               }
             }",
            variables,
            None,
        )
        .await;
    data["products"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    names.sort();
    names
}

fn sorted_owned(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

async fn search_price_filters_and_sorts_agree_on_rest_and_graphql(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let catalogue = [
        ("Red Shoes", 49.99),
        ("Red Hat", 15.0),
        ("Blue Shoes", 59.5),
        ("running shoes", 89.0),
        ("Shoehorn", 5.25),
        ("Reddish Lamp", 30.0),
        ("Bored Ape", 1000.0),
    ];
    let mut created_at = HashMap::new();
    for (name, price) in catalogue {
        let product = app.create_product(&admin.token, name, price, 1).await;
        created_at.insert(
            name.to_owned(),
            product["createdAt"].as_str().unwrap().to_owned(),
        );
    }

    // Filters: (case, REST query, GraphQL variables, expected names as a set)
    type FilterCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, Value, Vec<String>);
    let filters: Vec<FilterCase> = vec![
        (
            "a word prefix, not a substring",
            vec![("search", "red")],
            json!({ "search": "red" }),
            sorted(&["Red Shoes", "Red Hat", "Reddish Lamp"]),
        ),
        (
            "two words, in any case: both must match",
            vec![("search", "RED sh")],
            json!({ "search": "RED sh" }),
            sorted(&["Red Shoes"]),
        ),
        (
            "words in another order",
            vec![("search", "shoes red")],
            json!({ "search": "shoes red" }),
            sorted(&["Red Shoes"]),
        ),
        (
            "a prefix of several words",
            vec![("search", "Shoe")],
            json!({ "search": "Shoe" }),
            sorted(&["Red Shoes", "Blue Shoes", "running shoes", "Shoehorn"]),
        ),
        (
            "a suffix matches nothing",
            vec![("search", "hoes")],
            json!({ "search": "hoes" }),
            vec![],
        ),
        (
            "an inclusive price range",
            vec![("minPrice", "15"), ("maxPrice", "49.99")],
            json!({ "minPrice": 15, "maxPrice": 49.99 }),
            sorted(&["Red Hat", "Reddish Lamp", "Red Shoes"]),
        ),
        (
            "a minimum price only",
            vec![("minPrice", "59.5")],
            json!({ "minPrice": 59.5 }),
            sorted(&["Blue Shoes", "running shoes", "Bored Ape"]),
        ),
        (
            "a maximum price only",
            vec![("maxPrice", "15")],
            json!({ "maxPrice": 15 }),
            sorted(&["Red Hat", "Shoehorn"]),
        ),
        (
            "a search and a price range together",
            vec![("search", "shoe"), ("maxPrice", "60")],
            json!({ "search": "shoe", "maxPrice": 60 }),
            sorted(&["Red Shoes", "Blue Shoes", "Shoehorn"]),
        ),
        (
            "a blank search is no filter",
            vec![("search", "  ")],
            json!({ "search": "  " }),
            sorted(&catalogue.map(|(name, _)| name)),
        ),
    ];
    for (case, query, variables, expected) in filters {
        // Act
        let rest = rest_names(&app, &query).await;
        let graphql = graphql_names(&app, variables).await;

        // Assert
        assert_eq!(sorted_owned(rest), expected, "REST, {case}");
        assert_eq!(sorted_owned(graphql), expected, "GraphQL, {case}");
    }

    // Sorts: (REST sort, GraphQL sort, expected order)
    let sorts = [
        (
            "price_asc",
            "PRICE_ASC",
            vec![
                "Shoehorn",
                "Red Hat",
                "Reddish Lamp",
                "Red Shoes",
                "Blue Shoes",
                "running shoes",
                "Bored Ape",
            ],
        ),
        (
            "price_desc",
            "PRICE_DESC",
            vec![
                "Bored Ape",
                "running shoes",
                "Blue Shoes",
                "Red Shoes",
                "Reddish Lamp",
                "Red Hat",
                "Shoehorn",
            ],
        ),
        (
            "name_asc",
            "NAME_ASC",
            vec![
                "Blue Shoes",
                "Bored Ape",
                "Red Hat",
                "Red Shoes",
                "Reddish Lamp",
                "running shoes",
                "Shoehorn",
            ],
        ),
    ];
    for (rest_sort, graphql_sort, expected) in sorts {
        let rest = rest_names(&app, &[("sort", rest_sort)]).await;
        let graphql = graphql_names(&app, json!({ "sort": graphql_sort })).await;
        assert_eq!(rest, expected, "REST sort={rest_sort}");
        assert_eq!(graphql, expected, "GraphQL sort: {graphql_sort}");
    }
    // A sort within a search.
    let rest = rest_names(&app, &[("search", "shoe"), ("sort", "price_desc")]).await;
    assert_eq!(
        rest,
        vec!["running shoes", "Blue Shoes", "Red Shoes", "Shoehorn"],
        "REST search=shoe sort=price_desc"
    );

    // Newest first (the default): creation times never increase down the list.
    // (Times have millisecond precision; products made in the same millisecond
    // may come in either order.)
    for (door, names) in [
        ("REST default", rest_names(&app, &[]).await),
        (
            "REST sort=newest",
            rest_names(&app, &[("sort", "newest")]).await,
        ),
        ("GraphQL default", graphql_names(&app, json!({})).await),
        (
            "GraphQL NEWEST",
            graphql_names(&app, json!({ "sort": "NEWEST" })).await,
        ),
    ] {
        assert_eq!(names.len(), catalogue.len(), "{door}: {names:?}");
        let times: Vec<&str> = names.iter().map(|n| created_at[n].as_str()).collect();
        assert!(
            times.windows(2).all(|w| w[0] >= w[1]),
            "{door}: not newest first: {names:?} created at {times:?}"
        );
    }

    // Bad list parameters are validation errors.
    let bad_params: [(&str, &[(&str, &str)]); 4] = [
        ("an unknown sort", &[("sort", "cheapest")]),
        ("a minPrice that is not a number", &[("minPrice", "abc")]),
        ("a negative minPrice", &[("minPrice", "-1")]),
        ("a cursor that is not a cursor", &[("cursor", "garbage")]),
    ];
    for (case, query) in bad_params {
        let response = app.get_with("/products", query, None).await;
        let body = assert_rest_error(
            response,
            400,
            "BAD_USER_INPUT",
            &format!("GET /products with {case}"),
        )
        .await;
        // The error names the parameter the client sent (REST's `cursor`,
        // not GraphQL's `after`).
        let sent = query[0].0;
        assert!(
            body["details"].get(sent).is_some(),
            "GET /products with {case}: details name {sent}: {body}"
        );
    }
    let body = app
        .graphql(
            "{ products(after: \"garbage\") { nodes { id } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        graphql_code(&body),
        "BAD_USER_INPUT",
        "a bad cursor: {body}"
    );
    assert!(
        body["errors"][0]["extensions"]["details"]
            .get("after")
            .is_some(),
        "GraphQL names its own argument: {body}"
    );
    let body = app
        .graphql(
            "{ products(sort: CHEAPEST) { nodes { id } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        graphql_code(&body),
        "BAD_USER_INPUT",
        "an unknown sort: {body}"
    );
}

on_both_stores!(search_price_filters_and_sorts_agree_on_rest_and_graphql);

// ---------------------------------------------------------------------------
// Pagination while inserting
// ---------------------------------------------------------------------------

const PAGE_SIZE: usize = 7;
/// A walk that has not ended after this many pages is broken.
const MAX_PAGES: usize = 40;

/// One page: the ids on it and the cursor to continue with (None at the end).
type PageOf = (Vec<String>, Option<String>);

async fn rest_page(app: &TestApp, sort: &str, cursor: Option<&str>) -> PageOf {
    let limit = PAGE_SIZE.to_string();
    let mut query = vec![("sort", sort), ("limit", limit.as_str())];
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor));
    }
    let response = app.get_with("/products", &query, None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "GET /products {query:?}: {body}");
    let ids = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let next = body["meta"]["nextCursor"].as_str().map(str::to_owned);
    (ids, next)
}

async fn graphql_page(app: &TestApp, sort: &str, cursor: Option<&str>) -> PageOf {
    let data = app
        .graphql_ok(
            "query($sort: ProductSort!, $first: Int, $after: String) {
               products(sort: $sort, first: $first, after: $after) {
                 edges { cursor node { id } }
                 nodes { id }
                 pageInfo { hasNextPage endCursor }
               }
             }",
            json!({ "sort": sort, "first": PAGE_SIZE, "after": cursor }),
            None,
        )
        .await;
    let connection = &data["products"];
    let ids: Vec<String> = connection["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let edge_ids: Vec<String> = connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, edge_ids, "nodes and edges agree: {connection}");
    let next = if connection["pageInfo"]["hasNextPage"] == true {
        let end = connection["pageInfo"]["endCursor"]
            .as_str()
            .unwrap_or_else(|| panic!("hasNextPage without an endCursor: {connection}"));
        assert_eq!(
            connection["edges"].as_array().unwrap().last().unwrap()["cursor"],
            end,
            "endCursor is the last edge's cursor"
        );
        Some(end.to_owned())
    } else {
        None
    };
    (ids, next)
}

/// Walks every page of one door and sort, inserting two products between
/// page fetches; asserts every product that existed at the start is seen
/// exactly once and no product is seen twice. The inserted products are
/// deleted afterwards, so every walk starts from the same catalogue.
async fn walk_while_inserting(
    app: &TestApp,
    admin_token: &str,
    door: &str,
    sort: &str,
    inserted: &mut usize,
) {
    let mut extras: Vec<String> = Vec::new();
    let originals: BTreeSet<String> = {
        let response = app.get_with("/products", &[("limit", "100")], None).await;
        let body: Value = response.json().await.unwrap();
        assert!(
            body["meta"]["nextCursor"].is_null(),
            "the set fits one page"
        );
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        assert!(page < MAX_PAGES, "{door} {sort}: the walk does not end");
        let (ids, next) = match door {
            "REST" => rest_page(app, sort, cursor.as_deref()).await,
            _ => graphql_page(app, sort, cursor.as_deref()).await,
        };
        assert!(
            ids.len() <= PAGE_SIZE,
            "{door} {sort}: page {page} too long"
        );
        assert!(
            !ids.is_empty() || next.is_none(),
            "{door} {sort}: an empty page {page} with a next cursor"
        );
        seen.extend(ids);
        let Some(next) = next else { break };
        cursor = Some(next);
        // Two new products between page fetches, spread over names and prices
        // so that some land before the cursor and some after.
        for _ in 0..2 {
            *inserted += 1;
            let n = *inserted;
            let name = format!(
                "{} inserted {n:03}",
                ["Aardvark", "Item 12", "Zebra"][n % 3]
            );
            let price = [0.5, 10.99, 3.99, 99.0][n % 4];
            let product = app.create_product(admin_token, &name, price, 1).await;
            extras.push(product["id"].as_str().unwrap().to_owned());
        }
    }

    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &seen {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "{door} {sort}: seen more than once: {duplicates:?}"
    );
    let missing: Vec<_> = originals
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{door} {sort}: {} of {} original products never seen: {missing:?}",
        missing.len(),
        originals.len()
    );

    for id in extras {
        let response = app
            .delete(&format!("/products/{id}"), Some(admin_token))
            .await;
        assert_eq!(response.status(), 200, "deleting inserted product {id}");
    }
}

async fn walking_all_pages_while_inserting_sees_every_product_exactly_once(backend: Backend) {
    // Arrange: 25 products, with repeated prices so that ties must be broken.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    for i in 0..25 {
        let price = [1.99, 5.0, 5.0, 12.5, 0.0][i % 5];
        app.create_product(&admin.token, &format!("Item {i:02}"), price, 1)
            .await;
    }
    let mut inserted = 0;

    // Act + Assert: every door and every sort, inserting as we go.
    for door in ["REST", "GraphQL"] {
        let sorts = match door {
            "REST" => ["newest", "price_asc", "price_desc", "name_asc"],
            _ => ["NEWEST", "PRICE_ASC", "PRICE_DESC", "NAME_ASC"],
        };
        for sort in sorts {
            walk_while_inserting(&app, &admin.token, door, sort, &mut inserted).await;
        }
    }
    assert!(inserted >= 16, "products were inserted during the walks");
}

on_both_stores!(walking_all_pages_while_inserting_sees_every_product_exactly_once);

#[tokio::test]
async fn an_empty_product_update_is_refused_under_the_name_each_door_uses() {
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    let product = app.create_product(&admin.token, "Lamp", 12.5, 3).await;
    let id = product["id"].as_str().unwrap();

    let response = app
        .put(&format!("/products/{id}"), json!({}), Some(&admin.token))
        .await;
    let body = assert_rest_error(
        response,
        400,
        "BAD_USER_INPUT",
        "PUT with nothing to change",
    )
    .await;
    assert!(
        body["details"].get("body").is_some(),
        "REST names the body: {body}"
    );

    let body = app
        .graphql(
            "mutation($id: ID!) { updateProduct(id: $id, input: {}) { id } }",
            json!({ "id": id }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(graphql_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["extensions"]["details"]
            .get("input")
            .is_some(),
        "GraphQL names its argument: {body}"
    );
}

// ---------------------------------------------------------------------------
// A change shows in the very next listing
// ---------------------------------------------------------------------------

/// `(name, stock)` of each product of the default `GET /products` page (what
/// most clients ask for, and what the server keeps in memory once read).
async fn rest_default_listing(app: &TestApp) -> Vec<(String, i64)> {
    let response = app.get("/products", None).await;
    let status = response.status();
    let content_type = response.headers()["content-type"].clone();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "GET /products: {body}");
    assert_eq!(content_type, "application/json");
    names_and_stock(&body["data"])
}

/// The same for GraphQL `products(first: 20)`.
async fn graphql_default_listing(app: &TestApp) -> Vec<(String, i64)> {
    let data = app
        .graphql_ok(
            "{ products(first: 20) { nodes { name stock } } }",
            json!({}),
            None,
        )
        .await;
    names_and_stock(&data["products"]["nodes"])
}

fn names_and_stock(products: &Value) -> Vec<(String, i64)> {
    products
        .as_array()
        .expect("a list of products")
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("a name").to_owned();
            (name, p["stock"].as_i64().expect("a stock"))
        })
        .collect()
}

/// Both doors' default listings, which must agree; `what` names the step.
async fn both_listings(app: &TestApp, what: &str) -> Vec<(String, i64)> {
    let rest = rest_default_listing(app).await;
    let graphql = graphql_default_listing(app).await;
    assert_eq!(rest, graphql, "the doors disagree {what}");
    rest
}

fn one(name: &str, stock: i64) -> Vec<(String, i64)> {
    vec![(name.to_owned(), stock)]
}

async fn a_change_through_either_door_shows_in_the_very_next_listing_on_both(backend: Backend) {
    // Arrange: both listings read (and so kept) before every change.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let buyer = app.register(&unique_email("snapshot-buyer")).await;
    let token = Some(admin.token.as_str());
    assert_eq!(both_listings(&app, "at first").await, []);

    // Added over REST.
    let product = app.create_product(&admin.token, "Kept lamp", 12.5, 5).await;
    let id = product["id"].as_str().unwrap().to_owned();
    assert_eq!(
        both_listings(&app, "after a REST create").await,
        one("Kept lamp", 5)
    );

    // Renamed over GraphQL.
    app.graphql_ok(
        &update_mutation(),
        json!({ "id": id, "input": { "name": "Kept desk lamp" } }),
        token,
    )
    .await;
    assert_eq!(
        both_listings(&app, "after a GraphQL update").await,
        one("Kept desk lamp", 5)
    );

    // Restocked over REST.
    let response = app
        .put(&format!("/products/{id}"), json!({ "stock": 9 }), token)
        .await;
    assert_eq!(response.status(), 200, "PUT /products/:id");
    assert_eq!(
        both_listings(&app, "after a REST update").await,
        one("Kept desk lamp", 9)
    );

    // Ordered over REST, then over GraphQL: the stock shown is what is left.
    let response = app.place_order(&buyer.token, &id, 2).await;
    assert_eq!(response.status(), 201, "POST /orders");
    assert_eq!(
        both_listings(&app, "after a REST order").await,
        one("Kept desk lamp", 7)
    );
    app.graphql_ok(
        "mutation($id: ID!) { placeOrder(productId: $id, quantity: 3) { id } }",
        json!({ "id": id }),
        Some(&buyer.token),
    )
    .await;
    assert_eq!(
        both_listings(&app, "after a GraphQL order").await,
        one("Kept desk lamp", 4)
    );

    // Removed over GraphQL, then another added over GraphQL.
    app.graphql_ok(DELETE_MUTATION, json!({ "id": id }), token)
        .await;
    assert_eq!(both_listings(&app, "after a GraphQL delete").await, []);
    app.graphql_ok(
        &create_mutation(),
        json!({ "input": { "name": "Second lamp", "price": 3.0, "stock": 1 } }),
        token,
    )
    .await;
    assert_eq!(
        both_listings(&app, "after a GraphQL create").await,
        one("Second lamp", 1)
    );
}

on_both_stores!(a_change_through_either_door_shows_in_the_very_next_listing_on_both);

/// Whether a Socket.IO line is `event` about the product `id`.
fn product_event(event: &'static str, id: &str) -> impl Fn(&Value) -> bool {
    let id = id.to_owned();
    move |line| {
        line["kind"] == "event" && line["event"] == event && line["args"][0]["productId"] == id
    }
}

/// How long another process may take to hear of a write without Redis: its
/// event log reads the store every 500 ms (plenty of room on a loaded machine).
const HEARD_WITHIN: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_change_made_by_another_process_without_redis_shows_once_its_event_arrived() {
    // Arrange: two servers on one MongoDB database and no Redis; the second
    // has its listings kept, and a socket that hears the catalogue's news.
    let first = TestApp::spawn_with(Backend::Mongo, |_| {}).await;
    let second = first.another_on_the_same_store().await;
    let admin = first.login_as_admin().await;
    let buyer = second.register(&unique_email("snapshot-elsewhere")).await;
    // An admin's socket: it hears of orders too.
    let mut news = second.socket(&admin.token).await;
    assert_eq!(both_listings(&second, "at first").await, []);

    // Act: a product added through the first.
    let product = first
        .create_product(&admin.token, "Far lamp", 12.5, 5)
        .await;
    let id = product["id"].as_str().unwrap().to_owned();

    // Assert: once the second announced it, its listings show it (no retry:
    // the kept pages moved on before any connection heard of the event).
    news.expect(
        "new_product on the second",
        HEARD_WITHIN,
        product_event("new_product", &id),
    )
    .await;
    assert_eq!(
        both_listings(&second, "once the second heard of the create").await,
        one("Far lamp", 5)
    );

    // An order taking stock through the first.
    let response = first.place_order(&buyer.token, &id, 2).await;
    assert_eq!(response.status(), 201, "POST /orders on the first");
    news.expect(
        "new_order on the second",
        HEARD_WITHIN,
        product_event("new_order", &id),
    )
    .await;
    assert_eq!(
        both_listings(&second, "once the second heard of the order").await,
        one("Far lamp", 3)
    );

    // A change through the first.
    let response = first
        .put(
            &format!("/products/{id}"),
            json!({ "name": "Far desk lamp" }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(response.status(), 200, "PUT /products/:id on the first");
    news.expect(
        "product_updated on the second",
        HEARD_WITHIN,
        product_event("product_updated", &id),
    )
    .await;
    assert_eq!(
        both_listings(&second, "once the second heard of the change").await,
        one("Far desk lamp", 3)
    );
}
