//! The binary: parse arguments, run, print errors with their chain, choose the exit code.
//!
//! Exit codes: 0 clean; 1 a flag named in `--fail-on` was found; 2 usage error, or nothing
//! could be read. A closed pipe (`histinspect logs | head`) is success.
#![forbid(unsafe_code)]

mod cli;

use clap::Parser;
use histinspect::app::{self, Outcome};
use std::io::{self, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("histinspect: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    let config = match cli.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("histinspect: usage error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut err = io::stderr();
    let outcome = app::run(&config, &mut out, &mut err)?;
    out.flush()?;
    Ok(match outcome {
        Outcome::Clean => ExitCode::SUCCESS,
        Outcome::FlagsFound => ExitCode::from(1),
        Outcome::NothingRead => {
            eprintln!("histinspect: nothing could be read from the paths given");
            ExitCode::from(2)
        }
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
