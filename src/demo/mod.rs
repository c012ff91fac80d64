//! The demo: a believable shop and simulated people using it, so that
//! someone trying the project sees a live dashboard at once instead of an
//! empty one.
//!
//! `realtime-dashboard demo` serves exactly as `serve` does, on its own
//! data (`DATA_DIR` defaults to `./data-demo`), after stocking an empty
//! store ([`shop`]: products, customers, past orders, conversations) and
//! while a simulation ([`simulation`]) keeps customers ordering, chatting
//! and coming and going, and a warehouse admin moving orders along.
//!
//! - **No side door.** Every write is a service call made as a principal
//!   obtained the way a door obtains one ([`cast`]: registration or
//!   sign-in with the real password hashing, the access token checked by
//!   the authenticator before each call, the session renewed with its
//!   refresh token); presence comes from connections opened through the
//!   connection service, as the doors open them. So the demo obeys every
//!   rule, publishes every event, and can do nothing a client could not.
//! - **Never unless asked.** Only the `demo` command calls [`run`]; `serve`
//!   has no trace of it.
//! - **Never on real data.** It seeds only a store whose catalogue is
//!   empty; a store with a catalogue is continued only when the demo's
//!   admin and warehouse accounts sign in with the demo's password (an
//!   earlier demo made it), and refused otherwise. MongoDB is refused
//!   unless `--allow-mongodb` says that database is meant for it.
//!
//! The demo accounts share one password: `ADMIN_PASSWORD` when set, else
//! one generated on the first start and kept (owner-only) in
//! `DATA_DIR/demo-password`. The start-up banner prints where to sign in.

mod cast;
mod shop;
mod simulation;

use std::fs;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use rand::Rng as _;
use tokio::sync::watch;

use crate::app::{self, App};
use crate::config::{Config, StoreConfig};
use crate::domain::{Email, Password, Role, UserName};
use crate::error::AppError;
use crate::services::Services;
use crate::telemetry;

use cast::{Actor, address};
pub use simulation::{MAX_IN_FLIGHT, MAX_MESSAGES, MAX_ONLINE, MAX_ORDERS, MIN_ONLINE};

/// The demo admin's sign-in address when `ADMIN_EMAIL` is not set.
pub const ADMIN_EMAIL: &str = "admin@demo.local";
/// The demo admin's display name.
const ADMIN_NAME: &str = "Demo Admin";
/// Simulated actions a minute unless `--rate` says otherwise.
pub const DEFAULT_RATE: u32 = 30;
/// The file in `DATA_DIR` keeping the generated password.
const PASSWORD_FILE: &str = "demo-password";

/// The `demo` command's options.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Simulated actions a minute (orders, status moves, chat lines,
    /// customers coming and going), jittered; 0 stocks the shop and serves
    /// it without simulated traffic.
    #[arg(long, default_value_t = DEFAULT_RATE, value_parser = clap::value_parser!(u32).range(0..=600))]
    pub rate: u32,
    /// Run on MONGODB_URI too. The demo writes made-up customers, orders and
    /// chats, so by default it refuses any store but the embedded one.
    #[arg(long)]
    pub allow_mongodb: bool,
}

/// The demo accounts' sign-in.
#[derive(Clone)]
pub(crate) struct Credentials {
    /// The demo admin's address (`ADMIN_EMAIL`, else [`ADMIN_EMAIL`]).
    pub(crate) admin_email: Email,
    /// Every demo account's password.
    pub(crate) password: Password,
}

/// The demo's accounts, signed in.
pub(crate) struct Cast {
    /// The admin the person watching signs in as; customers write to them.
    pub(crate) admin: Actor,
    /// The admin who stocks the shop and moves orders along.
    pub(crate) warehouse: Actor,
    /// The customers still taking part.
    pub(crate) customers: Vec<Actor>,
}

impl Cast {
    /// Creates the demo accounts that do not exist yet (admins through the
    /// operator's `create_admin`, customers by registering) and signs
    /// everyone in.
    ///
    /// # Errors
    /// The first service error; `UNAUTHENTICATED` when an account of that
    /// email exists with another password.
    async fn enrol(services: &Services, credentials: &Credentials) -> Result<Cast, AppError> {
        let warehouse_email = Email::parse(shop::WAREHOUSE.1).map_err(|e| e.on("email"))?;
        for (name, email) in [
            (ADMIN_NAME, &credentials.admin_email),
            (shop::WAREHOUSE.0, &warehouse_email),
        ] {
            let name = UserName::parse(name).map_err(|e| e.on("name"))?;
            match services
                .accounts
                .create_admin(name, email.clone(), &credentials.password)
                .await
            {
                Ok(_) | Err(AppError::Conflict(_)) => {}
                Err(other) => return Err(other),
            }
        }
        let (admin, warehouse) = Self::staff(services, credentials).await?;
        let customers = futures::future::try_join_all(shop::CUSTOMERS.iter().zip(10u8..).map(
            |(&(name, email), seat)| async move {
                let email = Email::parse(email).map_err(|e| e.on("email"))?;
                Actor::register(services, name, &email, &credentials.password, address(seat)).await
            },
        ))
        .await?;
        Ok(Cast {
            admin,
            warehouse,
            customers,
        })
    }

    /// Signs in the accounts an earlier start made. A customer who cannot
    /// sign in (an admin deactivated them) sits this run out.
    ///
    /// # Errors
    /// When the admin or the warehouse cannot sign in.
    async fn reopen(services: &Services, credentials: &Credentials) -> Result<Cast, AppError> {
        let (admin, warehouse) = Self::staff(services, credentials).await?;
        let signed_in = futures::future::join_all(shop::CUSTOMERS.iter().zip(10u8..).map(
            |(&(_, email), seat)| async move {
                let email = Email::parse(email).map_err(|e| e.on("email"))?;
                Actor::sign_in(services, &email, &credentials.password, address(seat)).await
            },
        ))
        .await;
        let mut customers = Vec::with_capacity(signed_in.len());
        for outcome in signed_in {
            match outcome {
                Ok(customer) => customers.push(customer),
                Err(error) => {
                    tracing::info!(%error, "demo: a customer cannot sign in and sits this run out");
                }
            }
        }
        Ok(Cast {
            admin,
            warehouse,
            customers,
        })
    }

    /// The admin and the warehouse, signed in and checked to be admins.
    async fn staff(
        services: &Services,
        credentials: &Credentials,
    ) -> Result<(Actor, Actor), AppError> {
        let warehouse_email = Email::parse(shop::WAREHOUSE.1).map_err(|e| e.on("email"))?;
        let admin = Actor::sign_in(
            services,
            &credentials.admin_email,
            &credentials.password,
            address(1),
        )
        .await?;
        let warehouse = Actor::sign_in(
            services,
            &warehouse_email,
            &credentials.password,
            address(2),
        )
        .await?;
        if admin.user().role != Role::Admin || warehouse.user().role != Role::Admin {
            return Err(AppError::Forbidden(
                "the demo's admin accounts are not admins in this store",
            ));
        }
        Ok((admin, warehouse))
    }
}

/// What start-up found in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// The catalogue was empty: the shop was stocked now.
    Stocked,
    /// An earlier demo stocked it: its accounts signed in again.
    Reopened,
}

/// Stocks an empty store, or signs in again on one an earlier demo
/// stocked; refuses any other.
///
/// # Errors
/// A refusal naming `DATA_DIR` for a store the demo did not make; the
/// service error otherwise.
pub(crate) async fn open(
    services: &Services,
    credentials: &Credentials,
) -> anyhow::Result<(Cast, Opened)> {
    if shop::is_empty(services)
        .await
        .context("reading the catalogue")?
    {
        let mut cast = Cast::enrol(services, credentials)
            .await
            .map_err(|error| refusal(error, credentials))?;
        shop::stock(services, &mut cast)
            .await
            .context("stocking the demo shop")?;
        return Ok((cast, Opened::Stocked));
    }
    let cast = Cast::reopen(services, credentials)
        .await
        .map_err(|error| refusal(error, credentials))?;
    Ok((cast, Opened::Reopened))
}

/// Why the demo will not run on this store, or the error as it is.
fn refusal(error: AppError, credentials: &Credentials) -> anyhow::Error {
    match error {
        AppError::Unauthenticated(_) | AppError::Forbidden(_) => anyhow::anyhow!(
            "this store was not made by the demo, or its demo accounts ({}, {}) have another \
             password ({error}); the demo runs only on its own data: unset DATA_DIR (the demo \
             uses {}) or point it at an empty directory, or set ADMIN_PASSWORD to the demo's \
             password",
            credentials.admin_email,
            shop::WAREHOUSE.1,
            crate::config::DEMO_DATA_DIR,
        ),
        other => anyhow::Error::new(other).context("signing in the demo accounts"),
    }
}

/// Runs the `demo` command: configuration as `serve` reads it (with the
/// demo's own `DATA_DIR`), the shop stocked or reopened, the simulation
/// started (unless `--rate 0`), then served until Ctrl-C or SIGTERM.
///
/// # Errors
/// A bad configuration, a store the demo refuses, or what stops `serve`.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let (config, admin_email, admin_password) = Config::from_env_for_demo()?;
    telemetry::init(&config);
    if matches!(config.store, StoreConfig::Mongo { .. }) && !args.allow_mongodb {
        anyhow::bail!(
            "the demo writes made-up customers, orders and chats, so it runs on the embedded \
             store: unset MONGODB_URI, or pass --allow-mongodb if that database is meant for it"
        );
    }
    let app = App::build(config.clone()).await?;
    let services = app.services().clone();
    let (password, generated) = match admin_password {
        Some(password) => (password, false),
        None => (stored_password(&config.data_dir)?, true),
    };
    let credentials = Credentials {
        admin_email: match admin_email {
            Some(email) => email,
            None => Email::parse(ADMIN_EMAIL).expect("BUG: a constant valid email"),
        },
        password,
    };
    let (cast, opened) = open(&services, &credentials).await?;

    let base = app.log_listening(&config);
    print_banner(&base, &config, &credentials, generated, opened, args.rate);

    let (stop, stopped) = watch::channel(false);
    let simulation = if args.rate > 0 {
        let simulation = simulation::Simulation::start(services, cast, args.rate)
            .await
            .context("starting the simulation")?;
        Some(tokio::spawn(simulation.run(stopped)))
    } else {
        None
    };
    let result = app
        .run_until_stopped(async move {
            app::shutdown_signal().await;
            let _ = stop.send(true);
        })
        .await;
    if let Some(simulation) = simulation {
        simulation.abort();
    }
    result
}

/// Where to sign in, on stdout and not in the log: it holds the demo's
/// password (when generated), and a log line never holds a password.
fn print_banner(
    base: &str,
    config: &Config,
    credentials: &Credentials,
    generated: bool,
    opened: Opened,
    rate: u32,
) {
    let password = if generated {
        credentials.password.expose().to_owned()
    } else {
        "the one in ADMIN_PASSWORD".to_owned()
    };
    let customers: Vec<&str> = shop::CUSTOMERS.iter().map(|(_, email)| *email).collect();
    let shop = match opened {
        Opened::Stocked => "stocked",
        Opened::Reopened => "reopened",
    };
    let traffic = if rate == 0 {
        "no simulated traffic (--rate 0)".to_owned()
    } else {
        format!("about {rate} simulated actions a minute (--rate)")
    };
    println!(
        "\nDemo shop {shop}, {traffic}.\n\
         Open {base}/dashboard/ and sign in as {email}, password: {password}\n\
         Customers, same password: {customers}\n\
         Data in {data} (delete it to start over).\n",
        email = credentials.admin_email,
        customers = customers.join(", "),
        data = config.data_dir.display(),
    );
}

/// The demo's password when `ADMIN_PASSWORD` is not set: the one kept in
/// `DATA_DIR`, else a new one kept there (owner-only, like the JWT secret).
fn stored_password(data_dir: &Path) -> anyhow::Result<Password> {
    let path = data_dir.join(PASSWORD_FILE);
    match fs::read_to_string(&path) {
        Ok(raw) => {
            return Password::parse(raw.trim())
                .map_err(|e| anyhow::anyhow!("{}: the password {e}", path.display()));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    }
    let password = generate_password();
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{password}").with_context(|| format!("writing {}", path.display()))?;
    Password::parse(&password).map_err(|e| anyhow::anyhow!("BUG: generated password {e}"))
}

/// Three groups of four letters and digits (no look-alikes such as 0/o or
/// 1/l): easy to type from a terminal, about 62 bits.
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let group = |rng: &mut rand::rngs::ThreadRng| -> String {
        (0..4)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect()
    };
    [group(&mut rng), group(&mut rng), group(&mut rng)].join("-")
}

#[cfg(test)]
mod tests;
