//! Real processes a test owns, so it can kill, pause and restart them (or
//! give them process-wide settings): a Redis, a PostgreSQL cluster,
//! `steward serve` and `steward-worker`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not open port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scratch(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("steward-{kind}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Redis server of the test's own, on a free port, keeping nothing on disk.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
}

impl RedisServer {
    pub fn start() -> Self {
        let mut redis = RedisServer { port: free_port(), child: None, dir: scratch("redis") };
        redis.start_again();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again, empty) on the same port.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "Redis is running already");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        wait_for_port(self.port, "redis-server");
    }

    /// SIGKILL: everything it held is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Makes Redis answer nobody for `ms` milliseconds (`CLIENT PAUSE … ALL`).
    pub async fn pause(&self, ms: u64) {
        let mut conn = redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(ms).arg("ALL").query_async(&mut conn).await.unwrap();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster of the test's own (initdb in a scratch folder),
/// so the test can stop it without touching anyone else's databases.
pub struct PostgresCluster {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    dir: PathBuf,
}

impl PostgresCluster {
    pub fn start() -> Self {
        let initdb = std::env::var("PATH")
            .ok()
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join("initdb")).find(|p| p.exists()))
            .or_else(|| {
                let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                    .ok()?
                    .filter_map(|e| Some(e.ok()?.path().join("bin/initdb")))
                    .filter(|p| p.exists())
                    .collect();
                found.sort();
                found.pop()
            })
            .expect("PostgreSQL's initdb is installed");
        // PATH may hold a wrapper link to initdb alone; its real folder has pg_ctl and createdb.
        let initdb = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        let bin = initdb.parent().unwrap().to_path_buf();
        let dir = scratch("postgres");
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        if is_root() {
            // PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
            let ok = Command::new("chown").args(["-R", "postgres", dir.to_str().unwrap()]).status().unwrap().success();
            assert!(ok, "chown the scratch cluster to postgres");
        }
        let cluster = PostgresCluster { port: free_port(), bin, data, dir };
        let out = cluster
            .pg(&cluster.bin.join("initdb"))
            .args(["-D", cluster.data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        cluster.start_again();
        let out = cluster
            .pg(&cluster.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &cluster.port.to_string(), "-U", "postgres", "steward"])
            .output()
            .unwrap();
        assert!(out.status.success(), "createdb failed: {}", String::from_utf8_lossy(&out.stderr));
        cluster
    }

    fn pg(&self, program: &Path) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/steward", self.port)
    }

    pub fn start_again(&self) {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let out = self
            .pg(&self.bin.join("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-o", &opts, "-l"])
            .arg(self.dir.join("postgres.log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl start failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// `pg_ctl stop -m immediate`: every connection dropped, no clean shutdown.
    pub fn stop_immediately(&self) {
        let out = self
            .pg(&self.bin.join("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        let _ = self
            .pg(&self.bin.join("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `steward-worker` as its own process, its log kept in a scratch file.
pub struct WorkerProcess {
    child: Child,
    pub log: PathBuf,
}

pub fn worker_binary() -> PathBuf {
    // Built beside `steward` by scripts/test (`cargo build -p server -p worker`).
    Path::new(env!("CARGO_BIN_EXE_steward")).with_file_name("steward-worker")
}

impl WorkerProcess {
    /// Starts a worker for `settings`, with short leases, a quick sweeper and
    /// heartbeat, plus `extra` environment.
    pub fn start(settings: &store::config::Settings, extra: &[(&str, &str)]) -> Self {
        let log = scratch("worker").join("worker.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(worker_binary());
        cmd.env("DATABASE_URL", &settings.database_url)
            .env("REDIS_URL", &settings.redis_url)
            .env("SMTP_URL", &settings.smtp_url)
            .env("PUBLIC_URL", settings.public_url.as_str())
            .env("STEWARD_REDIS_PREFIX", &settings.redis_prefix)
            .env("STEWARD_RUN_LEASE_SECONDS", "2")
            .env("STEWARD_SWEEP_SECONDS", "1")
            .env("STEWARD_STALE_SECONDS", "1")
            .env("STEWARD_HEARTBEAT_SECONDS", "1")
            .env("STEWARD_OUTBOUND_ALLOW", settings.outbound_allow.join(","))
            .env("RUST_LOG", "info,sqlx=warn")
            .env_remove("STEWARD_ENV")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("the steward-worker binary is built (scripts/test builds it)");
        WorkerProcess { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        assert!(Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap()
            .success());
    }

    /// Waits (up to `within`) for the process to exit; its status, or None if it is still running.
    /// Async: the test's runtime also runs the server and the mock APIs the worker may be calling.
    pub async fn exited_within(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `steward serve` as its own process (for process-wide settings such as
/// metric labels or trace export), ready when `start` returns; killed on drop.
pub struct ServerProcess {
    child: Child,
    pub base: String,
}

impl ServerProcess {
    pub async fn start(settings: &store::config::Settings, extra: &[(&str, &str)]) -> Self {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_steward"));
        cmd.arg("serve")
            .env("DATABASE_URL", &settings.database_url)
            .env("REDIS_URL", &settings.redis_url)
            .env("STEWARD_BIND", format!("127.0.0.1:{port}"))
            .env("PUBLIC_URL", &base)
            .env("STEWARD_REDIS_PREFIX", &settings.redis_prefix)
            .env("RUST_LOG", "warn")
            .env_remove("STEWARD_ENV")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("the steward binary is built");
        let server = ServerProcess { child, base };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if reqwest::get(format!("{}/readyz", server.base)).await.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(Instant::now() < deadline, "the server process did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
