//! The GitHub Actions workflows cannot rot: every `vmx …` (and `cargo run -- …`)
//! in a `run:` step of docs/github-actions-example.yml and .github/workflows/ci.yml
//! is a command line this binary accepts, and the example keeps the shape that
//! makes it work on `ubuntu-latest` (install before use, `needs: check`, the
//! session pooler from a secret, the CA certificate written before `verify-full`).

use clap::Parser;
use serde_norway::Value;

fn load(rel: &str) -> Value {
    let path = format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

fn job<'a>(workflow: &'a Value, name: &str) -> &'a Value {
    &workflow["jobs"][name]
}

/// The `run:` scripts of a job, in order.
fn runs(job: &Value) -> Vec<String> {
    job["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_string))
        .collect()
}

/// The simple commands of a shell script: lines joined at `\`, split at
/// `&&`, `||`, `;` and `|`, shell-split, redirections dropped.
fn commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = shlex::split(line).unwrap_or_else(|| panic!("cannot split: {line}"));
        let mut command = Vec::new();
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            match word.as_str() {
                "&&" | "||" | ";" | "|" => out.push(std::mem::take(&mut command)),
                ">" | ">>" | "2>" | "2>>" | "<" => {
                    words.next();
                }
                w if w.starts_with('>') || w.starts_with("2>") => {}
                _ => command.push(word),
            }
        }
        out.push(command);
    }
    out.retain(|c| !c.is_empty());
    out
}

/// The vmx command line within a command: `vmx ARGS` or `cargo run [-q] -- ARGS`.
fn vmx_args(command: &[String]) -> Option<Vec<String>> {
    match command.first().map(String::as_str) {
        Some("vmx") => Some(command.to_vec()),
        Some("cargo") if command.get(1).map(String::as_str) == Some("run") => {
            let dashes = command.iter().position(|w| w == "--")?;
            let mut args = vec!["vmx".to_string()];
            args.extend(command[dashes + 1..].iter().cloned());
            Some(args)
        }
        _ => None,
    }
}

/// Every vmx command line of a workflow, with its job name; each must parse
/// and pass the `--format` check.
fn vmx_invocations(workflow: &Value) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for (name, job) in workflow["jobs"].as_mapping().expect("jobs") {
        let name = name.as_str().expect("job name").to_string();
        for script in runs(job) {
            for command in commands(&script) {
                if let Some(args) = vmx_args(&command) {
                    let cli = vmx::cli::Cli::try_parse_from(&args).unwrap_or_else(|e| {
                        panic!("{name}: `{}` is refused:\n{e}", args.join(" "))
                    });
                    cli.check_format()
                        .unwrap_or_else(|e| panic!("{name}: `{}` is refused: {e}", args.join(" ")));
                    found.push((name.clone(), args));
                }
            }
        }
    }
    found
}

#[test]
fn every_vmx_command_of_the_example_workflow_is_valid() {
    let workflow = load("docs/github-actions-example.yml");
    let found = vmx_invocations(&workflow);
    let lines: Vec<String> = found
        .iter()
        .map(|(job, args)| format!("{job}: {}", args[1..].join(" ")))
        .collect();
    for expected in [
        "check: check",
        "deploy: migrate",
        "deploy: verify --format junit",
        "deploy: verify --format github",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected:?} missing from {lines:?}"
        );
    }
    // migrate before verify
    let position = |l: &str| lines.iter().position(|x| x == l).expect("present");
    assert!(position("deploy: migrate") < position("deploy: verify --format junit"));
}

#[test]
fn every_vmx_command_of_this_repositorys_ci_is_valid() {
    let workflow = load(".github/workflows/ci.yml");
    let found = vmx_invocations(&workflow);
    assert!(
        found.iter().any(|(_, args)| args[1..] == ["check"]),
        "ci.yml runs `vmx check`: {found:?}"
    );
    let scripts = runs(job(&workflow, "test")).join("\n");
    for step in [
        "cargo fmt --check",
        "cargo clippy --all-targets -- -D warnings",
        "cargo test",
        "pgbouncer",
        "-cron",
        "-plpgsql-check",
    ] {
        assert!(scripts.contains(step), "ci.yml lacks {step:?}");
    }
    let uses: Vec<&str> = job(&workflow, "test")["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .filter_map(|s| s["uses"].as_str())
        .collect();
    assert!(
        uses.iter()
            .any(|u| u.starts_with("Swatinem/rust-cache") || u.starts_with("actions/cache")),
        "a cargo cache: {uses:?}"
    );
}

#[test]
fn the_example_would_run_on_ubuntu_latest_as_written() {
    let workflow = load("docs/github-actions-example.yml");
    let check = job(&workflow, "check");
    let deploy = job(&workflow, "deploy");
    assert_eq!(check["runs-on"].as_str(), Some("ubuntu-latest"));
    assert_eq!(deploy["runs-on"].as_str(), Some("ubuntu-latest"));
    assert_eq!(
        deploy["needs"].as_str(),
        Some("check"),
        "deploy needs check"
    );

    for (name, job) in [("check", check), ("deploy", deploy)] {
        let scripts = runs(job);
        let install = scripts
            .iter()
            .position(|s| s.contains("cargo install --locked"))
            .unwrap_or_else(|| panic!("{name}: no install step"));
        let first_vmx = scripts
            .iter()
            .position(|s| commands(s).iter().any(|c| vmx_args(c).is_some()))
            .unwrap_or_else(|| panic!("{name}: no vmx step"));
        assert!(install < first_vmx, "{name}: vmx is installed before use");
    }
    assert!(
        runs(check)
            .join("\n")
            .contains("apt-get install -y -qq postgresql"),
        "check installs the PostgreSQL server binaries"
    );

    // The CA certificate is written from a secret before any step connects with verify-full.
    let steps = deploy["steps"].as_sequence().expect("steps");
    let writes_cert = steps
        .iter()
        .position(|s| {
            s["env"]["SUPABASE_CA_CERT"]
                .as_str()
                .is_some_and(|v| v.contains("secrets.SUPABASE_CA_CERT"))
                && s["run"]
                    .as_str()
                    .is_some_and(|r| r.contains("supabase-ca.crt"))
        })
        .expect("a step writes the CA certificate from a secret");
    for (i, step) in steps.iter().enumerate() {
        if let Some(url) = step["env"]["DATABASE_URL"].as_str() {
            assert!(
                i > writes_cert,
                "step {i} connects before the certificate exists"
            );
            assert!(url.contains("secrets.SUPABASE_DB_URL"), "{url}");
            assert!(
                url.contains("sslmode=verify-full")
                    && url.contains("sslrootcert=")
                    && url.contains("supabase-ca.crt"),
                "{url}"
            );
        }
    }
    let text = std::fs::read_to_string(format!(
        "{}/docs/github-actions-example.yml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("read");
    assert!(
        text.contains("pooler.supabase.com:5432"),
        "the session pooler is named"
    );
    assert!(
        text.contains("GITHUB_STEP_SUMMARY"),
        "the result shows in the job summary"
    );
}

#[test]
fn a_command_line_this_binary_refuses_is_caught() {
    // The test above would catch a renamed flag or a meaningless --format.
    let bad = commands("vmx verify --format junit --no-such-flag > out.xml");
    assert!(vmx::cli::Cli::try_parse_from(vmx_args(&bad[0]).expect("vmx")).is_err());
    let meaningless = vmx::cli::Cli::try_parse_from(["vmx", "show", "1", "--format", "junit"])
        .expect("clap accepts a global option");
    assert!(meaningless.check_format().is_err());
    assert_eq!(
        commands("vmx verify --format github >> \"$GITHUB_STEP_SUMMARY\" || true"),
        [vec!["vmx", "verify", "--format", "github"], vec!["true"]]
    );
}
