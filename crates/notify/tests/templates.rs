//! The default templates, rendered for every channel and event (snapshots), escaping per
//! channel, and broken user templates rejected at start-up with file and line.

use procurize_notify::event::sample;
use procurize_notify::{EventKind, NotifyError, Templates};

const PARTS: [(&str, &str); 6] = [
    ("email", "subject"),
    ("email", "text"),
    ("email", "html"),
    ("slack", "text"),
    ("jira", "summary"),
    ("jira", "description"),
];

#[test]
fn every_default_template_renders_for_every_event() {
    let templates = Templates::load(None).expect("defaults compile and render");
    for kind in EventKind::ALL {
        let event = sample(kind);
        for (channel, part) in PARTS {
            let text = templates.render(channel, part, &event).expect("render");
            insta::assert_snapshot!(format!("{channel}.{}.{part}", kind.as_str()), text);
        }
    }
}

#[test]
fn escaping_follows_the_channel() {
    let templates = Templates::load(None).expect("defaults");
    let event = sample(EventKind::GateFailed);
    let html = templates.render("email", "html", &event).expect("html");
    assert!(
        html.contains("会計ポータル &lt;Payments &amp; Co&gt;"),
        "{html}"
    );
    let slack = templates.render("slack", "text", &event).expect("slack");
    assert!(
        slack.contains("会計ポータル &lt;Payments &amp; Co&gt;"),
        "{slack}"
    );
    assert!(
        slack.contains("*The Procurize security gate failed*"),
        "mrkdwn is not escaped"
    );
    let text = templates.render("email", "text", &event).expect("text");
    assert!(text.contains("会計ポータル <Payments & Co>"), "{text}");
    let jira = templates
        .render("jira", "description", &event)
        .expect("jira");
    assert!(
        jira.contains("|Project|会計ポータル <Payments & Co>|"),
        "{jira}"
    );
}

#[test]
fn user_templates_override_by_name_and_broken_ones_are_named_with_their_line() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("slack")).expect("mkdir");
    std::fs::write(
        dir.path().join("slack/gate_failed.text.hbs"),
        "Gate failed for {{project}}!\n",
    )
    .expect("write");
    let templates = Templates::load(Some(dir.path())).expect("override");
    let text = templates
        .render("slack", "text", &sample(EventKind::GateFailed))
        .expect("render");
    assert_eq!(
        text,
        "Gate failed for 会計ポータル &lt;Payments &amp; Co&gt;!\n"
    );

    std::fs::write(
        dir.path().join("slack/gate_warned.text.hbs"),
        "line one\n{{#if project}}unclosed\n",
    )
    .expect("write");
    let err = Templates::load(Some(dir.path())).expect_err("broken");
    assert!(matches!(err, NotifyError::Template { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("slack/gate_warned.text.hbs:"), "{text}");

    std::fs::write(
        dir.path().join("slack/gate_warned.text.hbs"),
        "ok\n{{no_such_field}}\n",
    )
    .expect("write");
    let err = Templates::load(Some(dir.path())).expect_err("unknown field in strict mode");
    assert!(
        err.to_string().contains("slack/gate_warned.text.hbs:2"),
        "{err}"
    );

    std::fs::remove_file(dir.path().join("slack/gate_warned.text.hbs")).expect("rm");
    std::fs::write(dir.path().join("slack/gate_failled.text.hbs"), "typo\n").expect("write");
    let err = Templates::load(Some(dir.path())).expect_err("unknown name");
    assert!(
        err.to_string()
            .contains("`slack/gate_failled.text` is not a template name"),
        "{err}"
    );
}

#[test]
fn events_without_a_report_render_too() {
    // A missing report: no rating, count or report ID.
    let templates = Templates::load(None).expect("defaults");
    let mut event = sample(EventKind::GateFailed);
    event.rating = None;
    event.vulnerabilities = None;
    event.report_id = None;
    event.report_version = None;
    event.rule = Some("required_report".into());
    for (channel, part) in PARTS {
        let text = templates
            .render(channel, part, &event)
            .unwrap_or_else(|e| panic!("{channel}.{part}: {e}"));
        assert!(!text.is_empty());
    }
}

/// The notifications page's table of template variables names exactly the fields a template sees.
#[test]
fn the_docs_list_every_template_variable() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/notifications.md"
    ))
    .expect("docs/notifications.md");
    let table = readme
        .split("<!-- template-variables -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /template-variables -->").next())
        .expect("the page marks its table of template variables");
    let listed: std::collections::BTreeSet<String> = table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect();
    for kind in EventKind::ALL {
        let context = serde_json::to_value(sample(kind)).expect("the render context");
        let fields: std::collections::BTreeSet<String> = context
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(listed, fields, "{kind:?}");
    }
}
