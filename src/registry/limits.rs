//! The time limits for network transfers ([`NetLimits`]): their defaults,
//! the `AIRLOCK_NETWORK_*` variables that set them, and how they are
//! worded. `deadline` enforces them; `framing` bounds what a response may
//! carry within them.

use std::time::Duration;

/// The default idle timeout.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(60);
/// The default head start of the overall deadline.
pub const DEFAULT_BASE: Duration = Duration::from_secs(120);
/// The default floor rate, bytes per second (256 KiB/s).
pub const DEFAULT_MIN_RATE: u64 = 256 << 10;
/// The longest `Retry-After` honoured by default; a server asking for more
/// is given up on at once.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Retries per reference (all requests to one registry together): a server
/// that keeps failing is given up on rather than retried request by request.
pub const RETRY_BUDGET: u32 = 6;

/// Time limits for network transfers (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetLimits {
    /// No byte for this long ends a transfer.
    pub idle: Duration,
    /// The head start of the overall deadline.
    pub base: Duration,
    /// The floor rate, bytes per second (at least 1).
    pub min_rate: u64,
    /// The longest `Retry-After` waited for.
    pub max_retry_after: Duration,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            idle: DEFAULT_IDLE,
            base: DEFAULT_BASE,
            min_rate: DEFAULT_MIN_RATE,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

/// A setting that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{name} {value:?} is not valid: {expected}")]
pub struct LimitError {
    /// The flag or variable.
    pub name: String,
    /// What was given.
    pub value: String,
    /// What is accepted.
    pub expected: &'static str,
}

/// The environment variables that set the limits when no flag does (tests
/// use them for deadlines of a second or two).
pub const ENV_IDLE: &str = "AIRLOCK_NETWORK_IDLE_TIMEOUT";
/// See [`ENV_IDLE`].
pub const ENV_BASE: &str = "AIRLOCK_NETWORK_DEADLINE_BASE";
/// See [`ENV_IDLE`].
pub const ENV_MIN_RATE: &str = "AIRLOCK_NETWORK_MIN_RATE";
/// See [`ENV_IDLE`].
pub const ENV_MAX_RETRY_AFTER: &str = "AIRLOCK_NETWORK_MAX_RETRY_AFTER";

/// Parses seconds (`60`, `1.5`): positive, at most a day.
pub fn parse_seconds(name: &str, value: &str) -> Result<Duration, LimitError> {
    let err = || LimitError {
        name: name.to_string(),
        value: value.to_string(),
        expected: "seconds, more than 0 and at most 86400 (e.g. 60 or 1.5)",
    };
    let secs: f64 = value.trim().parse().map_err(|_| err())?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(err());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| err())
}

/// Parses a rate in bytes per second, with an optional binary unit
/// (`262144`, `256K`, `1M`, `256KiB`); at least 1 byte/s.
pub fn parse_rate(name: &str, value: &str) -> Result<u64, LimitError> {
    let err = || LimitError {
        name: name.to_string(),
        value: value.to_string(),
        expected: "bytes per second, optionally with K or M (binary units), e.g. 256K",
    };
    let v = value.trim();
    let v = v.strip_suffix("/s").unwrap_or(v);
    let v = v
        .strip_suffix("iB")
        .or_else(|| v.strip_suffix('B'))
        .unwrap_or(v);
    let (digits, unit) = match v.char_indices().last() {
        Some((i, 'K' | 'k')) => (&v[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&v[..i], 1 << 20),
        _ => (v, 1),
    };
    let n: u64 = digits.parse().map_err(|_| err())?;
    match n.checked_mul(unit) {
        Some(r) if r >= 1 => Ok(r),
        _ => Err(err()),
    }
}

impl NetLimits {
    /// The defaults, with whatever the `AIRLOCK_NETWORK_*` variables set.
    pub fn from_env() -> Result<NetLimits, LimitError> {
        let mut l = NetLimits::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(v) = var(ENV_IDLE) {
            l.idle = parse_seconds(ENV_IDLE, &v)?;
        }
        if let Some(v) = var(ENV_BASE) {
            l.base = parse_seconds(ENV_BASE, &v)?;
        }
        if let Some(v) = var(ENV_MIN_RATE) {
            l.min_rate = parse_rate(ENV_MIN_RATE, &v)?;
        }
        if let Some(v) = var(ENV_MAX_RETRY_AFTER) {
            l.max_retry_after = parse_seconds(ENV_MAX_RETRY_AFTER, &v)?;
        }
        Ok(l)
    }

    /// The time `bytes` may take at the floor rate, after the head start.
    pub fn allowance(&self, bytes: u64) -> Duration {
        let rate = self.min_rate.max(1);
        self.base
            .saturating_add(Duration::from_secs(bytes / rate))
            .saturating_add(Duration::from_nanos(
                ((bytes % rate) as u128 * 1_000_000_000 / rate as u128) as u64,
            ))
    }

    /// The connect timeout: 15 s, or the idle timeout if shorter.
    pub fn connect(&self) -> Duration {
        self.idle.min(Duration::from_secs(15))
    }

    /// For messages: "no byte for 60 s" and the floor.
    pub fn describe(&self) -> String {
        format!(
            "idle timeout {}, overall deadline {} + 1 s per {} received",
            secs(self.idle),
            secs(self.base),
            bytes(self.min_rate)
        )
    }
}

/// `60 s`, `1.5 s`.
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{} s", s as u64)
    } else {
        format!("{s:.1} s")
    }
}

/// `256 KiB`, `1 MiB`, `100 bytes`.
pub fn bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}
