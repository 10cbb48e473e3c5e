//! What the server says while vmx works (NOTICE, WARNING, INFO): collected so
//! the command layer can show it to the operator, per file.
//!
//! sqlx 0.8 reads a server's NoticeResponse itself and only emits it as a
//! `tracing` event (target `sqlx::postgres::notice`, field `message`; the level
//! stands for the severity: WARN = WARNING, INFO = NOTICE, TRACE = INFO/LOG).
//! A tiny subscriber, installed once at start-up, keeps those events in a
//! buffer per thread that `take()` drains. DETAIL and HINT never leave sqlx, so
//! a file that wants the operator to read something puts it in the message.
//!
//! Per thread because vmx drives its connection on one thread (a current-thread
//! runtime) and the tests run side by side on several: each drains its own.

use serde::Serialize;
use std::cell::RefCell;
use std::fmt;
use std::sync::OnceLock;
use tracing::field::{Field, Visit};
use tracing::span;
use tracing::{Event, Level, Metadata, Subscriber};

/// The `tracing` target under which sqlx reports the server's notices.
const TARGET: &str = "sqlx::postgres::notice";

/// The prefix the schema files give the notices they mean for the operator.
pub const VMX_PREFIX: &str = "vmx:";

/// How serious the server said its message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// DEBUG1..5 (only sent when client_min_messages asks for it).
    Debug,
    /// INFO or LOG (sqlx does not tell them apart).
    Info,
    Notice,
    Warning,
    /// ERROR, FATAL or PANIC sent as a notice (rare; errors arrive as errors).
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Notice => "NOTICE",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
        }
    }

    fn of(level: &Level) -> Severity {
        match *level {
            Level::ERROR => Severity::Error,
            Level::WARN => Severity::Warning,
            Level::INFO => Severity::Notice,
            Level::DEBUG => Severity::Debug,
            Level::TRACE => Severity::Info,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message the server sent while a statement ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerNotice {
    pub severity: Severity,
    pub message: String,
    /// Always None with sqlx 0.8, which drops DETAIL; kept for the JSON shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Always None with sqlx 0.8, which drops HINT; kept for the JSON shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ServerNotice {
    /// Whether a schema file raised it for the operator (its message starts with `vmx:`).
    pub fn is_from_vmx(&self) -> bool {
        self.message.trim_start().starts_with(VMX_PREFIX)
    }

    /// Whether human output shows it: WARNING (and worse) always, the files'
    /// own `vmx:` notices unless `-q`, everything else only with `-v`.
    /// JSON lists every notice regardless.
    pub fn shown(&self, verbose: u8, quiet: bool) -> bool {
        if self.severity >= Severity::Warning {
            return true;
        }
        if quiet {
            return false;
        }
        verbose > 0 || self.is_from_vmx()
    }
}

impl fmt::Display for ServerNotice {
    /// As psql prints it: `WARNING:  message`, then DETAIL/HINT lines if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:  {}", self.severity, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL:  {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT:  {hint}")?;
        }
        Ok(())
    }
}

/// The notices of those in `notices` that human output shows (see `ServerNotice::shown`).
pub fn shown(notices: &[ServerNotice], verbose: u8, quiet: bool) -> Vec<&ServerNotice> {
    notices.iter().filter(|n| n.shown(verbose, quiet)).collect()
}

/// At most this many notices wait to be taken on one thread.
const MAX_KEPT: usize = 10_000;

thread_local! {
    static BUFFER: RefCell<Vec<ServerNotice>> = const { RefCell::new(Vec::new()) };
}

/// Starts collecting the server's notices (idempotent). Call once at start-up,
/// before the first connection; does nothing when another `tracing`
/// subscriber was installed first.
pub fn install() {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(Collector).is_ok());
}

/// Everything the server said on this thread since the last `take()`, in order.
pub fn take() -> Vec<ServerNotice> {
    BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()))
}

/// Forgets what was collected so far on this thread (e.g. the notices of vmx's
/// own bookkeeping statements, before a file runs).
pub fn clear() {
    BUFFER.with(|b| b.borrow_mut().clear());
}

/// Runs `work` and returns, with its output, what the server said while it ran
/// (e.g. one schema file); what was collected before is left in the buffer.
pub async fn collect<F: std::future::Future>(work: F) -> (F::Output, Vec<ServerNotice>) {
    let before = take();
    let output = work.await;
    let during = take();
    BUFFER.with(|b| {
        let mut buffer = b.borrow_mut();
        let after = std::mem::replace(&mut *buffer, before);
        buffer.extend(after);
    });
    (output, during)
}

/// A `tracing` subscriber interested only in sqlx's notice events.
struct Collector;

struct MessageField(Option<String>);

impl Visit for MessageField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" && self.0.is_none() {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl Subscriber for Collector {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == TARGET
    }

    fn new_span(&self, _span: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}

    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        if metadata.target() != TARGET {
            return;
        }
        let mut message = MessageField(None);
        event.record(&mut message);
        let notice = ServerNotice {
            severity: Severity::of(metadata.level()),
            message: message.0.unwrap_or_default(),
            detail: None,
            hint: None,
        };
        // A thread being torn down has nobody left to read it; a run that
        // never drains (a notice in a loop) must not grow without bound.
        let _ = BUFFER.try_with(|b| {
            let mut buffer = b.borrow_mut();
            if buffer.len() < MAX_KEPT {
                buffer.push(notice);
            }
        });
    }

    fn enter(&self, _span: &span::Id) {}

    fn exit(&self, _span: &span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(severity: Severity, message: &str) -> ServerNotice {
        ServerNotice {
            severity,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    #[test]
    fn warnings_and_the_files_own_notices_are_shown_by_default() {
        let vmx = notice(Severity::Notice, "vmx: pg_cron is not installed");
        let chatter = notice(Severity::Notice, "relation \"x\" already exists, skipping");
        let warning = notice(Severity::Warning, "there is no transaction in progress");
        assert!(vmx.shown(0, false));
        assert!(warning.shown(0, false));
        assert!(!chatter.shown(0, false));
        assert!(chatter.shown(1, false));
        assert!(warning.shown(0, true));
        assert!(!vmx.shown(0, true));
        let all = [vmx.clone(), chatter, warning.clone()];
        assert_eq!(shown(&all, 0, false), vec![&vmx, &warning]);
    }

    #[test]
    fn a_notice_prints_like_psql_and_serialises_with_its_severity() {
        let n = notice(Severity::Warning, "careful");
        assert_eq!(n.to_string(), "WARNING:  careful");
        assert_eq!(
            serde_json::to_value(&n).expect("json"),
            serde_json::json!({"severity": "WARNING", "message": "careful"})
        );
    }

    #[test]
    fn sqlx_notice_events_are_collected_per_thread_in_order() {
        install();
        clear();
        tracing::event!(target: "sqlx::postgres::notice", Level::INFO, message = "first");
        tracing::event!(target: "sqlx::postgres::notice", Level::WARN, message = "second");
        tracing::event!(target: "sqlx::postgres::query", Level::INFO, message = "not a notice");
        let got = take();
        assert_eq!(
            got,
            vec![
                notice(Severity::Notice, "first"),
                notice(Severity::Warning, "second")
            ]
        );
        assert!(take().is_empty());
    }
}
