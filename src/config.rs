//! Configuration, read once from the environment (and an optional `.env`).
//!
//! The variables and defaults are the table in API.md. Nothing else in the
//! crate reads the environment: everything it needs arrives in a [`Config`].
//! A bad value stops start-up with one line naming the variable.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::{Email, Password};

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// The embedded default: one SQLite database file.
    Sqlite {
        /// Path of the database file (inside `DATA_DIR`).
        path: PathBuf,
    },
    /// A MongoDB deployment; the database is the one named in the URI.
    Mongo {
        /// The connection string, kept secret because it may hold a password.
        uri: SecretString,
    },
}

impl StoreConfig {
    /// The MongoDB database: with a backplane, also the cluster's name
    /// (the processes on one database are one cluster). `None` for the
    /// embedded store.
    pub fn database(&self) -> Option<String> {
        match self {
            StoreConfig::Sqlite { .. } => None,
            StoreConfig::Mongo { uri } => database_name(uri.expose_secret()),
        }
    }
}

/// Where the signing secret came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `JWT_SECRET`.
    Environment,
    /// The file in `DATA_DIR`, generated on an earlier start.
    Stored(PathBuf),
    /// The file in `DATA_DIR`, generated on this start.
    Generated(PathBuf),
}

/// Log output shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers.
    Json,
    /// Human-readable lines, for terminals.
    Pretty,
}

/// The first admin, created at start-up when no account has its email.
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    /// Sign-in address.
    pub email: Email,
    /// Initial password.
    pub password: Password,
}

/// Everything the server needs to know about its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address (`HOST`).
    pub host: IpAddr,
    /// Listen port (`PORT`); 0 picks a free one (tests).
    pub port: u16,
    /// Where the embedded store and the generated secret live (`DATA_DIR`).
    pub data_dir: PathBuf,
    /// Which store to use (`MONGODB_URI` set means MongoDB).
    pub store: StoreConfig,
    /// HS256 signing secret (`JWT_SECRET`, or generated once in `DATA_DIR`).
    pub jwt_secret: SecretString,
    /// Where the secret came from, for the start-up log line.
    pub jwt_secret_source: SecretSource,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens (and so of a signed-in session).
    pub refresh_token_ttl: Duration,
    /// `ADMIN_EMAIL` + `ADMIN_PASSWORD`.
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// Browser origins allowed by CORS (`CORS_ORIGINS`); empty means
    /// same-origin only.
    pub cors_origins: Vec<String>,
    /// Load balancers whose `Forwarded` / `X-Forwarded-For` header names
    /// the client (`TRUSTED_PROXIES`, CIDR list); empty means the TCP peer
    /// is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Log filter (`RUST_LOG`).
    pub log_filter: String,
    /// Log shape (`LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Largest accepted request body, in bytes (also the largest GraphQL
    /// WebSocket message).
    pub body_limit: usize,
    /// How long a GraphQL WebSocket may stay open without `connection_init`
    /// (graphql-ws servers wait 3 s).
    pub connection_init_timeout: Duration,
    /// Longest an HTTP request may take before it is answered 408/503.
    pub request_timeout: Duration,
    /// Sign-in attempts allowed per client address per minute.
    pub login_attempts_per_address: u32,
    /// Sign-in attempts allowed per account per minute.
    pub login_attempts_per_account: u32,
    /// How long after a user's last connection closes before they are
    /// announced offline (a page reload must not flap).
    pub presence_grace: Duration,
    /// How long a typing indicator lasts without a refresh.
    pub typing_ttl: Duration,
    /// Chat messages a user may send per second (sustained; bursts of twice
    /// that are allowed).
    pub messages_per_second: u32,
    /// How long events are kept for clients to resume from (`EVENT_RETENTION`).
    pub event_retention: Duration,
    /// Where `/metrics` is served (`METRICS_ADDR`); unset: nowhere, and
    /// nothing is recorded.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The backplane's Redis (`REDIS_URL`): with it, every process on the
    /// same Redis and MongoDB database is one cluster. Kept secret because
    /// it may hold a password.
    pub redis_url: Option<SecretString>,
}

/// A configuration value that stops start-up; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The variable is set to something unusable.
    #[error("invalid {variable}: {problem}")]
    Invalid {
        /// The environment variable.
        variable: &'static str,
        /// What is wrong with it (never the secret value itself).
        problem: String,
    },
    /// The variable must be set in this configuration.
    #[error("{variable} must be set: {why}")]
    Missing {
        /// The environment variable.
        variable: &'static str,
        /// Why it is required here.
        why: &'static str,
    },
    /// The data directory or the secret file cannot be used.
    #[error("DATA_DIR {path}: {problem}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O problem.
        problem: String,
    },
}

/// The limits read from the environment (API.md, "Operations").
struct Limits {
    access_token_ttl: Duration,
    refresh_token_ttl: Duration,
    login_attempts_per_address: u32,
    login_attempts_per_account: u32,
    messages_per_second: u32,
    body_limit: usize,
    presence_grace: Duration,
    event_retention: Duration,
}

/// Smallest and largest accepted `BODY_LIMIT`: below 1 KiB no sign-in fits,
/// above 16 MiB one request could hold a worker's memory hostage.
const BODY_LIMIT_RANGE: (usize, usize) = (1024, 16 * 1024 * 1024);

/// A duration such as `90s`, `15m`, `24h` or `30d`; more than zero.
fn duration_var(
    var: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(raw) = var(variable) else {
        return Ok(default);
    };
    match humantime::parse_duration(raw.trim()) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(ConfigError::Invalid {
            variable,
            problem: format!("{raw:?} is not a duration such as 90s, 15m, 24h or 30d"),
        }),
    }
}

/// Like [`duration_var`], but zero is allowed (no grace period).
fn grace_var(
    var: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match var(variable).as_deref().map(str::trim) {
        Some("0") => Ok(Duration::ZERO),
        _ => duration_var(var, variable, default),
    }
}

/// A whole number of at least one.
fn count_var(
    var: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u32,
) -> Result<u32, ConfigError> {
    let Some(raw) = var(variable) else {
        return Ok(default);
    };
    match raw.trim().parse::<u32>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err(ConfigError::Invalid {
            variable,
            problem: format!("{raw:?} is not a whole number of at least 1"),
        }),
    }
}

/// A size in bytes, or with a unit (`64KiB`, `1MiB`), within [`BODY_LIMIT_RANGE`].
fn size_var(
    var: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: usize,
) -> Result<usize, ConfigError> {
    let Some(raw) = var(variable) else {
        return Ok(default);
    };
    let (low, high) = BODY_LIMIT_RANGE;
    let parsed = raw
        .trim()
        .parse::<bytesize::ByteSize>()
        .ok()
        .and_then(|size| usize::try_from(size.as_u64()).ok());
    match parsed {
        Some(size) if (low..=high).contains(&size) => Ok(size),
        _ => Err(ConfigError::Invalid {
            variable,
            problem: format!("{raw:?} is not a size from 1KiB to 16MiB (bytes, or e.g. 64KiB)"),
        }),
    }
}

/// Shortest acceptable signing secret: HS256 wants at least its output size.
const MIN_SECRET_BYTES: usize = 32;
/// Name of the generated secret inside `DATA_DIR`.
const SECRET_FILE: &str = "jwt-secret";
/// `DATA_DIR` of the `demo` command when the variable is not set.
pub const DEMO_DATA_DIR: &str = "./data-demo";

/// Every variable the configuration reads, with what it sets: the one list
/// `--help` prints (a test checks it against what [`Config::from_lookup`]
/// reads). README and `docs/configuration.md` give defaults and examples.
pub const VARIABLES: &[(&str, &str)] = &[
    ("HOST", "listen address (default 127.0.0.1)"),
    ("PORT", "listen port (default 4000)"),
    ("DATA_DIR", "embedded store location (default ./data)"),
    (
        "MONGODB_URI",
        "use MongoDB, with the database named in the URI",
    ),
    (
        "REDIS_URL",
        "join the processes on this Redis and MongoDB database",
    ),
    (
        "JWT_SECRET",
        "token signing secret (generated into DATA_DIR when unset)",
    ),
    (
        "ADMIN_EMAIL",
        "bootstrap admin, created at start-up if missing",
    ),
    ("ADMIN_PASSWORD", "its password (and create-admin's)"),
    ("CORS_ORIGINS", "allowed browser origins, comma-separated"),
    (
        "TRUSTED_PROXIES",
        "load balancers whose Forwarded header names the client",
    ),
    ("RUST_LOG", "log filter (default info)"),
    ("LOG_FORMAT", "pretty or json"),
    (
        "METRICS_ADDR",
        "serve Prometheus /metrics on this separate address",
    ),
    ("ACCESS_TOKEN_TTL", "access token lifetime (default 15m)"),
    (
        "REFRESH_TOKEN_TTL",
        "signed-in session lifetime (default 30d)",
    ),
    (
        "LOGIN_LIMIT_PER_ADDRESS",
        "sign-in attempts per client address a minute (20)",
    ),
    (
        "LOGIN_LIMIT_PER_ACCOUNT",
        "failed sign-ins per account a minute (5)",
    ),
    (
        "MESSAGES_PER_SECOND",
        "chat messages per user a second (10)",
    ),
    (
        "BODY_LIMIT",
        "largest request body or GraphQL frame (default 64KiB)",
    ),
    (
        "PRESENCE_GRACE",
        "time before a disconnected user shows offline (3s)",
    ),
    (
        "EVENT_RETENTION",
        "how long events are kept for resume (24h)",
    ),
];

impl Config {
    /// Reads the process environment, after loading `.env` if present.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is the normal case; a broken one is reported by the
        // variables it fails to provide.
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a configuration from any variable source (tests pass a map).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());

        let host = match var("HOST") {
            Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
                variable: "HOST",
                problem: "must be an IP address such as 127.0.0.1 or 0.0.0.0".into(),
            })?,
            None => IpAddr::from([127, 0, 0, 1]),
        };
        let port = match var("PORT") {
            Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
                variable: "PORT",
                problem: "must be a number from 0 to 65535".into(),
            })?,
            None => 4000,
        };
        let data_dir = PathBuf::from(var("DATA_DIR").unwrap_or_else(|| "./data".into()));

        let mongo_uri = var("MONGODB_URI");
        if let Some(uri) = &mongo_uri
            && !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://"))
        {
            return Err(ConfigError::Invalid {
                variable: "MONGODB_URI",
                problem: "must start with mongodb:// or mongodb+srv://".into(),
            });
        }

        let store = match mongo_uri {
            Some(uri) if database_name(&uri).is_none() => {
                return Err(ConfigError::Invalid {
                    variable: "MONGODB_URI",
                    problem: "must name a database, e.g. mongodb://host:27017/dashboard".into(),
                });
            }
            Some(uri) => StoreConfig::Mongo {
                uri: SecretString::from(uri),
            },
            None => StoreConfig::Sqlite {
                path: data_dir.join("realtime-dashboard.sqlite3"),
            },
        };
        let redis_url = var("REDIS_URL").filter(|url| !url.trim().is_empty());
        if let Some(url) = &redis_url {
            if !matches!(store, StoreConfig::Mongo { .. }) {
                return Err(ConfigError::Missing {
                    variable: "MONGODB_URI",
                    why: "REDIS_URL joins processes into one cluster, and the embedded store belongs to one process",
                });
            }
            if redis::Client::open(url.as_str()).is_err() {
                return Err(ConfigError::Invalid {
                    variable: "REDIS_URL",
                    problem: "must be a Redis URL, e.g. redis://host:6379/".into(),
                });
            }
        }
        let redis_url = redis_url.map(SecretString::from);

        let bootstrap_admin = match (var("ADMIN_EMAIL"), var("ADMIN_PASSWORD")) {
            (None, None) => None,
            (Some(email), Some(password)) => Some(BootstrapAdmin {
                email: Email::parse(&email).map_err(|e| ConfigError::Invalid {
                    variable: "ADMIN_EMAIL",
                    problem: e.to_string(),
                })?,
                password: Password::parse(&password).map_err(|e| ConfigError::Invalid {
                    variable: "ADMIN_PASSWORD",
                    problem: e.to_string(),
                })?,
            }),
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    variable: "ADMIN_PASSWORD",
                    why: "ADMIN_EMAIL is set, and the bootstrap admin needs both",
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    variable: "ADMIN_EMAIL",
                    why: "ADMIN_PASSWORD is set, and the bootstrap admin needs both",
                });
            }
        };

        let cors_origins = match var("CORS_ORIGINS") {
            Some(raw) => parse_origins(&raw)?,
            None => Vec::new(),
        };
        let trusted_proxies = match var("TRUSTED_PROXIES") {
            Some(raw) => parse_networks(&raw)?,
            None => Vec::new(),
        };

        let log_format = match var("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    variable: "LOG_FORMAT",
                    problem: "must be json or pretty".into(),
                });
            }
        };
        let log_filter = var("RUST_LOG").unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_filter).is_err() {
            return Err(ConfigError::Invalid {
                variable: "RUST_LOG",
                problem: "is not a valid log filter (e.g. info or realtime_dashboard=debug)".into(),
            });
        }

        let metrics_addr = match var("METRICS_ADDR") {
            Some(raw) => Some(raw.trim().parse().map_err(|_| ConfigError::Invalid {
                variable: "METRICS_ADDR",
                problem: "must be an address and port such as 127.0.0.1:9100".into(),
            })?),
            None => None,
        };
        let defaults = Self::defaults();
        let limits = Limits {
            access_token_ttl: duration_var(&var, "ACCESS_TOKEN_TTL", defaults.access_token_ttl)?,
            refresh_token_ttl: duration_var(&var, "REFRESH_TOKEN_TTL", defaults.refresh_token_ttl)?,
            login_attempts_per_address: count_var(
                &var,
                "LOGIN_LIMIT_PER_ADDRESS",
                defaults.login_attempts_per_address,
            )?,
            login_attempts_per_account: count_var(
                &var,
                "LOGIN_LIMIT_PER_ACCOUNT",
                defaults.login_attempts_per_account,
            )?,
            messages_per_second: count_var(
                &var,
                "MESSAGES_PER_SECOND",
                defaults.messages_per_second,
            )?,
            body_limit: size_var(&var, "BODY_LIMIT", defaults.body_limit)?,
            presence_grace: grace_var(&var, "PRESENCE_GRACE", defaults.presence_grace)?,
            event_retention: duration_var(&var, "EVENT_RETENTION", defaults.event_retention)?,
        };

        // Last, so that a bad variable never leaves a generated file behind.
        let (jwt_secret, jwt_secret_source) = match var("JWT_SECRET") {
            Some(secret) if secret.len() < MIN_SECRET_BYTES => {
                return Err(ConfigError::Invalid {
                    variable: "JWT_SECRET",
                    problem: format!("must be at least {MIN_SECRET_BYTES} bytes"),
                });
            }
            Some(secret) => (SecretString::from(secret), SecretSource::Environment),
            None if matches!(store, StoreConfig::Mongo { .. }) => {
                return Err(ConfigError::Missing {
                    variable: "JWT_SECRET",
                    why: "with MONGODB_URI every server process must sign tokens alike",
                });
            }
            None => load_or_create_secret(&data_dir)?,
        };

        Ok(Config {
            host,
            port,
            data_dir,
            store,
            jwt_secret,
            jwt_secret_source,
            bootstrap_admin,
            cors_origins,
            trusted_proxies,
            log_filter,
            log_format,
            access_token_ttl: limits.access_token_ttl,
            refresh_token_ttl: limits.refresh_token_ttl,
            login_attempts_per_address: limits.login_attempts_per_address,
            login_attempts_per_account: limits.login_attempts_per_account,
            messages_per_second: limits.messages_per_second,
            body_limit: limits.body_limit,
            presence_grace: limits.presence_grace,
            event_retention: limits.event_retention,
            metrics_addr,
            redis_url,
            ..defaults
        })
    }

    /// The configuration for one-off CLI commands (`create-admin`): like
    /// [`from_env`](Self::from_env), except that `ADMIN_EMAIL` and
    /// `ADMIN_PASSWORD` are not the bootstrap pair here; the password is
    /// returned for the command to use.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn from_env_for_cli() -> Result<(Self, Option<SecretString>), ConfigError> {
        let _ = dotenvy::dotenv();
        let config = Self::from_lookup(|name| match name {
            "ADMIN_EMAIL" | "ADMIN_PASSWORD" => None,
            _ => std::env::var(name).ok(),
        })?;
        let password = std::env::var("ADMIN_PASSWORD")
            .ok()
            .filter(|password| !password.is_empty())
            .map(SecretString::from);
        Ok((config, password))
    }

    /// The configuration for `demo`: like [`from_env`](Self::from_env),
    /// except that `DATA_DIR` defaults to [`DEMO_DATA_DIR`] (a demo never
    /// mixes its made-up shop with the data `serve` keeps in `./data`), and
    /// `ADMIN_EMAIL` and `ADMIN_PASSWORD` are not the bootstrap pair: each is
    /// optional and returned for the demo to name its own admin with.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn from_env_for_demo() -> Result<(Self, Option<Email>, Option<Password>), ConfigError> {
        let _ = dotenvy::dotenv();
        let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let config = Self::from_lookup(|name| match name {
            "ADMIN_EMAIL" | "ADMIN_PASSWORD" => None,
            "DATA_DIR" => Some(set(name).unwrap_or_else(|| DEMO_DATA_DIR.into())),
            _ => std::env::var(name).ok(),
        })?;
        let email = set("ADMIN_EMAIL")
            .map(|raw| Email::parse(&raw))
            .transpose()
            .map_err(|e| ConfigError::Invalid {
                variable: "ADMIN_EMAIL",
                problem: e.to_string(),
            })?;
        let password = set("ADMIN_PASSWORD")
            .map(|raw| Password::parse(&raw))
            .transpose()
            .map_err(|e| ConfigError::Invalid {
                variable: "ADMIN_PASSWORD",
                problem: e.to_string(),
            })?;
        Ok((config, email, password))
    }

    /// A configuration for tests: port 0 on loopback, a fresh data directory
    /// under the system temp dir, a fixed secret, quiet logs.
    pub fn for_tests() -> Self {
        let mut suffix = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut suffix);
        let data_dir = std::env::temp_dir().join(format!("rtd-test-{}", hex::encode(suffix)));
        fs::create_dir_all(&data_dir).expect("BUG: the temp dir must be writable in tests");
        Config {
            port: 0,
            store: StoreConfig::Sqlite {
                path: data_dir.join("test.sqlite3"),
            },
            data_dir,
            jwt_secret: SecretString::from("test-secret-that-is-at-least-32-bytes-long"),
            jwt_secret_source: SecretSource::Environment,
            ..Self::defaults()
        }
    }

    /// Values API.md does not make configurable.
    fn defaults() -> Self {
        Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 4000,
            data_dir: PathBuf::from("./data"),
            store: StoreConfig::Sqlite {
                path: PathBuf::from("./data/realtime-dashboard.sqlite3"),
            },
            jwt_secret: SecretString::from(String::new()),
            jwt_secret_source: SecretSource::Environment,
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 60 * 60),
            bootstrap_admin: None,
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            log_filter: "info".into(),
            log_format: LogFormat::Pretty,
            body_limit: 64 * 1024,
            connection_init_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(30),
            login_attempts_per_address: 20,
            login_attempts_per_account: 5,
            presence_grace: Duration::from_secs(3),
            typing_ttl: Duration::from_secs(5),
            messages_per_second: 10,
            event_retention: Duration::from_secs(24 * 60 * 60),
            metrics_addr: None,
            redis_url: None,
        }
    }

    /// The secret as bytes, for the token issuer.
    pub fn jwt_secret_bytes(&self) -> &[u8] {
        self.jwt_secret.expose_secret().as_bytes()
    }
}

fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let scheme_ok = origin.starts_with("http://") || origin.starts_with("https://");
            if scheme_ok
                && !origin.ends_with('/')
                && axum::http::HeaderValue::from_str(origin).is_ok()
            {
                Ok(origin.to_owned())
            } else {
                Err(ConfigError::Invalid {
                    variable: "CORS_ORIGINS",
                    problem: format!("{origin:?} is not an origin like https://admin.example.com"),
                })
            }
        })
        .collect()
}

/// The database a MongoDB URI names (its path, before the options), if any.
fn database_name(uri: &str) -> Option<String> {
    let after_scheme = uri.split_once("://")?.1;
    let path = after_scheme.split_once('/')?.1;
    let database = path.split('?').next().unwrap_or_default();
    (!database.is_empty()).then(|| database.to_owned())
}

/// `TRUSTED_PROXIES`: networks (`10.0.0.0/8`) or single addresses
/// (`192.0.2.7`), separated by commas or spaces.
fn parse_networks(raw: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError::Invalid {
                    variable: "TRUSTED_PROXIES",
                    problem: format!("{entry:?} is not a network like 10.0.0.0/8 or an address"),
                })
        })
        .collect()
}

fn data_dir_error(path: &Path, error: std::io::Error) -> ConfigError {
    ConfigError::DataDir {
        path: path.display().to_string(),
        problem: error.to_string(),
    }
}

/// Reads the secret generated on an earlier start, or makes one and keeps it
/// in an owner-only file, so tokens survive restarts without configuration.
fn load_or_create_secret(data_dir: &Path) -> Result<(SecretString, SecretSource), ConfigError> {
    let path = data_dir.join(SECRET_FILE);
    match fs::read_to_string(&path) {
        Ok(secret) if secret.trim().len() >= MIN_SECRET_BYTES => {
            return Ok((
                SecretString::from(secret.trim().to_owned()),
                SecretSource::Stored(path),
            ));
        }
        Ok(_) => {
            return Err(ConfigError::DataDir {
                path: path.display().to_string(),
                problem: "the stored secret is too short; delete the file to regenerate it".into(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(data_dir_error(&path, e)),
    }
    fs::create_dir_all(data_dir).map_err(|e| data_dir_error(data_dir, e))?;
    let mut bytes = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(|e| data_dir_error(&path, e))?;
    file.write_all(secret.as_bytes())
        .map_err(|e| data_dir_error(&path, e))?;
    Ok((SecretString::from(secret), SecretSource::Generated(path)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn temp_data_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn no_configuration_means_loopback_4000_and_sqlite_in_the_data_dir() {
        let dir = temp_data_dir();
        let config = config_from(&[("DATA_DIR", dir.path().to_str().unwrap())]).unwrap();
        assert_eq!(config.host.to_string(), "127.0.0.1");
        assert_eq!(config.port, 4000);
        assert!(matches!(config.store, StoreConfig::Sqlite { .. }));
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
    }

    #[test]
    fn the_generated_secret_is_kept_owner_only_and_reused() {
        let dir = temp_data_dir();
        let vars = [("DATA_DIR", dir.path().to_str().unwrap())];
        let first = config_from(&vars).unwrap();
        let second = config_from(&vars).unwrap();
        assert_eq!(first.jwt_secret_bytes(), second.jwt_secret_bytes());
        assert!(first.jwt_secret_bytes().len() >= 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_cluster_is_named_after_its_mongodb_database() {
        let dir = temp_data_dir();
        let config = config_from(&[
            ("DATA_DIR", dir.path().to_str().unwrap()),
            ("MONGODB_URI", "mongodb://a:1,b:2/shop?replicaSet=rs0"),
            ("JWT_SECRET", "a-secret-that-is-at-least-32-bytes-long"),
            ("REDIS_URL", "redis://127.0.0.1:6379/"),
        ])
        .unwrap();
        assert_eq!(config.store.database().as_deref(), Some("shop"));
        assert!(config.redis_url.is_some());
    }

    #[test]
    fn the_listed_variables_are_exactly_those_read() {
        let dir = temp_data_dir();
        let read = std::sync::Mutex::new(std::collections::BTreeSet::new());
        let data_dir = dir.path().to_str().unwrap().to_owned();
        Config::from_lookup(|name| {
            read.lock().unwrap().insert(name.to_owned());
            (name == "DATA_DIR").then(|| data_dir.clone())
        })
        .unwrap();
        let listed: std::collections::BTreeSet<String> = VARIABLES
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect();
        assert_eq!(read.into_inner().unwrap(), listed);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let dir = temp_data_dir();
        let data_dir = dir.path().to_str().unwrap();
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("PORT", "http")], "PORT"),
            (&[("PORT", "70000")], "PORT"),
            (&[("HOST", "localhost:4000")], "HOST"),
            (&[("JWT_SECRET", "short")], "JWT_SECRET"),
            (&[("MONGODB_URI", "mongodb://127.0.0.1/db")], "JWT_SECRET"),
            (&[("MONGODB_URI", "postgres://x")], "MONGODB_URI"),
            (
                &[("MONGODB_URI", "mongodb://127.0.0.1:27017")],
                "MONGODB_URI",
            ),
            (
                &[("MONGODB_URI", "mongodb://127.0.0.1:27017/?w=1")],
                "MONGODB_URI",
            ),
            (&[("REDIS_URL", "redis://127.0.0.1:6379/")], "MONGODB_URI"),
            (
                &[
                    ("MONGODB_URI", "mongodb://127.0.0.1/db"),
                    ("JWT_SECRET", "a-secret-that-is-at-least-32-bytes-long"),
                    ("REDIS_URL", "http://127.0.0.1:6379/"),
                ],
                "REDIS_URL",
            ),
            (&[("ADMIN_EMAIL", "root")], "ADMIN_EMAIL"),
            (&[("ADMIN_EMAIL", "root@example.com")], "ADMIN_PASSWORD"),
            (
                &[
                    ("ADMIN_EMAIL", "root@example.com"),
                    ("ADMIN_PASSWORD", "short"),
                ],
                "ADMIN_PASSWORD",
            ),
            (&[("CORS_ORIGINS", "example.com")], "CORS_ORIGINS"),
            (&[("LOG_FORMAT", "xml")], "LOG_FORMAT"),
            (&[("ACCESS_TOKEN_TTL", "15")], "ACCESS_TOKEN_TTL"),
            (&[("ACCESS_TOKEN_TTL", "0s")], "ACCESS_TOKEN_TTL"),
            (&[("REFRESH_TOKEN_TTL", "a month")], "REFRESH_TOKEN_TTL"),
            (
                &[("LOGIN_LIMIT_PER_ADDRESS", "0")],
                "LOGIN_LIMIT_PER_ADDRESS",
            ),
            (
                &[("LOGIN_LIMIT_PER_ACCOUNT", "-1")],
                "LOGIN_LIMIT_PER_ACCOUNT",
            ),
            (&[("MESSAGES_PER_SECOND", "ten")], "MESSAGES_PER_SECOND"),
            (&[("BODY_LIMIT", "64 parsecs")], "BODY_LIMIT"),
            (&[("BODY_LIMIT", "1GiB")], "BODY_LIMIT"),
            (&[("PRESENCE_GRACE", "soon")], "PRESENCE_GRACE"),
            (&[("EVENT_RETENTION", "24")], "EVENT_RETENTION"),
            (&[("METRICS_ADDR", "9100")], "METRICS_ADDR"),
        ];
        for (vars, variable) in cases {
            let mut vars = vars.to_vec();
            vars.push(("DATA_DIR", data_dir));
            let error = config_from(&vars).expect_err(variable).to_string();
            assert!(
                error.contains(variable),
                "{error:?} does not name {variable}"
            );
            assert!(!error.contains('\n'), "{error:?} is more than one line");
        }
    }

    #[test]
    fn limits_are_read_with_their_units_and_default_to_the_documented_values() {
        let dir = temp_data_dir();
        let data_dir = dir.path().to_str().unwrap();
        let defaults = config_from(&[("DATA_DIR", data_dir)]).unwrap();
        assert_eq!(defaults.access_token_ttl, Duration::from_secs(900));
        assert_eq!(defaults.refresh_token_ttl, Duration::from_secs(30 * 86_400));
        assert_eq!(defaults.login_attempts_per_address, 20);
        assert_eq!(defaults.login_attempts_per_account, 5);
        assert_eq!(defaults.messages_per_second, 10);
        assert_eq!(defaults.body_limit, 64 * 1024);
        assert_eq!(defaults.presence_grace, Duration::from_secs(3));
        assert_eq!(defaults.event_retention, Duration::from_secs(86_400));
        let set = config_from(&[
            ("DATA_DIR", data_dir),
            ("ACCESS_TOKEN_TTL", "90s"),
            ("REFRESH_TOKEN_TTL", "7d"),
            ("LOGIN_LIMIT_PER_ADDRESS", "100"),
            ("LOGIN_LIMIT_PER_ACCOUNT", "3"),
            ("MESSAGES_PER_SECOND", "25"),
            ("BODY_LIMIT", "1MiB"),
            ("PRESENCE_GRACE", "0"),
            ("EVENT_RETENTION", "2h"),
        ])
        .unwrap();
        assert_eq!(set.access_token_ttl, Duration::from_secs(90));
        assert_eq!(set.refresh_token_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(set.login_attempts_per_address, 100);
        assert_eq!(set.login_attempts_per_account, 3);
        assert_eq!(set.messages_per_second, 25);
        assert_eq!(set.body_limit, 1024 * 1024);
        assert_eq!(set.presence_grace, Duration::ZERO);
        assert_eq!(set.event_retention, Duration::from_secs(7200));
        let bytes = config_from(&[("DATA_DIR", data_dir), ("BODY_LIMIT", "65536")]).unwrap();
        assert_eq!(bytes.body_limit, 65536);
    }

    #[test]
    fn mongo_with_a_secret_is_accepted() {
        let config = config_from(&[
            ("MONGODB_URI", "mongodb://127.0.0.1:27017/dashboard"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ])
        .unwrap();
        assert!(matches!(config.store, StoreConfig::Mongo { .. }));
    }

    #[test]
    fn cors_origins_are_split_on_commas() {
        let dir = temp_data_dir();
        let config = config_from(&[
            ("DATA_DIR", dir.path().to_str().unwrap()),
            (
                "CORS_ORIGINS",
                "https://a.example.com, http://localhost:5173",
            ),
        ])
        .unwrap();
        assert_eq!(
            config.cors_origins,
            ["https://a.example.com", "http://localhost:5173"]
        );
    }

    #[test]
    fn trusted_proxies_are_networks_or_addresses_and_anything_else_is_refused() {
        let dir = temp_data_dir();
        let data_dir = dir.path().to_str().unwrap();
        let config = config_from(&[
            ("DATA_DIR", data_dir),
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7 2001:db8::/32"),
        ])
        .unwrap();
        let listed: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(listed, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
        let unset = config_from(&[("DATA_DIR", data_dir)]).unwrap();
        assert!(unset.trusted_proxies.is_empty());
        let error = config_from(&[("DATA_DIR", data_dir), ("TRUSTED_PROXIES", "the-lb")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("TRUSTED_PROXIES"), "{error}");
    }
}
