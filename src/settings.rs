//! Settings from a file: `histinspect.toml` in the current directory or the nearest parent, or
//! the `[tool.histinspect]` table of the nearest `pyproject.toml` that has one (ruff's
//! convention). Keys (kebab-case, as ruff's):
//!
//! ```toml
//! fail-on = ["error", "damage"]          # what fails `histinspect check`
//! exclude-tag = ["^backbone/"]           # tags never read (regexes)
//! exclude-run = ["^old/"]                # runs never read
//! [thresholds]
//! frozen = 1e-5
//! [[allow]]                              # findings shown, marked allowed, never failing
//! run = "^finetune"                      # regex (optional)
//! tag = "^encoder/"                      # regex (optional)
//! flags = ["frozen", "still_at_init"]    # optional: every flag
//! reason = "backbone frozen on purpose"  # required
//! ```
//!
//! A mistake — an unknown key, a bad regex, an unknown flag or threshold — is an error naming
//! the file and the line, never ignored.

use crate::diagnose::{Flag, Thresholds};
use crate::gate::{Allow, FailOn};
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A mistake in a settings file.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsError {
    pub path: PathBuf,
    /// 1-based.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for SettingsError {}

/// What a settings file says.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The file read.
    pub path: PathBuf,
    pub fail_on: Option<FailOn>,
    pub exclude_tag: Vec<Regex>,
    pub exclude_run: Vec<Regex>,
    /// `(name, value)`, in file order.
    pub thresholds: Vec<(String, f64)>,
    pub allow: Vec<Allow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSettings {
    fail_on: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    exclude_tag: Vec<Spanned<String>>,
    #[serde(default)]
    exclude_run: Vec<Spanned<String>>,
    #[serde(default)]
    thresholds: BTreeMap<Spanned<String>, Spanned<f64>>,
    #[serde(default)]
    allow: Vec<RawAllow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    run: Option<Spanned<String>>,
    tag: Option<Spanned<String>>,
    #[serde(default)]
    flags: Vec<Spanned<String>>,
    reason: String,
}

#[derive(Debug, Deserialize)]
struct Pyproject {
    tool: Option<PyprojectTool>,
}

#[derive(Debug, Deserialize)]
struct PyprojectTool {
    histinspect: Option<RawSettings>,
}

/// The settings file that applies in `dir`: `histinspect.toml` there or in the nearest
/// parent, or the nearest `pyproject.toml` with a `[tool.histinspect]` table.
pub fn find(dir: &Path) -> Option<PathBuf> {
    for d in dir.ancestors() {
        let own = d.join("histinspect.toml");
        if own.is_file() {
            return Some(own);
        }
        let py = d.join("pyproject.toml");
        if py.is_file()
            && std::fs::read_to_string(&py).is_ok_and(|t| t.contains("[tool.histinspect"))
        {
            return Some(py);
        }
    }
    None
}

/// Reads the settings in `path` (a `histinspect.toml` or a `pyproject.toml`).
pub fn load(path: &Path) -> Result<Settings, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError {
        path: path.to_path_buf(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Parses settings text; `path` names it in errors and decides the form (`pyproject.toml`:
/// the `[tool.histinspect]` table).
pub fn parse(path: &Path, text: &str) -> Result<Settings, SettingsError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let err = |span: Option<std::ops::Range<usize>>, message: String| SettingsError {
        path: path.to_path_buf(),
        line: span.map(|s| line_of(s.start)),
        message,
    };
    let toml_err = |e: toml::de::Error| err(e.span(), e.message().to_string());
    let is_pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
    let raw = if is_pyproject {
        let p: Pyproject = toml::from_str(text).map_err(toml_err)?;
        match p.tool.and_then(|t| t.histinspect) {
            Some(r) => r,
            None => {
                return Ok(Settings {
                    path: path.to_path_buf(),
                    ..Settings::default()
                })
            }
        }
    } else {
        toml::from_str::<RawSettings>(text).map_err(toml_err)?
    };
    let regex = |s: &Spanned<String>, key: &str| {
        Regex::new(s.get_ref()).map_err(|e| {
            err(
                Some(s.span()),
                format!("bad regular expression in {key}: {e}"),
            )
        })
    };
    let flags = |items: &[Spanned<String>]| -> Result<Vec<Flag>, SettingsError> {
        items
            .iter()
            .map(|f| {
                Flag::parse(f.get_ref())
                    .ok_or_else(|| err(Some(f.span()), format!("unknown flag {:?}", f.get_ref())))
            })
            .collect()
    };
    let fail_on = match &raw.fail_on {
        None => None,
        Some(items) => Some(
            FailOn::parse(items.iter().map(|i| i.get_ref().as_str())).map_err(|m| {
                err(
                    items.first().map(|i| i.span()),
                    m.replace("--fail-on", "fail-on"),
                )
            })?,
        ),
    };
    let mut thresholds = Vec::new();
    for (name, value) in &raw.thresholds {
        if !Thresholds::NAMES.contains(&name.get_ref().as_str()) {
            return Err(err(
                Some(name.span()),
                format!(
                    "unknown threshold {:?}; known: {}",
                    name.get_ref(),
                    Thresholds::NAMES.join(", ")
                ),
            ));
        }
        thresholds.push((name.get_ref().clone(), *value.get_ref()));
    }
    let mut allow = Vec::new();
    for a in &raw.allow {
        allow.push(Allow {
            run: a.run.as_ref().map(|r| regex(r, "allow.run")).transpose()?,
            tag: a.tag.as_ref().map(|r| regex(r, "allow.tag")).transpose()?,
            flags: flags(&a.flags)?,
            reason: a.reason.clone(),
        });
    }
    Ok(Settings {
        path: path.to_path_buf(),
        fail_on,
        exclude_tag: raw
            .exclude_tag
            .iter()
            .map(|r| regex(r, "exclude-tag"))
            .collect::<Result<_, _>>()?,
        exclude_run: raw
            .exclude_run
            .iter()
            .map(|r| regex(r, "exclude-run"))
            .collect::<Result<_, _>>()?,
        thresholds,
        allow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, text: &str) -> Result<Settings, SettingsError> {
        parse(Path::new(name), text)
    }

    #[test]
    fn every_key_is_read() {
        let s = p(
            "histinspect.toml",
            r#"
fail-on = ["error", "damage"]
exclude-tag = ["^backbone/"]
exclude-run = ["^old"]
[thresholds]
frozen = 1e-5
[[allow]]
tag = "^encoder/"
flags = ["frozen"]
reason = "frozen on purpose"
"#,
        )
        .unwrap();
        let f = s.fail_on.unwrap();
        assert!(f.damage && f.flags.contains(&Flag::Frozen));
        assert!(s.exclude_tag[0].is_match("backbone/w"));
        assert!(s.exclude_run[0].is_match("old/1"));
        assert_eq!(s.thresholds, vec![("frozen".to_string(), 1e-5)]);
        assert_eq!(s.allow[0].flags, vec![Flag::Frozen]);
        assert_eq!(s.allow[0].reason, "frozen on purpose");
    }

    #[test]
    fn mistakes_name_the_line() {
        for (text, line, says) in [
            (
                "fail-on = [\"error\"]\nexclude-tags = [\"x\"]\n",
                2,
                "exclude-tags",
            ),
            ("exclude-tag = [\n  \"(\",\n]\n", 2, "regular expression"),
            ("[thresholds]\nfrozn = 1\n", 2, "frozn"),
            ("[[allow]]\nflags = [\"frozen\"]\n", 1, "reason"),
            (
                "[[allow]]\nreason = \"x\"\nflags = [\"frozn\"]\n",
                3,
                "frozn",
            ),
            ("fail-on = [\"errors\"]\n", 1, "errors"),
        ] {
            let e = p("histinspect.toml", text).unwrap_err();
            assert_eq!(e.line, Some(line), "{text}: {e}");
            assert!(e.to_string().contains(says), "{text}: {e}");
            assert!(e.to_string().starts_with("histinspect.toml:"), "{e}");
        }
    }

    #[test]
    fn pyproject_reads_only_its_table_with_lines_of_the_whole_file() {
        let text = "[project]\nname = \"x\"\n\n[tool.ruff]\nline-length = 100\n\n[tool.histinspect]\nexclude-tag = [\"(\"]\n";
        let e = p("pyproject.toml", text).unwrap_err();
        assert_eq!(e.line, Some(8), "{e}");
        let s = p("pyproject.toml", "[tool.ruff]\nx = 1\n").unwrap();
        assert!(s.fail_on.is_none() && s.allow.is_empty());
    }
}
