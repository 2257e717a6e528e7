//! The manifest parser and its validation: any bytes must give a manifest or
//! an error, never a panic; a manifest that validates must survive a round
//! trip through its TOML form.
#![no_main]

use airlock::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data) {
        let _ = m.validate();
        if let Ok(text) = m.to_toml() {
            let again = Manifest::parse(text.as_bytes()).expect("a serialized manifest parses");
            assert_eq!(again.to_toml().expect("serializes again"), text);
        }
    }
});
