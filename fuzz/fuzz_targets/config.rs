//! Configuration: the gate policy, the notifier's and the service's configurations from
//! arbitrary TOML text. Each answers with a value or an error, never a panic; an error that
//! names a line names one the text has.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use procurize_fuzz::assert_line_exists;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = procurize_gate::Policy::from_toml(text, "policy.toml") {
        assert_line_exists(&e.to_string(), "policy.toml", text);
    }
    let notify =
        procurize_core::config::parse_toml::<procurize_notify::Config>(text, "notify.toml")
            .map_err(|e| e.to_string())
            .and_then(|config| {
                config
                    .resolve(Path::new("/nonexistent"), text, "notify.toml", "")
                    .map_err(|e| e.to_string())
            });
    if let Err(message) = notify {
        assert_line_exists(&message, "notify.toml", text);
    }
    if let Err(e) =
        procurize_server::Config::from_toml(text, "server.toml", Some(Path::new("/nonexistent")))
    {
        assert_line_exists(&e.to_string(), "server.toml", text);
    }
});
