//! Secrets from an environment variable or a file: one way to name and read them, for every
//! crate. A secret never comes from the command line or a configuration file itself.

use std::path::PathBuf;

use serde::Deserialize;

/// Where a secret comes from: an environment variable or a file (exactly one of them).
///
/// In a configuration file it is a table `{ env = "VAR" }` or `{ file = "path" }`, or a pair of
/// flat keys (`token_env` / `token_file`) that a crate turns into one with [`SecretSource::new`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// The environment variable holding it.
    #[serde(default)]
    pub env: Option<String>,
    /// The file holding it.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// Why a secret could not be read. It names the source (the variable, the file, the
/// configuration keys), never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(String);

impl SecretSource {
    /// A source from a configuration's two keys.
    pub fn new(env: Option<String>, file: Option<PathBuf>) -> Self {
        Self { env, file }
    }

    /// Whether either key is given (an optional secret that is absent is not an error).
    pub fn is_given(&self) -> bool {
        self.env.is_some() || self.file.is_some()
    }

    /// Reads the secret, for a table `{ env = … }` or `{ file = … }`.
    pub fn read(&self) -> Result<String, SecretError> {
        self.read_as(["env", "file"])
    }

    /// Reads the secret; `keys` are the configuration's names of the two fields
    /// (`["token_env", "token_file"]`), which the messages use. Surrounding whitespace (a
    /// file's final newline, a pasted space) is dropped. Giving both or neither, a variable
    /// that is not set, and a value that is empty are errors.
    pub fn read_as(&self, keys: [&str; 2]) -> Result<String, SecretError> {
        let [env_key, file_key] = keys;
        // The value, and what to say when it is empty.
        let (value, empty) = match (&self.env, &self.file) {
            (Some(variable), None) => {
                let source = format!("the environment variable {variable}");
                let value = std::env::var(variable).map_err(|e| {
                    let why = match e {
                        std::env::VarError::NotPresent => "is not set",
                        std::env::VarError::NotUnicode(_) => "is not UTF-8",
                    };
                    SecretError(format!("{source} {why} (`{env_key}`)"))
                })?;
                (value, format!("{source} is empty (`{env_key}`)"))
            }
            (None, Some(path)) => {
                let value = std::fs::read_to_string(path).map_err(|e| {
                    SecretError(format!("cannot read {file_key} {}: {e}", path.display()))
                })?;
                (value, format!("{file_key} {} is empty", path.display()))
            }
            (Some(_), Some(_)) => {
                return Err(SecretError(format!(
                    "give `{env_key}` or `{file_key}`, not both"
                )));
            }
            (None, None) => {
                return Err(SecretError(format!("give `{env_key}` or `{file_key}`")));
            }
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(SecretError(empty));
        }
        Ok(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_trimmed_and_an_empty_one_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "hunter2\n").expect("writes");
        let source = SecretSource::new(None, Some(path.clone()));
        assert_eq!(source.read().expect("reads"), "hunter2");
        std::fs::write(&path, " \n").expect("writes");
        let error = source
            .read_as(["token_env", "token_file"])
            .expect_err("empty");
        assert_eq!(
            error.to_string(),
            format!("token_file {} is empty", path.display())
        );
    }

    #[test]
    fn both_neither_and_a_missing_variable_are_refused_by_name() {
        let both = SecretSource::new(Some("A".into()), Some("b".into()));
        assert_eq!(
            both.read_as(["token_env", "token_file"])
                .expect_err("both")
                .to_string(),
            "give `token_env` or `token_file`, not both"
        );
        assert_eq!(
            SecretSource::default()
                .read()
                .expect_err("neither")
                .to_string(),
            "give `env` or `file`"
        );
        let missing = SecretSource::new(Some("PROCURIZE_TEST_SURELY_UNSET_3141".into()), None);
        assert_eq!(
            missing.read().expect_err("unset").to_string(),
            "the environment variable PROCURIZE_TEST_SURELY_UNSET_3141 is not set (`env`)"
        );
        assert!(!SecretSource::default().is_given());
    }
}
