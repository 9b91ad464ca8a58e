//! Command-line arguments (clap) and their resolution into a [`Config`].

use clap::{Args, Parser, Subcommand, ValueEnum};
use histinspect::config::{Command, Config, Format};
use histinspect::report::table::Style;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Reads TensorBoard event files and tells you what the logged histograms say.
#[derive(Debug, Parser)]
#[command(name = "histinspect", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Inventory: per run the files, and per histogram tag its form, points and steps.
    Tags(Common),
}

#[derive(Debug, Args, Clone)]
struct Common {
    /// Logdirs (searched recursively) and event files.
    #[arg(value_name = "LOGDIR", required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// When to use colours (NO_COLOR is honoured with `auto`).
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Table,
    Json,
    Jsonl,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

impl Cli {
    /// Resolves the arguments against the environment (terminal, `NO_COLOR`, width).
    pub fn resolve(self) -> anyhow::Result<Config> {
        let (command, common) = match self.command {
            Some(Cmd::Tags(c)) => (Command::Tags, c),
            None => (Command::Tags, self.common),
        };
        let stdout_tty = std::io::stdout().is_terminal();
        let color = match common.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => {
                stdout_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        let width = if stdout_tty { terminal_width() } else { None };
        Ok(Config {
            paths: common.paths,
            command,
            format: match common.format {
                FormatArg::Table => Format::Table,
                FormatArg::Json => Format::Json,
                FormatArg::Jsonl => Format::Jsonl,
                FormatArg::Csv => Format::Csv,
            },
            style: Style { width, color },
            progress: std::io::stderr().is_terminal(),
        })
    }
}

fn terminal_width() -> Option<u16> {
    comfy_table::Table::new().width()
}
