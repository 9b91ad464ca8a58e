//! The binary: parse arguments, run, print errors with their chain, choose the exit code.
//!
//! Exit codes: 0 clean; 1 findings that fail the gate (`check`, or `--fail-on`); 2 usage
//! error, a path or file that could not be read, or nothing to check. A closed pipe
//! (`histinspect logs | head`) ends the output quietly and leaves the exit code as it would
//! have been: a gate still fails.
#![forbid(unsafe_code)]

mod cli;

use clap::Parser;
use histinspect::app::{self, Outcome};
use histinspect::config::Command;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some((typed, command)) = cli::mistyped_command(&args) {
        say(format_args!(
            "histinspect: usage error: unknown command {typed:?} (and no such path); did you mean \
             `histinspect {command}`?"
        ));
        return ExitCode::from(2);
    }
    let cli = match cli::Cli::try_parse_from(&args) {
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
            say(format_args!("histinspect: error: {e}"));
            for cause in e.chain().skip(1) {
                say(format_args!("  caused by: {cause}"));
            }
            ExitCode::from(2)
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    if cli.generate(&mut io::stdout().lock())? {
        return Ok(ExitCode::SUCCESS);
    }
    let config = match cli.resolve() {
        Ok(c) => c,
        Err(e) => {
            say(format_args!("histinspect: usage error: {e:#}"));
            return Ok(ExitCode::from(2));
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut err = Diagnostics(io::stderr());
    let outcome = match &config.command {
        Command::Watch(w) => {
            // SIGINT and SIGTERM end the watch with its summary; a second one ends it at once.
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [SIGINT, SIGTERM] {
                flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))?;
                flag::register(sig, Arc::clone(&stop))?;
            }
            app::watch(&config, *w, &mut out, &mut err, &stop)?
        }
        _ => app::run(&config, &mut out, &mut err)?,
    };
    // A closed pipe ends the output, not the run: the outcome stands (see `app::run`).
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(match outcome {
        Outcome::Clean => ExitCode::SUCCESS,
        Outcome::FlagsFound => ExitCode::from(1),
        Outcome::CannotCheck => ExitCode::from(2),
        Outcome::NothingRead => {
            say(format_args!(
                "histinspect: nothing could be read from the paths given"
            ));
            ExitCode::from(2)
        }
    })
}

/// One line on stderr. Unlike `eprintln!`, which panics when stderr is closed, a line that
/// cannot be written is dropped: the exit code still says what happened.
fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// Stderr as the commands write to it: once nobody reads it (`histinspect check logs 2>&1 |
/// head`), its lines are dropped instead of failing the command, whose exit code must stay the
/// verdict (a closed stdout is handled the same way in `app`).
struct Diagnostics(io::Stderr);

impl Write for Diagnostics {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(buf.len()),
            r => r,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.0.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            r => r,
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
