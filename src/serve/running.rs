//! Running a built [`App`]: starts every background task and both listeners in one
//! [`TaskRegistry`], waits for the shutdown signal, then drains the registry in
//! [`Stage`] order:
//!
//! 1. both listeners stop accepting; in-flight calls (streams included) finish within
//!    `proxy.shutdown_grace`, then what is left is closed;
//! 2. the record writer flushes every queued record (or spills it to a file);
//! 3. quota capacity reserved and not used goes back to the database, and the crash
//!    journal writes what it holds and deletes the segments whose records are stored;
//! 4. quota events already raised are written (their channel closes when the last
//!    holder of the quota engine, the proxy state, is gone);
//! 5. the change watcher, reset scheduler, record retention, credential refresher and
//!    idle-capacity returner stop;
//! 6. the database closes.
//!
//! Each stage has a deadline ([`deadline`]); a task that misses it is logged and stopped.

use crate::config::JournalMode;
use crate::domain::Actor;
use crate::events::log::LogSubscriber;
use crate::journal::Journal;
use crate::ops::Ops;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::app::App;
use super::{admin, watcher, Listeners, ServeError};
use crate::auth::Authenticator;
use crate::lifecycle::{Stage, TaskRegistry};
use crate::proxy::ProxyState;
use crate::quota::engine::{QuotaEngine, IDLE_RETURN};
use crate::usage::recorder;

/// How often idle quota capacity is looked for.
const RETURN_EVERY: Duration = Duration::from_secs(2);

/// How long a shutdown stage may take before its unfinished tasks are stopped.
fn deadline(stage: Stage, grace: Duration) -> Duration {
    match stage {
        // The listeners close what is left at the end of the grace period themselves.
        Stage::Listeners => grace + Duration::from_secs(5),
        // The writer retries for SHUTDOWN_RETRY, then spills; one more slow database
        // round (a pool acquire timeout) fits in the margin.
        Stage::Records => recorder::SHUTDOWN_RETRY + Duration::from_secs(40),
        Stage::QuotaCapacity => Duration::from_secs(30),
        Stage::QuotaEvents => Duration::from_secs(10),
        Stage::Background => Duration::from_secs(5),
        Stage::Database => Duration::from_secs(10),
    }
}

impl App {
    /// Serves on `listeners` until `shutdown` resolves, then stops everything in order.
    pub(crate) async fn run(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let App {
            config,
            store,
            master,
            spill,
            journal_slot,
            snapshots,
            applied,
            poll_interval,
            event_interval,
            credentials,
            aws,
            upstream,
            tls,
            quota,
            quota_events,
            name,
            metrics,
        } = self;
        let grace = config.proxy.shutdown_grace;
        let ops = Arc::new(Ops::new(Arc::clone(&store), &config));
        let ratelimit = crate::ratelimit::RateLimiter::new(config.ratelimit);
        let mut tasks = TaskRegistry::new(|stage| deadline(stage, grace));
        tasks.spawn_until_stopped(
            "rate activity",
            Stage::Background,
            crate::ratelimit::publish::run(
                Arc::clone(&ratelimit),
                Arc::clone(&store),
                name.clone(),
            ),
        );
        let actor = Actor::system(name);
        let looks = crate::look_now::LookNow::default();

        let (recorder, recorder_handle) = recorder::spawn(
            Arc::clone(&store),
            spill,
            Arc::clone(&metrics),
            config.quota.store_timeout,
        );
        tasks.on_shutdown("record writer", Stage::Records, recorder_handle.shutdown());
        let journal = match config.proxy.journal {
            JournalMode::Off => None,
            mode => Some(Arc::new(
                Journal::open(&journal_slot.dir, mode)
                    .map_err(|e| ServeError::Setup(e.to_string()))?,
            )),
        };
        if let Some(journal) = &journal {
            // After the record writer (stage order): every stored record has released
            // its segment by then, so a clean stop leaves no segment behind.
            let journal = Arc::clone(journal);
            tasks.on_shutdown("crash journal", Stage::QuotaCapacity, async move {
                if let Err(e) = tokio::task::spawn_blocking(move || journal.close()).await {
                    tracing::error!(error = %e, "closing the crash journal failed");
                }
            });
        }
        {
            let quota = Arc::clone(&quota);
            tasks.on_shutdown("quota capacity", Stage::QuotaCapacity, async move {
                quota.reconcile_outage().await;
                quota.release(quota.take_all()).await;
            });
        }
        let (notifiers, alerts) = crate::notify::subscribers(&config, &store, &ops, actor.as_str())
            .map_err(ServeError::Setup)?;
        // Subscribers are registered before any task that writes an event starts: a
        // subscriber hears every event from its registration on, so the first start's
        // events (today's reset, say) reach it too.
        let mut subscribers: Vec<Arc<dyn crate::events::Subscriber>> =
            vec![Arc::new(LogSubscriber)];
        subscribers.extend(notifiers);
        if config.iam.enabled {
            let backstop = crate::iam::backstop(&config.iam, &aws, &store, &alerts, actor.as_str());
            subscribers.push(Arc::clone(&backstop) as Arc<dyn crate::events::Subscriber>);
            tasks.spawn_until_stopped(
                "iam reconciler",
                Stage::Background,
                backstop.run_reconciler(config.iam.reconcile),
            );
        }
        crate::events::dispatcher::register(&store, &subscribers).await;
        tasks.spawn(
            "quota events",
            Stage::QuotaEvents,
            crate::ops::quota_events::run(Arc::clone(&ops), actor.clone(), quota_events),
        );
        tasks.spawn_until_stopped(
            "change watcher",
            Stage::Background,
            watcher::run(
                Arc::clone(&store),
                master,
                snapshots.clone(),
                poll_interval,
                applied,
                looks.clone(),
            ),
        );
        tasks.spawn_until_stopped(
            "event dispatcher",
            Stage::Background,
            crate::events::dispatcher::run(
                Arc::clone(&store),
                subscribers,
                actor.to_string(),
                event_interval,
                Some(Arc::clone(&metrics)),
            ),
        );
        {
            let credentials = Arc::clone(&credentials);
            let check: crate::notify::alerts::Check = Box::new(move || credentials.problem());
            tasks.spawn_until_stopped(
                "alert watcher",
                Stage::Background,
                crate::notify::alerts::watch(alerts, Arc::clone(&store), check),
            );
        }
        tasks.spawn_until_stopped(
            "reset scheduler",
            Stage::Background,
            Arc::clone(&ops).run_reset_scheduler(actor.clone()),
        );
        tasks.spawn_until_stopped(
            "record retention",
            Stage::Background,
            Arc::clone(&ops).run_retention(actor.clone(), config.records.retention_days),
        );
        let refresher = AbortOnDropHandle::new(credentials.spawn_refresher());
        tasks.spawn_until_stopped("credential refresher", Stage::Background, async move {
            let _ = refresher.await;
        });
        tasks.spawn(
            "idle capacity returner",
            Stage::Background,
            return_idle_capacity(Arc::downgrade(&quota), tasks.stop_signal(Stage::Background)),
        );
        {
            let store = Arc::clone(&store);
            tasks.on_shutdown("database", Stage::Database, async move {
                store.close().await;
            });
        }

        let sign_in = if config.oidc.issuers.is_empty() {
            None
        } else {
            let s = crate::identity::SignIn::new(
                config.oidc.clone(),
                Arc::clone(&ops),
                Arc::clone(&metrics),
            )
            .map_err(|e| ServeError::Setup(format!("OIDC sign-in: {e}")))?;
            s.check_teams().await;
            Some(Arc::new(s))
        };
        let dashboard_sso = if config.oidc.issuers.is_empty() {
            None
        } else {
            let s =
                crate::identity::dashboard::DashboardSignIn::new(&config.oidc, Arc::clone(&ops))
                    .map_err(|e| ServeError::Setup(format!("dashboard single sign-on: {e}")))?;
            Some(Arc::new(s))
        };
        let state = Arc::new(ProxyState {
            auth: Authenticator::new(Arc::clone(&snapshots.directory), &config.upstream.region),
            looks,
            upstream,
            prices: snapshots.prices,
            recorder,
            journal,
            intake: crate::proxy::intake::Intake::new(
                config.proxy.max_body_bytes,
                &config.proxy.limits,
            ),
            client_limits: config.proxy.limits.clone(),
            timeout: config.upstream.timeout,
            region: config.upstream.region.clone(),
            quota,
            ratelimit,
            policy: snapshots.policy,
            timezone: config.quota.timezone,
            metrics: Arc::clone(&metrics),
            default_max_output_tokens: config.quota.default_max_output_tokens,
            fallback_price: config
                .quota
                .fallback_price
                .map(|(i, o)| crate::store::Price {
                    model_id: "(fallback)".into(),
                    input_per_1k: i,
                    output_per_1k: o,
                    cache_read_per_1k: None,
                    cache_write_per_1k: None,
                }),
            access_log: config.log.access,
            sign_in,
        });
        let bound = (
            listeners.proxy.local_addr().ok(),
            listeners.admin.local_addr().ok(),
        );
        let stop = tasks.stop_signal(Stage::Listeners);
        tasks.spawn(
            "admin listener",
            Stage::Listeners,
            admin::run(
                listeners.admin,
                admin::AdminState {
                    store,
                    credentials,
                    ops: Arc::clone(&ops),
                    metrics,
                    sso: dashboard_sso,
                    public_url: config.admin.public_url.clone(),
                },
                stop.clone(),
                grace,
            ),
        );
        tasks.spawn(
            "proxy listener",
            Stage::Listeners,
            crate::proxy::run(listeners.proxy, tls, state, stop, grace),
        );
        super::startup::log_serving(&config, bound.0, bound.1);

        shutdown.await;
        tracing::info!("shutdown requested");
        tasks.shutdown().await;
        tracing::info!("bedrock-gate stopped; every request record is flushed");
        Ok(())
    }
}

/// Every [`RETURN_EVERY`], charges what an outage left owed to the ledger, renews this
/// proxy's quota leases and reclaims expired ones of others, gives back
/// quota capacity idle for [`IDLE_RETURN`], reports what was spent, and checks the limits
/// refused while other proxies held capacity (an automatic block follows once one is
/// spent), until
/// `stop` fires; a release under way finishes first (cut off, its units would stay
/// granted to nobody until the period ends). Holds the engine weakly, so it never keeps
/// the quota event channel open at shutdown, and ends once the engine is gone.
async fn return_idle_capacity(quota: Weak<QuotaEngine>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(RETURN_EVERY);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(quota) = quota.upgrade() else {
            return;
        };
        quota.reconcile_outage().await;
        quota.keep_leases().await;
        let idle = quota.take_idle(IDLE_RETURN, chrono::Utc::now());
        quota.release(idle).await;
        quota.check_watched(chrono::Utc::now()).await;
    }
}
