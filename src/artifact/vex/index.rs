//! `index.json`: streamed, each package checked and dropped, its strings
//! bounded.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::file_set::FileSet;
use super::{VexError, MAX_INDEX_STRING};
use crate::manifest::check_relative_path;

/// Parses index.json from `file`, streaming: each package is checked (a
/// safe location, a document the archive holds) and dropped. Returns
/// `updated_at` and the number of packages.
pub(super) fn check_index(
    file: File,
    path: &str,
    files: &FileSet,
) -> Result<(Option<String>, u64), VexError> {
    let reader = BufReader::with_capacity(1 << 16, BoundedStrings::new(file, MAX_INDEX_STRING));
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut failure = None;
    let parsed = IndexSeed {
        path,
        files,
        failure: &mut failure,
    }
    .deserialize(&mut de)
    .and_then(|summary| de.end().map(|()| summary));
    parsed.map_err(|e| match failure {
        Some(refused) => refused,
        // Reading the temporary copy failed: the host's trouble, not the
        // archive's (an overlong string is InvalidData, the archive's).
        None if e.is_io() && e.io_error_kind() != Some(io::ErrorKind::InvalidData) => {
            VexError::Io(e.into())
        }
        None => VexError::Index {
            path: path.to_string(),
            reason: e.to_string(),
        },
    })
}

/// index.json's top-level object: `updated_at` kept, `packages` checked
/// one by one, anything else skipped unread.
struct IndexSeed<'a> {
    path: &'a str,
    files: &'a FileSet,
    /// Set when a package is refused (the parser's error then only says
    /// that it stopped).
    failure: &'a mut Option<VexError>,
}

impl<'de> DeserializeSeed<'de> for IndexSeed<'_> {
    type Value = (Option<String>, u64);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IndexSeed<'_> {
    type Value = (Option<String>, u64);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a VEX index object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut updated_at = None;
        let mut packages = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "updated_at" if updated_at.is_some() => {
                    return Err(de::Error::duplicate_field("updated_at"))
                }
                "updated_at" => updated_at = Some(map.next_value::<Option<String>>()?),
                "packages" if packages.is_some() => {
                    return Err(de::Error::duplicate_field("packages"))
                }
                "packages" => {
                    packages = Some(map.next_value_seed(PackagesSeed {
                        path: self.path,
                        files: self.files,
                        failure: &mut *self.failure,
                    })?)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let packages = packages.ok_or_else(|| de::Error::missing_field("packages"))?;
        Ok((updated_at.flatten(), packages))
    }
}

/// One entry of `packages` (other fields, such as `format`, are skipped).
#[derive(Deserialize)]
struct RawPackage {
    id: String,
    location: String,
}

/// The `packages` array, checked element by element; yields the count.
struct PackagesSeed<'a> {
    path: &'a str,
    files: &'a FileSet,
    failure: &'a mut Option<VexError>,
}

impl<'de> DeserializeSeed<'de> for PackagesSeed<'_> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PackagesSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of packages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0u64;
        // The last location found good (many packages may share a document).
        let mut last = String::new();
        while let Some(mut p) = seq.next_element::<RawPackage>()? {
            if n > 0 && p.location == last {
                n += 1;
                continue;
            }
            let location = p.location.strip_prefix("./").unwrap_or(&p.location);
            let refused = if check_relative_path(location).is_err() {
                Some(VexError::Index {
                    path: self.path.to_string(),
                    reason: format!(
                        "unsafe location {:?} for {:?}",
                        clip(&p.location),
                        clip(&p.id)
                    ),
                })
            } else if !self.files.contains(location) {
                Some(VexError::MissingDocument {
                    id: clip(&p.id),
                    location: clip(&p.location),
                })
            } else {
                None
            };
            if let Some(e) = refused {
                *self.failure = Some(e);
                return Err(de::Error::custom("package refused"));
            }
            std::mem::swap(&mut last, &mut p.location);
            n += 1;
        }
        Ok(n)
    }
}

/// At most 200 bytes of `s` (for messages).
fn clip(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

/// Refuses JSON text with a string longer than `max` bytes before a parser
/// sees all of it. serde_json reading from an `io::Read` collects every
/// string it hands over (keys, ids, locations) in a buffer first, so one
/// 200 MiB `id` would otherwise be held whole, whatever the visitor does
/// with it. Only the string boundaries are tracked (an unescaped `"` opens
/// or closes a string; a backslash escapes the next byte), which is all
/// JSON's grammar needs to find them; everything else is the parser's job
/// (which also says where it stopped).
pub(super) struct BoundedStrings<R> {
    inner: R,
    max: usize,
    /// Inside a string: bytes of it so far.
    run: Option<usize>,
    /// The previous byte was a backslash inside a string.
    escaped: bool,
}

impl<R: Read> BoundedStrings<R> {
    pub(super) fn new(inner: R, max: usize) -> Self {
        BoundedStrings {
            inner,
            max,
            run: None,
            escaped: false,
        }
    }

    fn too_long(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a string longer than {} bytes", self.max),
        )
    }
}

impl<R: Read> Read for BoundedStrings<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut i = 0;
        while i < n {
            let rest = &buf[i..n];
            let Some(run) = self.run else {
                match rest.iter().position(|&b| b == b'"') {
                    Some(k) => {
                        i += k + 1;
                        self.run = Some(0);
                    }
                    None => i = n,
                }
                continue;
            };
            // The bytes of the string in `rest`, and whether it ends there.
            let (k, closed) = if self.escaped {
                self.escaped = false;
                (1, false)
            } else {
                match rest.iter().position(|&b| b == b'"' || b == b'\\') {
                    Some(k) if rest[k] == b'"' => (k, true),
                    Some(k) => {
                        self.escaped = true;
                        (k + 1, false)
                    }
                    None => (rest.len(), false),
                }
            };
            if run + k > self.max {
                return Err(self.too_long());
            }
            self.run = (!closed).then_some(run + k);
            i += k + usize::from(closed);
        }
        Ok(n)
    }
}
