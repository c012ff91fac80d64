//! Send times carried inside payloads, so that a receiver can tell an
//! event's age without any shared table: `lg-<micros since start>-…` in a
//! product name or a message text. Sender and receiver are this process, so
//! one monotonic clock serves both.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

const MARKER: &str = "lg-";

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// A fresh stamp naming now, followed by `suffix`.
pub fn stamp(suffix: &str) -> String {
    let micros = epoch().elapsed().as_micros();
    format!("{MARKER}{micros}-{suffix}")
}

/// How long ago the first stamp in `text` was made.
pub fn age(text: &str) -> Option<Duration> {
    let start = text.find(MARKER)? + MARKER.len();
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    let micros: u64 = text[start..start + digits].parse().ok()?;
    let now = epoch().elapsed();
    Some(now.saturating_sub(Duration::from_micros(micros)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_as_a_small_age() {
        let text = format!(r#"{{"name":"{}"}}"#, stamp("x"));
        let age = age(&text).expect("a stamp");
        assert!(age < Duration::from_secs(5));
        assert_eq!(super::age("no stamp here"), None);
    }
}
