//! `vex-repository.json`: parsed with a bound on its values, and its
//! location split and rewritten.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{VexError, MAX_MANIFEST_VALUES, SPEC_VERSION};
use crate::manifest::check_relative_path;

#[derive(Deserialize)]
struct RawManifest {
    name: String,
    #[serde(default)]
    versions: Vec<RawVersion>,
}

#[derive(Deserialize)]
struct RawVersion {
    spec_version: String,
    #[serde(default)]
    locations: Vec<RawLocation>,
    #[serde(default)]
    update_interval: Option<String>,
}

#[derive(Deserialize)]
struct RawLocation {
    url: String,
}

/// What airlock needs from vex-repository.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoManifest {
    /// The `name` field.
    pub name: String,
    /// The first 0.1 location URL, as written.
    pub location: String,
    /// The folder the `//` suffix names ("" without one).
    pub subdir: String,
    /// The update interval, if any.
    pub update_interval: Option<String>,
}

/// Parses vex-repository.json.
pub fn parse_manifest(bytes: &[u8]) -> Result<RepoManifest, VexError> {
    count_values(bytes)?;
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| VexError::Manifest(e.to_string()))?;
    let Some(v) = raw.versions.iter().find(|v| v.spec_version == SPEC_VERSION) else {
        return Err(VexError::NoSpecVersion {
            found: raw
                .versions
                .iter()
                .map(|v| v.spec_version.clone())
                .collect(),
        });
    };
    let location = v
        .locations
        .first()
        .ok_or_else(|| VexError::Manifest("the 0.1 version lists no locations".into()))?
        .url
        .clone();
    let (_, subdir) = split_location(&location);
    if !subdir.is_empty() && check_relative_path(&subdir).is_err() {
        return Err(VexError::UnsafeLocation {
            url: crate::redact::url(&location).into_owned(),
        });
    }
    Ok(RepoManifest {
        name: raw.name,
        location,
        subdir,
        update_interval: v.update_interval.clone(),
    })
}

/// Splits go-getter's `url//subdir` (the `//` after the scheme's `://`; a
/// query string stays with the URL).
pub fn split_location(url: &str) -> (String, String) {
    let (base, query) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let start = base.find("://").map(|i| i + 3).unwrap_or(0);
    match base[start..].find("//") {
        Some(i) => {
            let cut = start + i;
            (
                format!("{}{query}", &base[..cut]),
                base[cut + 2..].trim_end_matches('/').to_string(),
            )
        }
        None => (url.to_string(), String::new()),
    }
}

/// vex-repository.json with every 0.1 location replaced by `url`, other
/// fields kept.
pub fn rewrite_location(bytes: &[u8], url: &str) -> Result<Vec<u8>, VexError> {
    // A `Value` tree costs up to ~700 bytes a value (an object's map node).
    count_values(bytes)?;
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| VexError::Manifest(e.to_string()))?;
    if let Some(versions) = value.get_mut("versions").and_then(|v| v.as_array_mut()) {
        for v in versions {
            if v.get("spec_version").and_then(|s| s.as_str()) == Some(SPEC_VERSION) {
                v["locations"] = serde_json::json!([{ "url": url }]);
            }
        }
    }
    let mut out =
        serde_json::to_vec_pretty(&value).map_err(|e| VexError::Manifest(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

/// Refuses vex-repository.json text of more than [`MAX_MANIFEST_VALUES`]
/// JSON values (or not JSON at all), counting without building anything.
fn count_values(bytes: &[u8]) -> Result<(), VexError> {
    let mut n = 0;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    CountValues { n: &mut n }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| VexError::Manifest(e.to_string()))
}

/// Counts the values of a JSON document (each object, array, string,
/// number, boolean and null counts one; keys do not), up to
/// [`MAX_MANIFEST_VALUES`].
struct CountValues<'a> {
    n: &'a mut u64,
}

impl CountValues<'_> {
    fn count<E: de::Error>(&mut self) -> Result<(), E> {
        *self.n += 1;
        if *self.n > MAX_MANIFEST_VALUES {
            return Err(E::custom(format_args!(
                "more than {MAX_MANIFEST_VALUES} JSON values"
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for CountValues<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CountValues<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<(), E> {
        self.count()
    }

    fn visit_i64<E: de::Error>(mut self, _: i64) -> Result<(), E> {
        self.count()
    }

    fn visit_u64<E: de::Error>(mut self, _: u64) -> Result<(), E> {
        self.count()
    }

    fn visit_f64<E: de::Error>(mut self, _: f64) -> Result<(), E> {
        self.count()
    }

    fn visit_str<E: de::Error>(mut self, _: &str) -> Result<(), E> {
        self.count()
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.count()
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.count()?;
        while seq
            .next_element_seed(CountValues { n: &mut *self.n })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.count()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(CountValues { n: &mut *self.n })?;
        }
        Ok(())
    }
}
