//! `procurize keygen`: a key pair for signing evidence bundles.

use procurize_archive::{Algorithm, SigningKey, write_key_pair};

use crate::Exit;
use crate::args::{Global, KeygenArgs};

pub(crate) fn run(global: &Global, args: &KeygenArgs) -> anyhow::Result<Exit> {
    let algorithm: Algorithm = args.algorithm.parse()?;
    let key = SigningKey::generate(algorithm)?;
    let (private, public) = write_key_pair(&key, &args.out)?;
    if !global.quiet {
        eprintln!(
            "Wrote {} (keep it secret) and {} ({} key {})",
            private.display(),
            public.display(),
            algorithm.as_str(),
            key.public_key().key_id()
        );
    }
    Ok(Exit::Success)
}
