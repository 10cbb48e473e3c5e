//! Connections as libpq users expect them: a URL (or `DATABASE_URL`), `sslmode`
//! and `sslrootcert` honoured, a connect timeout, `application_name=vmx`, and
//! every failure turned into one line with exit code 3 — never showing the password.
//!
//! URL parameters understood (libpq names): `sslmode` (disable, allow, prefer,
//! require, verify-ca, verify-full; ignored on a Unix socket, as libpq does),
//! `sslrootcert`, `sslcert`, `sslkey`, `host`, `hostaddr`, `port`, `dbname`,
//! `user`, `password`, `application_name`, `options`, `connect_timeout`
//! (seconds; wins over `--connect-timeout` because it belongs to the target;
//! 0 means "use --connect-timeout"), and `pgbouncer=true` (a transaction-mode
//! pooler, refused). `allow` behaves as `disable` (the server decides whether it
//! needs TLS; sqlx does not retry with TLS).

use crate::error::VmxError;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::Duration;

/// Supavisor's and PgBouncer's conventional transaction-mode port.
const TRANSACTION_POOLER_PORT: u16 = 6543;

/// A database URL as given by the operator. It may hold a password, so its
/// `Debug` never shows it; only `Target::display` is ever printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, for parsing; never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        DatabaseUrl(url)
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(s.to_string()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match Target::parse(&self.0) {
            Ok(t) => write!(f, "DatabaseUrl({})", t.display),
            Err(_) => write!(f, "DatabaseUrl(<unparseable, hidden>)"),
        }
    }
}

/// A parsed target: the options to connect with and a printable, password-free name.
/// Its `Debug` shows no password either (sqlx's options would).
#[derive(Clone)]
pub struct Target {
    pub options: PgConnectOptions,
    /// `user@host:port/database`, never the password.
    pub display: String,
    /// `connect_timeout` from the URL, when given (and not 0).
    connect_timeout: Option<Duration>,
    /// Why this target is a transaction-mode pooler, when it is one.
    pooler: Option<String>,
    /// Every spelling of the password we know of, to scrub from any text.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("display", &self.display)
            .field("sslmode", &ssl_mode_name(self.ssl_mode()))
            .field("connect_timeout", &self.connect_timeout)
            .field("pooler", &self.pooler.is_some())
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Parses a `postgres://` or `postgresql://` URL; a URL that cannot be parsed is a usage error (exit 2).
    pub fn parse(raw: &str) -> Result<Target, VmxError> {
        let raw = raw.trim();
        if !raw.contains("://") {
            return Err(VmxError::Usage(
                "the database URL cannot be parsed; expected postgres://user:password@host:5432/database".into(),
            ));
        }
        let url = url::Url::parse(raw).map_err(|e| {
            VmxError::Usage(format!(
                "the database URL cannot be parsed ({e}); expected postgres://user:password@host:5432/database"
            ))
        })?;
        let secrets = secrets_of(&url);
        let scrub = |text: String| redact_all(&text, &secrets);
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(VmxError::Usage(scrub(format!(
                "the database URL must start with postgres:// or postgresql://, not {}://",
                url.scheme()
            ))));
        }
        if url.port() == Some(0) {
            return Err(VmxError::Usage(
                "the database URL has port 0; expected a port such as 5432".into(),
            ));
        }

        let mut connect_timeout = None;
        let mut pgbouncer = false;
        for (key, value) in url.query_pairs() {
            match &*key {
                "connect_timeout" => {
                    let secs: u64 = value.trim().parse().map_err(|_| {
                        VmxError::Usage(scrub(format!(
                            "connect_timeout={value} in the database URL is not a number of seconds"
                        )))
                    })?;
                    connect_timeout = (secs > 0).then(|| Duration::from_secs(secs));
                }
                "pgbouncer" => pgbouncer = matches!(&*value, "true" | "1" | "yes" | "on"),
                "sslmode" | "ssl-mode" if PgSslMode::from_str(&value).is_err() => {
                    return Err(VmxError::Usage(scrub(format!(
                        "sslmode={value} in the database URL is not one of disable, allow, prefer, require, verify-ca, verify-full"
                    ))));
                }
                _ => {}
            }
        }

        let mut options = PgConnectOptions::from_str(raw).map_err(|e| {
            let text = e.to_string().replace("error with configuration: ", "");
            VmxError::Usage(scrub(format!("the database URL cannot be used: {text}")))
        })?;
        if !url.query_pairs().any(|(k, _)| k == "application_name") {
            options = options.application_name("vmx");
        }
        // Our own statements are the product's output; sqlx's statement log is noise.
        options = options.disable_statement_logging();

        let socket = options
            .get_socket()
            .map(|dir| dir.display().to_string())
            .or_else(|| {
                let host = options.get_host();
                host.starts_with('/').then(|| host.to_string())
            });
        if socket.is_some() {
            // libpq ignores sslmode on a Unix socket; a server answers "no TLS" there.
            options = options.ssl_mode(PgSslMode::Disable);
        } else if matches!(options.get_ssl_mode(), PgSslMode::Require) {
            // libpq: with a root CA file present, `require` verifies the chain like `verify-ca`.
            let root = url
                .query_pairs()
                .find(|(k, _)| matches!(&**k, "sslrootcert" | "ssl-root-cert" | "ssl-ca"))
                .map(|(_, v)| v.into_owned());
            if root.is_some_and(|path| std::path::Path::new(&path).is_file()) {
                options = options.ssl_mode(PgSslMode::VerifyCa);
            }
        }

        let port = options.get_port();
        if port == 0 {
            return Err(VmxError::Usage(
                "the database URL has port 0; expected a port such as 5432".into(),
            ));
        }
        let host = socket.unwrap_or_else(|| options.get_host().to_string());
        let display = scrub(format!(
            "{}@{}:{}/{}",
            options.get_username(),
            host,
            port,
            options.get_database().unwrap_or(options.get_username())
        ));
        let pooler = if port == TRANSACTION_POOLER_PORT {
            Some("port 6543 is Supavisor/PgBouncer transaction mode, where advisory locks and multi-statement transactions do not hold; use the direct connection (port 5432) or the session pooler".to_string())
        } else if pgbouncer {
            Some("the URL says pgbouncer=true (transaction mode), where advisory locks and multi-statement transactions do not hold; use the direct connection (port 5432) or the session pooler".to_string())
        } else {
            None
        };
        Ok(Target {
            options,
            display,
            connect_timeout,
            pooler,
            secrets,
        })
    }

    /// `connect_timeout` from the URL, if it set one.
    pub fn url_connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The TLS mode in effect (`Disable` on a Unix socket).
    pub fn ssl_mode(&self) -> PgSslMode {
        self.options.get_ssl_mode()
    }

    /// Removes the password (in every spelling we know) from a text.
    pub fn redact(&self, text: &str) -> String {
        redact_all(text, &self.secrets)
    }

    /// Connects within `timeout` (the URL's `connect_timeout` wins), refusing
    /// transaction-mode poolers before any packet is sent.
    pub async fn connect(&self, timeout: Duration) -> Result<PgConnection, VmxError> {
        if let Some(reason) = &self.pooler {
            return Err(VmxError::TransactionPooler {
                target: self.display.clone(),
                reason: reason.clone(),
            });
        }
        let timeout = self.connect_timeout.unwrap_or(timeout);
        let attempt =
            tokio::time::timeout(timeout, PgConnection::connect_with(&self.options)).await;
        match attempt {
            Err(_) => Err(VmxError::Connect {
                target: self.display.clone(),
                reason: format!(
                    "no PostgreSQL answer within {} — is the host reachable, and is this port really PostgreSQL? (raise --connect-timeout for a slow network)",
                    seconds(timeout)
                ),
            }),
            Ok(Err(e)) => Err(VmxError::Connect {
                target: self.display.clone(),
                reason: self.redact(&one_line(&self.describe(&e))),
            }),
            Ok(Ok(conn)) => Ok(conn),
        }
    }

    /// A connection error in an operator's words.
    fn describe(&self, e: &sqlx::Error) -> String {
        let socket =
            self.options.get_socket().is_some() || self.options.get_host().starts_with('/');
        describe(e, self.options.get_host(), socket, self.ssl_mode())
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A connection error in an operator's words.
fn describe(e: &sqlx::Error, host: &str, socket: bool, ssl_mode: PgSslMode) -> String {
    match e {
        sqlx::Error::Database(db) => {
            let hint = match db.code().as_deref() {
                Some("28P01") => " — check the password",
                Some("28000") => " — the server refuses this role or address (pg_hba.conf)",
                Some("3D000") => " — check the database name",
                Some("53300") => " — the server has no free connection slots",
                Some("57P03") => " — the server is starting up or shutting down; try again",
                _ => "",
            };
            format!("{}{hint}", db.message())
        }
        sqlx::Error::Io(io) => {
            use std::io::ErrorKind;
            let text = io.to_string();
            let lower = text.to_lowercase();
            let tls = ["certificate", "tls", "handshake", "alert", "peer"]
                .iter()
                .any(|w| lower.contains(w));
            match io.kind() {
                _ if !socket && tls => tls_failed(&text, ssl_mode),
                ErrorKind::ConnectionRefused => {
                    "connection refused — nothing is listening there; is PostgreSQL running on that host and port?".into()
                }
                ErrorKind::NotFound if socket => {
                    format!("no PostgreSQL socket there ({io}) — is the server running, and is the socket directory right?")
                }
                ErrorKind::NotFound | ErrorKind::PermissionDenied => {
                    format!("a file named in the URL (sslrootcert, sslcert or sslkey) cannot be read: {io}")
                }
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
                    format!("the server closed the connection during the handshake ({io}) — is this port really PostgreSQL?")
                }
                _ if text.contains("lookup address") || text.contains("Name or service not known") || text.contains("nodename nor servname") => {
                    format!("unknown host {host:?}: the name does not resolve (DNS) — check the host name")
                }
                _ => format!("{io} — check the host name and port"),
            }
        }
        sqlx::Error::Tls(tls) => {
            let text = tls.to_string();
            if text.contains("does not support TLS") {
                format!(
                    "the server does not offer TLS, but sslmode={} requires it — enable ssl on the server, or use sslmode=prefer only on a trusted network",
                    ssl_mode_name(ssl_mode)
                )
            } else {
                tls_failed(&text, ssl_mode)
            }
        }
        sqlx::Error::Protocol(p) => format!(
            "the server does not speak the PostgreSQL protocol ({}) — is this port really PostgreSQL?",
            without_source_location(p)
        ),
        other => other.to_string(),
    }
}

/// A TLS handshake or certificate failure.
fn tls_failed(text: &str, ssl_mode: PgSslMode) -> String {
    if text.contains("UnknownIssuer") || text.contains("certificate") {
        format!(
            "TLS failed: {text} — with sslmode={} the server's certificate must be signed by a CA you trust: give sslrootcert=/path/to/ca.crt (for Supabase, its CA from the dashboard's database settings)",
            ssl_mode_name(ssl_mode)
        )
    } else {
        format!("TLS failed: {text} — check sslmode and sslrootcert")
    }
}

/// sqlx appends ` (sqlx_postgres::connection::tls:95)` to protocol errors; operators need not see it.
fn without_source_location(text: &str) -> &str {
    match text.rfind(" (sqlx_") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => text,
    }
}

/// libpq's name of an sslmode.
pub fn ssl_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// Folds a text onto one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The password as written in the URL, decoded, from `?password=`, and from `PGPASSWORD`.
fn secrets_of(url: &url::Url) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some(p) = url.password() {
        secrets.push(p.to_string());
        secrets.push(percent_decode(p));
    }
    for (k, v) in url.query_pairs() {
        if k == "password" {
            secrets.push(v.into_owned());
        }
    }
    if let Ok(p) = std::env::var("PGPASSWORD") {
        secrets.push(p);
    }
    secrets.retain(|s| !s.is_empty());
    // Longest first, so a password containing another spelling is scrubbed whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn redact_all(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |t, s| redact_text(&t, Some(s)))
}

/// Removes a password from a text, in case a library echoed it.
pub fn redact_text(text: &str, password: Option<&str>) -> String {
    match password {
        Some(p) if !p.is_empty() => text.replace(p, "********"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn display_never_contains_the_password() {
        let t = parse("postgres://admin:s3cr3t-pw@db.example.com:5432/app?sslmode=require");
        assert_eq!(t.display, "admin@db.example.com:5432/app");
    }

    #[test]
    fn unparseable_url_is_a_usage_error() {
        for bad in [
            "postgres://user:pw-9f3k@host:notaport/db",
            "postgres://user:pw-9f3k@host:99999/db",
            "postgres://user:pw-9f3k@host:0/db",
            "mysql://root:pw-9f3k@localhost/test",
            "not a url at all pw-9f3k",
            "postgres://user:pw-9f3k@host/db?sslmode=bogus",
            "postgres://user:pw-9f3k@host/db?sslmode=pw-9f3k",
            "postgres://user:pw-9f3k@host/db?port=abc",
            "postgres://user:pw-9f3k@host/db?connect_timeout=soon",
        ] {
            let e = Target::parse(bad).unwrap_err();
            assert!(matches!(e, VmxError::Usage(_)), "{bad}: {e}");
            assert!(!e.to_string().contains("pw-9f3k"), "{bad}: {e}");
        }
    }

    #[test]
    fn every_libpq_sslmode_parses() {
        for (name, mode) in [
            ("disable", PgSslMode::Disable),
            ("allow", PgSslMode::Allow),
            ("prefer", PgSslMode::Prefer),
            ("require", PgSslMode::Require),
            ("verify-ca", PgSslMode::VerifyCa),
            ("verify-full", PgSslMode::VerifyFull),
        ] {
            let t = parse(&format!("postgres://u:p@db.example.com/app?sslmode={name}"));
            assert!(
                std::mem::discriminant(&t.ssl_mode()) == std::mem::discriminant(&mode),
                "{name}: {:?}",
                t.ssl_mode()
            );
            assert_eq!(ssl_mode_name(t.ssl_mode()), name);
        }
    }

    #[test]
    fn sslrootcert_is_passed_to_the_tls_setup() {
        let t = parse(
            "postgresql://postgres.abc:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres?sslmode=verify-full&sslrootcert=/etc/ssl/supabase-ca.crt",
        );
        assert_eq!(ssl_mode_name(t.ssl_mode()), "verify-full");
        let debug = format!("{:?}", t.options);
        assert!(debug.contains("supabase-ca.crt"), "{debug}");
        assert_eq!(
            t.display,
            "postgres.abc@aws-0-eu-central-1.pooler.supabase.com:5432/postgres"
        );
    }

    #[test]
    fn require_with_an_existing_root_certificate_verifies_the_chain_as_libpq_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, "not really a certificate").expect("write");
        let t = parse(&format!(
            "postgres://u:p@db.example.com/app?sslmode=require&sslrootcert={}",
            ca.display()
        ));
        assert_eq!(ssl_mode_name(t.ssl_mode()), "verify-ca");
        let t = parse(
            "postgres://u:p@db.example.com/app?sslmode=require&sslrootcert=/nonexistent/ca.crt",
        );
        assert_eq!(ssl_mode_name(t.ssl_mode()), "require");
    }

    #[test]
    fn debug_shows_no_password() {
        let t = parse("postgres://u:Pw-9f3kXq@db.example.com/app?sslmode=require");
        let debug = format!("{t:?}");
        assert!(!debug.contains("Pw-9f3kXq"), "{debug}");
        assert!(debug.contains("u@db.example.com:5432/app"), "{debug}");
    }

    #[test]
    fn sslmode_is_ignored_on_a_unix_socket_as_libpq_does() {
        let t = parse("postgres://postgres@localhost/db?host=/tmp/sock&sslmode=require");
        assert_eq!(ssl_mode_name(t.ssl_mode()), "disable");
        assert_eq!(t.display, "postgres@/tmp/sock:5432/db");
    }

    #[test]
    fn connect_timeout_parameter() {
        let t = parse("postgres://u@h/db?connect_timeout=3");
        assert_eq!(t.url_connect_timeout(), Some(Duration::from_secs(3)));
        let t = parse("postgres://u@h/db?connect_timeout=0");
        assert_eq!(t.url_connect_timeout(), None);
        let t = parse("postgres://u@h/db");
        assert_eq!(t.url_connect_timeout(), None);
    }

    #[test]
    fn application_name_defaults_to_vmx() {
        assert_eq!(
            parse("postgres://u@h/db").options.get_application_name(),
            Some("vmx")
        );
        assert_eq!(
            parse("postgres://u@h/db?application_name=ci")
                .options
                .get_application_name(),
            Some("ci")
        );
    }

    #[tokio::test]
    async fn transaction_poolers_are_refused_before_connecting() {
        for url in [
            "postgres://u:Pw-9f3kXq@pooler.example.invalid:6543/postgres",
            "postgres://u:Pw-9f3kXq@db.example.invalid:5432/postgres?pgbouncer=true",
        ] {
            let e = parse(url)
                .connect(Duration::from_secs(1))
                .await
                .unwrap_err();
            assert!(matches!(e, VmxError::TransactionPooler { .. }), "{e}");
            assert_eq!(e.exit(), crate::error::Exit::Connect);
            assert!(e.to_string().contains("transaction"), "{e}");
            assert!(!e.to_string().contains("Pw-9f3kXq"), "{e}");
        }
    }

    #[test]
    fn every_spelling_of_the_password_is_redacted() {
        let t = parse("postgres://u:P%40ss%20w0rd@h/db");
        let text = "echo P%40ss%20w0rd and P@ss w0rd";
        let out = t.redact(text);
        assert!(
            !out.contains("P@ss w0rd") && !out.contains("P%40ss%20w0rd"),
            "{out}"
        );
        let t = parse("postgres://u@h/db?password=Pw-9f3kXq");
        assert!(!t.redact("x Pw-9f3kXq y").contains("Pw-9f3kXq"));
    }
}

#[cfg(test)]
mod database_url_tests {
    use super::DatabaseUrl;
    use std::str::FromStr;

    #[test]
    fn debug_of_a_database_url_never_shows_the_password() {
        let url = DatabaseUrl::from_str("postgres://admin:Pw-9f3kXq@db.example.com:5432/app")
            .expect("infallible");
        let shown = format!("{url:?}");
        assert!(!shown.contains("Pw-9f3kXq"), "{shown}");
        assert!(shown.contains("admin@db.example.com:5432/app"), "{shown}");
        let broken = DatabaseUrl::from("postgres://admin:Pw-9f3kXq@host:notaport/app".to_string());
        assert!(!format!("{broken:?}").contains("Pw-9f3kXq"));
    }
}
