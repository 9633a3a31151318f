//! Every message kind rendered in both languages from realistic facts: checked for the
//! key facts in both parts, and written to `docs/emails/<lang>/<kind>.{html,txt}` so
//! that a person can look at them (the samples in the repository come from here).

use serde_json::{json, Value};

use super::format::Format;
use super::templates::{MailKind, Templates};
use crate::domain::Language;
use crate::domain::{DaySummary, ResetByHand, UsageSums};

fn sums(key: &str, calls: i64, tokens: i64, cost_usd: f64) -> UsageSums {
    UsageSums {
        key: key.into(),
        calls,
        tokens,
        cost_usd,
    }
}

/// A realistic day: two teams, three users (more than the email lists would be summed
/// in one row by the service layer), two models.
fn day_summary() -> DaySummary {
    DaySummary {
        day: "2026-11-26".into(),
        previous_day: "2026-11-25".into(),
        totals: sums("", 1_834, 4_120_551, 61.27),
        previous: sums("", 1_610, 3_980_000, 70.02),
        teams: vec![
            sums("research", 1_204, 3_001_200, 48.10),
            sums("ops", 630, 1_119_351, 13.17),
        ],
        users: vec![
            sums("carol", 972, 1_940_151, 24.50),
            sums("alice", 350, 1_200_400, 22.75),
            sums("bob", 512, 980_000, 14.02),
        ],
        models: vec![
            sums(
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                640,
                2_400_000,
                45.90,
            ),
            sums(
                "anthropic.claude-3-haiku-20240307-v1:0",
                1_194,
                1_720_551,
                15.37,
            ),
        ],
        blocked: vec!["alice".into()],
        unblocked: vec!["alice".into()],
    }
}

fn facts(kind: MailKind, f: &Format) -> Value {
    let admins = "ops@example.com";
    // 2026-11-28 00:00 CET.
    let reset = 1_795_820_400_000;
    let mut v = match kind {
        MailKind::Warning => {
            super::compose::warning_facts(f, "daily_requests", 80, 282, 350, "2026-11-27", reset)
        }
        MailKind::Blocked => json!({
            "manual": false,
            "reason": "The daily request limit of 350 for user alice is reached (350 requests used). It resets at 2026-11-28 00:00 CET.",
            "until": f.time(reset),
            "limit": "daily_requests",
            "by": "proxy:gate-1:4242",
        }),
        MailKind::Unblocked => json!({
            "by_reset": false,
            "reason": "deadline tomorrow",
            "protected_until": f.time(reset),
            "by": "cli:root",
        }),
        MailKind::BlockAlert => json!({
            "username": "alice",
            "person": "Alice Doe",
            "team": "research",
            "reason": "The daily request limit of 350 for user alice is reached (350 requests used). It resets at 2026-11-28 00:00 CET.",
            "until": f.time(reset),
            "limit": "daily_requests",
            "by": "proxy:gate-1:4242",
        }),
        MailKind::Summary => super::summary::facts(f, &day_summary(), admins),
        MailKind::ResetSummary => super::summary::by_hand_facts(
            f,
            &ResetByHand {
                // 2026-11-27 14:05 CET.
                at: reset - 35_700_000,
                so_far: DaySummary {
                    day: "2026-11-27".into(),
                    previous_day: "2026-11-26".into(),
                    totals: sums("", 912, 2_050_310, 30.41),
                    previous: sums("", 1_834, 4_120_551, 61.27),
                    teams: vec![
                        sums("research", 700, 1_640_000, 26.02),
                        sums("ops", 212, 410_310, 4.39),
                    ],
                    users: vec![
                        sums("alice", 350, 1_001_000, 17.80),
                        sums("carol", 350, 639_000, 8.22),
                        sums("bob", 212, 410_310, 4.39),
                    ],
                    models: vec![sums(
                        "anthropic.claude-3-haiku-20240307-v1:0",
                        912,
                        2_050_310,
                        30.41,
                    )],
                    blocked: vec!["alice".into(), "carol".into()],
                    unblocked: vec!["carol".into()],
                },
            },
            &["alice".to_string()],
            &[],
            "cli:root",
            admins,
        ),
        MailKind::SystemAlert => json!({
            "kind": "database_unreachable",
            "detail": "The database does not answer: pool timed out while waiting for an open connection",
            "source": "proxy:gate-1:4242",
            "at": f.time(reset - 3_600_000),
        }),
    };
    if let Value::Object(m) = &mut v {
        m.insert("person".into(), "Alice Doe".into());
        m.insert("username".into(), "alice".into());
        m.insert("contact".into(), admins.into());
        m.insert("admins".into(), admins.into());
    }
    v
}

/// A fact each kind must show in both parts, per language.
fn key_fact(kind: MailKind, language: Language) -> &'static str {
    match (kind, language) {
        (MailKind::Warning, Language::En) => "Resets at",
        (MailKind::Warning, Language::Es) => "Se renueva",
        (MailKind::Blocked, _) | (MailKind::BlockAlert, _) => "2026-11-28 00:00 CET",
        (MailKind::Unblocked, _) => "deadline tomorrow",
        (MailKind::Summary, Language::En) => "1,834",
        (MailKind::Summary, Language::Es) => "1.834",
        (MailKind::ResetSummary, Language::En) => "2026-11-27 14:05 CET",
        (MailKind::ResetSummary, Language::Es) => "2026 14:05 CET",
        (MailKind::SystemAlert, _) => "pool timed out",
    }
}

#[test]
fn every_kind_renders_in_both_languages_and_is_written_as_a_sample() {
    let templates = Templates::load().unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/emails");
    for language in Language::ALL {
        let f = Format {
            language: *language,
            tz: chrono_tz::Tz::CET,
        };
        let out = dir.join(language.as_str());
        std::fs::create_dir_all(&out).unwrap();
        for kind in MailKind::ALL {
            let m = templates.render(kind, *language, &facts(kind, &f)).unwrap();
            let fact = key_fact(kind, *language);
            assert!(!m.subject.is_empty() && !m.subject.contains('\n'), "{m:?}");
            assert!(m.text.contains(fact), "{kind:?} {language}: {}", m.text);
            assert!(m.html.contains(fact), "{kind:?} {language}: {}", m.html);
            assert!(m.html.contains("<title>") && m.html.contains(&format!("lang=\"{language}\"")));
            for part in [&m.subject, &m.text, &m.html] {
                assert!(!part.contains("{{") && !part.contains("{%"), "{part}");
            }
            let name = kind.name();
            std::fs::write(out.join(format!("{name}.html")), &m.html).unwrap();
            std::fs::write(
                out.join(format!("{name}.txt")),
                format!("Subject: {}\n\n{}", m.subject, m.text),
            )
            .unwrap();
        }
    }
}

#[test]
fn html_escapes_what_users_typed_and_text_keeps_it() {
    let templates = Templates::load().unwrap();
    let facts = json!({
        "manual": true, "reason": "<script>x</script> & co", "until": null,
        "limit": null, "by": "cli:root", "person": "A", "contact": "",
    });
    let m = templates
        .render(MailKind::Blocked, Language::En, &facts)
        .unwrap();
    assert!(
        m.html
            .contains("&lt;script&gt;x&lt;&#x2f;script&gt; &amp; co"),
        "{}",
        m.html
    );
    assert!(m.text.contains("<script>x</script> & co"));
    assert!(m.text.contains("further notice"));
}
