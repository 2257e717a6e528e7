//! Signature entries (SPEC.md section 4, R6) and the trust decision (R8).

use super::{fail, Verdict};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use blake2::{Blake2b512, Digest};
use ed25519_dalek::{Signature, VerifyingKey};

pub struct Sig {
    pub prehashed: bool,
    pub key_id: [u8; 8],
    pub sig: [u8; 64],
    pub trusted_comment: Vec<u8>,
    pub global: [u8; 64],
}

pub struct PublicKey {
    pub key_id: [u8; 8],
    pub key: VerifyingKey,
}

/// minisign prints the key id as the little-endian number in uppercase hex.
pub fn key_id_hex(id: &[u8; 8]) -> String {
    id.iter().rev().map(|b| format!("{b:02X}")).collect()
}

fn comment_ok(c: &[u8]) -> bool {
    c.len() <= 1024 && !c.iter().any(|&b| b == b'\n' || b == b'\r')
}

fn b64_ok(line: &[u8], len: usize) -> bool {
    line.len() == len
        && line
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

/// R6: the exact form of section 4 (grammar `sigfile`).
pub fn parse_entry(name: &str, data: &[u8]) -> Result<Sig, Verdict> {
    let bad = |why: &str| fail(3, &format!("R6: signature entry {name}: {why}"));
    if data.len() > 4096 {
        return Err(bad("larger than 4 KiB"));
    }
    if std::str::from_utf8(data).is_err() {
        return Err(bad("not UTF-8"));
    }
    if data.last() != Some(&b'\n') {
        return Err(bad("no final LF"));
    }
    let lines: Vec<&[u8]> = data[..data.len() - 1].split(|&b| b == b'\n').collect();
    if lines.len() != 4 {
        return Err(bad("not exactly four lines"));
    }
    let uc = lines[0]
        .strip_prefix(b"untrusted comment: ")
        .ok_or_else(|| bad("first line"))?;
    let tc = lines[2]
        .strip_prefix(b"trusted comment: ")
        .ok_or_else(|| bad("third line"))?;
    if !comment_ok(uc) || !comment_ok(tc) {
        return Err(bad("comment too long or with CR"));
    }
    // b64-74: 100 characters (74 bytes = 24 groups + 2 bytes: one "=").
    if !b64_ok(lines[1], 100) || !b64_ok(lines[3], 88) || !lines[3].ends_with(b"==") {
        return Err(bad("base64 line of the wrong form"));
    }
    let s = STANDARD.decode(lines[1]).map_err(|_| bad("base64"))?;
    let g = STANDARD.decode(lines[3]).map_err(|_| bad("base64"))?;
    if s.len() != 74 || g.len() != 64 {
        return Err(bad("decoded lengths"));
    }
    let prehashed = match &s[..2] {
        b"Ed" => false,
        b"ED" => true,
        _ => return Err(bad("algorithm not Ed or ED")),
    };
    let mut key_id = [0u8; 8];
    key_id.copy_from_slice(&s[2..10]);
    if name != format!("airlock/signatures/{}.minisig", key_id_hex(&key_id)) {
        return Err(bad("name does not match the key id"));
    }
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&s[10..]);
    let mut global = [0u8; 64];
    global.copy_from_slice(&g);
    Ok(Sig {
        prehashed,
        key_id,
        sig,
        trusted_comment: tc.to_vec(),
        global,
    })
}

/// A minisign public key file (read leniently: the base64 line after an
/// optional `untrusted comment:` line).
pub fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .ok_or("no key line")?;
    let b = STANDARD.decode(line).map_err(|e| e.to_string())?;
    if b.len() != 42 || &b[..2] != b"Ed" {
        return Err("not a minisign Ed25519 public key".into());
    }
    let mut key_id = [0u8; 8];
    key_id.copy_from_slice(&b[2..10]);
    let pk: [u8; 32] = b[10..42].try_into().unwrap();
    let key = VerifyingKey::from_bytes(&pk).map_err(|e| e.to_string())?;
    Ok(PublicKey { key_id, key })
}

/// R8 with one trusted key, threshold 1.
pub fn trust(manifest: &[u8], sigs: &[Sig], trusted: &[PublicKey]) -> Result<(), Verdict> {
    if trusted.is_empty() {
        return Err(fail(3, "R8: no trusted key (fail closed)"));
    }
    if sigs.is_empty() {
        return Err(fail(3, "R8: the bundle carries no signature"));
    }
    let mut valid: Vec<[u8; 32]> = Vec::new();
    for s in sigs {
        for k in trusted.iter().filter(|k| k.key_id == s.key_id) {
            let msg: Vec<u8> = if s.prehashed {
                Blake2b512::digest(manifest).to_vec()
            } else {
                manifest.to_vec()
            };
            let ok = k
                .key
                .verify_strict(&msg, &Signature::from_bytes(&s.sig))
                .is_ok()
                && {
                    let mut g = s.sig.to_vec();
                    g.extend_from_slice(&s.trusted_comment);
                    k.key
                        .verify_strict(&g, &Signature::from_bytes(&s.global))
                        .is_ok()
                };
            if !ok {
                return Err(fail(
                    3,
                    &format!("R8: signature by {} does not verify", key_id_hex(&s.key_id)),
                ));
            }
            let pk = k.key.to_bytes();
            if !valid.contains(&pk) {
                valid.push(pk);
            }
        }
    }
    if valid.is_empty() {
        return Err(fail(3, "R8: no signature by a trusted key"));
    }
    Ok(())
}
