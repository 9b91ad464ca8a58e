//! `--format github`: one GitHub Actions workflow command per finding, which the runner shows
//! as an annotation on the job (`::error` for error severity, `::warning` otherwise), and per
//! damaged record when the gate fails on damage.
//!
//! Syntax (GitHub's "Workflow commands" documentation):
//! `::error title=TITLE::MESSAGE`. In the message `%`, CR and LF are written `%25`, `%0D`,
//! `%0A`; in a property value `:` and `,` are also escaped (`%3A`, `%2C`). Escaping the newline
//! is what keeps text from a logdir from starting a command of its own.

use super::clean;
use super::explain::finding_text;
use crate::diagnose::Severity;
use crate::gate::Verdict;
use std::io::{self, Write};

/// Escapes the data of a workflow command (its message).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value of a workflow command (`title=…`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation per finding that is not allowed; allowed ones are notices.
pub fn annotations(v: &Verdict<'_>, out: &mut dyn Write) -> io::Result<()> {
    for f in &v.findings {
        let level = match (f.allowed, f.flag.severity()) {
            (Some(_), _) | (None, Severity::Info) => "notice",
            (None, Severity::Error) => "error",
            (None, Severity::Warning) => "warning",
        };
        let t = f.tag;
        let mut message = format!(
            "run {} / tag {} at step {}: {}",
            clean(t.run.as_str()),
            clean(&t.tag),
            t.last.step,
            clean(&finding_text(f.flag, t))
        );
        if let Some(reason) = f.allowed {
            message.push_str(&format!(" (allowed: {})", clean(reason)));
        }
        writeln!(
            out,
            "::{level} title={}::{}",
            escape_property(&format!("histinspect: {}", f.flag)),
            escape_data(&message)
        )?;
    }
    for p in v.failing_damage() {
        writeln!(
            out,
            "::error title={}::{}",
            escape_property(&format!("histinspect: {}", p.kind)),
            escape_data(&clean(&p.to_string()))
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_workflow_command_syntax() {
        assert_eq!(
            escape_data("50% done\r\n::error::x"),
            "50%25 done%0D%0A::error::x"
        );
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }
}
