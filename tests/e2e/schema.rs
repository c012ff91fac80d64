//! The checked-in SDL is the code's SDL.

#[test]
fn schema_graphql_matches_the_code() {
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql is checked in");
    let generated = realtime_dashboard::graphql::sdl();
    assert!(
        checked_in == generated,
        "schema.graphql differs from the code; regenerate it with \
         `cargo run -- print-schema > schema.graphql`"
    );
}
