//! The `realtime-dashboard` binary: `serve` (the default), `create-admin`,
//! `print-schema`, `demo`. Everything else lives in the library.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use secrecy::ExposeSecret as _;

use realtime_dashboard::app::{self, App};
use realtime_dashboard::config::{self, Config, SecretSource};
use realtime_dashboard::domain::{Email, Password, UserName};
use realtime_dashboard::{graphql, telemetry};

/// A live admin-dashboard backend: GraphQL, REST and Socket.IO on one core.
/// Configuration comes from the environment (and `.env`): listed below.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP, GraphQL and Socket.IO (the default).
    Serve,
    /// Create an admin account. The password comes from standard input
    /// (--password-stdin), ADMIN_PASSWORD, or a prompt on the terminal.
    CreateAdmin {
        /// Sign-in address of the new admin.
        #[arg(long)]
        email: String,
        /// Display name of the new admin.
        #[arg(long)]
        name: String,
        /// Read the password from the first line of standard input (for
        /// scripts: `printf '%s\n' "$PASSWORD" | realtime-dashboard create-admin …`).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Write the GraphQL schema (SDL) to stdout.
    PrintSchema,
    /// Serve a demo shop with simulated customers (data in ./data-demo
    /// unless DATA_DIR is set); the start-up banner says where to sign in.
    Demo(realtime_dashboard::demo::DemoArgs),
}

fn main() -> ExitCode {
    return_large_allocations_to_the_os();
    let matches = Cli::command().after_help(environment_help()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    match cli.command.unwrap_or(Command::Serve) {
        Command::PrintSchema => {
            print!("{}", graphql::sdl());
            ExitCode::SUCCESS
        }
        Command::Serve => run(serve()),
        Command::Demo(args) => run(realtime_dashboard::demo::run(args)),
        Command::CreateAdmin {
            email,
            name,
            password_stdin,
        } => run(create_admin(email, name, password_stdin)),
    }
}

/// The configuration variables for `--help`: they are the configuration,
/// so `--help` lists them rather than sending the reader elsewhere.
fn environment_help() -> String {
    let width = config::VARIABLES
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    let mut text = String::from(
        "Configuration (environment variables, or a .env file in the working directory):\n",
    );
    for (name, meaning) in config::VARIABLES {
        text.push_str(&format!("  {name:width$}  {meaning}\n"));
    }
    text.push_str(
        "\nDurations are written like 90s, 15m, 24h; sizes like 64KiB. \
         Reference: docs/configuration.md in the repository.",
    );
    text
}

/// Pins glibc's mmap threshold at its initial 128 KiB.
///
/// Every password hash allocates argon2's 19 MiB of blocks and frees them.
/// By default glibc raises its mmap threshold to the size of the first such
/// block freed, after which every hash is carved from a per-thread heap that
/// keeps up to twice that much untrimmed: with the blocking pool's threads,
/// 100 sign-ups left the server at about 1 GiB resident (measured by W3 of
/// BENCHMARKS.md). A fixed threshold maps each hash's blocks afresh and
/// unmaps them when done, which costs a few page faults per hash (against
/// tens of milliseconds of hashing) and keeps the resident set at its
/// working size (about 20 MiB after the same 100 sign-ups).
fn return_large_allocations_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter of the allocator; it is
    // called first thing in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Runs a command on a multi-threaded runtime; any error is one line on stderr.
fn run(command: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    telemetry::init(&config);
    match &config.jwt_secret_source {
        SecretSource::Generated(path) => tracing::info!(
            path = %path.display(),
            "generated a JWT signing secret (owner-only file); set JWT_SECRET to manage it yourself"
        ),
        SecretSource::Stored(path) => {
            tracing::info!(path = %path.display(), "using the stored JWT signing secret")
        }
        SecretSource::Environment => {}
    }
    let app = App::build(config.clone()).await?;
    app.log_listening(&config);
    app.run_until_stopped(app::shutdown_signal()).await
}

async fn create_admin(email: String, name: String, password_stdin: bool) -> anyhow::Result<()> {
    let (mut config, from_environment) = Config::from_env_for_cli()?;
    config.port = 0;
    let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
    let name = UserName::parse(&name).map_err(|e| anyhow::anyhow!("--name {e}"))?;
    let password = if password_stdin {
        password_from_stdin()?
    } else if let Some(password) = from_environment {
        password.expose_secret().to_owned()
    } else {
        password_from_terminal()?
    };
    let password = Password::parse(&password).map_err(|e| anyhow::anyhow!("password {e}"))?;
    let app = App::build(config).await?;
    let user = app
        .services()
        .accounts
        .create_admin(name, email, &password)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    println!("created admin {} ({})", user.id, user.email);
    Ok(())
}

/// The first line of standard input, without its line ending.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|error| {
        anyhow::anyhow!("--password-stdin: cannot read standard input: {error}")
    })?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        anyhow::bail!("--password-stdin: standard input held no password");
    }
    Ok(password.to_owned())
}

/// Asks twice on the terminal, so a typing slip does not become the password.
fn password_from_terminal() -> anyhow::Result<String> {
    let no_terminal = |error: std::io::Error| {
        anyhow::anyhow!(
            "no password given and no terminal to ask on ({error}): write it to standard input \
             with --password-stdin, or set ADMIN_PASSWORD"
        )
    };
    let first = rpassword::prompt_password("Password for the new admin: ").map_err(no_terminal)?;
    let second = rpassword::prompt_password("The same password again: ").map_err(no_terminal)?;
    if first != second {
        anyhow::bail!("the two passwords differ; nothing was created");
    }
    Ok(first)
}
