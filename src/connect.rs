//! Connections as libpq users expect them: a URL (or `DATABASE_URL`), `sslmode`
//! and `sslrootcert` honoured, a connect timeout, `application_name=vmx`, and
//! every failure turned into one line with exit code 3 — never showing the password.

use crate::error::VmxError;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::Duration;

/// Supavisor's and PgBouncer's conventional transaction-mode port.
const TRANSACTION_POOLER_PORT: u16 = 6543;

/// A parsed target: the options to connect with and a printable, password-free name.
#[derive(Debug, Clone)]
pub struct Target {
    pub options: PgConnectOptions,
    /// `user@host:port/database`, never the password.
    pub display: String,
    port: u16,
}

impl Target {
    /// Parses a `postgres://` or `postgresql://` URL; a URL that cannot be parsed is a usage error (exit 2).
    pub fn parse(raw: &str) -> Result<Target, VmxError> {
        let url = url::Url::parse(raw.trim()).map_err(|e| {
            VmxError::Usage(format!(
                "the database URL cannot be parsed ({e}); expected postgres://user:password@host:5432/database"
            ))
        })?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(VmxError::Usage(format!(
                "the database URL must start with postgres:// or postgresql://, not {}://",
                url.scheme()
            )));
        }
        let mut options = PgConnectOptions::from_str(raw.trim()).map_err(|e| {
            VmxError::Usage(format!(
                "the database URL cannot be used: {}",
                redact_text(&e.to_string(), url.password())
            ))
        })?;
        if !url.query_pairs().any(|(k, _)| k == "application_name") {
            options = options.application_name("vmx");
        }
        // Our own statements are the product's output; sqlx's statement log is noise.
        options = options.disable_statement_logging();

        let port = options.get_port();
        let host = match options.get_socket() {
            Some(dir) => dir.display().to_string(),
            None => options.get_host().to_string(),
        };
        let display = format!(
            "{}@{}:{}/{}",
            options.get_username(),
            host,
            port,
            options.get_database().unwrap_or(options.get_username())
        );
        Ok(Target {
            options,
            display,
            port,
        })
    }

    /// Connects within `timeout`, refusing transaction-mode poolers.
    pub async fn connect(&self, timeout: Duration) -> Result<PgConnection, VmxError> {
        if self.port == TRANSACTION_POOLER_PORT {
            return Err(VmxError::TransactionPooler {
                target: self.display.clone(),
                reason: "port 6543 is Supavisor/PgBouncer transaction mode, where advisory locks and multi-statement transactions do not hold; use the direct connection (port 5432) or the session pooler".into(),
            });
        }
        let attempt =
            tokio::time::timeout(timeout, PgConnection::connect_with(&self.options)).await;
        match attempt {
            Err(_) => Err(VmxError::Connect {
                target: self.display.clone(),
                reason: format!(
                    "no answer within {} s (--connect-timeout)",
                    timeout.as_secs()
                ),
            }),
            Ok(Err(e)) => Err(VmxError::Connect {
                target: self.display.clone(),
                reason: describe(&e),
            }),
            Ok(Ok(conn)) => Ok(conn),
        }
    }
}

/// A connection error in an operator's words.
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => {
            let hint = match db.code().as_deref() {
                Some("28P01") => " — check the password",
                Some("28000") => " — the server refuses this role or address (pg_hba.conf)",
                Some("3D000") => " — check the database name",
                _ => "",
            };
            format!("{}{hint}", db.message())
        }
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused — is PostgreSQL listening on that host and port?".into()
            }
            _ => format!("{io} — check the host name and port"),
        },
        sqlx::Error::Tls(tls) => format!("TLS failed: {tls} — check sslmode and sslrootcert"),
        sqlx::Error::Protocol(p) => format!(
            "the server does not speak the PostgreSQL protocol ({p}) — is this port really PostgreSQL?"
        ),
        other => other.to_string(),
    }
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

    #[test]
    fn display_never_contains_the_password() {
        let t = Target::parse("postgres://admin:s3cr3t-pw@db.example.com:5432/app?sslmode=require")
            .expect("valid URL");
        assert_eq!(t.display, "admin@db.example.com:5432/app");
    }

    #[test]
    fn unparseable_url_is_a_usage_error() {
        let e = Target::parse("postgres://user:pw@host:notaport/db").unwrap_err();
        assert!(matches!(e, VmxError::Usage(_)), "{e}");
        assert!(!e.to_string().contains("pw@"));
        let e = Target::parse("mysql://root@localhost/test").unwrap_err();
        assert!(matches!(e, VmxError::Usage(_)), "{e}");
    }
}
