//! `steward <command>`: serve, migrate, seed, bundle, enqueue, worker, mailbox, assets.

use clap::{Parser, Subcommand};
use store::config::Settings;

#[derive(Parser)]
#[command(name = "steward", about = "Steward: AI workflows for small businesses")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app (the default).
    Serve,
    /// Migrate the public schema, then every tenant schema.
    Migrate {
        /// How many tenant schemas to migrate at once.
        #[arg(long, default_value_t = 4)]
        parallelism: usize,
    },
    /// Create the demo business (Acme Plumbing) if it is missing.
    Seed,
    /// Export or import a workflow bundle (workflow + prompts + data contracts) as YAML.
    Bundle {
        #[command(subcommand)]
        action: BundleAction,
    },
    /// Send an event to a workflow (an internal queue message): checked
    /// against the data contract, committed, and its run queued.
    Enqueue {
        #[arg(long)]
        business: String,
        #[arg(long)]
        workflow: String,
        /// Makes a repeat count once.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// A JSON file with the record (`-` for standard input).
        file: std::path::PathBuf,
    },
    /// Run the background worker in this process (the same as `steward-worker`).
    Worker,
    /// The audit log: `verify --business SLUG` recomputes its hash chain.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// The keys that encrypt stored secrets: `generate` prints a new key entry,
    /// `rotate` re-seals every secret under the current (first) key.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Prepare the browser bundle in a `pkg` folder for serving: content-hashed
    /// names, `hash.txt`, brotli and gzip copies (run by the build scripts).
    Assets {
        /// The folder wasm-bindgen wrote to (target/site/pkg).
        pkg: std::path::PathBuf,
        #[arg(long, value_enum, default_value = "best")]
        compression: crate::site_files::Compression,
    },
    /// A development mailbox: an SMTP server that keeps every message.
    Mailbox {
        #[arg(long, default_value = "127.0.0.1:2525")]
        listen: String,
        #[arg(long, default_value = ".steward/mail")]
        dir: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Print a new `id:key` entry to put first in STEWARD_ENCRYPTION_KEYS.
    Generate {
        /// The new key's id (default: today's date).
        #[arg(long)]
        id: Option<String>,
    },
    /// Re-seal every stored secret of every business under the current key;
    /// afterwards the older keys can be removed from STEWARD_ENCRYPTION_KEYS.
    Rotate,
}

#[derive(Subcommand)]
enum BundleAction {
    /// Print a workflow's bundle (its live version, or latest draft) to standard output.
    Export {
        /// The business's address (slug).
        #[arg(long)]
        business: String,
        #[arg(long)]
        workflow: String,
    },
    /// Import a bundle file as a new draft; nothing changes unless all of it is valid.
    Import {
        #[arg(long)]
        business: String,
        /// The engineer or owner the change log records.
        #[arg(long = "as")]
        actor: String,
        /// Why (kept in the change log).
        #[arg(long)]
        why: String,
        file: std::path::PathBuf,
    },
}

pub fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    // A key can be made before any configuration exists (production refuses to start without one).
    if let Some(Command::Keys { action: KeysAction::Generate { id } }) = &cli.command {
        let id = id.clone().unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string());
        println!("{}", store::keyring::Keyring::generate_entry(&id));
        return Ok(());
    }
    // Neither does preparing the browser bundle, a build step.
    if let Some(Command::Assets { pkg, compression }) = &cli.command {
        for file in crate::site_files::prepare(pkg, *compression)? {
            println!("{:<32} {:>10} bytes  {:>9} brotli  {:>9} gzip", file.name, file.bytes, file.brotli, file.gzip);
        }
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let _telemetry = crate::telemetry::init("info");
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("steward: {e}");
            std::process::exit(2);
        }
    };
    runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await,
            Command::Migrate { parallelism } => migrate(settings, parallelism).await,
            Command::Seed => seed(settings).await,
            Command::Mailbox { listen, dir } => mailbox(&listen, dir).await,
            Command::Bundle { action } => bundle(settings, action).await,
            Command::Enqueue { business, workflow, idempotency_key, file } => {
                enqueue(settings, &business, &workflow, idempotency_key, &file).await
            }
            Command::Worker => worker::run(settings, worker::shutdown_signal()).await,
            Command::Audit { action: AuditAction::Verify { business } } => audit_verify(settings, &business).await,
            Command::Keys { action: KeysAction::Rotate } => keys_rotate(settings).await,
            Command::Keys { action: KeysAction::Generate { .. } } | Command::Assets { .. } => Ok(()),
        }
    })
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let public = settings.public_url.to_string();
    let app = crate::startup::Application::build(settings).await?;
    tracing::info!(url = %public, port = app.port(), "Steward is serving");
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(settings: Settings, parallelism: usize) -> anyhow::Result<()> {
    let db = store::db::connect(&settings.database_url, parallelism as u32 + 2).await?;
    let started = std::time::Instant::now();
    let report = migrations::migrate_all(&db, parallelism).await?;
    println!("public schema: up to date");
    println!(
        "tenant schemas: {} upgraded, {} already current, {} failed ({} ms)",
        report.upgraded.len(),
        report.already_current.len(),
        report.failed.len(),
        started.elapsed().as_millis()
    );
    for (schema, error) in &report.failed {
        println!("  left behind: {schema}: {error}");
    }
    if !report.failed.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

async fn seed(settings: Settings) -> anyhow::Result<()> {
    if settings.environment == store::config::Environment::Production {
        anyhow::bail!("refusing to seed demo users with a published password in production");
    }
    let state = store::state::AppState::connect(settings.clone()).await?;
    let db = &state.db;
    if let Some(demo) = store::seed::seed_demo(db, &settings).await? {
        // The runs are committed; a worker that is not running yet picks them up when it starts.
        let history = store::seed::seed_history(db, chrono::Utc::now()).await?;
        let runs = store::seed::seed_leads(db, &settings).await?;
        for job in &runs {
            state.runs.wake(job.clone()).await.map_err(|e| anyhow::anyhow!("queueing a demo lead: {e}"))?;
        }
        if let Some(job) = store::seed::seed_replay(db).await? {
            state.replays.push(job).await.map_err(|e| anyhow::anyhow!("queueing the demo replay: {e}"))?;
        }
        let public = settings.public_url.as_str().trim_end_matches('/');
        println!("seeded the demo business {} at /t/{}", store::seed::DEMO_NAME, store::seed::DEMO_SLUG);
        println!("lead webhook: {public}/hooks/{}/lead-intake-qualification", store::seed::DEMO_SLUG);
        println!("  signing secret (shown once; rotate it on the workflow page): {}", demo.lead_webhook_secret);
        println!("lead form:    {public}/forms/{}/lead-intake-qualification", store::seed::DEMO_SLUG);
        println!("{} demo leads are queued; most wait in the review queue once the worker runs", runs.len());
        println!("{history} finished runs of the past month show on the Costs page");
        println!("last month's reviewed leads are replayed over the live version on the workflow's Replays page");
    } else {
        println!("the demo business {} already exists", store::seed::DEMO_NAME);
    }
    Ok(())
}

async fn enqueue(
    settings: Settings,
    business: &str,
    workflow: &str,
    idempotency_key: Option<String>,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    use store::ingest::{self, Accepted, Channel, Incoming, IngestError};
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file)?
    };
    let record: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", file.display()))?;
    let state = store::state::AppState::connect(settings).await?;
    let target = ingest::target(&state.db, &state.settings, business, workflow).await?;
    let incoming = Incoming {
        channel: Channel::Cli,
        event_type: target.contract.trigger.event.clone(),
        idempotency_key,
        raw: record.clone(),
        record,
    };
    match ingest::accept(&state.db, &state.settings, &target, &incoming, chrono::Utc::now()).await {
        Ok(Accepted::New { run_id, .. }) => {
            state.runs.wake(ingest::run_job(&target, run_id)).await.map_err(|e| anyhow::anyhow!(e))?;
            println!("accepted: run {run_id} is queued");
            Ok(())
        }
        Ok(Accepted::Duplicate { run_id }) => {
            println!("duplicate: this key was accepted before, as run {run_id}");
            Ok(())
        }
        Err(IngestError::Invalid(violations)) => {
            eprintln!("refused: the record breaks the data contract (kept in the exceptions report):");
            for v in violations {
                eprintln!("  {}: {}", v.field, v.message);
            }
            std::process::exit(3);
        }
        Err(e) => Err(e.into()),
    }
}

async fn mailbox(listen: &str, dir: std::path::PathBuf) -> anyhow::Result<()> {
    let (port, _mailbox) = crate::smtp_capture::start(listen, Some(dir.clone())).await?;
    println!("development mailbox listening on port {port}; messages are saved in {}", dir.display());
    tokio::signal::ctrl_c().await?;
    Ok(())
}

#[derive(Subcommand)]
enum AuditAction {
    /// Recompute the business's hash chain and name the first broken link (exit 1).
    Verify {
        #[arg(long)]
        business: String,
    },
}

async fn audit_verify(settings: Settings, business: &str) -> anyhow::Result<()> {
    let db = store::db::connect(&settings.database_url, 2).await?;
    let owner = store::seed::any_owner(&db, business).await?;
    match store::audit::verify(&db, &owner.tenant).await? {
        store::audit::ChainVerdict::Intact { events, head } => {
            println!("{business}: the audit chain holds: {events} events, head {head}");
            Ok(())
        }
        store::audit::ChainVerdict::Broken { seq, id, reason } => {
            println!("{business}: the audit chain is broken at event {seq} (id {id}): {reason}");
            std::process::exit(1);
        }
    }
}

async fn keys_rotate(settings: Settings) -> anyhow::Result<()> {
    if !settings.keyring.is_configured() {
        anyhow::bail!("STEWARD_ENCRYPTION_KEYS is not set: put a new key (steward keys generate) first in it, keep the old ones after it, then rotate");
    }
    let db = store::db::connect(&settings.database_url, 2).await?;
    let report = store::key_rotation::rotate(&db, &settings).await?;
    println!(
        "re-sealed {} secrets under key {}; {} were already under it",
        report.resealed,
        settings.keyring.current_id(),
        report.already_current
    );
    if !report.unreadable.is_empty() {
        println!(
            "{} secrets no configured key opens (re-enter them): {}",
            report.unreadable.len(),
            report.unreadable.join(", ")
        );
        std::process::exit(1);
    }
    println!("the older keys can now be removed from STEWARD_ENCRYPTION_KEYS");
    Ok(())
}

async fn bundle(settings: Settings, action: BundleAction) -> anyhow::Result<()> {
    let db = store::db::connect(&settings.database_url, 2).await?;
    match action {
        BundleAction::Export { business, workflow } => {
            let owner = store::seed::any_owner(&db, &business).await?;
            let bundle = store::bundles::export(&db, &owner, &workflow).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            print!("{}", store::bundles::to_yaml(&bundle));
        }
        BundleAction::Import { business, actor, why, file } => {
            let member = store::auth::member_by_email(&db, &business, &actor)
                .await
                .map_err(|_| anyhow::anyhow!("{actor} is not a member of {business}"))?;
            if !matches!(member.role, engine::Role::Engineer | engine::Role::Owner) {
                anyhow::bail!("{actor} is {}; only engineers and owners import bundles", member.role);
            }
            let yaml = std::fs::read_to_string(&file)?;
            match store::bundles::import(&db, &member, &yaml, &why).await {
                Ok(name) => println!("imported {name} as a new draft version"),
                Err(store::bundles::BundleError::Invalid(problems)) => {
                    eprintln!("the bundle was not imported; nothing changed:");
                    for p in problems {
                        eprintln!("  - {p}");
                    }
                    std::process::exit(1);
                }
                Err(e) => return Err(anyhow::anyhow!("{e}")),
            }
        }
    }
    Ok(())
}
