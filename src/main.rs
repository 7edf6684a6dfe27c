//! The `vardrum` command: serve (the default), mint a join link, verify the access log, or
//! add a staff member.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use vardrum::cli::{self, AuditCommand, AuditVerifyArgs, Cli, Command, ServeArgs, StaffCommand};
use vardrum::clock::SystemClock;
use vardrum::config::{Config, LogFormat};
use vardrum::server::Server;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token(args)) => {
            let config = match cli::load_config(&cli.global, &ServeArgs::default()) {
                Ok(c) => c,
                Err(e) => return fail(&e),
            };
            match cli::join_link(&config, &args, &SystemClock) {
                Ok(link) => {
                    println!("{link}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Some(Command::Serve(args)) => serve(&cli.global, &args),
        Some(Command::Audit(AuditCommand::Verify(args))) => audit_verify(&cli.global, &args),
        Some(Command::Staff(StaffCommand::Add(args))) => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => return fail(&e),
            };
            match runtime.block_on(cli::staff_add(&cli.global, &args, &SystemClock)) {
                Ok(id) => {
                    println!("added staff member {id}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        None => {
            // `vardrum` alone means `vardrum serve`: parse again with the subcommand, so that
            // serve's environment variables (VARDRUM_HTTP, DATABASE_URL, ...) apply too.
            let again = Cli::parse_from(std::env::args_os().chain(["serve".into()]));
            match again.command {
                Some(Command::Serve(args)) => serve(&again.global, &args),
                _ => serve(&again.global, &ServeArgs::default()),
            }
        }
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("vardrum: {e}");
    ExitCode::FAILURE
}

/// Exit status 0 when the chain is intact, 1 when it is broken, 2 when it could not be checked:
/// a monitoring script must tell tampering from a database that is down.
fn audit_verify(global: &cli::GlobalArgs, args: &AuditVerifyArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vardrum: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(cli::audit_verify(global, args)) {
        Ok(report) => {
            println!("{report}");
            if report.is_intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("vardrum: {e}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(config: &Config) {
    use std::io::IsTerminal;
    let spec = std::env::var("RUST_LOG").ok();
    let filter = vardrum::logging::filter(spec.as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

fn serve(global: &cli::GlobalArgs, args: &ServeArgs) -> ExitCode {
    let config = match cli::load_config(global, args) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    init_logging(&config);
    let drain = Duration::from_secs(config.rooms.drain_secs);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    runtime.block_on(async move {
        let server = match Server::start_with_clock(config, Arc::new(SystemClock)).await {
            Ok(s) => s,
            Err(e) => return fail(&e),
        };
        tracing::info!(http = %server.http_addr, media = ?server.media_addrs, "vardrum started");
        // The one line meant for people and scripts alike.
        println!("vardrum ready at {}", server.base_url);
        wait_for_stop_signal().await;
        if !drain.is_zero() && server.state.sfu.room_count() > 0 {
            server.drain();
            tracing::info!(
                rooms = server.state.sfu.room_count(),
                drain_secs = drain.as_secs(),
                "draining: no new visits; the open ones may go on until they end or the time is up \
                 (a second signal stops at once)"
            );
            tokio::select! {
                () = server.drained() => tracing::info!("drained: every visit has ended"),
                () = tokio::time::sleep(drain) => tracing::info!("drain time is up"),
                () = wait_for_stop_signal() => tracing::info!("second signal: stopping at once"),
            }
        }
        tracing::info!("stopping: telling connected clients");
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
