//! Connections as libpq users expect them: a URL (or `DATABASE_URL`), `sslmode`
//! and `sslrootcert` honoured, a connect timeout, `application_name=vmx`, and
//! every failure turned into one line with exit code 3 — never showing the password.
//!
//! URL parameters understood (libpq names): `sslmode` (disable, allow, prefer,
//! require, verify-ca, verify-full; ignored on a Unix socket, as libpq does),
//! `sslrootcert`, `sslcert`, `sslkey`, `host`, `hostaddr`, `port`, `dbname`,
//! `user`, `password`, `application_name`, `options`, `connect_timeout`
//! (seconds; wins over `--connect-timeout` because it belongs to the target;
//! 0 means no limit, as in libpq, and so does `--connect-timeout 0`), and
//! `pgbouncer=true` (a transaction-mode pooler, refused). `allow` behaves as
//! `disable` (the server decides whether it needs TLS; sqlx does not retry with TLS).
//!
//! As libpq: an empty host (`postgres://user@/db`, `postgresql:///db`) is the
//! default Unix socket (or PGHOST), `host=/dir` a socket directory; what the URL
//! leaves out comes from `PGPORT`, `PGUSER`, `PGPASSWORD`, … and `~/.pgpass`
//! (or `PGPASSFILE`); with no URL at all, the `PG*` environment is the target.
//!
//! Transaction-mode poolers are recognised by behaviour right after connecting
//! (see `pooling`) and refused; session-mode PgBouncer/Supavisor with default
//! settings works: vmx sends no startup parameter a default PgBouncer refuses.

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
    /// `user@host:port/database`, never the password (a socket: `user@/dir:5432/db`).
    pub display: String,
    /// `connect_timeout` from the URL, when given; `Some(ZERO)` is libpq's 0: no limit.
    connect_timeout: Option<Duration>,
    /// Why this target is a transaction-mode pooler, when the URL already says so.
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

/// What the URL said beyond what `PgConnectOptions` keeps.
#[derive(Default)]
struct Extras {
    connect_timeout: Option<Duration>,
    pgbouncer: bool,
    application_name: bool,
    root_cert: Option<String>,
    /// A password was given (URL or PGPASSWORD), so no password file is read.
    password: bool,
}

impl Target {
    /// The target from a URL when one is given, else from libpq's `PG*`
    /// environment when it names a server or database; else a usage error.
    pub fn resolve(url: Option<&DatabaseUrl>) -> Result<Target, VmxError> {
        match url {
            Some(url) => Target::parse(url.expose()),
            None if LIBPQ_TARGET_VARS
                .iter()
                .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty())) =>
            {
                Target::from_env()
            }
            None => Err(VmxError::Usage(
                "no database given: pass --database-url or set DATABASE_URL (or PGHOST/PGDATABASE as for psql; or run `vmx check` for a throwaway one)".into(),
            )),
        }
    }

    /// The target libpq would use with no connection string: PGHOST, PGPORT,
    /// PGUSER, PGPASSWORD (else ~/.pgpass or PGPASSFILE), PGDATABASE,
    /// PGSSLMODE, PGSSLROOTCERT, PGAPPNAME — read by sqlx itself.
    pub fn from_env() -> Result<Target, VmxError> {
        let options = PgConnectOptions::new();
        let secrets = env_secrets();
        if let Ok(mode) = std::env::var("PGSSLMODE") {
            if PgSslMode::from_str(&mode).is_err() {
                return Err(VmxError::Usage(format!(
                    "PGSSLMODE={mode} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )));
            }
        }
        if let Ok(port) = std::env::var("PGPORT") {
            if !matches!(port.trim().parse::<u16>(), Ok(p) if p > 0) {
                return Err(VmxError::Usage(format!(
                    "PGPORT={port} is not a port number such as 5432"
                )));
            }
        }
        let extras = Extras {
            application_name: std::env::var_os("PGAPPNAME").is_some(),
            root_cert: std::env::var("PGSSLROOTCERT").ok(),
            password: !secrets.is_empty(),
            ..Extras::default()
        };
        Target::finish(options, extras, secrets)
    }

    /// Parses a `postgres://` or `postgresql://` URL; a URL that cannot be parsed is a usage error (exit 2).
    /// As libpq: an empty host (`postgres://user@/db`, `postgresql:///db`) means
    /// the default Unix socket (or PGHOST), and `?host=/dir` a socket directory.
    pub fn parse(raw: &str) -> Result<Target, VmxError> {
        let raw = raw.trim();
        if !raw.contains("://") {
            return Err(VmxError::Usage(
                "the database URL cannot be parsed; expected postgres://user:password@host:5432/database".into(),
            ));
        }
        let (raw, empty_host) = with_placeholder_host(raw);
        let url = url::Url::parse(&raw).map_err(|e| {
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

        let mut extras = Extras::default();
        let mut host_given = false;
        for (key, value) in url.query_pairs() {
            match &*key {
                "connect_timeout" => {
                    let secs: u64 = value.trim().parse().map_err(|_| {
                        VmxError::Usage(scrub(format!(
                            "connect_timeout={value} in the database URL is not a number of seconds"
                        )))
                    })?;
                    extras.connect_timeout = Some(Duration::from_secs(secs));
                }
                "pgbouncer" => extras.pgbouncer = matches!(&*value, "true" | "1" | "yes" | "on"),
                "sslmode" | "ssl-mode" if PgSslMode::from_str(&value).is_err() => {
                    return Err(VmxError::Usage(scrub(format!(
                        "sslmode={value} in the database URL is not one of disable, allow, prefer, require, verify-ca, verify-full"
                    ))));
                }
                "application_name" => extras.application_name = true,
                "sslrootcert" | "ssl-root-cert" | "ssl-ca" => {
                    extras.root_cert = Some(value.into_owned())
                }
                "host" | "hostaddr" if !value.is_empty() => host_given = true,
                "password" => extras.password = true,
                _ => {}
            }
        }
        if extras.root_cert.is_none() {
            extras.root_cert = std::env::var("PGSSLROOTCERT").ok();
        }
        if !extras.application_name {
            extras.application_name = std::env::var_os("PGAPPNAME").is_some();
        }
        extras.password |= url.password().is_some() || !env_secrets().is_empty();

        let mut options = PgConnectOptions::from_str(&raw).map_err(|e| {
            let text = e.to_string().replace("error with configuration: ", "");
            VmxError::Usage(scrub(format!("the database URL cannot be used: {text}")))
        })?;
        if empty_host && !host_given {
            let host = default_host(options.get_port());
            options = if host.starts_with('/') {
                options.socket(&host)
            } else {
                options.host(&host)
            };
        }
        Target::finish(options, extras, secrets)
    }

    /// What every target gets, from a URL or the environment.
    fn finish(
        mut options: PgConnectOptions,
        extras: Extras,
        mut secrets: Vec<String>,
    ) -> Result<Target, VmxError> {
        if !extras.password {
            // sqlx reads the password file too, but keys a Unix socket by the wrong host name.
            if let Some(password) = pgpass_password(&options) {
                options = options.password(&password);
                secrets.insert(0, password);
                secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
            }
        }
        let scrub = |text: String| redact_all(&text, &secrets);
        if !extras.application_name {
            options = options.application_name("vmx");
        }
        // Our own statements are the product's output; sqlx's statement log is noise.
        options = options.disable_statement_logging();
        // A default PgBouncer refuses any startup parameter it does not know
        // ("unsupported startup parameter: extra_float_digits"); PostgreSQL 12+
        // prints floats exactly without it, and vmx reads them in binary anyway.
        options = options.extra_float_digits(None);

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
            if extras
                .root_cert
                .is_some_and(|path| std::path::Path::new(&path).is_file())
            {
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
            Some(format!("port 6543 is Supavisor/PgBouncer transaction mode, where advisory locks and multi-statement transactions do not hold; {USE_SESSION_MODE}"))
        } else if extras.pgbouncer {
            Some(format!("the URL says pgbouncer=true (transaction mode), where advisory locks and multi-statement transactions do not hold; {USE_SESSION_MODE}"))
        } else {
            None
        };
        Ok(Target {
            options,
            display,
            connect_timeout: extras.connect_timeout,
            pooler,
            secrets,
        })
    }

    /// `connect_timeout` from the URL, if it set one (`Some(ZERO)`: no limit).
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

    /// Connects within `timeout` (the URL's `connect_timeout` wins; zero: no
    /// limit, as libpq), then makes sure the target is not a transaction-mode
    /// pooler, before vmx sends anything else. A pooler named by the URL is
    /// refused before any packet is sent.
    pub async fn connect(&self, timeout: Duration) -> Result<PgConnection, VmxError> {
        if let Some(reason) = &self.pooler {
            return Err(VmxError::TransactionPooler {
                target: self.display.clone(),
                reason: reason.clone(),
            });
        }
        let timeout = self.connect_timeout.unwrap_or(timeout);
        let mut conn = self.connect_once(timeout).await?;
        // Straight to the server: nothing can pool it, and one statement said so.
        if self.is_direct(&mut conn).await {
            return Ok(conn);
        }
        // Something in between: a second session for the pooler probe (see `pooling`).
        let witness = within(
            probe_limit(timeout),
            PgConnection::connect_with(&self.options),
        )
        .await
        .and_then(Result::ok);
        let verdict = pooling(&mut conn, witness, probe_limit(timeout)).await;
        match verdict {
            Ok(None) => Ok(conn),
            Ok(Some(reason)) => {
                let _ = within(Duration::from_secs(1), conn.close()).await;
                Err(VmxError::TransactionPooler {
                    target: self.display.clone(),
                    reason: format!("{reason}; {USE_SESSION_MODE}"),
                })
            }
            Err(e) => Err(VmxError::Connect {
                target: self.display.clone(),
                reason: self.redact(&one_line(&self.describe(&e))),
            }),
        }
    }

    /// Whether `conn` reaches the PostgreSQL server itself, nothing in between:
    /// the backend's own end of the connection is where vmx connected — for a
    /// Unix socket, a socket the postmaster holds (its `.lock` file beside it)
    /// on the server's own port; for TCP, the address and port vmx dialled. A
    /// pooler, proxy or NAT shows another end (then `connect` probes by
    /// behaviour); so does any doubt.
    pub async fn is_direct(&self, conn: &mut PgConnection) -> bool {
        use sqlx::{Executor, Row};
        let sql = "SELECT host(inet_server_addr()), inet_server_port(), current_setting('port')";
        let Ok(row) = conn.fetch_one(sql).await else {
            return false;
        };
        let (Ok(addr), Ok(server_port), Ok(port)) = (
            row.try_get::<Option<String>, _>(0),
            row.try_get::<Option<i32>, _>(1),
            row.try_get::<String, _>(2),
        ) else {
            return false;
        };
        let dialled = self.options.get_port();
        match self.socket_dir() {
            Some(dir) => {
                // PostgreSQL locks each socket it listens on with `<socket>.lock`; PgBouncer does not.
                let lock = std::path::Path::new(&dir).join(format!(".s.PGSQL.{dialled}.lock"));
                server_port.is_none() && port.trim() == dialled.to_string() && lock.is_file()
            }
            None => {
                let (Some(addr), Some(server_port)) = (addr, server_port) else {
                    return false;
                };
                let Ok(addr) = addr.parse::<std::net::IpAddr>() else {
                    return false;
                };
                if server_port != i32::from(dialled) {
                    return false;
                }
                let host = self.options.get_host();
                let dialled_ips: Vec<std::net::IpAddr> = match host.parse() {
                    Ok(ip) => vec![ip],
                    Err(_) => match tokio::net::lookup_host((host, dialled)).await {
                        Ok(found) => found.map(|a| a.ip()).collect(),
                        Err(_) => return false,
                    },
                };
                dialled_ips
                    .iter()
                    .any(|ip| ip.to_canonical() == addr.to_canonical())
            }
        }
    }

    /// The Unix-socket directory, when the target is one.
    fn socket_dir(&self) -> Option<String> {
        self.options
            .get_socket()
            .map(|dir| dir.display().to_string())
            .or_else(|| {
                let host = self.options.get_host();
                host.starts_with('/').then(|| host.to_string())
            })
    }

    /// One connection attempt, its failure in an operator's words.
    async fn connect_once(&self, timeout: Duration) -> Result<PgConnection, VmxError> {
        match within(timeout, PgConnection::connect_with(&self.options)).await {
            None => Err(VmxError::Connect {
                target: self.display.clone(),
                reason: format!(
                    "no PostgreSQL answer within {} — is the host reachable, and is this port really PostgreSQL? (raise --connect-timeout for a slow network)",
                    seconds(timeout)
                ),
            }),
            Some(Err(e)) => Err(VmxError::Connect {
                target: self.display.clone(),
                reason: self.redact(&one_line(&self.describe(&e))),
            }),
            Some(Ok(conn)) => Ok(conn),
        }
    }

    /// A connection error in an operator's words.
    fn describe(&self, e: &sqlx::Error) -> String {
        let socket =
            self.options.get_socket().is_some() || self.options.get_host().starts_with('/');
        describe(e, self.options.get_host(), socket, self.ssl_mode())
    }
}

/// The end of every transaction-pooler refusal: what to do instead.
const USE_SESSION_MODE: &str =
    "use the session-mode port instead (Supabase: 5432 on the pooler host) or connect directly";

/// Any of these set (and no URL given) means "connect as libpq would from the environment".
const LIBPQ_TARGET_VARS: &[&str] = &["PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE"];

/// `fut` within `limit`; a zero limit waits for ever (libpq's connect_timeout=0).
async fn within<F: std::future::Future>(limit: Duration, fut: F) -> Option<F::Output> {
    if limit.is_zero() {
        Some(fut.await)
    } else {
        tokio::time::timeout(limit, fut).await.ok()
    }
}

/// How long the pooler probe's second session may take: the connect timeout,
/// at most 10 s (a busy session pooler may make it wait for a server).
fn probe_limit(timeout: Duration) -> Duration {
    if timeout.is_zero() {
        Duration::from_secs(10)
    } else {
        timeout.min(Duration::from_secs(10))
    }
}

/// Whether the server behind `conn` is shared per transaction (a transaction-
/// or statement-mode pooler): `Some(why)` if so.
///
/// Each autocommit statement is a transaction of its own. A direct connection
/// or a session-mode pooler keeps one backend per session for its whole life,
/// and two live sessions never share one; a transaction pooler hands a backend
/// back to its pool after every transaction, so one session moves between
/// backends under load, and with a quiet pool the next session gets the
/// backend the first one just released. So: ask the backend pid of `conn`
/// twice, then of a second session (`witness`) and of `conn` alternately. All statements go
/// through the simple query protocol (no prepared statement). Without a
/// witness (it could not connect in time) only the first session is watched.
async fn pooling(
    conn: &mut PgConnection,
    mut witness: Option<PgConnection>,
    limit: Duration,
) -> Result<Option<String>, sqlx::Error> {
    // Twice in a row first: a pool that hands out its idle servers in turn
    // (PgBouncer's server_round_robin) moves the session at once, while two
    // sessions alternating over two servers would each keep theirs.
    let mut mine = vec![backend_pid(conn).await?, backend_pid(conn).await?];
    let mut theirs = Vec::new();
    for _ in 0..2 {
        if let Some(w) = witness.as_mut() {
            match within(limit, backend_pid(w)).await {
                Some(Ok(pid)) => theirs.push(pid),
                _ => witness = None,
            }
        }
        mine.push(backend_pid(conn).await?);
    }
    if let Some(w) = witness {
        let _ = within(Duration::from_secs(1), w.close()).await;
    }
    let verdict = if let Some(pid) = mine.iter().find(|p| theirs.contains(p)) {
        Some(format!(
            "two vmx sessions were served by one server process (pid {pid}), so advisory locks and session state do not hold"
        ))
    } else if mine.windows(2).any(|w| w[0] != w[1]) || theirs.windows(2).any(|w| w[0] != w[1]) {
        Some(format!(
            "one vmx session was served by several server processes (pids {}), so advisory locks and session state do not hold",
            mine.iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else {
        None
    };
    Ok(verdict)
}

/// The server process serving this statement, asked through the simple protocol.
async fn backend_pid(conn: &mut PgConnection) -> Result<i32, sqlx::Error> {
    use sqlx::{Executor, Row};
    let row = conn.fetch_one("SELECT pg_backend_pid()").await?;
    row.try_get(0)
}

/// libpq's host when none is given: PGHOST, else the first default socket
/// directory that holds the port's socket, else localhost (as sqlx does).
fn default_host(port: u16) -> String {
    if let Some(host) = std::env::var("PGHOST").ok().filter(|h| !h.is_empty()) {
        return host;
    }
    let socket = format!(".s.PGSQL.{port}");
    ["/var/run/postgresql", "/private/tmp", "/tmp"]
        .iter()
        .find(|dir| std::path::Path::new(dir).join(&socket).exists())
        .map(|dir| dir.to_string())
        .unwrap_or_else(|| "localhost".into())
}

/// `postgres://user@/db` and `postgresql:///db` name no host (libpq: the
/// default socket); the URL parser refuses the first, so put `localhost` in
/// the empty host's place and say that it was empty.
fn with_placeholder_host(raw: &str) -> (String, bool) {
    let Some(start) = raw.find("://").map(|i| i + 3) else {
        return (raw.to_string(), false);
    };
    let rest = &raw[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_start = authority.rfind('@').map(|i| i + 1).unwrap_or(0);
    let host_and_port = &authority[host_start..];
    if !(host_and_port.is_empty() || host_and_port.starts_with(':')) {
        return (raw.to_string(), false);
    }
    let at = start + host_start;
    (format!("{}localhost{}", &raw[..at], &raw[at..]), true)
}

/// The password libpq would take from the password file (`PGPASSFILE`, else
/// `~/.pgpass`, ignored unless only its owner may read it) for this target.
/// A Unix socket in the default directory is `localhost` there, any other
/// socket directory its path, as libpq has it.
fn pgpass_password(options: &PgConnectOptions) -> Option<String> {
    let file = match std::env::var_os("PGPASSFILE") {
        Some(file) => std::path::PathBuf::from(file),
        None => std::path::PathBuf::from(std::env::var_os("HOME")?).join(".pgpass"),
    };
    let text = read_private(&file)?;
    let socket = options
        .get_socket()
        .map(|dir| dir.display().to_string())
        .or_else(|| {
            let host = options.get_host();
            host.starts_with('/').then(|| host.to_string())
        });
    let host = match socket {
        Some(dir) => {
            let dir = dir.trim_end_matches('/');
            if ["/var/run/postgresql", "/run/postgresql", "/tmp"].contains(&dir) {
                "localhost".to_string()
            } else {
                dir.to_string()
            }
        }
        None => options.get_host().to_string(),
    };
    let user = options.get_username();
    let wanted = [
        host.as_str(),
        &options.get_port().to_string(),
        options.get_database().unwrap_or(user),
        user,
    ];
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .find_map(|line| {
            let fields = pgpass_fields(line);
            if fields.len() < 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, value)| field == "*" || field == value);
            matches.then(|| fields[4].clone())
        })
}

/// A password file's contents, unless others may read it (libpq ignores it then).
fn read_private(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// The fields of a password-file line: `:` separates, `\` escapes `:` and `\`.
fn pgpass_fields(line: &str) -> Vec<String> {
    let line = line.trim_end_matches('\r');
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("one field").push(next);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

/// The password from the environment, which sqlx uses when the URL has none.
fn env_secrets() -> Vec<String> {
    std::env::var("PGPASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .into_iter()
        .collect()
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
                _ if db.message().contains("unsupported startup parameter") => {
                    " — a pooler (PgBouncer) refuses it: remove `options` from the URL and PGOPTIONS, or add it to the pooler's ignore_startup_parameters"
                }
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
    fn unix_socket_urls_parse_as_psql_takes_them() {
        let t = parse("postgres://alice@/app?host=/var/run/postgresql");
        assert_eq!(t.display, "alice@/var/run/postgresql:5432/app");
        let t = parse("postgres://alice:Pw-9f3kXq@/app?host=/tmp/sock&port=5433");
        assert_eq!(t.display, "alice@/tmp/sock:5433/app");
        let t = parse("postgresql://alice@%2Ftmp%2Fsock:5433/app");
        assert_eq!(t.display, "alice@/tmp/sock:5433/app");
        // No host at all: PGHOST, else the default socket directory, else localhost.
        let t = parse("postgresql://alice@/app");
        assert!(t.display.starts_with("alice@"), "{}", t.display);
        assert!(t.display.ends_with(":5432/app"), "{}", t.display);
        assert!(!t.display.contains("@:"), "{}", t.display);
    }

    #[test]
    fn an_empty_host_gets_a_placeholder_only_where_it_is_empty() {
        assert_eq!(
            with_placeholder_host("postgres://u@/db"),
            ("postgres://u@localhost/db".to_string(), true)
        );
        assert_eq!(
            with_placeholder_host("postgresql:///db?host=/s"),
            ("postgresql://localhost/db?host=/s".to_string(), true)
        );
        assert_eq!(
            with_placeholder_host("postgres://u:p@:5433/db"),
            ("postgres://u:p@localhost:5433/db".to_string(), true)
        );
        assert_eq!(
            with_placeholder_host("postgres://u:p@h:5433/db"),
            ("postgres://u:p@h:5433/db".to_string(), false)
        );
    }

    #[test]
    fn no_startup_parameter_a_default_pgbouncer_refuses() {
        // PgBouncer's default accepts only DateStyle, client_encoding, TimeZone,
        // standard_conforming_strings and application_name besides user/database.
        let debug = format!("{:?}", parse("postgres://u@h/db").options);
        assert!(debug.contains("extra_float_digits: None"), "{debug}");
        assert!(debug.contains("options: None"), "{debug}");
    }

    #[test]
    fn password_file_fields_unescape_colons_and_backslashes() {
        assert_eq!(
            pgpass_fields(r"/tmp/s\:x:5432:*:u:p\:w\\d"),
            vec!["/tmp/s:x", "5432", "*", "u", "p:w\\d"]
        );
    }

    #[test]
    fn connect_timeout_parameter() {
        let t = parse("postgres://u@h/db?connect_timeout=3");
        assert_eq!(t.url_connect_timeout(), Some(Duration::from_secs(3)));
        let t = parse("postgres://u@h/db?connect_timeout=0");
        assert_eq!(t.url_connect_timeout(), Some(Duration::ZERO));
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
