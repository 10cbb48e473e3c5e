//! A throwaway PostgreSQL: a cluster in a temporary directory, listening only
//! on a Unix socket inside that directory, tuned for speed (no fsync), and
//! removed on drop, on panic, on Ctrl-C and — through a watchdog process —
//! even when the owning process is killed.
//!
//! `Sandbox::start_with` can also require a SCRAM password (socket and TCP)
//! and listen on a TCP port of 127.0.0.1 (without TLS).
//!
//! Used by `vmx check`, `vmx sandbox`, the test suite and the benchmark.

use anyhow::{bail, Context, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings for a cluster that holds nothing worth keeping.
const SERVER_SETTINGS: &[(&str, &str)] = &[
    ("listen_addresses", ""),
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("shared_buffers", "128MB"),
    ("max_connections", "100"),
    ("max_wal_senders", "0"),
    ("wal_level", "minimal"),
    ("autovacuum", "off"),
    ("jit", "off"),
    ("log_min_messages", "warning"),
    ("logging_collector", "off"),
];

/// How to start a sandbox; `SandboxOptions::default()` is what `Sandbox::start` does.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Require this password (SCRAM-SHA-256) from the superuser `postgres`,
    /// over the socket and TCP alike; None: trust, as `Sandbox::start` does.
    pub password: Option<String>,
    /// Also listen on 127.0.0.1 at this port; `Some(0)` picks a free one.
    /// None: the Unix socket only.
    pub tcp_port: Option<u16>,
    /// Extra server settings (`-c name=value`), e.g. `shared_preload_libraries`.
    pub settings: Vec<(String, String)>,
}

impl SandboxOptions {
    /// Requires `password` from the superuser.
    pub fn password(mut self, password: impl Into<String>) -> SandboxOptions {
        self.password = Some(password.into());
        self
    }

    /// Listens on a free TCP port of 127.0.0.1 too.
    pub fn tcp(mut self) -> SandboxOptions {
        self.tcp_port = Some(0);
        self
    }

    /// Starts the server with `name = value` (e.g. `shared_preload_libraries = pg_cron`).
    pub fn setting(mut self, name: &str, value: &str) -> SandboxOptions {
        self.settings.push((name.into(), value.into()));
        self
    }
}

/// A running throwaway cluster. Dropping it stops the server and deletes the directory.
pub struct Sandbox {
    dir: Option<tempfile::TempDir>,
    server: Child,
    watchdog: Option<Child>,
    superuser: String,
    password: Option<String>,
    tcp_port: Option<u16>,
}

impl Sandbox {
    /// Creates and starts a cluster (socket only, trust authentication); fails
    /// with one clear line when PostgreSQL's server binaries are not installed.
    pub fn start() -> Result<Sandbox> {
        Sandbox::start_with(SandboxOptions::default())
    }

    /// Like `start`, with a password and/or a TCP port (see `SandboxOptions`).
    pub fn start_with(options: SandboxOptions) -> Result<Sandbox> {
        let bindir = find_bindir()?;
        let tcp_port = match options.tcp_port {
            Some(0) => Some(free_tcp_port()?),
            other => other,
        };
        let owner = ServerUser::current()?;
        let dir = tempfile::Builder::new()
            .prefix("vmx-pg-")
            .tempdir()
            .context("cannot create a temporary directory for the throwaway PostgreSQL")?;
        let data = dir.path().join("data");
        fs::create_dir(&data).context("cannot create the data directory")?;
        owner.give(dir.path())?;
        owner.give(&data)?;

        let mut initdb = owner.command(bindir.join("initdb"));
        initdb.args(["--no-sync", "--encoding=UTF8", "--locale=C"]);
        let pwfile = dir.path().join("pwfile");
        match &options.password {
            Some(password) => {
                fs::write(&pwfile, format!("{password}\n"))
                    .context("cannot write the sandbox password file")?;
                owner.give(&pwfile)?;
                initdb
                    .arg("--auth=scram-sha-256")
                    .arg("--pwfile")
                    .arg(&pwfile);
            }
            None => {
                initdb.arg("--auth=trust");
            }
        }
        let initdb = initdb
            .args(["--username", "postgres", "--pgdata"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("cannot run {}", bindir.join("initdb").display()));
        let _ = fs::remove_file(&pwfile);
        let initdb = initdb?;
        if !initdb.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&initdb.stderr).trim()
            );
        }

        let log = fs::File::create(dir.path().join("server.log"))
            .context("cannot create the server log")?;
        owner.give(&dir.path().join("server.log"))?;
        let mut postgres = owner.command(bindir.join("postgres"));
        postgres.arg("-D").arg(&data);
        postgres
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()));
        for (name, value) in SERVER_SETTINGS {
            if tcp_port.is_some() && *name == "listen_addresses" {
                continue;
            }
            postgres.arg("-c").arg(format!("{name}={value}"));
        }
        if let Some(port) = tcp_port {
            postgres.args(["-c", "listen_addresses=127.0.0.1", "-c"]);
            postgres.arg(format!("port={port}"));
        }
        for (name, value) in &options.settings {
            postgres.arg("-c").arg(format!("{name}={value}"));
        }
        let server = postgres
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start postgres")?;

        let mut sandbox = Sandbox {
            dir: Some(dir),
            server,
            watchdog: None,
            superuser: "postgres".into(),
            password: options.password,
            tcp_port,
        };
        sandbox.watchdog = spawn_watchdog(sandbox.dir(), sandbox.server.id()).ok();
        sandbox.wait_ready()?;
        Ok(sandbox)
    }

    /// The directory holding the data, the socket and `server.log`.
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .expect("the directory lives as long as the sandbox")
    }

    /// A URL for the superuser and the given database, through the socket
    /// (with the password, when the sandbox requires one).
    pub fn url_for(&self, database: &str) -> String {
        if self.password.is_none() && self.tcp_port.is_none() {
            return format!(
                "postgres://{}@localhost/{}?host={}",
                self.superuser,
                database,
                self.dir().display()
            );
        }
        format!(
            "{}?host={}",
            self.base_url("localhost", self.tcp_port.unwrap_or(5432), database),
            self.dir().display()
        )
    }

    /// A URL for the superuser and the given database over TCP (127.0.0.1),
    /// with the password when there is one; None when not listening on TCP.
    pub fn tcp_url_for(&self, database: &str) -> Option<String> {
        let port = self.tcp_port?;
        Some(self.base_url("127.0.0.1", port, database).to_string())
    }

    /// The TCP port on 127.0.0.1, when listening on one.
    pub fn tcp_port(&self) -> Option<u16> {
        self.tcp_port
    }

    /// The superuser's password, when the sandbox requires one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    fn base_url(&self, host: &str, port: u16, database: &str) -> url::Url {
        let mut url = url::Url::parse(&format!("postgres://{host}:{port}"))
            .expect("a host and a port make a URL");
        url.set_username(&self.superuser)
            .expect("the URL takes a user name");
        url.set_password(self.password.as_deref())
            .expect("the URL takes a password");
        url.set_path(&format!("/{database}"));
        url
    }

    /// The superuser's URL of the `postgres` database.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// Leaves the server running after this process ends (for `check --keep`):
    /// the watchdog is stopped and the directory is not deleted.
    pub fn keep(mut self) -> String {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let url = self.url();
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        std::mem::forget(self);
        url
    }

    fn wait_ready(&mut self) -> Result<()> {
        let pidfile = self.dir().join("data").join("postmaster.pid");
        let started = Instant::now();
        loop {
            if let Some(status) = self.server.try_wait()? {
                bail!(
                    "postgres exited during start-up ({status}): {}",
                    self.log_tail()
                );
            }
            // The 8th line of postmaster.pid turns to "ready" once connections are accepted.
            if let Ok(text) = fs::read_to_string(&pidfile) {
                if text.lines().nth(7).map(str::trim) == Some("ready") {
                    return Ok(());
                }
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "postgres did not accept connections within {} s: {}",
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir().join("server.log")).unwrap_or_default();
        log.lines().rev().take(3).collect::<Vec<_>>().join(" / ")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // SIGQUIT is PostgreSQL's immediate shutdown: nothing here is worth a checkpoint.
        let pid = nix::unistd::Pid::from_raw(self.server.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
        let _ = self.server.wait();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        // TempDir removes the directory when dropped.
        self.dir.take();
    }
}

/// Stops the server and deletes the directory when `owner` disappears, even
/// after SIGKILL, which no destructor sees. A shell loop is the smallest thing
/// that outlives us; no crate offers "die with the parent" for a grandchild.
fn spawn_watchdog(dir: &Path, server_pid: u32) -> Result<Child> {
    let script = r#"
owner=$1; server=$2; dir=$3
while kill -0 "$owner" 2>/dev/null; do sleep 0.5; done
kill -QUIT "$server" 2>/dev/null
for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$server" 2>/dev/null || break; sleep 0.2; done
rm -rf "$dir"
"#;
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("vmx-watchdog")
        .arg(std::process::id().to_string())
        .arg(server_pid.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("cannot start the sandbox watchdog")?;
    Ok(child)
}

use std::os::unix::process::CommandExt;

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_tcp_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .context("cannot find a free TCP port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// Who runs the server: ourselves, or the `postgres` OS user when we are root,
/// because PostgreSQL refuses to run as root.
struct ServerUser {
    ids: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
}

impl ServerUser {
    fn current() -> Result<ServerUser> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(ServerUser { ids: None });
        }
        let user = nix::unistd::User::from_name("postgres")
            .context("cannot look up the postgres OS user")?
            .context("running as root, but there is no `postgres` OS user to run the throwaway server as (PostgreSQL refuses root); install the postgresql package or run vmx as another user")?;
        Ok(ServerUser {
            ids: Some((user.uid, user.gid)),
        })
    }

    fn give(&self, path: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.ids {
            nix::unistd::chown(path, Some(uid), Some(gid))
                .with_context(|| format!("cannot hand {} to the postgres user", path.display()))?;
        }
        let mode = if path.is_dir() { 0o700 } else { 0o600 };
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set permissions on {}", path.display()))?;
        Ok(())
    }

    fn command(&self, program: PathBuf) -> Command {
        let mut command = Command::new(program);
        if let Some((uid, gid)) = self.ids {
            command.uid(uid.as_raw()).gid(gid.as_raw());
            command.env("HOME", "/tmp");
        }
        command.env_remove("PGDATA");
        command
    }
}

/// Finds PostgreSQL's server binaries: `pg_config --bindir`, then the highest
/// `/usr/lib/postgresql/*/bin`, then `PATH`.
pub fn find_bindir() -> Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();

    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if has_server(&dir) {
                return Ok(dir);
            }
        }
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((version, e.path().join("bin")))
            })
            .filter(|(_, bin)| has_server(bin))
            .collect();
        versions.sort();
        if let Some((_, bin)) = versions.pop() {
            return Ok(bin);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_server(d)) {
            return Ok(dir);
        }
    }
    bail!("PostgreSQL server binaries (initdb, postgres) not found: install PostgreSQL 15 or newer (Debian/Ubuntu: `apt-get install postgresql`, macOS: `brew install postgresql`)")
}
