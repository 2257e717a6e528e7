//! The whole verify path over arbitrary bytes: the zstd frame, the outer tar,
//! the manifest, the signatures, the policy, every payload and the checks of
//! the inner layers and VEX archives (nothing is written).
//!
//! The first byte chooses the form: even, the rest is a bundle file as it
//! is; odd, the rest is the tar stream inside, compressed here, so the
//! fuzzer works on the tar structure itself instead of on zstd's.
//!
//! Built with `--cfg fuzzing`, a signature by a trusted key id is accepted
//! without its Ed25519 check (see `keys::PublicKey::verify`), so the fuzzer
//! reaches the parsers behind the signature. `scripts/fuzz.sh` seeds it with
//! the bundles in `bundle-spec/vectors/` in both forms.
#![no_main]

use airlock::{keys::PublicKey, policy::TrustPolicy};
use libfuzzer_sys::fuzz_target;

const VECTOR_KEY: &str = include_str!("../../bundle-spec/vectors/vector.pub");

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else {
        return;
    };
    let key = PublicKey::from_text(VECTOR_KEY).expect("the vector key parses");
    let policy = TrustPolicy::any_of(vec![key]).expect("one key is a policy");
    if form % 2 == 0 {
        let _ = airlock::install::verify(rest, &policy);
    } else {
        let compressed = zstd::encode_all(rest, 1).expect("compressing in memory");
        let _ = airlock::install::verify(&compressed[..], &policy);
    }
});
