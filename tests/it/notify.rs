//! Email notifications against a real SMTP server (aiosmtpd, `tests/python/smtp_sink.py`):
//! each kind of message, in the user's language, with both parts, exactly once; three
//! proxies on one database still send each once; an SMTP server that is down delays
//! mail without touching a single call.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bedrock_gate::domain::{Actor, AuditOperation, EventKind, Language, Limits, LimitsUpdate};
use bedrock_gate::ops::blocking::BlockDuration;
use bedrock_gate::ops::users::CreateUser;
use common::smtp::{free_port, Mail, SmtpSink};
use common::{converse, shared_engine, Engine, Gate, GateOptions, TestUser};

const ADMIN: &str = "ops@example.com";

fn options(smtp_url: &str, engine: Engine, shared_db: Option<String>) -> GateOptions {
    let set = |k: &str, v: &str| (format!("BEDROCK_GATE_{k}"), v.to_string());
    GateOptions {
        engine,
        shared_db,
        overrides: vec![
            set("EMAIL__SMTP_URL", smtp_url),
            set("EMAIL__FROM", "gate@example.com"),
            set("EMAIL__ADMINS", &format!("[\"{ADMIN}\"]")),
            set("EMAIL__LANGUAGE", "es"),
            set("QUOTA__WARNING_THRESHOLDS", "[80, 90]"),
        ],
        ..Default::default()
    }
}

/// Creates a user with a daily request limit and a language, and a key the proxy knows.
async fn user(gate: &Gate, name: &str, language: Language, daily: i64) -> TestUser {
    let actor = Actor::system("test");
    if gate.ops.team_info("research").await.is_err() {
        gate.ops
            .create_team(&actor, "research", &LimitsUpdate::default())
            .await
            .unwrap();
    }
    gate.ops
        .create_user(
            &actor,
            &CreateUser {
                username: name.into(),
                person_name: format!("{name} person"),
                team: "research".into(),
                email: Some(format!("{name}@example.com")),
                language: Some(language),
                limits: LimitsUpdate::exactly(Limits {
                    daily_requests: Some(daily),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let key = gate.issue_key(name, "test-tool").await;
    TestUser {
        username: name.into(),
        key,
    }
}

fn to<'a>(mails: &'a [Mail], addr: &str) -> Vec<&'a Mail> {
    mails
        .iter()
        .filter(|m| m.rcpt.iter().any(|r| r == addr))
        .collect()
}

fn with<'a>(mails: &[&'a Mail], subject_part: &str) -> Vec<&'a Mail> {
    mails
        .iter()
        .copied()
        .filter(|m| m.subject.contains(subject_part))
        .collect()
}

/// Both parts present, as multipart/alternative, each saying `facts`.
fn check_parts(mail: &Mail, facts: &[&str]) {
    assert_eq!(mail.content_type, "multipart/alternative", "{mail:?}");
    assert!(mail.html.contains("<html"), "{mail:?}");
    for fact in facts {
        assert!(
            mail.text.contains(fact),
            "text lacks {fact:?}: {}",
            mail.text
        );
        assert!(
            mail.html.contains(fact),
            "html lacks {fact:?}: {}",
            mail.html
        );
    }
}

/// How many daily summaries should have gone out: one per `daily_summary` event that
/// `email_admins` handled (a proxy started in the first minutes after midnight queues
/// the day before's only once its records are in).
async fn summaries_due(gate: &Gate) -> usize {
    let resets: Vec<i64> = gate
        .store
        .events(Some(EventKind::DailySummary), 100)
        .await
        .unwrap()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap()["id"].as_i64().unwrap())
        .collect();
    let handled = gate.store.deliveries("email_admins").await.unwrap();
    handled.iter().filter(|d| resets.contains(&d.0)).count()
}

/// Waits until every event so far is delivered to both email subscribers.
async fn all_delivered(gate: &Gate) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let newest = gate
            .store
            .deliveries("log")
            .await
            .unwrap()
            .last()
            .unwrap()
            .0;
        let mut done = true;
        for s in ["email_users", "email_admins"] {
            let d = gate.store.deliveries(s).await.unwrap();
            done &= d.iter().any(|d| d.0 == newest) && d.iter().all(|d| d.3);
        }
        if done {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_mail_goes_out_once_in_the_users_language() {
    let sink = SmtpSink::start(free_port(), Some(("gate", "s3cret"))).await;
    let url = format!("smtp://gate:s3cret@127.0.0.1:{}", sink.port);
    let gate = Gate::start(options(&url, Engine::Sqlite, None)).await;
    let alice = user(&gate, "alice", Language::En, 10).await;
    let bob = user(&gate, "bob", Language::Es, 10).await;

    // Each crosses 80 %, 90 % and 100 % of a daily limit of 10.
    for u in [&alice, &bob] {
        let mut statuses = Vec::new();
        for _ in 0..12 {
            statuses.push(converse(&gate.url, &u.key.bearer_token).await.0);
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            10,
            "{statuses:?}"
        );
    }
    sink.wait_until(30, "warnings, blocks and alerts", |m| m.len() >= 8)
        .await;

    let actor = Actor::system("cli:root");
    gate.ops
        .unblock(&actor, "alice", Some("deadline tomorrow".into()))
        .await
        .unwrap();
    gate.ops
        .block(
            &actor,
            "bob",
            BlockDuration::Indefinite,
            Some("security review".into()),
        )
        .await
        .unwrap();
    sink.wait_until(30, "the unblock and the manual block", |m| m.len() >= 10)
        .await;
    gate.ops.reset_now(&actor).await.unwrap();
    sink.wait_until(30, "the reset's summary", |m| {
        m.iter()
            .filter(|m| m.subject.contains("Renovación manual"))
            .count()
            >= 1
            && m.len() >= 11
    })
    .await;
    all_delivered(&gate).await;

    let mails = sink.mails();
    assert!(mails.iter().all(|m| m.auth), "every session authenticated");
    let a = to(&mails, "alice@example.com");
    assert_eq!(a.len(), 4, "80 %, 90 %, blocked, unblocked: {a:#?}");
    let w80 = with(&a, "reached 80% of the daily request limit");
    assert_eq!(w80.len(), 1, "{a:#?}");
    check_parts(w80[0], &["alice person", "Resets at", "of 10"]);
    assert_eq!(with(&a, "reached 90% of the daily request limit").len(), 1);
    let blocked = with(&a, "paused: daily request limit reached");
    assert_eq!(blocked.len(), 1, "{a:#?}");
    check_parts(blocked[0], &["The daily request limit of 10", ADMIN]);
    let unblocked = with(&a, "Your Bedrock access is back");
    assert_eq!(unblocked.len(), 1);
    check_parts(
        unblocked[0],
        &["cli:root", "deadline tomorrow", "exempt from limits until"],
    );

    let b = to(&mails, "bob@example.com");
    assert_eq!(b.len(), 4, "80 %, 90 %, blocked, blocked by hand: {b:#?}");
    let w = with(&b, "Has alcanzado el 80 % del límite diario de peticiones");
    assert_eq!(w.len(), 1, "{b:#?}");
    check_parts(w[0], &["Hola, bob person", "Se renueva", "de 10"]);
    assert_eq!(with(&b, "alcanzado el 90 %").len(), 1);
    assert_eq!(
        with(&b, "en pausa: límite diario de peticiones alcanzado").len(),
        1
    );
    let manual = with(&b, "Un administrador ha bloqueado tu acceso");
    assert_eq!(manual.len(), 1, "{b:#?}");
    check_parts(manual[0], &["security review", "cli:root", "nuevo aviso"]);

    let admins = to(&mails, ADMIN);
    let due = summaries_due(&gate).await;
    assert!(due <= 1, "one summary of yesterday at most");
    assert_eq!(
        admins.len(),
        2 + due + 1,
        "two block alerts, yesterday's summary, the reset's: {admins:#?}"
    );
    let alert = with(&admins, "alice bloqueado automáticamente");
    assert_eq!(alert.len(), 1, "{admins:#?}");
    check_parts(
        alert[0],
        &[
            "alice person",
            "research",
            "bedrock-gate user unblock alice",
        ],
    );
    assert_eq!(with(&admins, "bob bloqueado automáticamente").len(), 1);
    let summary = with(&admins, "Resumen diario");
    assert_eq!(summary.len(), due);
    if let Some(summary) = summary.first() {
        check_parts(summary, &["Por equipo", "Modelos más usados"]);
    }
    let reset = with(&admins, "Renovación manual");
    assert_eq!(reset.len(), 1, "{admins:#?}");
    assert!(
        reset[0].subject.contains("resumen de hoy hasta ahora"),
        "{}",
        reset[0].subject
    );
    check_parts(reset[0], &["Por equipo", "alice"]);
    for line in [
        "Bloqueados hoy antes de la renovación: alice, bob",
        "Protección terminada por esta renovación: alice",
    ] {
        assert!(reset[0].text.contains(line), "{line}: {}", reset[0].text);
    }

    // The audit rows say the users' mails went out.
    for name in ["alice", "bob"] {
        let rows = gate.store.audit(Some(name), 10).await.unwrap();
        assert!(!rows.is_empty());
        // Rows of blocks and unblocks record the mail; protection ending at the reset
        // mails nobody and stays undecided.
        for r in &rows {
            let mailed = matches!(
                r.operation,
                AuditOperation::AutoBlock | AuditOperation::Block | AuditOperation::Unblock
            );
            assert_eq!(r.email_sent, mailed.then_some(true), "{r:?}");
        }
        assert!(rows
            .iter()
            .any(|r| r.operation == AuditOperation::AutoBlock));
    }
    gate.stop().await;
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_proxies_send_each_mail_once_even_after_a_restart() {
    let sink = SmtpSink::start(free_port(), None).await;
    let first = Gate::start(options(&sink.url(), shared_engine(), None)).await;
    let mut others = Vec::new();
    for _ in 0..2 {
        others.push(Gate::start(options(&sink.url(), Engine::Sqlite, Some(first.db_url()))).await);
    }
    let carol = user(&first, "carol", Language::En, 20).await;
    for g in &others {
        g.wait_key_known(&carol.key.bearer_token, true).await;
    }
    let urls: Vec<String> = std::iter::once(&first)
        .chain(others.iter())
        .map(|g| g.url.clone())
        .collect();
    let token = Arc::new(carol.key.bearer_token.clone());
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let url = urls[i % urls.len()].clone();
        let token = Arc::clone(&token);
        set.spawn(async move { converse(&url, &token).await.0 });
    }
    let mut ok = 0;
    while let Some(s) = set.join_next().await {
        ok += usize::from(s.unwrap() == 200);
    }
    assert_eq!(ok, 20);
    sink.wait_until(30, "two warnings, the block and the alert", |m| {
        m.len() >= 4
    })
    .await;
    all_delivered(&first).await;

    // A proxy restarts on the same database: nothing goes out again.
    let restarted = others.pop().unwrap();
    restarted.stop().await;
    let again = Gate::start(options(&sink.url(), Engine::Sqlite, Some(first.db_url()))).await;
    all_delivered(&first).await;

    let mails = sink.mails();
    let c = to(&mails, "carol@example.com");
    assert_eq!(with(&c, "reached 80%").len(), 1, "{c:#?}");
    assert_eq!(with(&c, "reached 90%").len(), 1, "{c:#?}");
    assert_eq!(with(&c, "paused").len(), 1, "{c:#?}");
    assert_eq!(c.len(), 3, "{c:#?}");
    let admins = to(&mails, ADMIN);
    assert_eq!(with(&admins, "carol bloqueado").len(), 1, "{admins:#?}");
    assert_eq!(
        admins.len(),
        1 + summaries_due(&first).await,
        "one alert, and the summary of a reset handled: {admins:#?}"
    );
    again.stop().await;
    for g in others {
        g.stop().await;
    }
    first.stop().await;
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_delays_mail_without_touching_calls() {
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let gate = Gate::start(options(&url, Engine::Sqlite, None)).await;
    let dave = user(&gate, "dave", Language::En, 3).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(converse(&gate.url, &dave.key.bearer_token).await.0);
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s != 200), "{statuses:?}");

    // The block mail was tried and failed (nothing listens yet).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = gate.store.deliveries("email_users").await.unwrap();
        if d.iter().any(|d| d.2 >= 1 && !d.3) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed try: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = gate.store.audit(Some("dave"), 1).await.unwrap();
    assert_eq!(row[0].email_sent, None, "not decided while retrying");

    // The server comes up: the mail goes out on a retry, once.
    let sink = SmtpSink::start(port, None).await;
    sink.wait_until(90, "the delayed block mail", |m| {
        m.iter().any(|m| m.subject.contains("paused"))
    })
    .await;
    all_delivered(&gate).await;
    let mails = sink.mails();
    assert_eq!(with(&to(&mails, "dave@example.com"), "paused").len(), 1);
    let row = gate.store.audit(Some("dave"), 1).await.unwrap();
    assert_eq!(row[0].email_sent, Some(true));
    gate.stop().await;
    sink.stop().await;
}
