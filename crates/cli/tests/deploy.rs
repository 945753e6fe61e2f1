//! Checks of the deployment files (Dockerfile, docker-compose.yml,
//! balena.yml, the systemd units in contrib/) and of the docs that describe
//! them, with the tools that read them. No container engine is needed.
//!
//! hadolint, check-jsonschema, docker-compose and a YAML reader come from
//! scripts/test-requirements.txt, installed by scripts/install-test-deps
//! into target/test-venv (or `$BALENASIGN_TEST_VENV`). A missing tool
//! fails the test.

// Test helpers fail loudly by design; the workspace denies these outside tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Where the Dockerfile keeps the store; compose mounts its volume there.
const IMAGE_STORE: &str = "/var/lib/balena-sign";

/// Libraries every Debian image has, as dependencies of libc6.
const BASE_IMAGE_PACKAGES: &[&str] = &["libc6", "libgcc-s1"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn read_repo_file(name: &str) -> String {
    let path = repo_root().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// Path of a tool in the test venv; panics with the install command when
/// it is missing.
fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("BALENASIGN_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/test-venv"));
    let tool = venv.join("bin").join(name);
    assert!(
        tool.is_file(),
        "{} is missing; run scripts/install-test-deps, which installs scripts/test-requirements.txt into {}",
        tool.display(),
        venv.display()
    );
    tool
}

/// Runs a tool in the repository root and returns its standard output;
/// panics with its output on failure.
fn run(program: impl AsRef<Path>, args: &[&str]) -> String {
    let program = program.as_ref();
    let output = Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", program.display()));
    assert!(
        output.status.success(),
        "{} {args:?} failed:\n{}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Reads a YAML file of the repository as JSON.
fn yaml_as_json(name: &str) -> Value {
    let script = "import json, sys\nfrom ruamel.yaml import YAML\n\
                  json.dump(YAML(typ='safe').load(open(sys.argv[1])), sys.stdout)";
    let path = repo_root().join(name);
    let json = run(venv_tool("python"), &["-c", script, path.to_str().unwrap()]);
    serde_json::from_str(&json).unwrap()
}

/// Returns the instructions of the last stage of the Dockerfile, with
/// continuation lines joined and comments dropped.
fn runtime_stage() -> Vec<String> {
    let text = read_repo_file("Dockerfile").replace("\\\n", " ");
    let instructions: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let last_from = instructions.iter().rposition(|line| line.starts_with("FROM ")).unwrap();
    instructions[last_from..].to_vec()
}

/// Packages that the runtime stage's `apt-get install` lines name.
fn runtime_packages() -> BTreeSet<String> {
    let mut packages = BTreeSet::new();
    for instruction in runtime_stage() {
        for command in instruction.split("&&") {
            let words: Vec<&str> = command.split_whitespace().collect();
            let Some(install) = words.windows(2).position(|pair| pair == ["apt-get", "install"]) else {
                continue;
            };
            for word in &words[install + 2..] {
                if !word.starts_with('-') {
                    packages.insert(word.split('=').next().unwrap().to_owned());
                }
            }
        }
    }
    assert!(!packages.is_empty(), "no apt-get install in the runtime stage");
    packages
}

/// Returns the value the runtime stage gives environment variable `name`.
fn runtime_env(name: &str) -> String {
    runtime_stage()
        .iter()
        .filter_map(|line| line.strip_prefix("ENV "))
        .flat_map(|line| line.split_whitespace())
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .unwrap_or_else(|| panic!("the runtime stage sets no {name}"))
}

#[test]
fn dockerfile_passes_hadolint() {
    let hadolint = venv_tool("hadolint");
    run(hadolint, &["--config", ".hadolint.yaml", "Dockerfile"]);
}

#[test]
fn dockerfile_matches_server_settings() {
    let stage = runtime_stage();

    assert_eq!(runtime_env("BALENASIGN_STORE"), IMAGE_STORE);
    assert_eq!(runtime_env("BALENASIGN_LISTEN"), "0.0.0.0:8080");
    assert!(stage.contains(&format!("VOLUME [\"{IMAGE_STORE}\"]")), "{stage:#?}");
    assert!(stage.contains(&"EXPOSE 8080".to_owned()), "{stage:#?}");

    // The image user owns the store, as the LUKS2 volume layout expects.
    let owner = balena_sign_luks::DEFAULT_OWNER;
    assert!(stage.contains(&format!("USER {owner}")), "{stage:#?}");
    let setup = stage.iter().find(|line| line.contains("useradd")).unwrap();
    for expected in [
        format!("groupadd --system --gid {} balenasign", owner.gid),
        format!("useradd --system --uid {} --gid {}", owner.uid, owner.gid),
        format!("install -d -o {} -g {} -m 0700 {IMAGE_STORE}", owner.uid, owner.gid),
    ] {
        assert!(setup.contains(&expected), "{expected:?} missing from {setup}");
    }

    let healthcheck = stage.iter().find(|line| line.starts_with("HEALTHCHECK ")).unwrap();
    assert!(
        healthcheck.ends_with("CMD [\"balena-sign\", \"health\"]"),
        "{healthcheck}"
    );
    assert!(stage.contains(&"ENTRYPOINT [\"balena-sign\"]".to_owned()), "{stage:#?}");
    assert!(stage.contains(&"CMD [\"serve\"]".to_owned()), "{stage:#?}");
}

#[test]
fn compose_file_passes_docker_compose() {
    let compose = venv_tool("docker-compose");
    run(&compose, &["--file", "docker-compose.yml", "config", "--quiet"]);
    let config: Value = serde_json::from_str(&run(
        &compose,
        &["--file", "docker-compose.yml", "config", "--format", "json"],
    ))
    .unwrap();

    let service = &config["services"]["balena-sign"];
    let context = Path::new(service["build"]["context"].as_str().unwrap());
    assert_eq!(context.canonicalize().unwrap(), repo_root());
    assert_eq!(
        service["healthcheck"]["test"],
        serde_json::json!(["CMD", "balena-sign", "health"])
    );
    assert_eq!(service["ports"][0]["target"], 8080);

    let volume = &service["volumes"][0];
    assert_eq!(volume["type"], "volume", "the store needs a named volume: {volume}");
    assert_eq!(volume["target"], IMAGE_STORE);
    let name = volume["source"].as_str().unwrap();
    assert!(
        config["volumes"][name].is_object(),
        "volume {name} is not declared: {config}"
    );
}

#[test]
fn compose_file_matches_compose_spec() {
    let check = venv_tool("check-jsonschema");
    run(
        check,
        &["--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
    );
}

#[test]
fn compose_file_keeps_balena_version() {
    // balenaCloud's parser reads a file without `version` as version 1,
    // where every top-level key is a service.
    let compose = yaml_as_json("docker-compose.yml");
    assert_eq!(compose["version"], "2.4");
}

#[test]
fn balena_yml_describes_fleet() {
    let balena = yaml_as_json("balena.yml");

    assert_eq!(balena["name"], "balena-sign");
    assert_eq!(balena["type"], "sw.application");
    assert_eq!(
        balena["version"],
        env!("CARGO_PKG_VERSION"),
        "balena.yml and Cargo.toml versions differ"
    );
    assert!(balena["description"].as_str().is_some_and(|text| !text.is_empty()));
    assert_eq!(balena["assets"]["repository"]["type"], "blob.asset");

    let data = &balena["data"];
    let supported = data["supportedDeviceTypes"].as_array().unwrap();
    assert!(
        supported.contains(&data["defaultDeviceType"]),
        "default device type is not supported"
    );

    let documented = read_repo_file("docs/configuration.md");
    for variable in data["applicationEnvironmentVariables"].as_array().unwrap() {
        let (name, _) = variable.as_object().unwrap().iter().next().unwrap();
        assert!(
            documented.contains(&format!("`{name}`")),
            "{name} is not in docs/configuration.md"
        );
    }
}

/// Shared libraries of the binary as (soname, resolved path), without
/// the kernel's vDSO.
fn linked_libraries(binary: &str) -> Vec<(String, PathBuf)> {
    run("ldd", &[binary])
        .lines()
        .filter_map(|line| {
            let (soname, rest) = line.trim().split_once(" => ")?;
            let path = rest.split(" (").next()?.trim();
            Some((soname.to_owned(), PathBuf::from(path)))
        })
        .collect()
}

/// Sonames the binary names itself (ELF DT_NEEDED).
fn needed_libraries(binary: &str) -> BTreeSet<String> {
    run("objdump", &["-p", binary])
        .lines()
        .filter_map(|line| line.trim().strip_prefix("NEEDED"))
        .map(|name| name.trim().to_owned())
        .collect()
}

/// Returns the Debian package that installed `path`, without the
/// architecture. dpkg records either the path ldd prints or, on
/// merged-/usr systems, the one under /usr, so both are tried.
fn package_of(path: &Path) -> String {
    let candidates = [path.to_path_buf(), path.canonicalize().unwrap()];
    for candidate in &candidates {
        let output = Command::new("dpkg").arg("-S").arg(candidate).output().unwrap();
        if output.status.success() {
            let text = String::from_utf8_lossy(&output.stdout);
            let owner = text.lines().next().unwrap().split(": ").next().unwrap();
            return owner.split(':').next().unwrap().to_owned();
        }
    }
    panic!("no Debian package contains {candidates:?}");
}

/// `packages` and everything they depend on, as installed here.
fn dependency_closure(packages: &BTreeSet<String>) -> BTreeSet<String> {
    let mut closure = BTreeSet::new();
    let mut pending: Vec<String> = packages.iter().cloned().collect();
    while let Some(package) = pending.pop() {
        if !closure.insert(package.clone()) {
            continue;
        }
        let Ok(output) = Command::new("dpkg-query")
            .args(["-W", "-f=${Depends}, ${Pre-Depends}", &package])
            .output()
        else {
            continue;
        };
        // "a (>= 1), b | c, d:any" names a, b or c, and d.
        for alternative in String::from_utf8_lossy(&output.stdout).split([',', '|']) {
            let name = alternative.split_whitespace().next().unwrap_or_default();
            let name = name.split(':').next().unwrap_or_default();
            if !name.is_empty() {
                pending.push(name.to_owned());
            }
        }
    }
    closure
}

#[test]
fn runtime_packages_match_linked_libraries() {
    let binary = env!("CARGO_BIN_EXE_balena-sign");
    let installed = runtime_packages();
    let mut available: BTreeSet<String> = installed.clone();
    available.extend(BASE_IMAGE_PACKAGES.iter().map(|name| (*name).to_owned()));
    let available = dependency_closure(&available);

    let linked = linked_libraries(binary);
    let needed = needed_libraries(binary);
    let mut linked_packages = BTreeSet::new();
    for (soname, path) in &linked {
        let package = package_of(path);
        linked_packages.insert(package.clone());

        // A library the binary names must come from a package the stage
        // installs itself, not one that happens to be pulled in today.
        if needed.contains(soname) {
            assert!(
                installed.contains(&package) || BASE_IMAGE_PACKAGES.contains(&package.as_str()),
                "{soname} ({package}) is linked directly; add {package} to the runtime stage's apt-get install"
            );
        }
        assert!(
            available.contains(&package),
            "{soname} comes from {package}, which no package of the runtime stage brings: {installed:?}"
        );
    }

    for package in installed.iter().filter(|package| package.starts_with("lib")) {
        assert!(
            linked_packages.contains(package),
            "the runtime stage installs {package}, but the binary links none of its libraries"
        );
    }
    assert!(linked_packages.contains("libcryptsetup12"), "{linked:?}");
}

/// Long options and environment variables that `balena-sign <command>
/// --help` lists.
fn help_settings(command: &[&str]) -> BTreeSet<String> {
    let mut args = command.to_vec();
    args.push("--help");
    let help = run(env!("CARGO_BIN_EXE_balena-sign"), &args);

    let mut settings = BTreeSet::new();
    for word in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']') {
        if let Some(flag) = word.strip_prefix("--") {
            let flag = flag.split(['=', '<']).next().unwrap();
            if !flag.is_empty() && flag != "help" && flag != "version" {
                settings.insert(format!("--{flag}"));
            }
        }
    }
    for part in help.split("[env: ").skip(1) {
        let name: String = part
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        settings.insert(name);
    }
    settings
}

/// Subcommands that `balena-sign <command> --help` lists.
fn subcommands(command: &[&str]) -> Vec<String> {
    let mut args = command.to_vec();
    args.push("--help");
    let help = run(env!("CARGO_BIN_EXE_balena-sign"), &args);
    let Some((_, list)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    // Wrapped descriptions are indented further than the command names.
    list.lines()
        .take_while(|line| line.starts_with("  "))
        .filter(|line| !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Environment variables the binary reads outside clap.
fn environment_variables_in_code() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut folders = vec![repo_root().join("crates/cli/src")];
    let mut files = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for pattern in ["env(\"", "var_os(\"", "var(\""] {
            for part in text.split(pattern).skip(1) {
                names.insert(part.split('"').next().unwrap().to_owned());
            }
        }
    }
    names
}

#[test]
fn configuration_doc_lists_every_setting() {
    let documented = read_repo_file("docs/configuration.md");
    let mut missing = Vec::new();

    let mut commands: Vec<Vec<String>> = vec![Vec::new()];
    let mut index = 0;
    while let Some(command) = commands.get(index).cloned() {
        let words: Vec<&str> = command.iter().map(String::as_str).collect();
        for sub in subcommands(&words) {
            let mut child = command.clone();
            child.push(sub);
            commands.push(child);
        }
        for setting in help_settings(&words) {
            if !documented.contains(&format!("`{setting}`")) {
                missing.push(format!("{setting} (balena-sign {})", command.join(" ")));
            }
        }
        index += 1;
    }
    for name in environment_variables_in_code() {
        if !documented.contains(&format!("`{name}`")) {
            missing.push(format!("{name} (read in crates/cli/src)"));
        }
    }

    assert!(
        missing.is_empty(),
        "docs/configuration.md does not name, in backticks: {missing:#?}"
    );
}

/// Runs `systemd-analyze verify` on `unit` (with drop-ins appended), with
/// ExecStart pointing at the binary under test so the check can find it.
fn verify_systemd_unit(unit: &str, drop_ins: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut text = read_repo_file(unit).replace("/usr/local/bin/balena-sign", env!("CARGO_BIN_EXE_balena-sign"));
    for drop_in in drop_ins {
        text.push_str(&read_repo_file(drop_in));
    }
    let path = dir.path().join("balena-sign.service");
    std::fs::write(&path, text).unwrap();

    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .unwrap_or_else(|err| panic!("cannot run systemd-analyze ({err}); install the Debian package systemd"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{unit}: {stderr}");
    assert!(stderr.trim().is_empty(), "{unit} {drop_ins:?}: {stderr}");
}

#[test]
fn systemd_unit_passes_verify() {
    verify_systemd_unit("contrib/balena-sign.service", &[]);
}

#[test]
fn systemd_luks_drop_in_passes_verify() {
    verify_systemd_unit("contrib/balena-sign.service", &["contrib/balena-sign-luks.conf"]);
}

#[test]
fn deployment_doc_shows_contrib_files() {
    let doc = read_repo_file("docs/deployment.md");
    for file in ["contrib/balena-sign.service", "contrib/balena-sign-luks.conf"] {
        let text = read_repo_file(file);
        assert!(
            doc.contains(&format!("```ini\n{text}```")),
            "docs/deployment.md does not show {file} as it is"
        );
    }
}
