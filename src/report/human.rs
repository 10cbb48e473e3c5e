//! The human checklist, for a person at a terminal: groups in the order of
//! the guide's Verification Checklist; a passing group is one line
//! (`✓ Policies  20 passed`), every failure and warning is shown in full with
//! its remedy, `-v` shows every check; the last line is
//! `N passed, M failed[, K warnings]`. Lines fit the width (`COLUMNS`, else
//! the terminal's, else 100): a long detail wraps under its row, and no line
//! ends in whitespace.

use super::{CheckResult, Report, Section, Status};
use colored::Colorize;
use unicode_width::UnicodeWidthStr;

/// How much to show, and how wide.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Every check (not only failures, warnings and skips).
    pub every_check: bool,
    /// Only failures and warnings (and the last line).
    pub quiet: bool,
    /// Columns available.
    pub width: usize,
}

impl Options {
    pub fn new(verbose: u8, quiet: bool) -> Options {
        Options {
            every_check: verbose > 0,
            quiet,
            width: terminal_width(),
        }
    }
}

/// `COLUMNS`, else the width of the terminal on stdout, else 100.
pub fn terminal_width() -> usize {
    let from_env = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    let from_tty = || terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| w.0 as usize);
    from_env.or_else(from_tty).unwrap_or(100)
}

/// Narrower than this, wrapping turns into one word a line; keep it readable.
const MIN_WIDTH: usize = 40;
/// A target column wider than this is not padded (the row wraps instead).
const MAX_TARGET_COLUMN: usize = 44;

/// The heading a check is printed under: tables split into the core tables and
/// the three that `missing-tables-schema.sql` adds.
pub fn group(check: &CheckResult) -> (u8, &'static str) {
    if check.section == Section::Tables {
        let table = check.target.split('.').nth(1).unwrap_or("");
        let missing = crate::spec::table(table).is_some_and(|t| t.missing_file);
        return if missing {
            (1, "Missing tables (missing-tables-schema.sql)")
        } else {
            (0, "Core tables")
        };
    }
    (check.section as u8 + 1, check.section.title())
}

fn mark(status: Status) -> String {
    match status {
        Status::Pass => "✓".green().to_string(),
        Status::Fail => "✗".red().bold().to_string(),
        Status::Warn => "!".yellow().bold().to_string(),
        Status::Skip => "-".dimmed().to_string(),
    }
}

pub fn summary(report: &Report) -> String {
    let mut line = format!("{} passed, {} failed", report.passed(), report.failed());
    if report.warnings() > 0 {
        line.push_str(&format!(", {} warnings", report.warnings()));
    }
    line
}

/// `20 passed`, `18 passed, 2 failed, 1 warning`.
fn counts(checks: &[&CheckResult]) -> String {
    let n = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let mut parts = vec![format!("{} passed", n(Status::Pass))];
    if n(Status::Fail) > 0 {
        parts.push(format!("{} failed", n(Status::Fail)));
    }
    match n(Status::Warn) {
        0 => {}
        1 => parts.push("1 warning".into()),
        w => parts.push(format!("{w} warnings")),
    }
    if n(Status::Skip) > 0 {
        parts.push(format!("{} skipped", n(Status::Skip)));
    }
    parts.join(", ")
}

fn width_of(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Greedy word wrap to `width` columns; a word longer than a line is cut.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for mut word in text.split_whitespace() {
        loop {
            let sep = usize::from(!line.is_empty());
            if width_of(&line) + sep + width_of(word) <= width {
                if sep == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                break;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word wider than a whole line: cut it (at least one character).
            let mut used = 0;
            let mut cut = word.len();
            for (at, c) in word.char_indices() {
                let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                if at > 0 && used + w > width {
                    cut = at;
                    break;
                }
                used += w;
            }
            lines.push(word[..cut].to_string());
            word = &word[cut..];
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// One check: on one line when it fits (`  ✓ target  detail  id`), else the
/// target and id on the first line and the detail wrapped under it; the remedy
/// of a failure or warning follows, wrapped, under an arrow.
fn render_row(out: &mut String, c: &CheckResult, target_column: usize, width: usize) {
    const INDENT: &str = "    ";
    let target_width = width_of(&c.target);
    let padded = target_column.max(target_width);
    let one_line = 4 + padded + 2 + width_of(&c.detail) + 2 + width_of(&c.id);
    if one_line <= width {
        let pad = " ".repeat(padded - target_width);
        out.push_str(&format!(
            "  {} {}{pad}  {}  {}\n",
            mark(c.status),
            c.target,
            c.detail,
            c.id.dimmed()
        ));
    } else {
        let head = 4 + target_width + 2 + width_of(&c.id);
        if head <= width {
            out.push_str(&format!(
                "  {} {}  {}\n",
                mark(c.status),
                c.target,
                c.id.dimmed()
            ));
        } else {
            let mut target = wrap(&c.target, width - 4).into_iter();
            let first = target.next().unwrap_or_default();
            out.push_str(&format!("  {} {first}\n", mark(c.status)));
            for line in target {
                out.push_str(&format!("{INDENT}{line}\n"));
            }
            out.push_str(&format!("{INDENT}{}\n", c.id.dimmed()));
        }
        for line in wrap(&c.detail, width - INDENT.len()) {
            out.push_str(&format!("{INDENT}{line}\n"));
        }
    }
    if let (Some(remedy), Status::Fail | Status::Warn) = (&c.remedy, c.status) {
        let lines = wrap(remedy, width - INDENT.len() - 2);
        for (i, line) in lines.iter().enumerate() {
            let lead = if i == 0 { "→ " } else { "  " };
            out.push_str(&format!("{INDENT}{}\n", format!("{lead}{line}").cyan()));
        }
    }
}

/// `✓ Policies  20 passed`, or over two lines (or more) when narrower.
fn render_heading(out: &mut String, worst: Status, title: &str, counts: &str, width: usize) {
    if 2 + width_of(title) + 2 + width_of(counts) <= width {
        out.push_str(&format!("{} {}  {counts}\n", mark(worst), title.bold()));
        return;
    }
    for (i, line) in wrap(title, width - 2).iter().enumerate() {
        let lead = if i == 0 { mark(worst) } else { " ".into() };
        out.push_str(&format!("{lead} {}\n", line.bold()));
    }
    out.push_str(&format!("  {counts}\n"));
}

/// The checklist (see the module's doc).
pub fn render(report: &Report, options: &Options) -> String {
    let width = options.width.max(MIN_WIDTH);
    let mut checks: Vec<&CheckResult> = report.checks.iter().collect();
    checks.sort_by_key(|c| group(c).0);
    let mut sections: Vec<(&'static str, Vec<&CheckResult>)> = Vec::new();
    for c in checks {
        let title = group(c).1;
        match sections.last_mut() {
            Some((t, list)) if *t == title => list.push(c),
            _ => sections.push((title, vec![c])),
        }
    }

    let mut out = String::new();
    let mut blank_before_next = false;
    for (title, checks) in &sections {
        let shown: Vec<&CheckResult> = checks
            .iter()
            .copied()
            .filter(|c| match c.status {
                Status::Fail | Status::Warn => true,
                Status::Skip => !options.quiet,
                Status::Pass => options.every_check && !options.quiet,
            })
            .collect();
        if options.quiet && shown.is_empty() {
            continue;
        }
        if blank_before_next || (!shown.is_empty() && !out.is_empty()) {
            out.push('\n');
        }
        let worst = checks
            .iter()
            .map(|c| c.status)
            .fold(Status::Pass, |w, s| match (w, s) {
                (Status::Fail, _) | (_, Status::Fail) => Status::Fail,
                (Status::Warn, _) | (_, Status::Warn) => Status::Warn,
                _ => Status::Pass,
            });
        render_heading(&mut out, worst, title, &counts(checks), width);
        let target_column = shown
            .iter()
            .map(|c| width_of(&c.target))
            .filter(|&w| w <= MAX_TARGET_COLUMN)
            .max()
            .unwrap_or(0);
        for c in &shown {
            render_row(&mut out, c, target_column, width);
        }
        blank_before_next = !shown.is_empty();
    }
    if !out.is_empty() {
        out.push('\n');
    }
    // The last line is exactly `N passed, M failed` (what CI log readers
    // look for); warnings are counted on the line before it.
    match report.warnings() {
        0 => {}
        1 => out.push_str(&format!("{}\n", "1 warning".yellow())),
        w => out.push_str(&format!("{}\n", format!("{w} warnings").yellow())),
    }
    let line = format!("{} passed, {} failed", report.passed(), report.failed());
    let line = if report.ok() {
        line.green().bold()
    } else {
        line.red().bold()
    };
    out.push_str(&format!("{line}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let long = "a detail that goes on and on, far longer than any terminal a person would read it in, because it names many objects one after another";
        Report {
            checks: vec![
                CheckResult::pass("rls-enabled", Section::Rls, "public.profiles", "row level security is enabled"),
                CheckResult::fail("rls-enabled", Section::Rls, "public.usage_logs", long, "ALTER TABLE public.usage_logs ENABLE ROW LEVEL SECURITY, and then something else that makes this remedy long as well"),
                CheckResult::warn("fk-indexed", Section::ForeignKeys, "public.call_logs.assistant_id", "not indexed", "CREATE INDEX ON public.call_logs (assistant_id)"),
                CheckResult::pass("policy-expected", Section::Policies, "public.call_logs.call_logs_select_own", "SELECT for authenticated"),
            ],
        }
    }

    fn options(every_check: bool, width: usize) -> Options {
        Options {
            every_check,
            quiet: false,
            width,
        }
    }

    #[test]
    fn a_passing_section_is_one_line_and_failures_are_shown_in_full() {
        colored::control::set_override(false);
        let text = render(&report(), &options(false, 100));
        assert!(text.contains("✓ Policies  1 passed\n"), "{text}");
        assert!(!text.contains("call_logs_select_own"), "{text}");
        assert!(
            text.contains("✗ Row level security  1 passed, 1 failed"),
            "{text}"
        );
        assert!(text.contains("→ ALTER TABLE public.usage_logs"), "{text}");
        assert!(text.ends_with("1 warning\n2 passed, 1 failed\n"), "{text}");
    }

    #[test]
    fn lines_fit_the_width_and_end_in_no_whitespace() {
        colored::control::set_override(false);
        for width in [40, 60, 100, 200] {
            let text = render(&report(), &options(true, width));
            for line in text.lines() {
                assert!(width_of(line) <= width, "{width}: {line:?}");
                assert_eq!(line, line.trim_end(), "{width}: {line:?}");
            }
            assert!(text.contains("policy-expected"), "-v shows every check");
        }
    }

    #[test]
    fn wrap_cuts_words_longer_than_a_line() {
        assert_eq!(wrap("abcdefgh ij", 3), ["abc", "def", "gh", "ij"]);
        assert_eq!(wrap("", 10), [""]);
    }
}
