//! The CI gate: which findings of a [`Report`] fail a check, which are allowed, and whether
//! the check could be made at all. Pure: the front end turns a [`Verdict`] into an exit code
//! and its messages.
//!
//! Exit codes follow linters (ruff, grep, ripgrep): 0 checked and clean, 1 findings, 2 could
//! not check what was asked — a path that does not exist or cannot be read, a directory or
//! file that cannot be read, or nothing to check at all.

use crate::diagnose::{Flag, Severity};
use crate::event_file::{Problem, ProblemKind};
use crate::model::{Report, TagReport};
use crate::source::RunName;
use regex::Regex;

/// What fails the gate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailOn {
    pub flags: Vec<Flag>,
    /// Corrupt records (not a truncated tail: that is a file still being written).
    pub damage: bool,
}

impl FailOn {
    /// Error-severity flags: `histinspect check`'s default.
    pub fn errors() -> FailOn {
        FailOn::severity(Severity::Error)
    }

    /// Every flag of `severity` or worse.
    pub fn severity(severity: Severity) -> FailOn {
        FailOn {
            flags: Flag::ALL
                .iter()
                .copied()
                .filter(|f| f.severity() <= severity)
                .collect(),
            damage: false,
        }
    }

    /// Parses `--fail-on` items: flag names, `any`, `error`, `warning`, `info`, `damage`.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<FailOn, String> {
        let mut f = FailOn::default();
        for item in items.into_iter().map(str::trim).filter(|i| !i.is_empty()) {
            if item == "any" {
                f.flags.extend(Flag::ALL.iter().copied());
            } else if item == "damage" {
                f.damage = true;
            } else if let Some(s) = Severity::parse(item) {
                f.flags.extend(FailOn::severity(s).flags);
            } else if let Some(flag) = Flag::parse(item) {
                f.flags.push(flag);
            } else {
                return Err(format!(
                    "unknown name {item:?} in --fail-on; known: any, damage, error, warning, info, {}",
                    Flag::ALL
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        f.flags.sort();
        f.flags.dedup();
        Ok(f)
    }
}

/// Findings that are expected (a backbone frozen on purpose): shown, marked allowed with the
/// reason, never failing the gate.
#[derive(Debug, Clone)]
pub struct Allow {
    pub run: Option<Regex>,
    pub tag: Option<Regex>,
    /// Empty: every flag.
    pub flags: Vec<Flag>,
    pub reason: String,
}

impl Allow {
    pub fn allows(&self, run: &RunName, tag: &str, flag: Flag) -> bool {
        self.run.as_ref().is_none_or(|r| r.is_match(run.as_str()))
            && self.tag.as_ref().is_none_or(|r| r.is_match(tag))
            && (self.flags.is_empty() || self.flags.contains(&flag))
    }
}

/// The gate's settings.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    pub fail_on: FailOn,
    pub allow: Vec<Allow>,
    /// True for `check` and for any `--fail-on`: then having nothing to check is exit 2.
    pub strict: bool,
}

/// One flag on one tag, as a gate sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding<'a> {
    pub tag: &'a TagReport,
    pub flag: Flag,
    /// The reason of the `[[allow]]` entry that allows it.
    pub allowed: Option<&'a str>,
    /// Named by `--fail-on` and not allowed.
    pub failing: bool,
}

/// Why a check could not be made (exit 2); each is one line for stderr.
#[derive(Debug, Clone, PartialEq)]
pub enum CannotCheck {
    /// A path given, or a directory or file under it, that could not be read.
    Unreadable(Problem),
    /// No histogram tags in the runs read (the front end says whether filters left none).
    NoHistograms { runs: usize },
}

/// What the gate makes of a report.
#[derive(Debug, Clone)]
pub struct Verdict<'a> {
    pub findings: Vec<Finding<'a>>,
    /// Damage problems, failing when `--fail-on damage`.
    pub damage: Vec<&'a Problem>,
    pub cannot_check: Vec<CannotCheck>,
    pub fail_on: FailOn,
}

impl Verdict<'_> {
    pub fn failing(&self) -> impl Iterator<Item = &Finding<'_>> {
        self.findings.iter().filter(|f| f.failing)
    }

    /// The damage problems that fail the check: all of them with `--fail-on damage`, else
    /// none.
    pub fn failing_damage(&self) -> &[&Problem] {
        if self.fail_on.damage {
            &self.damage
        } else {
            &[]
        }
    }

    /// 0 checked and clean, 1 findings (or damage with `--fail-on damage`), 2 could not check.
    pub fn exit_code(&self) -> u8 {
        if !self.cannot_check.is_empty() {
            2
        } else if self.failing().next().is_some() || !self.failing_damage().is_empty() {
            1
        } else {
            0
        }
    }
}

/// True for the problems that mean part of what was asked was not read.
pub fn is_unreadable(p: &Problem) -> bool {
    matches!(p.kind, ProblemKind::NoEventFiles | ProblemKind::Unreadable)
}

/// Applies `gate` to `report`.
pub fn evaluate<'a>(report: &'a Report, gate: &'a Gate) -> Verdict<'a> {
    let mut findings = Vec::new();
    for tag in report.tags() {
        for &flag in &tag.flags {
            let allowed = gate
                .allow
                .iter()
                .find(|a| a.allows(&tag.run, &tag.tag, flag))
                .map(|a| a.reason.as_str());
            findings.push(Finding {
                tag,
                flag,
                allowed,
                failing: allowed.is_none() && gate.fail_on.flags.contains(&flag),
            });
        }
    }
    let mut cannot_check: Vec<CannotCheck> = report
        .problems
        .iter()
        .filter(|p| is_unreadable(p))
        .cloned()
        .map(CannotCheck::Unreadable)
        .collect();
    if gate.strict && report.tags().next().is_none() && !report.nothing_read() {
        cannot_check.push(CannotCheck::NoHistograms {
            runs: report.runs.len(),
        });
    }
    Verdict {
        findings,
        damage: report
            .problems
            .iter()
            .filter(|p| p.kind.is_damage() && !is_unreadable(p))
            .collect(),
        cannot_check,
        fail_on: gate.fail_on.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_takes_names_severities_any_and_damage() {
        let f = FailOn::parse(["frozen", "damage"]).unwrap();
        assert_eq!(f.flags, vec![Flag::Frozen]);
        assert!(f.damage);
        assert_eq!(FailOn::parse(["error"]).unwrap(), FailOn::errors());
        assert!(FailOn::errors().flags.contains(&Flag::Nonfinite));
        assert!(FailOn::errors().flags.contains(&Flag::Frozen));
        let w = FailOn::parse(["warning"]).unwrap();
        assert!(w.flags.contains(&Flag::Dead) && w.flags.contains(&Flag::Frozen));
        assert!(!w.flags.contains(&Flag::StillAtInit));
        assert_eq!(FailOn::parse(["any"]).unwrap().flags.len(), Flag::ALL.len());
        assert!(FailOn::parse(["bogus"]).unwrap_err().contains("bogus"));
    }
}
