//! The manifest parser and its validation: any bytes must give a manifest or
//! an error, never a panic; a manifest that validates must survive a round
//! trip through its TOML form.
//!
//! The same bytes, as text, are also put into each string field of a valid
//! manifest (the test vector's, `fuzz/seeds/good-manifest.toml`): whatever
//! a field holds, a manifest that validates holds one line of visible text
//! there, and a repository, tag or digest that passes the OCI grammar
//! (issue 11: strings that forge output lines, names that leave a registry
//! prefix).
#![no_main]

use airlock::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

const SEED: &str = include_str!("../seeds/good-manifest.toml");

fn strings(m: &mut Manifest) -> Vec<&mut String> {
    let mut out = vec![&mut m.created, &mut m.generator];
    for v in m.labels.values_mut() {
        out.push(v);
    }
    for a in &mut m.artifacts {
        out.extend([
            &mut a.source,
            &mut a.repository,
            &mut a.tag,
            &mut a.manifest_digest,
            &mut a.artifact_type,
            &mut a.layer.media_type,
            &mut a.layer.title,
        ]);
        if let Some(r) = a.reference.as_mut() {
            out.push(r);
        }
        if let Some(db) = a.database.as_mut() {
            out.extend([&mut db.updated_at, &mut db.next_update]);
        }
    }
    for v in &mut m.vex {
        out.extend([
            &mut v.source,
            &mut v.title,
            &mut v.original_location,
            &mut v.updated_at,
        ]);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data) {
        let _ = m.validate();
        if let Ok(text) = m.to_toml() {
            let again = Manifest::parse(text.as_bytes()).expect("a serialized manifest parses");
            assert_eq!(again.to_toml().expect("serializes again"), text);
        }
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let seed = Manifest::parse(SEED.as_bytes()).expect("the seed manifest is valid");
    let fields = strings(&mut seed.clone()).len();
    for i in 0..fields {
        let mut m = seed.clone();
        let original = strings(&mut m)[i].clone();
        *strings(&mut m)[i] = s.to_string();
        if m.validate().is_ok() && s != original {
            assert!(
                airlock::text::check_line(s, 4096).is_ok(),
                "field {i} accepted {s:?}"
            );
            if i >= 2 {
                // Every name a push uses passes the grammar.
                for a in &m.artifacts {
                    airlock::oci_name::check_repository(&a.repository).unwrap();
                    airlock::oci_name::check_tag(&a.tag).unwrap();
                }
            }
        }
    }
});
