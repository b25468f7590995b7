//! Processes with data directories of their own sharing one PostgreSQL
//! catalog, one Redis queue and one set of tiers (local directories, or an
//! object store the configuration names).

use std::ops::Range;
use std::process::{Child, Stdio};
use std::sync::Arc;
use strata_core::config::env;

use strata_core::store::Store;

use super::api::ADMIN;
use super::postgres::ScaleOut;
use super::{Server, Strata};

/// Processes with data directories of their own (a `node` each) sharing one
/// PostgreSQL catalog, one Redis queue, one set of tiers (a directory, or
/// the object store the configuration names) and one configuration; and a store in this process on the same catalog and
/// tiers, which seeds artifacts and reads the results. The processes are
/// killed (SIGKILL) and reaped when the cluster drops, panics included.
pub struct Cluster {
    /// The `worker` and `scheduler` processes, in the order started.
    pub children: Vec<Child>,
    /// The node of each of `children`, at the same index.
    pub nodes: Vec<Strata>,
    /// The `strata serve` processes; dropped (killed) before their nodes.
    pub servers: Vec<Server>,
    /// The nodes of `servers`.
    served: Vec<Strata>,
    /// The node of the commands run from the test (`tenant add`, `events verify`).
    pub seed: Strata,
    /// A store on the cluster's catalog and tiers.
    pub store: Store,
    /// The runtime `store` runs on.
    pub runtime: tokio::runtime::Runtime,
    /// How long [`Cluster::wait_for`] waits; 120 s unless the test sets it.
    pub stage_within: std::time::Duration,
    /// The catalog URL the processes use.
    url: String,
    scale_out: Arc<ScaleOut>,
    tiers: tempfile::TempDir,
    config: tempfile::NamedTempFile,
}

impl Cluster {
    /// A cluster on fresh services, with the configuration file `config`
    /// (read by every process and by the store), tenant `acme` (pro) and no
    /// process yet. `application_name`, when given, names the processes'
    /// database connections (the store's are not named).
    pub fn new(db: &str, redis: &str, config: &str, application_name: Option<&str>) -> Self {
        let scale_out = Arc::new(ScaleOut::create(db, redis));
        let url = match application_name {
            Some(app) => format!("{}&application_name={app}", scale_out.schema.url()),
            None => scale_out.schema.url().to_owned(),
        };
        let tiers = tempfile::tempdir().expect("a tier directory");
        let file = tempfile::NamedTempFile::new().expect("a configuration file");
        std::fs::write(file.path(), config).expect("the configuration is written");
        let seed = Self::node_of(&scale_out, &url, tiers.path(), file.path());
        seed.ok(&["tenant", "add", "acme", "--plan", "pro"]);
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let store = runtime.block_on(async {
            let mut config = strata_core::config::Config::load(Some(file.path())).expect("the configuration");
            config.catalog.url = Some(scale_out.schema.url().to_owned());
            config.storage.base_path = Some(tiers.path().to_owned());
            let clock = Arc::new(strata_core::clock::SystemClock);
            Store::open(&seed.data(), config, clock).await.expect("the store opens")
        });
        Self {
            stage_within: std::time::Duration::from_secs(120),
            children: Vec::new(),
            nodes: Vec::new(),
            servers: Vec::new(),
            served: Vec::new(),
            seed,
            store,
            runtime,
            url,
            scale_out,
            tiers,
            config: file,
        }
    }

    fn node_of(scale_out: &Arc<ScaleOut>, url: &str, tiers: &std::path::Path, config: &std::path::Path) -> Strata {
        Strata::on(Arc::clone(scale_out))
            .env(env::DATABASE_URL, url)
            .env(env::STORAGE_BASE_PATH, tiers.to_str().expect("a UTF-8 path"))
            .env(env::CONFIG, config.to_str().expect("a UTF-8 path"))
            .env(env::ADMIN_TOKEN, ADMIN)
    }

    /// A fresh node: an empty data directory on the cluster's services.
    fn node(&self) -> Strata {
        Self::node_of(&self.scale_out, &self.url, self.tiers.path(), self.config.path())
    }

    /// Stores `acme/wf/aNNNN` for every number in `range`, through the store.
    pub fn ingest(&self, range: Range<usize>) {
        self.runtime.block_on(async {
            for i in range {
                let key = strata_core::id::ArtifactKey::parse(&format!("acme/wf/a{i:04}")).expect("a key");
                let opts = strata_core::store::PutOptions::default();
                self.store.put(&key, format!("artifact {i}").as_bytes(), opts).await.expect("stored");
            }
        })
    }

    /// Starts `strata ROLE` (`worker` or `scheduler`) on a node of its own,
    /// standard error in the node's `log`.
    pub fn spawn(&mut self, roles: &[&str]) {
        for role in roles {
            let node = self.node();
            let log = std::fs::File::create(node.path("log")).expect("a log file");
            let child = node.command(&[role]).stdout(Stdio::null()).stderr(log).spawn().expect("strata starts");
            self.children.push(child);
            self.nodes.push(node);
        }
    }

    /// Starts `strata serve` on 127.0.0.1 on a node of its own (with the
    /// admin token [`ADMIN`]); returns its index in `servers`.
    pub fn serve(&mut self) -> usize {
        let node = self.node();
        self.servers.push(node.serve());
        self.served.push(node);
        self.servers.len() - 1
    }

    /// What every process has written on standard error so far.
    pub fn logs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| std::fs::read_to_string(n.path("log")).unwrap_or_default()).collect()
    }

    /// Kills (SIGKILL) and reaps the process at `at`.
    pub fn kill(&mut self, at: usize) {
        let child = &mut self.children[at];
        child.kill().expect("killed");
        child.wait().expect("reaped");
    }

    /// SIGKILLs the leading scheduler and the first process (a worker, when
    /// the workers were spawned first); returns the leader's process id and
    /// the two processes' places.
    pub fn kill_the_leader_and_a_worker(&mut self) -> (u32, [usize; 2]) {
        let leading = self.leader().expect("a scheduler leads");
        let at = self.children.iter().position(|c| c.id() == leading).expect("the leader is one of the processes");
        assert!(at >= 3, "the leader is a scheduler");
        let killed = [at, 0];
        for at in killed {
            self.kill(at);
        }
        (leading, killed)
    }

    /// Asserts that no process has exited.
    pub fn assert_alive(&mut self) {
        let exited = self.children.iter_mut().any(|c| c.try_wait().expect("a status").is_some());
        assert!(!exited, "a process exited: {:?}", self.logs());
    }

    /// Asserts that every process but `killed` is still running.
    pub fn assert_alive_but(&mut self, killed: &[usize]) {
        for (at, child) in self.children.iter_mut().enumerate() {
            if !killed.contains(&at) {
                let status = child.try_wait().expect("a status");
                assert!(status.is_none(), "process {at} exited ({status:?}): {:?}", self.logs()[at]);
            }
        }
    }

    /// Stops the processes but `killed` with SIGTERM; asserts they exit cleanly.
    pub fn stop_all_but(&mut self, killed: &[usize]) {
        let alive = || (0..self.children.len()).filter(|at| !killed.contains(at));
        for at in alive() {
            let pid = self.children[at].id().to_string();
            let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        }
        for at in alive() {
            let status = self.children[at].wait().expect("a status");
            let log = std::fs::read_to_string(self.nodes[at].path("log")).unwrap_or_default();
            assert!(status.success(), "every surviving process stops cleanly:\n{log}");
        }
    }

    /// How many artifacts are in the warm tier.
    pub fn warm(&self) -> usize {
        self.in_tier(strata_core::artifact::Tier::Warm)
    }

    /// How many live artifacts are in `tier`.
    pub fn in_tier(&self, tier: strata_core::artifact::Tier) -> usize {
        let filter = strata_core::catalog::ArtifactFilter { tier: Some(tier), ..Default::default() };
        self.runtime.block_on(self.store.list(&filter)).expect("a listing").len()
    }

    /// Every artifact, tombstones included.
    pub fn all(&self) -> Vec<strata_core::artifact::Artifact> {
        let filter = strata_core::catalog::ArtifactFilter { include_deleted: true, ..Default::default() };
        self.runtime.block_on(self.store.list(&filter)).expect("a listing")
    }

    /// Waits (at most [`Cluster::stage_within`]) until `done`, checking `check` at each look.
    pub fn wait_for(&mut self, what: &str, done: &dyn Fn(&Self) -> bool, check: &dyn Fn(&mut Self)) {
        let deadline = std::time::Instant::now() + self.stage_within;
        while !done(self) {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}: {:?}", self.logs());
            check(self);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The process id of the leading scheduler (a holder is named `PID-SUFFIX`).
    pub fn leader(&self) -> Option<u32> {
        let row = self.seed.catalog_row("SELECT holder FROM leaders WHERE name = 'scheduler'")?;
        row[0].split('-').next()?.parse().ok()
    }

    /// The events of kind `kind`.
    pub fn events(&self, kind: &str) -> Vec<strata_core::event::Event> {
        let filter = strata_core::catalog::EventFilter { kind: Some(kind.into()), ..Default::default() };
        self.runtime.block_on(self.store.catalog().events(&filter)).expect("the events")
    }

    /// Asserts that `n` artifacts were promoted, each exactly once, and that
    /// the event log verifies.
    pub fn assert_promoted_once(&self, n: usize) {
        let events = self.events("promoted");
        let artifacts: std::collections::BTreeSet<_> = events.iter().map(|e| e.artifact_id.clone()).collect();
        assert_eq!((events.len(), artifacts.len()), (n, n), "one promotion event per artifact");
        let verified = self.seed.ok(&["events", "verify"]);
        assert!(verified.contains("intact"), "{verified}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
