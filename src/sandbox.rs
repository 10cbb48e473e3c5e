//! A throwaway PostgreSQL: a cluster in a temporary directory, listening only
//! on a Unix socket inside that directory, tuned for speed (no fsync), and
//! removed on drop, on panic, on Ctrl-C and — through a watchdog process —
//! even when the owning process is killed.
//!
//! Interrupts: `abort()` (called on SIGINT/SIGTERM/SIGHUP by `vmx check` and
//! `vmx sandbox`) makes every start-up in progress stop at once — `initdb`
//! is killed with its children, a server still starting is stopped — and
//! remove its directory before returning an error; a sandbox already running
//! is removed by its `Drop`. After `abort()` no new process is started.
//!
//! `Sandbox::start_with` can also require a SCRAM password (socket and TCP)
//! and listen on a TCP port of 127.0.0.1 (without TLS).
//!
//! Used by `vmx check`, `vmx sandbox`, the test suite and the benchmark.

use crate::error::VmxError;
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
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

/// Set by `abort()`: no start-up goes on, no process is started.
static ABORTED: AtomicBool = AtomicBool::new(false);

/// Processes of start-ups in progress (each in its own process group) and the
/// signal that stops each: SIGKILL for initdb and its children, SIGQUIT
/// (immediate shutdown) for a server not yet ready.
static STARTING: Mutex<Vec<(Pid, Signal)>> = Mutex::new(Vec::new());

/// Stops every sandbox start-up in progress and forbids new ones (for
/// SIGINT/SIGTERM/SIGHUP). Each start-up then removes its directory and fails
/// with `VmxError::Interrupted`; a running sandbox is removed by its `Drop`.
pub fn abort() {
    let starting = STARTING.lock().unwrap_or_else(|p| p.into_inner());
    ABORTED.store(true, Ordering::SeqCst);
    for (group, signal) in starting.iter() {
        let _ = killpg(*group, *signal);
    }
}

/// Whether `abort()` was called.
pub fn aborted() -> bool {
    ABORTED.load(Ordering::SeqCst)
}

fn interrupted() -> anyhow::Error {
    // The signal itself is known to whoever called abort(); 2 is only a default.
    VmxError::Interrupted { signal: 2 }.into()
}

/// Starts `command` in a process group of its own and registers it to be
/// stopped by `abort()` with `signal` — unless `abort()` came first.
fn spawn_stoppable(command: &mut Command, signal: Signal, what: &str) -> Result<Child> {
    let mut starting = STARTING.lock().unwrap_or_else(|p| p.into_inner());
    if aborted() {
        return Err(interrupted());
    }
    let child = command
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    starting.push((Pid::from_raw(child.id() as i32), signal));
    Ok(child)
}

fn unregister(child: &Child) {
    unregister_pid(Pid::from_raw(child.id() as i32));
}

/// Removes a directory tree, retrying briefly while dying processes still write into it.
fn remove_tree(dir: &Path) {
    for _ in 0..25 {
        match fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                std::thread::sleep(Duration::from_millis(40))
            }
            _ => return,
        }
    }
}

/// Whether `pid` runs (a zombie waiting for its parent does not).
fn alive(pid: Pid) -> bool {
    if kill(pid, None).is_err() {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Waits (at most `limit`) until no process of `group` is left.
fn wait_group_gone(group: Pid, limit: Duration) {
    let started = Instant::now();
    while killpg(group, None).is_ok() && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(10));
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
    bindir: PathBuf,
    version: String,
}

impl Sandbox {
    /// Creates and starts a cluster (socket only, trust authentication); fails
    /// with one clear line when PostgreSQL's server binaries are not installed.
    pub fn start() -> Result<Sandbox> {
        Sandbox::start_with(SandboxOptions::default())
    }

    /// Like `start`, with a password and/or a TCP port (see `SandboxOptions`).
    pub fn start_with(options: SandboxOptions) -> Result<Sandbox> {
        let server = find_server()?;
        let tcp_port = match options.tcp_port {
            Some(0) => Some(free_tcp_port()?),
            other => other,
        };
        let owner = ServerUser::current()?;
        if aborted() {
            return Err(interrupted());
        }
        let dir = tempfile::Builder::new()
            .prefix("vmx-pg-")
            .tempdir()
            .context("cannot create a temporary directory for the throwaway PostgreSQL")?;
        // From here on, whatever happens — an error, abort(), SIGKILL — the directory goes.
        let watchdog = spawn_watchdog(dir.path()).ok();
        let initialised = initialise(&owner, &server.bindir, dir.path(), &options);
        let server_child = match initialised.and_then(|()| {
            spawn_server(
                &owner,
                &server.bindir,
                dir.path(),
                tcp_port,
                &options.settings,
            )
        }) {
            Ok(child) => child,
            Err(e) => {
                remove_tree(dir.path());
                if let Some(mut watchdog) = watchdog {
                    let _ = watchdog.kill();
                    let _ = watchdog.wait();
                }
                return Err(e);
            }
        };
        let mut sandbox = Sandbox {
            dir: Some(dir),
            server: server_child,
            watchdog,
            superuser: "postgres".into(),
            password: options.password,
            tcp_port,
            bindir: server.bindir,
            version: server.version,
        };
        // On any error from here the sandbox is dropped: server stopped, directory removed.
        let ready = sandbox.wait_ready();
        unregister(&sandbox.server);
        ready?;
        Ok(sandbox)
    }

    /// The server binaries' directory (`initdb`, `postgres`, `pg_ctl`).
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The server's version, e.g. `15.20`.
    pub fn version(&self) -> &str {
        &self.version
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
            if aborted() {
                return Err(interrupted());
            }
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
        let pid = Pid::from_raw(self.server.id() as i32);
        let _ = kill(pid, Signal::SIGQUIT);
        let _ = self.server.wait();
        // The backends leave with the postmaster; a straggler still dies with its group.
        wait_group_gone(pid, Duration::from_secs(2));
        if let Some(dir) = self.dir.take() {
            remove_tree(dir.path());
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

/// Stops the server and deletes the directory when this process disappears,
/// even after SIGKILL, which no destructor sees. Started before `initdb`; it
/// learns the pids from `initdb.pid` and `server.pid` in the directory. A shell
/// loop is the smallest thing that outlives us; no crate offers "die with the
/// parent" for a grandchild.
fn spawn_watchdog(dir: &Path) -> Result<Child> {
    let script = r#"
owner=$1; dir=$2
while kill -0 "$owner" 2>/dev/null; do sleep 0.5; done
initdb=$(cat "$dir/initdb.pid" 2>/dev/null) && kill -KILL -"$initdb" 2>/dev/null
server=$(cat "$dir/server.pid" 2>/dev/null) && kill -QUIT "$server" 2>/dev/null
for _ in 1 2 3 4 5 6 7 8 9 10; do
  [ -n "$server" ] && kill -0 "$server" 2>/dev/null || break; sleep 0.2
done
for _ in 1 2 3 4 5 6 7 8 9 10; do rm -rf "$dir" 2>/dev/null; [ -e "$dir" ] || break; sleep 0.2; done
"#;
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("vmx-watchdog")
        .arg(std::process::id().to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("cannot start the sandbox watchdog")?;
    Ok(child)
}

/// Runs `initdb` into `dir/data`, stoppable by `abort()`.
fn initialise(
    owner: &ServerUser,
    bindir: &Path,
    dir: &Path,
    options: &SandboxOptions,
) -> Result<()> {
    let data = dir.join("data");
    fs::create_dir(&data).context("cannot create the data directory")?;
    owner.give(dir)?;
    owner.give(&data)?;

    let mut initdb = owner.command(bindir.join("initdb"));
    initdb.args(["--no-sync", "--encoding=UTF8", "--locale=C"]);
    let pwfile = dir.join("pwfile");
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
    initdb
        .args(["--username", "postgres", "--pgdata"])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    die_with_this_thread(&mut initdb);
    let child = spawn_stoppable(
        &mut initdb,
        Signal::SIGKILL,
        &bindir.join("initdb").display().to_string(),
    );
    let child = match child {
        Ok(child) => child,
        Err(e) => {
            let _ = fs::remove_file(&pwfile);
            return Err(e);
        }
    };
    let group = Pid::from_raw(child.id() as i32);
    let _ = fs::write(dir.join("initdb.pid"), child.id().to_string());
    let output = child.wait_with_output();
    unregister_pid(group);
    let _ = fs::remove_file(&pwfile);
    let _ = fs::remove_file(dir.join("initdb.pid"));
    if aborted() {
        // initdb's bootstrap backends may still be writing: let them go first.
        wait_group_gone(group, Duration::from_secs(2));
        return Err(interrupted());
    }
    let output = output.context("cannot wait for initdb")?;
    if !output.status.success() {
        bail!(
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Starts the server on the initialised `dir/data`, stoppable by `abort()`
/// until it is ready.
fn spawn_server(
    owner: &ServerUser,
    bindir: &Path,
    dir: &Path,
    tcp_port: Option<u16>,
    settings: &[(String, String)],
) -> Result<Child> {
    let data = dir.join("data");
    let log = fs::File::create(dir.join("server.log")).context("cannot create the server log")?;
    owner.give(&dir.join("server.log"))?;
    let mut postgres = owner.command(bindir.join("postgres"));
    postgres.arg("-D").arg(&data);
    postgres
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()));
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
    for (name, value) in settings {
        postgres.arg("-c").arg(format!("{name}={value}"));
    }
    postgres
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let server = spawn_stoppable(&mut postgres, Signal::SIGQUIT, "postgres")?;
    let _ = fs::write(dir.join("server.pid"), server.id().to_string());
    Ok(server)
}

fn unregister_pid(pid: Pid) {
    let mut starting = STARTING.lock().unwrap_or_else(|p| p.into_inner());
    starting.retain(|(p, _)| *p != pid);
}

/// On Linux, `initdb` gets SIGKILL when the thread that started it ends —
/// also when vmx itself is SIGKILLed mid-initdb. (Set after the switch to the
/// `postgres` user, which would clear it.)
fn die_with_this_thread(command: &mut Command) {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
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

/// PostgreSQL's server binaries, found and checked.
#[derive(Debug, Clone)]
pub struct ServerBinaries {
    pub bindir: PathBuf,
    /// As `postgres --version` says, e.g. `15.20`.
    pub version: String,
    pub major: u32,
}

/// The oldest server major version the schema is written for.
pub const MIN_SERVER_MAJOR: u32 = 15;

const INSTALL_HINT: &str = "install PostgreSQL 15 or newer (Debian/Ubuntu: `apt-get install postgresql`, \
macOS: `brew install postgresql@17`), or set VMX_PG_BINDIR to the directory holding its initdb and postgres";

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// `postgres --version` of `bindir`: ("15.20", 15).
fn server_version(bindir: &Path) -> Result<(String, u32)> {
    let postgres = bindir.join("postgres");
    let out = Command::new(&postgres)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} --version", postgres.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "postgres (PostgreSQL) 15.20 (Debian 15.20-1)"
    let version = text
        .split(')')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("")
        .to_string();
    let major = version
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .with_context(|| {
            format!(
                "{} --version printed {:?}, not a PostgreSQL version",
                postgres.display(),
                text.trim()
            )
        })?;
    Ok((version, major))
}

/// Where to look, in order: `VMX_PG_BINDIR` alone when set; else
/// `pg_config --bindir`, the `/usr/lib/postgresql/*/bin` directories (newest
/// first), then `PATH`.
fn candidate_bindirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("VMX_PG_BINDIR").filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((version, e.path().join("bin")))
            })
            .collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev().map(|(_, bin)| bin));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs
}

/// Finds PostgreSQL 15+ server binaries (see `candidate_bindirs`); none, or
/// only older ones, is a missing prerequisite (exit 8) naming what to install.
pub fn find_server() -> Result<ServerBinaries> {
    let mut too_old: Option<(PathBuf, String)> = None;
    for dir in candidate_bindirs().into_iter().filter(|d| has_server(d)) {
        let (version, major) = server_version(&dir)?;
        if major >= MIN_SERVER_MAJOR {
            return Ok(ServerBinaries {
                bindir: dir,
                version,
                major,
            });
        }
        too_old.get_or_insert((dir, version));
    }
    let message = match (too_old, std::env::var_os("VMX_PG_BINDIR").filter(|d| !d.is_empty())) {
        (Some((dir, version)), _) => format!(
            "the PostgreSQL server binaries in {} are version {version}; vmx needs {MIN_SERVER_MAJOR} or newer: {INSTALL_HINT}",
            dir.display()
        ),
        (None, Some(dir)) => format!(
            "VMX_PG_BINDIR={} holds no PostgreSQL server binaries (initdb, postgres): {INSTALL_HINT}",
            PathBuf::from(dir).display()
        ),
        (None, None) => format!(
            "PostgreSQL server binaries (initdb, postgres) not found: {INSTALL_HINT}"
        ),
    };
    Err(VmxError::Prerequisite(message).into())
}

/// The directory of PostgreSQL 15+ server binaries (and `psql`, `pg_ctl`).
pub fn find_bindir() -> Result<PathBuf> {
    Ok(find_server()?.bindir)
}

/// `vmx sandbox --stop DIR`: stops the server left running in DIR by
/// `vmx check --keep` (immediate shutdown) and removes DIR.
pub fn stop(dir: &Path) -> Result<()> {
    let is_sandbox = dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("vmx-pg-"))
        && dir.join("data").is_dir();
    if !is_sandbox {
        return Err(VmxError::Usage(format!(
            "{} is not a throwaway PostgreSQL of vmx (a vmx-pg-* directory with data/ in it)",
            dir.display()
        ))
        .into());
    }
    let pid = fs::read_to_string(dir.join("data").join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
    if let Some(pid) = pid.map(Pid::from_raw) {
        if kill(pid, Signal::SIGQUIT).is_ok() {
            let started = Instant::now();
            while alive(pid) {
                if started.elapsed() > Duration::from_secs(10) {
                    bail!(
                        "the server in {} (pid {pid}) did not stop within 10 s",
                        dir.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    remove_tree(dir);
    if dir.exists() {
        bail!("cannot remove {}", dir.display());
    }
    Ok(())
}
