//! Client JSON read into typed requests: REST bodies and Socket.IO
//! payloads alike. A problem is a `BAD_USER_INPUT` naming every offending
//! field at once, never just the first, so both legacy doors answer a bad
//! input the same way.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{AppError, FieldErrors};

/// Parses a JSON document into `T`, naming every offending field on failure.
///
/// # Errors
/// `BAD_USER_INPUT` with each field's problem in `details`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Every body of this door is an object; serde would otherwise read a
    // struct out of an array by position.
    if bytes.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AppError::invalid("body", "a JSON object is required"));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(deserializer) {
        Ok(parsed) => Ok(parsed),
        Err(error) if error.inner().is_syntax() || error.inner().is_eof() => Err(malformed()),
        // Well-formed JSON that does not fit: read it again as a value to
        // find every problem, not just the first.
        Err(_) => match serde_json::from_slice::<Value>(bytes) {
            Ok(object @ Value::Object(_)) => Err(every_field_error::<T>(object)),
            _ => Err(malformed()),
        },
    }
}

/// Reads an already parsed JSON value (a Socket.IO payload) into `T`, with
/// the same per-field errors as [`parse_json`]; anything but an object is
/// refused.
///
/// # Errors
/// `BAD_USER_INPUT` with each field's problem in `details`.
pub fn parse_value<T: DeserializeOwned>(value: Value) -> Result<T, AppError> {
    if !value.is_object() {
        return Err(AppError::invalid("payload", "a JSON object is required"));
    }
    serde_path_to_error::deserialize(&value).map_err(|_| every_field_error::<T>(value))
}

fn malformed() -> AppError {
    AppError::invalid_fields(FieldErrors::from([(
        "body".into(),
        "malformed JSON".into(),
    )]))
}

/// Most attempts [`every_field_error`] makes: each problem costs one, and
/// each stand-in that does not fit one more, so an object with many bad
/// fields still costs a bounded amount of work.
const MAX_ATTEMPTS: usize = 32;

/// Every field of `object` that does not fit `T`, at once.
///
/// serde stops at the first problem (and a derived struct reports only the
/// first missing field), so each problem found is recorded and its
/// top-level field given a stand-in value that lets deserialisation go on
/// to the next. Stand-ins are never reported: only the first problem of
/// each top-level field is the client's.
fn every_field_error<T: DeserializeOwned>(mut object: Value) -> AppError {
    let mut details = FieldErrors::new();
    let mut stand_ins_tried = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..MAX_ATTEMPTS {
        let Err(error) = serde_path_to_error::deserialize::<_, T>(&object) else {
            break;
        };
        let (field, problem, top) = describe(&error);
        let Some(top) = top else {
            details.entry(field).or_insert(problem);
            break;
        };
        let tried = stand_ins_tried.entry(top.clone()).or_insert(0);
        if *tried == 0 {
            details.entry(field).or_insert(problem);
        }
        let Some(stand_in) = stand_in(*tried) else {
            break;
        };
        *tried += 1;
        if let Some(fields) = object.as_object_mut() {
            fields.insert(top, stand_in);
        }
    }
    if details.is_empty() {
        details.insert("body".into(), "does not match the expected shape".into());
    }
    AppError::invalid_fields(details)
}

/// One problem as the client should read it: the field's path, what is
/// wrong with it, and the top-level field it sits under (none when the
/// problem is with the object as a whole).
fn describe(
    error: &serde_path_to_error::Error<serde_json::Error>,
) -> (String, String, Option<String>) {
    let path = error.path();
    let top = path.iter().next().and_then(|segment| match segment {
        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
        _ => None,
    });
    let message = error.inner().to_string();
    let at_root = path.iter().next().is_none();
    if let Some(missing) = missing_field(&message) {
        if at_root {
            return (missing.clone(), "is required".into(), Some(missing));
        }
        return (format!("{path}.{missing}"), "is required".into(), top);
    }
    let field = if at_root {
        "body".to_owned()
    } else {
        path.to_string()
    };
    (field, type_problem(&message), top)
}

/// The values tried, in turn, in place of a field that does not fit: one of
/// them suits any string, number, flag, list or nested object.
fn stand_in(attempt: usize) -> Option<Value> {
    match attempt {
        0 => Some(Value::String(String::new())),
        1 => Some(Value::from(0)),
        2 => Some(Value::Bool(false)),
        3 => Some(Value::Array(Vec::new())),
        4 => Some(Value::Object(serde_json::Map::new())),
        _ => None,
    }
}

/// serde reports a missing field as ``missing field `name` at line …``.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(field, _)| field.to_owned())
}

/// ``invalid type: map, expected a string at line 1 column 9`` without the
/// position, which means nothing to a client.
fn type_problem(message: &str) -> String {
    message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
    }

    fn details_of(body: &str) -> FieldErrors {
        match parse_json::<Login>(body.as_bytes()) {
            Err(AppError::Validation { details, .. }) => details,
            other => panic!("expected a validation error for {body}, got {other:?}"),
        }
    }

    #[test]
    fn each_malformed_body_names_what_is_wrong() {
        let cases = [
            ("", "body"),
            ("{", "body"),
            ("not json", "body"),
            ("[]", "body"),
            (r#"["a@example.com", "password"]"#, "body"),
            (r#"{"password":"x"}"#, "email"),
            (r#"{"email":{"$ne":null},"password":"x"}"#, "email"),
            (
                r#"{"email":"a@example.com","password":12345678}"#,
                "password",
            ),
        ];
        for (body, field) in cases {
            let details = details_of(body);
            assert!(
                details.contains_key(field),
                "{body:?} gave {details:?}, expected {field}"
            );
        }
    }

    #[test]
    fn every_missing_field_is_named_at_once() {
        let details = details_of("{}");
        assert_eq!(details.len(), 2, "{details:?}");
        assert_eq!(details["email"], "is required");
        assert_eq!(details["password"], "is required");
    }

    #[test]
    fn a_wrong_type_and_a_missing_field_are_both_named() {
        let details = details_of(r#"{"email":5}"#);
        assert_eq!(details.len(), 2, "{details:?}");
        assert_eq!(
            details["email"],
            "invalid type: integer `5`, expected a string"
        );
        assert_eq!(details["password"], "is required");
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Order {
        items: Vec<Item>,
        note: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        product: String,
        quantity: u32,
    }

    #[test]
    fn nested_problems_keep_their_path_and_stand_ins_are_never_reported() {
        let body = serde_json::json!({"items": [{"quantity": "two"}]});
        match parse_value::<Order>(body) {
            Err(AppError::Validation { details, .. }) => {
                assert_eq!(details.len(), 2, "{details:?}");
                assert!(details["items[0].quantity"].starts_with("invalid type"));
                assert_eq!(details["note"], "is required");
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_payload_that_fits_is_read_unchanged() {
        let body = serde_json::json!({"items": [{"product": "p1", "quantity": 2}], "note": "n"});
        let order: Order = parse_value(body).unwrap();
        assert_eq!(order.items[0].quantity, 2);
    }

    #[test]
    fn type_problems_lose_their_position() {
        let details = details_of(r#"{"email":{"$ne":null},"password":"x"}"#);
        assert_eq!(details["email"], "invalid type: map, expected a string");
    }
}
