//! The codec's figures on real files (not run by default):
//!
//! ```text
//! AIRLOCK_DELTA_BASE=old.db AIRLOCK_DELTA_NEW=new.db [AIRLOCK_DELTA_CHUNK_MIB=64] \
//!   [AIRLOCK_DELTA_MAX_REF_MIB=1984] cargo test --lib delta::measure_tests -- --ignored --nocapture
//! ```
//!
//! Prints the delta's size against the new file's, and for encode and
//! apply the wall and CPU time and the peak resident memory, anonymous
//! (heap) and file-backed (maps) apart, sampled every 2 ms.

use std::fs::File;
use std::io::BufWriter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::*;

/// Peak `RssAnon` and `RssFile` (KiB) of this process while `f` runs.
fn measured<T>(f: impl FnOnce() -> T) -> (T, f64, f64, u64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let sampler = std::thread::spawn(move || {
        let (mut anon, mut file) = (0u64, 0u64);
        while !s.load(Ordering::Relaxed) {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            for line in status.lines() {
                let kib = |l: &str| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0)
                };
                if line.starts_with("RssAnon:") {
                    anon = anon.max(kib(line));
                } else if line.starts_with("RssFile:") {
                    file = file.max(kib(line));
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        (anon, file)
    });
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    let out = f();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    stop.store(true, Ordering::Relaxed);
    let (anon, file) = sampler.join().unwrap();
    (out, wall, cpu, anon, file)
}

/// This process's user + system time, from /proc (at 100 ticks a second).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[test]
#[ignore = "needs AIRLOCK_DELTA_BASE and AIRLOCK_DELTA_NEW"]
fn codec_figures() {
    let env = |k: &str| std::env::var(k).ok();
    let (Some(base), Some(new)) = (env("AIRLOCK_DELTA_BASE"), env("AIRLOCK_DELTA_NEW")) else {
        panic!("set AIRLOCK_DELTA_BASE and AIRLOCK_DELTA_NEW");
    };
    let mib = |k: &str, d: u64| {
        env(k)
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(d, |v| v << 20)
    };
    let opts = EncodeOptions {
        chunk_len: mib("AIRLOCK_DELTA_CHUNK_MIB", DEFAULT_CHUNK),
        max_ref: mib(
            "AIRLOCK_DELTA_MAX_REF_MIB",
            EncodeOptions::default().max_ref,
        ),
        level: env("AIRLOCK_DELTA_LEVEL").map_or(3, |v| v.parse().unwrap()),
        hash_log: env("AIRLOCK_DELTA_HASH_LOG").map_or(0, |v| v.parse().unwrap()),
        ldm_min_match: env("AIRLOCK_DELTA_LDM_MIN").map_or(0, |v| v.parse().unwrap()),
    };
    println!("{opts:?}");
    let dir = tempfile::tempdir_in(std::path::Path::new(&new).parent().unwrap()).unwrap();
    let (delta_path, out_path) = (dir.path().join("delta"), dir.path().join("out"));
    let (s, wall, cpu, anon, file) = measured(|| {
        let mut out = BufWriter::new(File::create(&delta_path).unwrap());
        encode(base.as_ref(), new.as_ref(), &mut out, &opts).unwrap()
    });
    println!(
        "chunk {} MiB, max_ref {} MiB: new {} bytes, delta {} bytes = {:.3} % in {} frames",
        opts.chunk_len >> 20,
        opts.max_ref >> 20,
        s.new_len,
        s.delta_len,
        s.delta_len as f64 * 100.0 / s.new_len.max(1) as f64,
        s.frames
    );
    println!(
        "encode: {wall:.2} s wall, {cpu:.2} s CPU, peak RssAnon {} MiB, RssFile {} MiB",
        anon >> 10,
        file >> 10
    );
    let (a, wall, cpu, anon, file) = measured(|| {
        let mut out = BufWriter::new(File::create(&out_path).unwrap());
        let mut delta = std::io::BufReader::new(File::open(&delta_path).unwrap());
        apply(&File::open(&base).unwrap(), &mut delta, &mut out, s.new_len).unwrap()
    });
    println!(
        "apply:  {wall:.2} s wall, {cpu:.2} s CPU, peak RssAnon {} MiB, RssFile {} MiB",
        anon >> 10,
        file >> 10
    );
    assert_eq!(a.sha256, s.new_sha256);
}
