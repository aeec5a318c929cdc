//! Message templates: handlebars, strict, escaped per channel. Embedded defaults for every
//! channel, event and part; a user folder overrides any of them by name
//! (`<channel>/<event>.<part>.hbs`). Every template is compiled and rendered against a sample
//! event at start-up, so a broken one is a configuration error naming its file and line.

use std::collections::BTreeMap;
use std::path::Path;

use handlebars::Handlebars;

use crate::NotifyError;
use crate::event::{Event, EventKind, sample};

/// How a part is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// Plain text (e-mail text and subject, Jira wiki markup): nothing escaped.
    None,
    /// HTML (e-mail HTML part).
    Html,
    /// Slack mrkdwn: only `&`, `<` and `>`.
    Slack,
}

/// Every template: (channel, part, escaping).
const PARTS: [(&str, &str, Escape); 6] = [
    ("email", "subject", Escape::None),
    ("email", "text", Escape::None),
    ("email", "html", Escape::Html),
    ("slack", "text", Escape::Slack),
    ("jira", "summary", Escape::None),
    ("jira", "description", Escape::None),
];

macro_rules! defaults {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name, ".hbs")))),*]
    };
}

/// The embedded default templates, by name.
const DEFAULTS: &[(&str, &str)] = defaults![
    "email/gate_failed.subject",
    "email/gate_failed.text",
    "email/gate_failed.html",
    "email/gate_warned.subject",
    "email/gate_warned.text",
    "email/gate_warned.html",
    "email/report_published.subject",
    "email/report_published.text",
    "email/report_published.html",
    "slack/gate_failed.text",
    "slack/gate_warned.text",
    "slack/report_published.text",
    "jira/gate_failed.summary",
    "jira/gate_warned.summary",
    "jira/report_published.summary",
    "jira/gate_failed.description",
    "jira/gate_warned.description",
    "jira/report_published.description",
];

fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The compiled templates.
pub struct Templates {
    registries: BTreeMap<&'static str, Handlebars<'static>>,
    /// Where each template came from, for error messages.
    origins: BTreeMap<String, String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("templates", &self.origins.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn registry(escape: Escape) -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    match escape {
        Escape::None => registry.register_escape_fn(handlebars::no_escape),
        Escape::Html => registry.register_escape_fn(handlebars::html_escape),
        Escape::Slack => registry.register_escape_fn(slack_escape),
    }
    registry
}

fn escape_kind(escape: Escape) -> &'static str {
    match escape {
        Escape::None => "plain",
        Escape::Html => "html",
        Escape::Slack => "slack",
    }
}

impl Templates {
    /// The embedded defaults, overridden by `<folder>/<channel>/<event>.<part>.hbs` files.
    pub fn load(folder: Option<&Path>) -> Result<Self, NotifyError> {
        let mut sources: BTreeMap<String, (String, String)> = DEFAULTS
            .iter()
            .map(|(name, text)| {
                (
                    (*name).to_owned(),
                    ((*text).to_owned(), format!("(default) {name}.hbs")),
                )
            })
            .collect();
        if let Some(folder) = folder {
            for (name, path) in user_templates(folder)? {
                if !sources.contains_key(&name) {
                    return Err(NotifyError::Template {
                        file: path.clone(),
                        line: None,
                        message: format!(
                            "`{name}` is not a template name; expected <channel>/<event>.<part>.hbs such as email/gate_failed.subject.hbs"
                        ),
                    });
                }
                let text = std::fs::read_to_string(&path).map_err(|e| NotifyError::Template {
                    file: path.clone(),
                    line: None,
                    message: format!("cannot be read: {e}"),
                })?;
                sources.insert(name, (text, path));
            }
        }
        let mut registries: BTreeMap<&'static str, Handlebars<'static>> = BTreeMap::new();
        let mut origins = BTreeMap::new();
        for (name, (text, origin)) in sources {
            let part = name.rsplit('.').next().unwrap_or_default();
            let channel = name.split('/').next().unwrap_or_default();
            let escape = PARTS
                .iter()
                .find(|(c, p, _)| *c == channel && *p == part)
                .map_or(Escape::None, |(_, _, e)| *e);
            let registry = registries
                .entry(escape_kind(escape))
                .or_insert_with(|| registry(escape));
            registry
                .register_template_string(&name, text)
                .map_err(|e| NotifyError::Template {
                    file: origin.clone(),
                    line: e.pos().map(|(line, _)| line),
                    message: e.reason().to_string(),
                })?;
            origins.insert(name, origin);
        }
        let templates = Self {
            registries,
            origins,
        };
        templates.check()?;
        Ok(templates)
    }

    /// Renders every template against a sample event of its kind.
    fn check(&self) -> Result<(), NotifyError> {
        for kind in EventKind::ALL {
            let event = sample(kind);
            for (channel, part, _) in PARTS {
                self.render(channel, part, &event)?;
            }
        }
        Ok(())
    }

    /// Renders `<channel>/<event kind>.<part>` for `event`.
    pub fn render(&self, channel: &str, part: &str, event: &Event) -> Result<String, NotifyError> {
        let name = format!("{channel}/{}.{part}", event.kind.as_str());
        let escape = PARTS
            .iter()
            .find(|(c, p, _)| *c == channel && *p == part)
            .map_or(Escape::None, |(_, _, e)| *e);
        let registry = self
            .registries
            .get(escape_kind(escape))
            .ok_or_else(|| NotifyError::Config(format!("no template {name}")))?;
        registry
            .render(&name, event)
            .map_err(|e| NotifyError::Template {
                file: self.origins.get(&name).cloned().unwrap_or(name.clone()),
                line: e.line_no,
                message: e.reason().to_string(),
            })
    }

    /// The names of every template, with where each came from.
    pub fn names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.origins.iter().map(|(n, o)| (n.as_str(), o.as_str()))
    }
}

/// `<folder>/<channel>/<name>.hbs` files, as template names.
fn user_templates(folder: &Path) -> Result<Vec<(String, String)>, NotifyError> {
    let mut found = Vec::new();
    let read = |dir: &Path| {
        std::fs::read_dir(dir).map_err(|e| {
            NotifyError::Config(format!(
                "cannot read the templates folder {}: {e}",
                dir.display()
            ))
        })
    };
    for channel in read(folder)? {
        let channel = channel.map_err(|e| NotifyError::Config(e.to_string()))?;
        if !channel.path().is_dir() {
            continue;
        }
        for file in read(&channel.path())? {
            let path = file.map_err(|e| NotifyError::Config(e.to_string()))?.path();
            let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".hbs"))
            else {
                continue;
            };
            let name = format!("{}/{stem}", channel.file_name().to_string_lossy());
            found.push((name, path.display().to_string()));
        }
    }
    found.sort();
    Ok(found)
}
