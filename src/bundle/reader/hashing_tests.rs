//! A payload is checked the same whether its SHA-256 runs on this thread
//! (short payloads) or on a second one (layers, issue 12): the mismatch is
//! the error of the read that delivers the last byte, and a visitor that
//! stops early still has the rest drained and checked.

use std::io::{self, Cursor, Read};

use super::entries::visit_payload;
use super::*;
use crate::digest::BACKGROUND_MIN;
use crate::manifest::{Payload, PayloadPath};
use crate::testing::Keep;

/// Both sides of the threshold.
const SIZES: [usize; 2] = [100_000, BACKGROUND_MIN as usize + 3 * 65_536 + 17];

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + i / 4099) as u8).collect()
}

fn listed(bytes: &[u8]) -> Payload {
    Payload {
        path: PayloadPath::new("oci/blobs/x").expect("a path"),
        size: bytes.len() as u64,
        sha256: Sha256Digest::of(bytes),
    }
}

fn visit(entry: &[u8], payload: &Payload, visitor: &mut Keep) -> Result<(), ReadError<io::Error>> {
    let region = format!("payload {}", payload.path);
    visit_payload(&mut Cursor::new(entry), payload, &region, visitor)
}

#[test]
fn intact_payloads_reach_the_visitor_whole() {
    for len in SIZES {
        let bytes = data(len);
        let mut kept = Keep::default();
        visit(&bytes, &listed(&bytes), &mut kept).expect("intact");
        assert_eq!(kept.payloads[0].1, bytes, "{len} bytes");
    }
}

#[test]
fn an_altered_byte_fails_the_read_of_the_last_byte_with_both_digests() {
    for len in SIZES {
        let bytes = data(len);
        let payload = listed(&bytes);
        let mut altered = bytes.clone();
        altered[len / 2] ^= 1;
        let err = visit(&altered, &payload, &mut Keep::default()).unwrap_err();
        let ReadError::Bundle(e @ BundleError::DigestMismatch { .. }) = err else {
            panic!("{len} bytes: {err:?}");
        };
        assert_eq!(
            e.to_string(),
            format!(
                "payload oci/blobs/x is damaged or was altered: sha256 {}, the signed manifest says {}",
                Sha256Digest::of(&altered),
                payload.sha256
            )
        );
        // A consumer reading in large blocks: every read but the last
        // succeeds, the last is the mismatch, never a clean end.
        let mut last = None;
        let visited = visit_payload(
            &mut Cursor::new(&altered),
            &payload,
            "payload oci/blobs/x",
            &mut ReadsAll(&mut last),
        );
        assert!(matches!(
            visited,
            Err(ReadError::Bundle(BundleError::DigestMismatch { .. }))
        ));
        assert_eq!(last, Some((len as u64, io::ErrorKind::InvalidData)));
    }
}

#[test]
fn a_visitor_that_stops_early_still_has_the_rest_checked() {
    for len in SIZES {
        let bytes = data(len);
        let payload = listed(&bytes);
        let region = "payload oci/blobs/x";
        // Intact: the visitor's own error is reported.
        let r = visit_payload(&mut Cursor::new(&bytes), &payload, region, &mut StopsEarly);
        assert!(matches!(r, Err(ReadError::Visitor(_))), "{len}: {r:?}");
        // Altered after where it stopped: the mismatch is named instead.
        let mut altered = bytes.clone();
        altered[len - 1] ^= 1;
        let r = visit_payload(
            &mut Cursor::new(&altered),
            &payload,
            region,
            &mut StopsEarly,
        );
        assert!(
            matches!(
                r,
                Err(ReadError::Bundle(BundleError::DigestMismatch { .. }))
            ),
            "{len}: {r:?}"
        );
        // Cut short: truncated, whichever hasher ran.
        let r = visit(&bytes[..len - 1], &payload, &mut Keep::default());
        assert!(
            matches!(r, Err(ReadError::Bundle(BundleError::Truncated { .. }))),
            "{len}: {r:?}"
        );
    }
}

/// Reads in 64 KiB blocks to the end, noting where the first error came.
struct ReadsAll<'a>(&'a mut Option<(u64, io::ErrorKind)>);

impl PayloadVisitor for ReadsAll<'_> {
    type Error = io::Error;
    fn start(&mut self, _: &Verified) -> Result<(), io::Error> {
        Ok(())
    }
    fn payload(&mut self, _: &Payload, data: &mut PayloadReader<'_>) -> Result<(), io::Error> {
        let mut buf = vec![0u8; 65_536];
        loop {
            match data.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => {
                    // The position counts the bytes of the failing read.
                    *self.0 = Some((data.position(), e.kind()));
                    return Err(e);
                }
            }
        }
    }
}

/// Reads 1000 bytes, then gives up with its own error.
struct StopsEarly;

impl PayloadVisitor for StopsEarly {
    type Error = io::Error;
    fn start(&mut self, _: &Verified) -> Result<(), io::Error> {
        Ok(())
    }
    fn payload(&mut self, _: &Payload, data: &mut PayloadReader<'_>) -> Result<(), io::Error> {
        data.read_exact(&mut [0u8; 1000])?;
        Err(io::Error::other("the visitor gave up"))
    }
}
