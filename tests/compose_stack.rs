//! The compose stack (`docker-compose.yml`, `.env.example`, `Dockerfile`),
//! checked without Docker against what it runs: every strata service's
//! command line is one the built binary accepts, every variable it sets is
//! one strata (or object_store's S3 client) reads and loads as a valid
//! configuration, workers scale, the queue's Redis keeps an append-only file,
//! and health checks and start order hold together.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use strata_core::config::env;

use strata_core::config::Config;
use yaml_rust2::{Yaml, YamlLoader};

/// The variables object_store's S3 client reads from the environment that
/// the stack sets: endpoint, region, credentials, plain HTTP to MinIO.
const OBJECT_STORE_S3_VARS: &[&str] =
    &["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ALLOW_HTTP"];

/// The roles the stack runs from the strata image, by name.
const STRATA_ROLES: &[&str] = &["migrate", "scheduler", "serve", "worker"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A service's mapping as Compose sees it: the keys a `<<` merge brings in,
/// overridden by the service's own.
type Service = BTreeMap<String, Yaml>;

struct Stack {
    services: BTreeMap<String, Service>,
    /// `.env.example`: the values the stack is checked with.
    env_file: BTreeMap<String, String>,
}

impl Stack {
    fn load() -> Self {
        let docs = YamlLoader::load_from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML");
        let [doc] = docs.as_slice() else { panic!("docker-compose.yml holds {} documents, not one", docs.len()) };
        let services = doc["services"].as_hash().expect("a services mapping");
        let services = services
            .iter()
            .map(|(name, body)| (name.as_str().expect("service names are strings").to_owned(), merged(body)))
            .collect();
        Self { services, env_file: env_file(&read(".env.example")) }
    }

    fn service(&self, name: &str) -> &Service {
        self.services.get(name).unwrap_or_else(|| panic!("no service {name}"))
    }

    /// The services built from this repository's Dockerfile.
    fn strata_services(&self) -> BTreeMap<&str, &Service> {
        self.services.iter().filter(|(_, s)| s.contains_key("build")).map(|(n, s)| (n.as_str(), s)).collect()
    }

    /// A string as Compose passes it on: `${VAR}`, `${VAR:-default}` and
    /// `${VAR:?error}` replaced from `.env.example` (a variable it lacks and
    /// no default covers is a failure), `$$` made `$`.
    fn interpolate(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                out.push('$');
                rest = after;
                continue;
            }
            let inner = rest.strip_prefix('{').unwrap_or_else(|| panic!("{s:?}: a bare $ must be written $$"));
            let end = inner.find('}').unwrap_or_else(|| panic!("{s:?}: unclosed ${{"));
            let expr = &inner[..end];
            rest = &inner[end + 1..];
            let (name, default) = match expr.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expr.split_once(":?").map_or(expr, |(name, _)| name), None),
            };
            match (self.env_file.get(name), default) {
                (Some(value), Some(default)) if value.is_empty() => out.push_str(default),
                (Some(value), _) => out.push_str(value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => panic!("{s:?}: {name} is not in .env.example and has no default"),
            }
        }
        out.push_str(rest);
        out
    }

    /// A service's `environment`, interpolated.
    fn environment(&self, service: &Service) -> BTreeMap<String, String> {
        let Some(env) = service.get("environment") else { return BTreeMap::new() };
        merged(env)
            .into_iter()
            .map(|(k, v)| {
                let v = v.as_str().unwrap_or_else(|| panic!("{k}: quote environment values, got {v:?}"));
                (k, self.interpolate(v))
            })
            .collect()
    }

    /// A service's `command`, interpolated.
    fn command(&self, service: &Service) -> Vec<String> {
        strings(service.get("command").expect("a command")).iter().map(|s| self.interpolate(s)).collect()
    }
}

/// A mapping with its `<<` merge key applied (one level, as Compose does).
fn merged(yaml: &Yaml) -> Service {
    let hash = yaml.as_hash().unwrap_or_else(|| panic!("a mapping, got {yaml:?}"));
    let mut out: Service = BTreeMap::new();
    if let Some(base) = hash.get(&Yaml::String("<<".into())) {
        out.extend(merged(base));
    }
    for (k, v) in hash {
        let k = k.as_str().unwrap_or_else(|| panic!("string keys, got {k:?}"));
        if k != "<<" {
            out.insert(k.to_owned(), v.clone());
        }
    }
    out
}

/// A sequence of strings (exec form), or a failure.
fn strings(yaml: &Yaml) -> Vec<String> {
    let items = yaml.as_vec().unwrap_or_else(|| panic!("a list (exec form), got {yaml:?}"));
    items.iter().map(|i| i.as_str().unwrap_or_else(|| panic!("strings, got {i:?}")).to_owned()).collect()
}

/// `NAME=value` lines; comments and blank lines skipped.
fn env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!(".env.example: {l:?} is not NAME=value"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Every `${NAME` in a value of the compose file.
fn interpolated_names(yaml: &Yaml, names: &mut BTreeSet<String>) {
    match yaml {
        Yaml::String(s) => {
            let mut rest = s.as_str();
            while let Some(at) = rest.find('$') {
                rest = &rest[at + 1..];
                if let Some(after) = rest.strip_prefix('$') {
                    rest = after;
                } else if let Some(inner) = rest.strip_prefix('{') {
                    let end = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(inner.len());
                    names.insert(inner[..end].to_owned());
                    rest = &inner[end..];
                }
            }
        }
        Yaml::Array(items) => items.iter().for_each(|i| interpolated_names(i, names)),
        Yaml::Hash(hash) => hash.values().for_each(|v| interpolated_names(v, names)),
        _ => {}
    }
}

fn strata(args: &[String]) -> std::process::Output {
    Command::new(common::binary()).args(args).output().expect("strata runs")
}

fn help(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).chain(["--help".to_owned()]).collect();
    let out = strata(&args);
    assert!(out.status.success(), "strata {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// The subcommands `strata --help` lists.
fn subcommands() -> BTreeSet<String> {
    let help = help(&[]);
    let list = help.split("Commands:\n").nth(1).and_then(|s| s.split("\n\n").next()).expect("a Commands section");
    list.lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Every environment variable strata reads, taken from where it reads
/// them: the variables the configuration and the command line declare
/// (`strata_core::config::env`), the `[env: NAME=]` of the binary's options,
/// and the `env::var("NAME")` reads of the sources.
fn variables_strata_reads() -> BTreeSet<String> {
    let mut names: BTreeSet<String> =
        env::names().chain(env::COMMAND_LINE.iter().copied()).map(str::to_owned).collect();
    for chunk in help(&[]).split("[env: ").skip(1) {
        names.insert(chunk.split('=').next().expect("NAME=").to_owned());
    }
    let mut sources = Vec::new();
    for dir in ["src", "cli/src", "api/src", "workers/src", "jobs/src"] {
        rust_files(&repo().join(dir), &mut sources);
    }
    for file in sources {
        let text = std::fs::read_to_string(&file).expect("a source file");
        for read in ["env::var(\"", "env::var_os(\"", "try_from_env(\""] {
            for chunk in text.split(read).skip(1) {
                names.insert(chunk.split('"').next().expect("a name").to_owned());
            }
        }
    }
    names
}

/// The names the Dockerfile's `ENV` instructions set (`NAME=value`, one or
/// more a line, continued with a backslash).
fn dockerfile_env() -> Vec<String> {
    let dockerfile = read("Dockerfile");
    let mut names = Vec::new();
    let mut continued = false;
    for line in dockerfile.lines() {
        let body = match line.strip_prefix("ENV ") {
            Some(body) => body,
            None if continued => line,
            None => continue,
        };
        continued = body.trim_end().ends_with('\\');
        for pair in body.split_whitespace().filter(|w| w.contains('=')) {
            names.push(pair.split('=').next().expect("NAME=").to_owned());
        }
    }
    assert!(!names.is_empty(), "the Dockerfile sets no variable");
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The port of an `ADDR:PORT` option in a command line.
fn port_of(command: &[String], option: &str) -> String {
    let at = command.iter().position(|a| a == option).unwrap_or_else(|| panic!("{command:?} has no {option}"));
    let addr = command.get(at + 1).unwrap_or_else(|| panic!("{option} without a value"));
    assert!(addr.starts_with("0.0.0.0:"), "{option} {addr}: listen on every interface inside the container");
    addr.rsplit(':').next().expect("a port").to_owned()
}

#[test]
fn the_stack_runs_every_role_from_the_strata_image() {
    let stack = Stack::load();
    let roles: Vec<&str> = stack.strata_services().into_keys().collect();
    assert_eq!(roles, STRATA_ROLES);
    for (name, service) in stack.strata_services() {
        assert_eq!(service.get("image").and_then(Yaml::as_str), Some("strata:local"), "{name}: one image for all");
    }
    for backing in ["postgres", "redis", "minio", "minio-init"] {
        stack.service(backing);
    }
}

#[test]
fn every_strata_command_line_is_one_the_binary_accepts() {
    let stack = Stack::load();
    let subcommands = subcommands();
    assert!(subcommands.contains("serve") && subcommands.contains("worker"), "{subcommands:?}");
    // `--help` after the arguments prints help only when every argument
    // before it parses: an unknown option is still an error.
    let out = strata(&["serve".into(), "--no-such-option".into(), "--help".into()]);
    assert_eq!(out.status.code(), Some(2), "an unknown option before --help is refused");

    let mut lines: Vec<(String, Vec<String>)> =
        stack.strata_services().into_iter().map(|(name, s)| (name.to_owned(), stack.command(s))).collect();
    // The image's own default command, as the Dockerfile gives it.
    let dockerfile = read("Dockerfile");
    let instruction = |word: &str| -> Vec<String> {
        let line = dockerfile
            .lines()
            .find_map(|l| l.strip_prefix(word).and_then(|l| l.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("the Dockerfile has no {word}"));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{word} {line}: exec form expected: {e}"))
    };
    assert_eq!(instruction("ENTRYPOINT"), ["strata"]);
    assert!(dockerfile.contains("-p strata-cli --bin strata"), "the Dockerfile builds the strata binary");
    lines.push(("the Dockerfile's CMD".into(), instruction("CMD")));

    for (name, command) in lines {
        let sub = command.first().unwrap_or_else(|| panic!("{name}: an empty command"));
        assert!(subcommands.contains(sub), "{name}: `{sub}` is not a strata subcommand ({subcommands:?})");
        let mut args = command.clone();
        args.push("--help".into());
        let out = strata(&args);
        assert!(out.status.success(), "{name}: strata {command:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn the_strata_services_set_only_variables_strata_reads_and_load_as_a_valid_configuration() {
    let stack = Stack::load();
    let reads = variables_strata_reads();
    for known in [env::DATABASE_URL, env::REDIS_URL, env::STORAGE_HOT_PATH, env::DATA_DIR, env::LOG] {
        assert!(reads.contains(known), "the sources were not read right: {known} missing from {reads:?}");
    }
    for var in dockerfile_env() {
        assert!(reads.contains(&var), "the Dockerfile sets {var}, which strata does not read");
    }
    for (name, service) in stack.strata_services() {
        let env = stack.environment(service);
        for var in env.keys() {
            assert!(
                reads.contains(var) || OBJECT_STORE_S3_VARS.contains(&var.as_str()),
                "{name}: {var} is read neither by strata nor by object_store's S3 client"
            );
        }
        let config = Config::load_with_env(None, |var| env.get(var).cloned())
            .unwrap_or_else(|e| panic!("{name}: the configuration does not load: {e}"));
        assert!(config.catalog.url.as_deref().is_some_and(|u| u.starts_with("postgres://")), "{name}: catalog");
        assert!(config.queue.redis_url.as_deref().is_some_and(|u| u.starts_with("redis://")), "{name}: queue");
        for tier in [env::STORAGE_HOT_PATH, env::STORAGE_WARM_PATH, env::STORAGE_COLD_PATH] {
            let location = env.get(tier).unwrap_or_else(|| panic!("{name}: {tier} unset"));
            assert!(location.starts_with("s3://"), "{name}: {tier}={location}: the tiers live in the object store");
        }
        for var in OBJECT_STORE_S3_VARS {
            assert!(env.contains_key(*var), "{name}: {var} unset");
        }
    }
}

#[test]
fn workers_and_schedulers_scale_and_only_the_api_is_published() {
    let stack = Stack::load();
    for (name, replicas) in [("worker", 3), ("scheduler", 2)] {
        let service = stack.service(name);
        assert!(!service.contains_key("container_name"), "{name}: a container name stops --scale");
        assert!(!service.contains_key("ports"), "{name}: a host port stops --scale");
        let deploy = service.get("deploy").map(merged).unwrap_or_default();
        assert_eq!(deploy.get("replicas"), Some(&Yaml::Integer(replicas)), "{name}: replicas");
    }
    for (name, service) in stack.strata_services() {
        let Some(ports) = service.get("ports") else { continue };
        assert_eq!(name, "serve", "only the API is published");
        for port in strings(ports) {
            assert!(stack.interpolate(&port).starts_with("127.0.0.1:"), "{name}: {port}: loopback only");
        }
    }
}

#[test]
fn the_queue_redis_keeps_an_append_only_file_on_a_volume() {
    let stack = Stack::load();
    let redis = stack.service("redis");
    let command = stack.command(redis);
    assert!(command.windows(2).any(|w| w == ["--appendonly", "yes"]), "{command:?}");
    assert!(command.windows(2).any(|w| w == ["--maxmemory-policy", "noeviction"]), "{command:?}");
    let volumes = strings(redis.get("volumes").expect("redis volumes"));
    assert!(volumes.iter().any(|v| v.ends_with(":/data")), "{volumes:?}: the append-only file outlives the container");
}

#[test]
fn health_checks_probe_what_each_role_serves_and_start_order_waits_for_them() {
    let stack = Stack::load();
    let check = |name: &str| -> String {
        let health = merged(stack.service(name).get("healthcheck").unwrap_or_else(|| panic!("{name}: no healthcheck")));
        stack.interpolate(&strings(health.get("test").expect("a test")).join(" "))
    };
    let serve = check("serve");
    let port = port_of(&stack.command(stack.service("serve")), "--listen");
    assert!(serve.contains(&format!("http://127.0.0.1:{port}/readyz")), "serve: {serve}");
    let worker = check("worker");
    let port = port_of(&stack.command(stack.service("worker")), "--metrics-listen");
    assert!(worker.contains(&format!("http://127.0.0.1:{port}/metrics")), "worker: {worker}");
    assert!(worker.contains("Authorization: Bearer $STRATA_ADMIN_TOKEN"), "worker: /metrics takes the admin token");

    for (name, service) in &stack.services {
        let Some(depends) = service.get("depends_on") else { continue };
        for (on, condition) in merged(depends) {
            let condition = merged(&condition);
            let condition = condition.get("condition").and_then(Yaml::as_str);
            let target = stack.service(&on);
            match condition {
                Some("service_healthy") => assert!(target.contains_key("healthcheck"), "{name} waits on {on}'s health"),
                Some("service_completed_successfully") => {
                    let restart = target.get("restart").and_then(Yaml::as_str);
                    assert!(
                        matches!(restart, None | Some("no")),
                        "{name} waits on {on}, a one-shot: restart {restart:?}"
                    );
                    assert!(!target.contains_key("deploy"), "{name} waits on {on}, a one-shot: no replicas");
                }
                other => panic!("{name} depends on {on} with condition {other:?}"),
            }
        }
    }
    for role in ["serve", "scheduler", "worker"] {
        let depends = merged(stack.service(role).get("depends_on").expect("depends_on"));
        assert!(depends.contains_key("migrate"), "{role} starts after the schema is migrated");
    }
    let migrate = merged(stack.service("migrate").get("depends_on").expect("depends_on"));
    let waits: BTreeSet<&str> = migrate.keys().map(String::as_str).collect();
    assert_eq!(waits, BTreeSet::from(["postgres", "redis", "minio-init"]));
}

#[test]
fn env_example_documents_exactly_the_variables_the_stack_uses() {
    let stack = Stack::load();
    let docs = YamlLoader::load_from_str(&read("docker-compose.yml")).expect("YAML");
    let mut used = BTreeSet::new();
    interpolated_names(&docs[0]["services"], &mut used);
    let documented: BTreeSet<String> = stack.env_file.keys().cloned().collect();
    assert_eq!(used, documented, "docker-compose.yml's variables against .env.example's");
    for secret in
        ["POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD", "STRATA_S3_SECRET_KEY", env::ADMIN_TOKEN]
    {
        let value = &stack.env_file[secret];
        assert!(value.starts_with("change-me"), "{secret}={value}: a placeholder, not a secret");
    }
}
