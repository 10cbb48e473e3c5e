//! `vmx check` and `vmx sandbox` through the real binary: the main job passes,
//! and the throwaway PostgreSQL leaves nothing behind — after success, with
//! `--keep` only when asked, and after Ctrl-C.

use assert_cmd::Command;
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
    let out = Command::cargo_bin("vmx")
        .expect("binary")
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
        stdout.contains("probe-cascade"),
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
    let out = Command::cargo_bin("vmx")
        .expect("binary")
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
    let out = Command::cargo_bin("vmx")
        .expect("binary")
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

    Command::cargo_bin("vmx")
        .expect("binary")
        .args(["verify", "--database-url", &url])
        .assert()
        .success();

    // Tidy up what --keep kept: immediate shutdown, then the directory.
    let servers = servers_under(tmp.path());
    assert!(
        !servers.is_empty(),
        "--keep should leave the server running"
    );
    for pid in servers {
        let _ = std::process::Command::new("kill")
            .args(["-QUIT", &pid])
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !servers_under(tmp.path()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sandbox_prints_its_url_and_cleans_up_on_ctrl_c() {
    let tmp = private_tmpdir();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vmx"))
        .env("TMPDIR", tmp.path())
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
    Command::cargo_bin("vmx")
        .expect("binary")
        .args(["status", "--exit-code", "--database-url", &url])
        .assert()
        .success();

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("send SIGINT");
    let status = child.wait().expect("wait for vmx sandbox");
    assert!(status.success(), "vmx sandbox after Ctrl-C: {status}");
    let (files, servers) = wait_until_gone(tmp.path());
    assert!(
        files.is_empty() && servers.is_empty(),
        "left behind: {files:?} {servers:?}"
    );
}
