//! The `fido` binary: parses the command line and runs the subcommand's module.

use std::process::ExitCode;

use clap::Parser;
use fido_api::cli::{Cli, Command, KeysCommand, RollupsCommand};
use fido_api::commands::{
    copy, export, healthcheck, import, keys, migrate, reencrypt, rollups, serve, worker, writes,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::run(),
        Command::Worker => worker::run(),
        Command::Migrate(args) => migrate::run(&args),
        Command::Copy(args) => copy::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Healthcheck => healthcheck::run(),
        Command::Keys(KeysCommand::Create { name, scopes }) => keys::run(&name, &scopes),
        Command::Reencrypt(args) => reencrypt::run(args.batch_size, args.after),
        Command::Rollups(RollupsCommand::Verify(args)) => rollups::run(&args),
        Command::Writes(command) => writes::run(&command),
    };
    // Spans still buffered leave before the process does.
    fido_api::telemetry::shutdown();
    code
}
