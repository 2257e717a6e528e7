//! Human-readable reports.

use std::path::Path;

use airlock::bundle::reader::Verified;
use airlock::export::ExportReport;
use airlock::install::ImportReport;
use airlock::keys::Signature;
use airlock::manifest::Manifest;
use airlock::policy::SignerReport;

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn contents(m: &Manifest) {
    for a in &m.artifacts {
        println!(
            "  {:<9} {} ({}) layer {}",
            a.kind.to_string(),
            a.layer.title,
            bytes(a.layer.size),
            a.layer.digest
        );
        if let Some(db) = &a.database {
            println!(
                "            schema {}  UpdatedAt {}  NextUpdate {}",
                db.schema_version, db.updated_at, db.next_update
            );
            println!(
                "            {} {} sha256 {}",
                db.file,
                bytes(db.size),
                db.sha256
            );
        }
        if let Some(c) = &a.checks {
            println!(
                "            checks major {}  version {}",
                c.major_version,
                c.version.as_deref().unwrap_or("(not recorded)")
            );
        }
        println!(
            "            manifest {}  from {}",
            a.manifest_digest, a.source
        );
    }
    for v in &m.vex {
        println!(
            "  vex       {:?} ({}) {} archive, folder {:?}, {} packages, updated_at {}",
            v.name,
            v.title,
            v.archive_format,
            v.subdir,
            v.packages,
            if v.updated_at.is_empty() {
                "-"
            } else {
                &v.updated_at
            }
        );
        println!("            from {}", v.source);
    }
}

fn labels(m: &Manifest) {
    if !m.labels.is_empty() {
        let l: Vec<String> = m.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("labels: {}", l.join(", "));
    }
}

pub fn export(r: &ExportReport) {
    println!(
        "wrote {} ({}, sha256 {})",
        r.output.display(),
        bytes(r.size),
        r.sha256
    );
    println!(
        "manifest sha256 {}, signed by key {}",
        r.manifest_sha256,
        r.signed_by.join(", key ")
    );
    labels(&r.manifest);
    contents(&r.manifest);
}

fn signers(s: &[SignerReport]) {
    for r in s {
        let status = match (r.trusted, r.verified) {
            (true, true) => "valid, trusted key",
            (true, false) => "INVALID",
            (false, _) => "key not trusted here, not counted",
        };
        println!(
            "  key {}: {status}; trusted comment: {}",
            r.key_id, r.trusted_comment
        );
    }
}

pub fn verified(path: &Path, v: &Verified) {
    println!(
        "OK: {} verified: every signature and all {} payloads check out",
        path.display(),
        v.manifest.payloads.len()
    );
    println!(
        "manifest sha256 {}, created {}",
        v.manifest_sha256, v.manifest.created
    );
    signers(&v.signers);
    labels(&v.manifest);
    contents(&v.manifest);
}

pub fn inspect(
    path: &Path,
    size: u64,
    sha: &str,
    m: &Manifest,
    sigs: &[Signature],
    judged: Option<&[SignerReport]>,
) {
    println!("bundle:   {} ({})", path.display(), bytes(size));
    println!(
        "format:   {} {}, created {}, by {}",
        m.format, m.format_version, m.created, m.generator
    );
    println!("manifest: sha256 {sha}");
    labels(m);
    match judged {
        Some(j) => {
            println!("signatures (checked against the given keys):");
            signers(j);
        }
        None => {
            println!(
                "signatures (NOT checked: pass --key to check them; this listing is unverified):"
            );
            for s in sigs {
                println!(
                    "  key {}: trusted comment: {}",
                    s.key_id(),
                    s.trusted_comment()
                );
            }
        }
    }
    println!("contents:");
    contents(m);
    let total: u64 = m.payloads.iter().map(|p| p.size).sum();
    println!("payloads: {} entries, {}", m.payloads.len(), bytes(total));
}

pub fn imported(r: &ImportReport) {
    println!(
        "verified bundle (manifest sha256 {}, created {})",
        r.manifest_sha256, r.created
    );
    signers(&r.signers);
    labels_map(&r.labels);
    println!("installed into {}:", r.cache_dir.display());
    for c in &r.components {
        let verb = if c.replaced { "replaced" } else { "new" };
        match (&c.schema_version, &c.updated_at, &c.next_update) {
            (Some(s), Some(u), Some(n)) => println!(
                "  {:<9} {} ({verb}): schema {s}, UpdatedAt {u}, NextUpdate {n}",
                c.kind.to_string(),
                c.path.display()
            ),
            _ => println!("  {:<9} {} ({verb})", c.kind.to_string(), c.path.display()),
        }
    }
    for v in &r.vex {
        let verb = if v.replaced { "replaced" } else { "new" };
        println!(
            "  vex       {} ({verb}): {} packages",
            v.cache_path.display(),
            v.packages
        );
        if let Some(d) = &v.static_dir {
            println!(
                "            static repository {} served as {}",
                d.display(),
                v.repository_url
            );
        }
    }
    println!();
    println!("Scan with this cache (no network needed):");
    println!("  trivy image {} <image>", r.trivy_flags.join(" "));
    if let Some(yaml) = &r.repository_yaml {
        println!();
        println!("VEX: Trivy reads repository.yaml from $XDG_DATA_HOME/.trivy/vex/ (else ~/.trivy/vex/);");
        println!("a repository named \"default\" works without one. Entries for this import:");
        for line in yaml.lines() {
            println!("  {line}");
        }
    }
}

fn labels_map(l: &std::collections::BTreeMap<String, String>) {
    if !l.is_empty() {
        let v: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("labels: {}", v.join(", "));
    }
}
