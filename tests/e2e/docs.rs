//! The reference in `docs/` against the code, so the two cannot drift apart
//! silently.
//!
//! Each list of names is taken from the code or from what the running server
//! serves, never typed here: the variables the configuration reads (recorded
//! while it reads them), the error classes and every code the sources set,
//! the REST operations of `/openapi.json`, the Socket.IO events of
//! `/asyncapi.json`, and the GraphQL root fields from introspection. Each
//! must be documented in its page, and each page may document nothing the
//! server does not have. The documented defaults and HTTP statuses must be
//! the code's. Every relative link of the README and of `docs/` must lead to
//! a file (and heading) that exists.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use realtime_dashboard::config::Config;
use realtime_dashboard::error::AppError;
use serde_json::{Value, json};

use crate::support::TestApp;

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of the repository, as text.
fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Every `.rs` file under `dir`.
fn rust_sources(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}

/// The string literals that follow `prefix` in the crate's sources
/// (`env::var("` → the variable names read directly).
fn literals_after(prefix: &str) -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_sources(&root().join("src"), &mut files);
    let mut found = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for (at, _) in source.match_indices(prefix) {
            let rest = &source[at + prefix.len()..];
            if let Some((literal, _)) = rest.split_once('"') {
                found.insert(literal.to_owned());
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------
// Reading Markdown: just enough of it for these checks.

/// One heading of a page, with the text under it (up to the next heading of
/// any level) and the level-2 heading it sits under.
#[derive(Debug)]
struct Section {
    level: usize,
    title: String,
    /// The nearest level-2 heading at or above this one.
    chapter: String,
    body: String,
}

/// A page's headings, each with the text under it (a `#` line inside fenced
/// code is not a heading); the text before the first heading comes first.
fn outline(markdown: &str) -> Vec<Section> {
    let mut sections = vec![Section {
        level: 0,
        title: String::new(),
        chapter: String::new(),
        body: String::new(),
    }];
    let mut in_code = false;
    let mut chapter = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !in_code && hashes > 0 && line[hashes..].starts_with(' ') {
            let title = line[hashes..].trim().to_owned();
            if hashes <= 2 {
                chapter = title.clone();
            }
            sections.push(Section {
                level: hashes,
                title,
                chapter: chapter.clone(),
                body: String::new(),
            });
            continue;
        }
        let body = &mut sections.last_mut().expect("at least the preamble").body;
        body.push_str(line);
        body.push('\n');
    }
    sections
}

/// `` `name` `` → `name`: a heading or cell that is one code span.
fn code_span(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.contains('`')).then_some(inner)
}

/// The cells of each table row of `text` outside fenced code (header rows
/// included, separator rows left out).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    let mut in_code = false;
    let mut rows = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('|') {
            continue;
        }
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|cell| cell.trim().to_owned())
            .collect();
        if cells
            .iter()
            .all(|cell| cell.chars().all(|c| c == '-' || c == ':'))
        {
            continue;
        }
        rows.push(cells);
    }
    rows
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped,
/// spaces as hyphens; a repeated heading gets `-1`, `-2`, ….
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    for section in outline(markdown).iter().filter(|s| s.level > 0) {
        let slug: String = section
            .title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let count = seen.entry(slug.clone()).or_insert(0);
        anchors.insert(if *count == 0 {
            slug.clone()
        } else {
            format!("{slug}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// The targets of the inline links `[text](target)` outside fenced code.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    let mut targets = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code {
            continue;
        }
        for (at, _) in line.match_indices("](") {
            let rest = &line[at + 2..];
            if let Some((target, _)) = rest.split_once(')') {
                targets.push(target.trim().to_owned());
            }
        }
    }
    targets
}

/// The pages checked for links: the README and every page of `docs/`.
fn linked_pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

// ---------------------------------------------------------------------------
// Configuration

/// Every variable the configuration asks for, recorded while it reads the
/// environment: once as the embedded store sees it, once with MongoDB,
/// Redis, a bootstrap admin and metrics set, so variables read only on
/// one path count too. Variables read straight from the environment
/// elsewhere in the sources (`env::var("…")`) are added.
fn variables_the_server_reads() -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let everything_set: &[(&str, &str)] = &[
        ("MONGODB_URI", "mongodb://127.0.0.1:27017/docs"),
        ("JWT_SECRET", "a-secret-that-is-at-least-32-bytes-long"),
        ("REDIS_URL", "redis://127.0.0.1:6379/"),
        ("ADMIN_EMAIL", "admin@example.test"),
        ("ADMIN_PASSWORD", "admin-password-1"),
        ("METRICS_ADDR", "127.0.0.1:9100"),
        ("CORS_ORIGINS", "https://admin.example.test"),
        ("TRUSTED_PROXIES", "10.0.0.0/8"),
    ];
    let asked = RefCell::new(BTreeSet::new());
    for set in [&[][..], everything_set] {
        let config = Config::from_lookup(|name| {
            asked.borrow_mut().insert(name.to_owned());
            if name == "DATA_DIR" {
                return Some(data_dir.clone());
            }
            set.iter()
                .find(|(variable, _)| *variable == name)
                .map(|(_, value)| (*value).to_owned())
        });
        if let Err(error) = config {
            panic!("the configuration refuses {set:?}: {error}");
        }
    }
    let mut variables = asked.into_inner();
    variables.extend(literals_after("env::var(\""));
    variables.extend(literals_after("env::var_os(\""));
    variables
}

/// The variables of the tables of `docs/configuration.md`: the first cell
/// of each row, when it is one code span of capitals.
fn documented_variables() -> BTreeSet<String> {
    table_rows(&read("docs/configuration.md"))
        .iter()
        .filter_map(|row| code_span(row.first()?))
        .filter(|name| {
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_variable_the_server_reads_is_documented_and_nothing_else_is() {
    let asked = variables_the_server_reads();
    let documented = documented_variables();

    assert!(
        asked.contains("PORT") && asked.contains("EVENT_RETENTION"),
        "{asked:?}"
    );
    let undocumented: Vec<_> = asked.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "read but not in a table of docs/configuration.md: {undocumented:?}"
    );
    let unread: Vec<_> = documented.difference(&asked).collect();
    assert!(
        unread.is_empty(),
        "in docs/configuration.md but read nowhere: {unread:?}"
    );
}

/// The documented default of each variable whose default cell is one code
/// span (`15m`, `4000`); defaults told in words ("unset: …") are left out.
fn documented_defaults() -> Vec<(String, String)> {
    table_rows(&read("docs/configuration.md"))
        .iter()
        .filter_map(|row| {
            let name = code_span(row.first()?)?;
            let default = code_span(row.get(2)?)?;
            Some((name.to_owned(), default.to_owned()))
        })
        .collect()
}

#[test]
fn every_documented_default_is_the_default() {
    // With a secret given, reading the configuration writes nothing.
    let secret = ("JWT_SECRET", "a-secret-that-is-at-least-32-bytes-long");
    let configured = |set: Option<(&str, &str)>| {
        let config = Config::from_lookup(|name| {
            [Some(secret), set]
                .into_iter()
                .flatten()
                .find(|(variable, _)| *variable == name)
                .map(|(_, value)| value.to_owned())
        })
        .unwrap_or_else(|error| panic!("{set:?} is refused: {error}"));
        format!("{config:?}")
    };
    let defaults = configured(None);
    let documented = documented_defaults();

    assert!(
        documented.len() >= 10,
        "too few defaults found: {documented:?}"
    );
    for (variable, default) in &documented {
        assert!(
            configured(Some((variable, default))) == defaults,
            "docs/configuration.md gives {variable} the default {default}, \
             but setting it to that changes the configuration"
        );
    }
}

// ---------------------------------------------------------------------------
// Errors

/// Which class an error is. A class added to `AppError` fails to compile
/// here until it is given a number, and then [`every_error_class`] until
/// an error of it is listed.
fn class_number(error: &AppError) -> usize {
    match error {
        AppError::Validation { .. } => 0,
        AppError::Unauthenticated(_) => 1,
        AppError::Forbidden(_) => 2,
        AppError::NotFound(_) => 3,
        AppError::Conflict(_) => 4,
        AppError::ResyncRequired(_) => 5,
        AppError::RateLimited { .. } => 6,
        AppError::Unavailable(_) => 7,
        AppError::Internal(_) => 8,
    }
}

/// One error of each class.
fn every_error_class() -> Vec<AppError> {
    let classes = vec![
        AppError::invalid("field", "problem"),
        AppError::Unauthenticated("no"),
        AppError::Forbidden("no"),
        AppError::NotFound("thing"),
        AppError::Conflict("no".into()),
        AppError::ResyncRequired("unknown_position"),
        AppError::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        AppError::Unavailable(anyhow::anyhow!("down")),
        AppError::Internal(anyhow::anyhow!("bug")),
    ];
    let numbers: BTreeSet<usize> = classes.iter().map(class_number).collect();
    let highest = classes.iter().map(class_number).max().unwrap_or(0);
    assert_eq!(
        numbers.len(),
        highest + 1,
        "every_error_class lists one error of each class"
    );
    classes
}

/// The codes of the tables of `docs/errors.md`, each with the second cell
/// of the first row that names it (the HTTP status in the classes' table).
fn documented_codes() -> BTreeMap<String, String> {
    let mut codes = BTreeMap::new();
    for row in table_rows(&read("docs/errors.md")) {
        if let Some(code) = row.first().and_then(|cell| code_span(cell)) {
            let second = row.get(1).cloned().unwrap_or_default();
            codes.entry(code.to_owned()).or_insert(second);
        }
    }
    codes
}

#[tokio::test]
async fn every_error_code_the_server_can_give_is_documented_with_its_status() {
    let app = TestApp::spawn().await;
    let openapi: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let documented = documented_codes();

    for error in every_error_class() {
        let (code, status) = (error.code(), error.status());
        let row = documented
            .get(code)
            .unwrap_or_else(|| panic!("{code} has no row in docs/errors.md"));
        assert!(
            row.starts_with(&status.to_string()),
            "docs/errors.md gives {code} the status {row:?}, the server {status}"
        );
    }
    // The codes the REST and Socket.IO envelope can carry, as served.
    let enveloped =
        &openapi["components"]["schemas"]["ErrorEnvelope"]["properties"]["code"]["enum"];
    let enveloped = enveloped.as_array().expect("the envelope's codes");
    // Codes the sources set on GraphQL errors themselves (LAGGED, …).
    let set_in_sources = literals_after("set(\"code\", \"");
    assert!(set_in_sources.contains("LAGGED"), "{set_in_sources:?}");
    for code in enveloped
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .chain(set_in_sources)
    {
        assert!(
            documented.contains_key(&code),
            "{code} has no row in docs/errors.md"
        );
    }
}

// ---------------------------------------------------------------------------
// REST

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

#[tokio::test]
async fn every_rest_operation_served_is_documented_and_nothing_else_is() {
    let app = TestApp::spawn().await;
    let openapi: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let served: BTreeSet<String> = openapi["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(move |method| item.get(**method).is_some())
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    assert!(served.contains("POST /orders"), "{served:?}");

    // Each operation is a heading of its own: ### `POST /orders`.
    let documented: BTreeSet<String> = outline(&read("docs/rest.md"))
        .iter()
        .filter(|section| section.level == 3)
        .filter_map(|section| code_span(&section.title))
        .map(str::to_owned)
        .collect();

    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but without a heading in docs/rest.md: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "documented in docs/rest.md but not served: {unserved:?}"
    );
}

// ---------------------------------------------------------------------------
// Socket.IO

/// The chapter of `docs/socketio.md` that holds the events of a direction.
fn chapter_of(direction: &str) -> &'static str {
    match direction {
        "client-to-server" => "Client to server",
        "server-to-client" => "Server to client",
        other => panic!("unknown x-direction {other}"),
    }
}

#[tokio::test]
async fn every_socket_io_event_served_is_documented_in_its_direction_and_nothing_else_is() {
    let app = TestApp::spawn().await;
    let asyncapi: Value = app.get("/asyncapi.json", None).await.json().await.unwrap();
    let operations = asyncapi["operations"].as_object().expect("operations");
    assert!(operations.contains_key("send_message"), "{operations:?}");

    let page = read("docs/socketio.md");
    let sections = outline(&page);
    let documented: BTreeMap<&str, &Section> = sections
        .iter()
        .filter(|section| section.level == 3)
        .filter(|section| {
            section.chapter == "Client to server" || section.chapter == "Server to client"
        })
        .filter_map(|section| Some((code_span(&section.title)?, section)))
        .collect();

    for (name, operation) in operations {
        let direction = operation["x-direction"].as_str().expect("x-direction");
        let section = documented
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name} has no heading in docs/socketio.md"));
        assert_eq!(
            section.chapter,
            chapter_of(direction),
            "docs/socketio.md lists {name} under the wrong direction"
        );
        // An event with an ack says what the ack carries (or is the same
        // as another event, which does).
        if operation["reply"].is_object() {
            assert!(
                section.body.contains("Ack") || section.body.contains("The same as `"),
                "docs/socketio.md does not say what the {name} ack carries"
            );
        }
    }
    let unserved: Vec<_> = documented
        .keys()
        .filter(|name| !operations.contains_key(**name))
        .collect();
    assert!(
        unserved.is_empty(),
        "documented in docs/socketio.md but not served: {unserved:?}"
    );
}

// ---------------------------------------------------------------------------
// GraphQL

#[tokio::test]
async fn every_graphql_root_field_is_documented_under_its_kind_and_nothing_else_is() {
    let app = TestApp::spawn().await;
    let data = app
        .graphql_ok(
            "{ __schema { queryType { fields(includeDeprecated: true) { name } } \
               mutationType { fields(includeDeprecated: true) { name } } \
               subscriptionType { fields(includeDeprecated: true) { name } } } }",
            json!({}),
            None,
        )
        .await;
    let fields = |root: &str| -> BTreeSet<String> {
        data["__schema"][root]["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("{root} fields"))
            .iter()
            .map(|field| field["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let page = read("docs/graphql.md");
    let sections = outline(&page);
    for (root, title) in [
        ("queryType", "Queries"),
        ("mutationType", "Mutations"),
        ("subscriptionType", "Subscriptions"),
    ] {
        let served = fields(root);
        let section = sections
            .iter()
            .find(|section| section.title == title)
            .unwrap_or_else(|| panic!("docs/graphql.md has no {title} heading"));
        // The first cell of each row names the field: `products(search, …)`.
        let documented: BTreeSet<String> = table_rows(&section.body)
            .iter()
            .skip(1)
            .filter_map(|row| {
                let cell = row.first()?.strip_prefix('`')?;
                let end = cell.find(['(', '`'])?;
                Some(cell[..end].to_owned())
            })
            .collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "{title} served but not in the table of docs/graphql.md: {undocumented:?}"
        );
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            unserved.is_empty(),
            "{title} in docs/graphql.md but not served: {unserved:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Links

#[test]
fn every_relative_link_of_the_readme_and_the_docs_leads_somewhere() {
    let mut checked = 0;
    for page in linked_pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let linked = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            assert!(
                linked.exists(),
                "{name} links to {target}, which does not exist"
            );
            if let Some(anchor) = anchor
                && linked.extension().is_some_and(|ext| ext == "md")
            {
                let headings = anchors(&std::fs::read_to_string(&linked).unwrap());
                assert!(
                    headings.contains(anchor),
                    "{name} links to {target}, but that page has no such heading"
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the parser blind?"
    );
}

#[test]
fn the_readme_names_the_health_endpoints_and_leads_to_the_reference() {
    let readme = read("README.md");

    for endpoint in ["/healthz", "/readyz"] {
        assert!(readme.contains(endpoint), "README does not name {endpoint}");
    }
    assert!(
        link_targets(&readme).iter().any(|t| t == "docs/README.md"),
        "README does not link docs/README.md"
    );
    // The design documents the contract was written from are not in this
    // repository: the reference in docs/ replaces them.
    for page in linked_pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for outside in ["API.md", "ARCHITECTURE.md", "STYLE.md"] {
            assert!(
                !text.contains(outside),
                "{name} refers to {outside}, which is not in this repository"
            );
        }
    }
}
