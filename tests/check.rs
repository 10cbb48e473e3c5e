//! `vmx check` and `vmx sandbox` through the real binary: the main job passes,
//! and the throwaway PostgreSQL leaves nothing behind — after success, with
//! `--keep` only when asked, and after Ctrl-C.

mod common;

use nix::sys::signal::Signal;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A TMPDIR of the test's own, so what vmx leaves behind can be seen; the
/// `postgres` OS user must be able to enter it.
fn private_tmpdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// PIDs of postgres servers whose data directory lies under `dir`.
fn servers_under(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Waits (bounded) until `dir` is empty and no server runs from it.
fn wait_until_gone(dir: &Path) -> (Vec<String>, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = (entries(dir), servers_under(dir));
        if (left.0.is_empty() && left.1.is_empty()) || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn check_passes_and_leaves_no_process_or_directory_behind() {
    let tmp = private_tmpdir();
    let out = common::vmx()
        .env("TMPDIR", tmp.path())
        .env_remove("DATABASE_URL")
        .args(["check", "--color", "never"])
        .output()
        .expect("run vmx check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "vmx check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(" 0 failed") || last.contains(" 0 failed,"),
        "last line: {last}"
    );
    assert!(
        stdout.contains("✓ Probes (rolled back)  "),
        "the probes ran:\n{stdout}"
    );
    // Removed synchronously on exit, not by the watchdog later.
    assert!(
        entries(tmp.path()).is_empty(),
        "left behind: {:?}",
        entries(tmp.path())
    );
    assert!(servers_under(tmp.path()).is_empty(), "server still running");
}

#[test]
fn check_json_is_one_document_on_stdout() {
    let tmp = private_tmpdir();
    let out = common::vmx()
        .env("TMPDIR", tmp.path())
        .args(["check", "--format", "json"])
        .output()
        .expect("run vmx check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["failed"], 0);
    assert!(doc["checks"]
        .as_array()
        .map(|c| c.iter().any(|c| c["section"] == "probes"))
        .unwrap_or(false));
}

#[test]
fn check_keep_leaves_a_server_that_verify_passes_against() {
    let tmp = private_tmpdir();
    let out = common::vmx()
        .env("TMPDIR", tmp.path())
        .args(["check", "--keep", "-q"])
        .output()
        .expect("run vmx check --keep");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("the URL is printed last")
        .trim()
        .to_string();
    assert!(url.starts_with("postgres://"), "printed: {url}");

    common::vmx()
        .args(["verify", "--database-url", &url])
        .assert()
        .success();

    assert!(
        !servers_under(tmp.path()).is_empty(),
        "--keep should leave the server running"
    );
    // The stop command works as printed (as root too, where pg_ctl refuses).
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stop = stderr
        .lines()
        .find_map(|l| l.strip_prefix("vmx: stop it with: "))
        .unwrap_or_else(|| panic!("no stop command printed: {stderr}"));
    let stop = stop.split("   (or: ").next().expect("the command");
    let status = std::process::Command::new("sh")
        .args(["-c", stop])
        .env("PATH", "/usr/bin:/bin")
        .status()
        .expect("run the stop command");
    assert!(status.success(), "{stop}: {status}");
    let (files, servers) = wait_until_gone(tmp.path());
    assert!(
        files.is_empty() && servers.is_empty(),
        "{stop} left: {files:?} {servers:?}"
    );
}

#[test]
fn sandbox_prints_its_url_and_cleans_up_on_ctrl_c() {
    let tmp = private_tmpdir();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vmx"))
        .env("TMPDIR", tmp.path())
        .env_remove("VMX_PG_BINDIR")
        .args(["sandbox"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vmx sandbox");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the URL");
    let url = line.trim().to_string();
    assert!(url.starts_with("postgres://"), "printed: {url}");
    common::vmx()
        .args(["status", "--exit-code", "--database-url", &url])
        .assert()
        .success();

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("send SIGINT");
    let status = child.wait().expect("wait for vmx sandbox");
    assert_eq!(
        status.code(),
        Some(130),
        "vmx sandbox after Ctrl-C: {status}"
    );
    let (files, servers) = wait_until_gone(tmp.path());
    assert!(
        files.is_empty() && servers.is_empty(),
        "left behind: {files:?} {servers:?}"
    );
}

// ---------------------------------------------------------------- interrupted at any moment

/// A moment of `vmx check` at which to send a signal.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// The vmx-pg-* directory exists (initdb about to run or running).
    DirectoryCreated,
    /// initdb is running.
    InsideInitdb,
    /// The server process runs (starting up, or just ready).
    ServerStarted,
    /// The server is ready; the schema is being applied or verified.
    AfterStartUp,
}

/// PIDs of processes whose command line mentions `dir` and `word`.
fn processes_with(dir: &Path, word: &str) -> Vec<String> {
    servers_under(dir)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(word))
                .unwrap_or(false)
        })
        .collect()
}

/// Runs `vmx check -v`, sends `signal` at `moment`, and checks the exit code,
/// the one line "interrupted", and that nothing is left within 3 s.
fn interrupt_check(signal: Signal, moment: Moment) {
    let tmp = private_tmpdir();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vmx"))
        .env("TMPDIR", tmp.path())
        .env_remove("DATABASE_URL")
        .env_remove("VMX_PG_BINDIR")
        .args(["check", "-v", "--color", "never"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vmx check");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reached = match moment {
            Moment::DirectoryCreated => !entries(tmp.path()).is_empty(),
            Moment::InsideInitdb => !processes_with(tmp.path(), "initdb").is_empty(),
            Moment::ServerStarted => {
                !processes_with(tmp.path(), "unix_socket_directories").is_empty()
            }
            Moment::AfterStartUp => lines_rx
                .try_iter()
                .any(|l| l.contains("throwaway PostgreSQL") && l.contains("ready")),
        };
        if reached {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{moment:?} never came: vmx check ended first ({status})");
        }
        assert!(Instant::now() < deadline, "{moment:?} never came");
        std::thread::sleep(Duration::from_millis(2));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal)
        .expect("send the signal");
    let status = child.wait().expect("wait for vmx check");
    let stderr = reader.join().expect("stderr reader");
    let expected = 128 + signal as i32;
    assert_eq!(
        status.code(),
        Some(expected),
        "{signal} at {moment:?}: {status}; stderr: {stderr:?}"
    );
    let interrupted: Vec<&String> = stderr
        .iter()
        .filter(|l| l.contains("interrupted"))
        .collect();
    assert_eq!(interrupted.len(), 1, "{signal} at {moment:?}: {stderr:?}");
    assert_eq!(stderr.last().map(String::as_str), Some("vmx: interrupted"));
    assert!(
        !stderr.iter().any(|l| l.contains("error")),
        "{signal} at {moment:?}: {stderr:?}"
    );
    let (files, servers) = wait_until_gone_within(tmp.path(), Duration::from_secs(3));
    assert!(
        files.is_empty() && servers.is_empty(),
        "{signal} at {moment:?} left: {files:?} {servers:?}"
    );
}

/// Like `wait_until_gone`, with its own bound.
fn wait_until_gone_within(dir: &Path, limit: Duration) -> (Vec<String>, Vec<String>) {
    let deadline = Instant::now() + limit;
    loop {
        let left = (entries(dir), servers_under(dir));
        if (left.0.is_empty() && left.1.is_empty()) || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigint_inside_initdb_leaves_nothing_and_exits_130() {
    interrupt_check(Signal::SIGINT, Moment::InsideInitdb);
}

#[test]
fn sigterm_inside_initdb_leaves_nothing_and_exits_143() {
    interrupt_check(Signal::SIGTERM, Moment::InsideInitdb);
}

#[test]
fn sigterm_once_the_directory_exists_leaves_nothing_and_exits_143() {
    interrupt_check(Signal::SIGTERM, Moment::DirectoryCreated);
}

#[test]
fn sighup_during_server_start_up_leaves_nothing_and_exits_129() {
    interrupt_check(Signal::SIGHUP, Moment::ServerStarted);
}

#[test]
fn sigint_while_migrating_and_verifying_leaves_nothing_and_exits_130() {
    interrupt_check(Signal::SIGINT, Moment::AfterStartUp);
}

#[test]
fn sigterm_while_migrating_and_verifying_leaves_nothing_and_exits_143() {
    interrupt_check(Signal::SIGTERM, Moment::AfterStartUp);
}

#[test]
fn sigkill_inside_initdb_leaves_nothing_once_the_watchdog_notices() {
    let tmp = private_tmpdir();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vmx"))
        .env("TMPDIR", tmp.path())
        .env_remove("VMX_PG_BINDIR")
        .args(["check"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vmx check");
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_with(tmp.path(), "initdb").is_empty() {
        assert!(Instant::now() < deadline, "initdb never ran");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap vmx");
    // The watchdog looks every 0.5 s and then gives the server 2 s.
    let (files, servers) = wait_until_gone_within(tmp.path(), Duration::from_secs(6));
    assert!(
        files.is_empty() && servers.is_empty(),
        "left after SIGKILL: {files:?} {servers:?}"
    );
}

// ---------------------------------------------------------------- server binaries

/// Runs `vmx ARGS` with VMX_PG_BINDIR=`bindir`; (exit code, stderr).
fn with_bindir(bindir: &Path, args: &[&str]) -> (i32, String) {
    let out = common::vmx()
        .env("VMX_PG_BINDIR", bindir)
        .args(args)
        .output()
        .expect("run vmx");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_server_binaries_exits_8_naming_what_to_install() {
    let empty = tempfile::tempdir().expect("a directory");
    for command in ["check", "sandbox"] {
        let (code, stderr) = with_bindir(empty.path(), &[command]);
        assert_eq!(code, 8, "{command}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{command}: {stderr}");
        assert!(
            stderr.contains("PostgreSQL 15 or newer")
                && stderr.contains("apt-get install postgresql"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn server_binaries_older_than_15_exit_8_saying_so() {
    let old = tempfile::tempdir().expect("a directory");
    for name in ["initdb", "postgres"] {
        let path = old.path().join(name);
        std::fs::write(&path, "#!/bin/sh\necho 'postgres (PostgreSQL) 14.11'\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let (code, stderr) = with_bindir(old.path(), &["check"]);
    assert_eq!(code, 8, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("version 14.11") && stderr.contains("15 or newer"),
        "{stderr}"
    );
}
