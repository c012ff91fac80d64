//! The machine-readable API documents, `/openapi.json` and `/asyncapi.json`,
//! against what the running server serves.
//!
//! Both directions: every documented REST operation answers (neither 404
//! nor 405, at both bases) and every route of the contract is documented
//! with its methods; the AsyncAPI document lists exactly the events of the
//! code's table, every event API.md names, and each documented client event
//! is handled. Payloads too: real REST responses, Socket.IO events and acks
//! are checked against the schemas the documents give for them.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use realtime_dashboard::compat::socketio::events::{self, Direction};
use serde_json::{Value, json};

use crate::support::node::NodeClient;
use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestApp, account_from, unique_email};

/// Every REST route of the contract (API.md, README), with its methods.
const REST_ROUTES: [(&str, &[&str]); 13] = [
    ("/auth/register", &["post"]),
    ("/auth/login", &["post"]),
    ("/auth/refresh", &["post"]),
    ("/auth/logout", &["post"]),
    ("/products", &["get", "post"]),
    ("/products/{id}", &["get", "put", "delete"]),
    ("/orders", &["get", "post"]),
    ("/orders/my", &["get"]),
    ("/orders/{id}", &["get", "put"]),
    ("/chat/messages", &["get", "post"]),
    ("/chat/messages/{id}", &["get"]),
    ("/users/{id}", &["patch"]),
    ("/events", &["get"]),
];

/// Every Socket.IO event API.md and the README name, with its direction.
const API_EVENTS: [(&str, Direction); 19] = [
    ("send_message", Direction::ClientToServer),
    ("receive_message", Direction::ServerToClient),
    ("typing", Direction::ClientToServer),
    ("start_typing", Direction::ClientToServer),
    ("stop_typing", Direction::ClientToServer),
    ("user_typing", Direction::ServerToClient),
    ("mark_seen", Direction::ClientToServer),
    ("messages_seen", Direction::ServerToClient),
    ("user_online", Direction::ServerToClient),
    ("user_offline", Direction::ServerToClient),
    ("new_product", Direction::ServerToClient),
    ("new_order", Direction::ServerToClient),
    ("update_order_status", Direction::ClientToServer),
    ("order_status_update", Direction::ServerToClient),
    ("session_ended", Direction::ServerToClient),
    ("product_updated", Direction::ServerToClient),
    ("product_deleted", Direction::ServerToClient),
    ("resync_required", Direction::ServerToClient),
    ("resume_position", Direction::ServerToClient),
];

/// The HTTP methods a route could be mounted for.
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// How long to wait for something that must happen.
const WAIT: Duration = Duration::from_secs(10);

async fn fetch(app: &TestApp, path: &str) -> Value {
    let response = app.get(path, None).await;
    assert_eq!(response.status(), 200, "GET {path}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "GET {path}: {content_type}"
    );
    response.json().await.expect("the document is JSON")
}

/// The documented operations: path → methods.
fn documented_operations(openapi: &Value) -> BTreeMap<String, BTreeSet<String>> {
    openapi["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(|method| method.to_string())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// The server bases of the document (`/` as the empty prefix).
fn bases(openapi: &Value) -> Vec<String> {
    openapi["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|server| {
            server["url"]
                .as_str()
                .expect("servers[].url")
                .trim_end_matches('/')
                .to_owned()
        })
        .collect()
}

/// A request that harms nothing: no token, a malformed id, an empty body.
async fn harmless(app: &TestApp, method: &str, path: &str) -> (u16, Value) {
    let url = app.url(&path.replace("{id}", "not-an-id"));
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = app.http.request(method.clone(), url);
    if method == reqwest::Method::POST || method == reqwest::Method::PUT {
        request = request.json(&json!({}));
    }
    let response = request
        .send()
        .await
        .expect("the request reaches the server");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn openapi_is_3_1_and_documents_every_rest_route_with_its_methods() {
    let app = TestApp::spawn().await;

    let openapi = fetch(&app, "/openapi.json").await;

    let version = openapi["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1."), "OpenAPI {version}");
    assert_eq!(bases(&openapi), ["", "/api/v1"], "servers");
    let documented = documented_operations(&openapi);
    let expected: BTreeMap<String, BTreeSet<String>> = REST_ROUTES
        .iter()
        .map(|(path, methods)| {
            let methods = methods.iter().map(|method| method.to_string()).collect();
            (path.to_string(), methods)
        })
        .collect();
    assert_eq!(
        documented, expected,
        "the documented operations are not the REST routes of the contract"
    );
    assert_eq!(
        openapi,
        serde_json::to_value(realtime_dashboard::compat::rest::openapi()).unwrap(),
        "/openapi.json is rest::openapi()"
    );
}

#[tokio::test]
async fn every_documented_operation_is_served_at_both_bases_and_nothing_else_is() {
    let app = TestApp::spawn().await;
    let openapi = fetch(&app, "/openapi.json").await;

    for base in bases(&openapi) {
        for (documented, methods) in documented_operations(&openapi) {
            let path = format!("{base}{documented}");
            for method in METHODS {
                let (status, body) = harmless(&app, method, &path).await;
                if methods.contains(method) {
                    assert!(
                        status != 404 && status != 405,
                        "{method} {path} is documented but answers {status}: {body}"
                    );
                    if requires_token(&openapi, &documented, method) {
                        assert_eq!(status, 401, "{method} {path} without a token: {body}");
                    }
                } else {
                    assert_eq!(
                        status, 405,
                        "{method} {path} is not documented but answers {status}: {body}"
                    );
                }
            }
        }
    }
}

/// Whether the operation lists a security requirement.
fn requires_token(openapi: &Value, path: &str, method: &str) -> bool {
    openapi["paths"][path][method]["security"]
        .as_array()
        .is_some_and(|requirements| !requirements.is_empty())
}

#[tokio::test]
async fn asyncapi_is_3_and_lists_exactly_the_events_of_the_table() {
    let app = TestApp::spawn().await;

    let asyncapi = fetch(&app, "/asyncapi.json").await;

    let version = asyncapi["asyncapi"].as_str().expect("asyncapi version");
    assert!(version.starts_with("3."), "AsyncAPI {version}");
    let channel = asyncapi["channels"]["events"]["messages"]
        .as_object()
        .expect("channels.events.messages");
    let documented: BTreeSet<&str> = channel.keys().map(String::as_str).collect();
    let table: BTreeSet<&str> = events::ALL.iter().map(|event| event.name).collect();
    assert_eq!(table.len(), events::ALL.len(), "the table has duplicates");
    assert_eq!(documented, table, "documented events vs the code's table");
    for event in &events::ALL {
        assert_eq!(
            direction_of(&asyncapi, event.name),
            Some(event.direction),
            "{}",
            event.name
        );
        let message = &asyncapi["components"]["messages"][event.name];
        assert_eq!(message["name"], event.name);
        assert!(
            message["payload"].is_object(),
            "{} has a payload",
            event.name
        );
    }
    for (name, direction) in API_EVENTS {
        assert_eq!(
            direction_of(&asyncapi, name),
            Some(direction),
            "API.md's {name} is documented with its direction"
        );
    }
}

/// The direction of an event's operation (the document describes the
/// server: it `receive`s client events and `send`s its own).
fn direction_of(asyncapi: &Value, event: &str) -> Option<Direction> {
    let operation = &asyncapi["operations"][event];
    let expected_message = format!("#/channels/events/messages/{event}");
    if operation["messages"][0]["$ref"] != expected_message.as_str() {
        return None;
    }
    match operation["action"].as_str()? {
        "receive" => Some(Direction::ClientToServer),
        "send" => Some(Direction::ServerToClient),
        _ => None,
    }
}

#[tokio::test]
async fn every_documented_client_event_is_handled_and_acks_as_documented() {
    let app = TestApp::spawn().await;
    let asyncapi = fetch(&app, "/asyncapi.json").await;
    let admin = app.login_as_admin().await;
    let mut socket = app.socket(&admin.token).await;

    let operations = asyncapi["operations"].as_object().expect("operations");
    let received: Vec<&String> = operations
        .iter()
        .filter(|(_, operation)| operation["action"] == "receive")
        .map(|(name, _)| name)
        .collect();
    assert!(!received.is_empty());
    for name in received {
        let args = socket.emit_with_ack(name, json!({}), WAIT).await;
        let ack = &args[0];
        assert_eq!(
            ack["code"], "BAD_USER_INPUT",
            "{name} with an empty payload: {ack}"
        );
        check_ack(&asyncapi, name, ack);
    }
}

/// Checks an ack against the documented reply of `event`.
fn check_ack(asyncapi: &Value, event: &str, ack: &Value) {
    let reply = &asyncapi["operations"][event]["reply"]["messages"][0]["$ref"];
    let message = resolve(asyncapi, reply.as_str().expect("a documented reply"));
    let message = follow(asyncapi, message);
    validate(asyncapi, &message["payload"], ack, &format!("{event} ack"));
}

#[tokio::test]
async fn rest_responses_have_their_documented_shapes() {
    let app = TestApp::spawn().await;
    let openapi = fetch(&app, "/openapi.json").await;
    let exercised = RefCell::new(BTreeSet::new());
    let check = |method: &'static str, path: &'static str| Check {
        openapi: &openapi,
        method,
        path,
        exercised: &exercised,
    };

    // Accounts.
    let email = unique_email("contract");
    let registered = app
        .post(
            "/auth/register",
            json!({ "name": "Ada", "email": email, "password": "password-123" }),
            None,
        )
        .await;
    let user = account_from(check("post", "/auth/register").of(registered, 201).await);
    let admin = check("post", "/auth/login")
        .of(
            app.post(
                "/auth/login",
                json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
                None,
            )
            .await,
            200,
        )
        .await;
    let admin = account_from(admin);
    check("post", "/auth/login")
        .of(
            app.post(
                "/auth/login",
                json!({ "email": email, "password": "wrong-password" }),
                None,
            )
            .await,
            401,
        )
        .await;
    check("post", "/auth/register")
        .of(
            app.post(
                "/auth/register",
                json!({ "name": "Ada", "email": "not-an-email", "password": "x" }),
                None,
            )
            .await,
            400,
        )
        .await;

    // Catalogue.
    let create = json!({ "name": "Contract Lamp", "price": 19.99, "stock": 2 });
    check("post", "/products")
        .of(
            app.post("/products", create.clone(), Some(&user.token))
                .await,
            403,
        )
        .await;
    let product = check("post", "/products")
        .of(app.post("/products", create, Some(&admin.token)).await, 201)
        .await;
    let product_id = product["data"]["id"].as_str().unwrap().to_owned();
    let product_path = format!("/products/{product_id}");
    check("get", "/products")
        .of(
            app.get_with("/products", &[("limit", "1")], None).await,
            200,
        )
        .await;
    check("get", "/products")
        .of(
            app.get_with("/products", &[("sort", "sideways")], None)
                .await,
            400,
        )
        .await;
    check("get", "/products/{id}")
        .of(app.get(&product_path, None).await, 200)
        .await;
    check("get", "/products/{id}")
        .of(
            app.get("/products/0123456789abcdef01234567", None).await,
            404,
        )
        .await;
    check("put", "/products/{id}")
        .of(
            app.put(&product_path, json!({ "stock": 3 }), Some(&admin.token))
                .await,
            200,
        )
        .await;

    // Orders.
    let order = check("post", "/orders")
        .of(app.place_order(&user.token, &product_id, 1).await, 201)
        .await;
    check("post", "/orders")
        .of(app.place_order(&user.token, &product_id, 99).await, 409)
        .await;
    let order_path = format!("/orders/{}", order["data"]["id"].as_str().unwrap());
    check("get", "/orders")
        .of(app.get("/orders", Some(&admin.token)).await, 200)
        .await;
    check("get", "/orders")
        .of(app.get("/orders", None).await, 401)
        .await;
    check("get", "/orders/my")
        .of(app.get("/orders/my", Some(&user.token)).await, 200)
        .await;
    check("get", "/orders/{id}")
        .of(app.get(&order_path, Some(&user.token)).await, 200)
        .await;
    check("put", "/orders/{id}")
        .of(
            app.put(
                &order_path,
                json!({ "status": "shipped" }),
                Some(&admin.token),
            )
            .await,
            200,
        )
        .await;
    check("put", "/orders/{id}")
        .of(
            app.put(
                &order_path,
                json!({ "status": "pending" }),
                Some(&admin.token),
            )
            .await,
            409,
        )
        .await;

    // Chat.
    check("post", "/chat/messages")
        .of(
            app.post(
                "/chat/messages",
                json!({ "to": admin.id, "text": "hello" }),
                Some(&user.token),
            )
            .await,
            201,
        )
        .await;
    check("get", "/chat/messages")
        .of(app.get("/chat/messages", Some(&user.token)).await, 200)
        .await;
    check("get", "/events")
        .of(app.get("/events?after=0", Some(&admin.token)).await, 200)
        .await;
    check("get", "/events")
        .of(
            app.get("/events?after=forged", Some(&admin.token)).await,
            410,
        )
        .await;
    check("get", "/chat/messages/{id}")
        .of(
            app.get(&format!("/chat/messages/{}", user.id), Some(&admin.token))
                .await,
            200,
        )
        .await;

    // The end of things.
    check("delete", "/products/{id}")
        .of(app.delete(&product_path, Some(&admin.token)).await, 200)
        .await;
    let refreshed = check("post", "/auth/refresh")
        .of(
            app.post(
                "/auth/refresh",
                json!({ "refreshToken": user.refresh_token }),
                None,
            )
            .await,
            200,
        )
        .await;
    check("post", "/auth/refresh")
        .of(
            app.post(
                "/auth/refresh",
                json!({ "refreshToken": user.refresh_token }),
                None,
            )
            .await,
            409,
        )
        .await;
    check("post", "/auth/logout")
        .of(
            app.post(
                "/auth/logout",
                json!({ "refreshToken": refreshed["data"]["refreshToken"] }),
                None,
            )
            .await,
            200,
        )
        .await;

    // Accounts that end (and come back).
    let user_path = format!("/users/{}", user.id);
    for (active, status) in [(false, 200), (true, 200)] {
        let response = app
            .http
            .patch(app.url(&user_path))
            .bearer_auth(&admin.token)
            .json(&json!({ "active": active }))
            .send()
            .await
            .unwrap();
        check("patch", "/users/{id}").of(response, status).await;
    }
    let refused = app
        .http
        .patch(app.url(&user_path))
        .bearer_auth(&user.token)
        .json(&json!({ "active": false }))
        .send()
        .await
        .unwrap();
    check("patch", "/users/{id}").of(refused, 401).await;

    let documented: BTreeSet<(String, String)> = documented_operations(&openapi)
        .into_iter()
        .flat_map(|(path, methods)| {
            methods
                .into_iter()
                .map(move |method| (path.clone(), method))
        })
        .collect();
    let unchecked: Vec<_> = documented
        .difference(&exercised.borrow())
        .cloned()
        .collect();
    assert!(
        unchecked.is_empty(),
        "operations not exercised here: {unchecked:?}"
    );
}

/// One documented operation, checking responses against its schemas.
struct Check<'a> {
    openapi: &'a Value,
    method: &'static str,
    path: &'static str,
    /// Every operation checked so far.
    exercised: &'a RefCell<BTreeSet<(String, String)>>,
}

impl Check<'_> {
    /// Asserts the status, checks the body against the documented schema of
    /// that status, and returns the body.
    async fn of(&self, response: reqwest::Response, status: u16) -> Value {
        let what = format!("{} {} → {status}", self.method.to_uppercase(), self.path);
        let actual = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(actual, status, "{what}: {body}");
        let documented =
            &self.openapi["paths"][self.path][self.method]["responses"][status.to_string()];
        assert!(!documented.is_null(), "{what} is not documented");
        let documented = follow(self.openapi, documented);
        let schema = &documented["content"]["application/json"]["schema"];
        validate(self.openapi, schema, &body, &what);
        self.exercised
            .borrow_mut()
            .insert((self.path.to_owned(), self.method.to_owned()));
        body
    }
}

#[tokio::test]
async fn socket_events_have_their_documented_shapes() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.presence_grace = Duration::from_millis(200);
    })
    .await;
    let asyncapi = fetch(&app, "/asyncapi.json").await;
    let admin = app.login_as_admin().await;
    let user = app.register(&unique_email("contract-sio")).await;
    let mut admin_socket = app.socket(&admin.token).await;
    let mut user_socket = app.socket(&user.token).await;
    let mut checked = BTreeSet::new();
    let mut hear = async |socket: &mut NodeClient, event: &str| {
        let line = socket
            .expect(event, WAIT, |line| {
                line["kind"] == "event" && line["event"] == event
            })
            .await;
        let payload = &line["args"][0];
        let message = follow(&asyncapi, &asyncapi["components"]["messages"][event]);
        validate(&asyncapi, &message["payload"], payload, event);
        checked.insert(event.to_owned());
        payload.clone()
    };

    hear(&mut admin_socket, "resume_position").await;
    hear(&mut admin_socket, "user_online").await;
    let mut resyncing = NodeClient::socketio(
        &app.address,
        json!({ "token": admin.token, "offset": "forged" }),
    )
    .await;
    hear(&mut resyncing, "resync_required").await;
    resyncing.send(json!({ "cmd": "disconnect" })).await;
    let product = app
        .create_product(&admin.token, "Contract Kettle", 12.5, 5)
        .await;
    let product_id = product["id"].as_str().unwrap().to_owned();
    hear(&mut user_socket, "new_product").await;
    app.put(
        &format!("/products/{product_id}"),
        json!({ "price": 13 }),
        Some(&admin.token),
    )
    .await;
    hear(&mut user_socket, "product_updated").await;
    let order = app.place_order(&user.token, &product_id, 1).await;
    let order: Value = order.json().await.unwrap();
    let order_id = order["data"]["id"].as_str().unwrap().to_owned();
    hear(&mut admin_socket, "new_order").await;
    let ack = admin_socket
        .emit_with_ack(
            "update_order_status",
            json!({ "orderId": order_id, "status": "processing" }),
            WAIT,
        )
        .await;
    check_ack(&asyncapi, "update_order_status", &ack[0]);
    assert_eq!(ack[0]["status"], "success", "{ack}");
    hear(&mut user_socket, "order_status_update").await;

    let ack = user_socket
        .emit_with_ack(
            "send_message",
            json!({ "to": admin.id, "text": "contract" }),
            WAIT,
        )
        .await;
    check_ack(&asyncapi, "send_message", &ack[0]);
    assert_eq!(ack[0]["status"], "success", "{ack}");
    hear(&mut admin_socket, "receive_message").await;
    // `typing` repeats `start_typing` within a second: no second `user_typing`.
    for (event, announced) in [
        ("start_typing", true),
        ("typing", false),
        ("stop_typing", true),
    ] {
        let ack = admin_socket
            .emit_with_ack(event, json!({ "to": user.id }), WAIT)
            .await;
        check_ack(&asyncapi, event, &ack[0]);
        assert_eq!(ack[0]["status"], "success", "{event}: {ack}");
        if announced {
            hear(&mut user_socket, "user_typing").await;
        }
    }
    let ack = admin_socket
        .emit_with_ack("mark_seen", json!({ "with": user.id }), WAIT)
        .await;
    check_ack(&asyncapi, "mark_seen", &ack[0]);
    assert_eq!(ack[0]["status"], "success", "{ack}");
    hear(&mut user_socket, "messages_seen").await;

    app.delete(&format!("/products/{product_id}"), Some(&admin.token))
        .await;
    hear(&mut user_socket, "product_deleted").await;
    app.logout(&user.refresh_token).await;
    hear(&mut user_socket, "session_ended").await;
    hear(&mut admin_socket, "user_offline").await;

    let unchecked: Vec<&str> = events::ALL
        .iter()
        .filter(|event| event.direction == Direction::ServerToClient)
        .map(|event| event.name)
        .filter(|name| !checked.contains(*name))
        .collect();
    assert!(
        unchecked.is_empty(),
        "server events not exercised here: {unchecked:?}"
    );
}

#[test]
fn the_schema_check_catches_missing_extra_and_mistyped_fields() {
    let document = json!({
        "components": { "schemas": { "Thing": {
            "type": "object",
            "required": ["id", "at"],
            "properties": {
                "id": { "type": "string" },
                "at": { "type": "string", "format": "date-time" },
                "count": { "type": ["integer", "null"] },
            },
        } } },
    });
    let schema = json!({ "$ref": "#/components/schemas/Thing" });
    let problems_of = |value: Value| {
        let mut problems = Vec::new();
        check(&document, &schema, &value, "$", &mut problems);
        problems
    };

    assert!(
        problems_of(json!({ "id": "a", "at": "2026-01-01T00:00:00.000Z", "count": null }))
            .is_empty()
    );
    let cases = [
        (
            json!({ "at": "2026-01-01T00:00:00Z" }),
            "required id is missing",
        ),
        (
            json!({ "id": "a", "at": "2026-01-01T00:00:00Z", "extra": 1 }),
            "extra is not documented",
        ),
        (
            json!({ "id": 1, "at": "2026-01-01T00:00:00Z" }),
            "is not [\"string\"]",
        ),
        (
            json!({ "id": "a", "at": "yesterday" }),
            "not an RFC 3339 date-time",
        ),
        (
            json!({ "id": "a", "at": "2026-01-01T00:00:00Z", "count": 1.5 }),
            "is not [\"integer\", \"null\"]",
        ),
    ];
    for (value, expected) in cases {
        let problems = problems_of(value.clone());
        assert!(
            problems.iter().any(|problem| problem.contains(expected)),
            "{value}: expected a problem containing {expected:?}, got {problems:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// A JSON Schema check, as much as these documents use: `$ref`, `type`,
// `enum`, `properties`/`required` (an object may carry no property its
// schema does not name), `additionalProperties`, `items`, `oneOf`, `allOf`
// and `format: date-time`.
// ---------------------------------------------------------------------------

/// The value at a local reference (`#/…`).
fn resolve<'a>(document: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("{reference} is not a local reference"));
    document
        .pointer(pointer)
        .unwrap_or_else(|| panic!("{reference} does not resolve"))
}

/// Follows `$ref`s until an object without one.
fn follow<'a>(document: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        value = resolve(document, reference);
    }
    value
}

/// Panics with every problem of `value` against `schema`.
fn validate(document: &Value, schema: &Value, value: &Value, what: &str) {
    let mut problems = Vec::new();
    check(document, schema, value, "$", &mut problems);
    assert!(
        problems.is_empty(),
        "{what}: the body does not match its documented schema:\n  {}\nbody: {value}",
        problems.join("\n  ")
    );
}

fn check(document: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = follow(document, schema);
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.iter().any(|kind| is_of_type(value, kind)) {
            problems.push(format!("{at}: {value} is not {types:?}"));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        problems.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if schema.get("format") == Some(&json!("date-time"))
        && let Some(text) = value.as_str()
        && chrono::DateTime::parse_from_rfc3339(text).is_err()
    {
        problems.push(format!("{at}: {text:?} is not an RFC 3339 date-time"));
    }
    if let Some(Value::Array(branches)) = schema.get("oneOf") {
        let matching = branches
            .iter()
            .filter(|branch| {
                let mut branch_problems = Vec::new();
                check(document, branch, value, at, &mut branch_problems);
                branch_problems.is_empty()
            })
            .count();
        if matching != 1 {
            problems.push(format!(
                "{at}: {value} matches {matching} of the oneOf branches"
            ));
        }
    }
    if let Value::Object(object) = value {
        check_object(document, schema, object, at, problems);
    }
    if let (Some(items), Value::Array(values)) = (schema.get("items"), value) {
        for (index, item) in values.iter().enumerate() {
            check(document, items, item, &format!("{at}[{index}]"), problems);
        }
    }
}

/// Properties, required names, and no property the schema (with its
/// `allOf` parts) does not name.
fn check_object(
    document: &Value,
    schema: &Value,
    object: &serde_json::Map<String, Value>,
    at: &str,
    problems: &mut Vec<String>,
) {
    let mut parts = vec![schema];
    if let Some(Value::Array(all)) = schema.get("allOf") {
        parts.extend(all.iter().map(|part| follow(document, part)));
    }
    let mut named = BTreeSet::new();
    let mut described = false;
    for part in parts {
        if let Some(Value::Object(properties)) = part.get("properties") {
            described = true;
            for (name, property) in properties {
                named.insert(name.as_str());
                if let Some(value) = object.get(name) {
                    check(document, property, value, &format!("{at}.{name}"), problems);
                }
            }
        }
        if let Some(Value::Array(required)) = part.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    problems.push(format!("{at}: required {name} is missing"));
                }
            }
        }
        if let Some(additional) = part.get("additionalProperties").filter(|a| a.is_object()) {
            described = true;
            for (name, value) in object {
                named.insert(name.as_str());
                check(
                    document,
                    additional,
                    value,
                    &format!("{at}.{name}"),
                    problems,
                );
            }
        }
    }
    if described {
        for name in object.keys() {
            if !named.contains(name.as_str()) {
                problems.push(format!("{at}: {name} is not documented"));
            }
        }
    }
}

fn is_of_type(value: &Value, kind: &str) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "null" => value.is_null(),
        _ => false,
    }
}
