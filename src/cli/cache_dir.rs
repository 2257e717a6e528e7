//! Where Trivy's cache is when `--cache-dir` is not given (issue 14): the
//! place Trivy itself uses, so that `airlock import` and `trivy` agree
//! without a flag. Trivy's `pkg/cache/dir.go` takes `--cache-dir` (env
//! `TRIVY_CACHE_DIR`), else Go's `os.UserCacheDir()` + `/trivy`:
//! `$XDG_CACHE_HOME` when set (Go refuses a relative one), else
//! `$HOME/.cache`; when neither is usable, the temporary directory.
//! `AIRLOCK_CACHE_DIR` (clap's `env`) comes before all of them.

use std::ffi::OsString;
use std::path::PathBuf;

/// Trivy's default cache directory in the environment `var`.
pub(super) fn trivy_default_in(var: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("TRIVY_CACHE_DIR") {
        return dir;
    }
    let user_cache = set("XDG_CACHE_HOME")
        .filter(|d| d.is_absolute())
        .or_else(|| set("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| set("TMPDIR").unwrap_or_else(|| PathBuf::from("/tmp")));
    user_cache.join("trivy")
}

/// Trivy's default cache directory in this process's environment.
pub(super) fn trivy_default() -> PathBuf {
    trivy_default_in(|name| std::env::var_os(name))
}

/// `AIRLOCK_CACHE_DIR`, else Trivy's default: for `audit`, whose
/// `--cache-dir` takes no variable (set, it would conflict with `--log`).
pub(super) fn from_env() -> PathBuf {
    let set = std::env::var_os("AIRLOCK_CACHE_DIR").filter(|v| !v.is_empty());
    set.map(PathBuf::from).unwrap_or_else(trivy_default)
}

/// `given` (the flag or `AIRLOCK_CACHE_DIR`), else Trivy's default.
pub(super) fn or_default(given: &Option<PathBuf>) -> PathBuf {
    given.clone().unwrap_or_else(trivy_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_trivys_in_its_order() {
        let table: [(&[(&str, &str)], &str); 6] = [
            (
                &[
                    ("TRIVY_CACHE_DIR", "/t"),
                    ("XDG_CACHE_HOME", "/x"),
                    ("HOME", "/h"),
                ],
                "/t",
            ),
            (
                &[
                    ("TRIVY_CACHE_DIR", ""),
                    ("XDG_CACHE_HOME", "/x"),
                    ("HOME", "/h"),
                ],
                "/x/trivy",
            ),
            (
                &[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")],
                "/h/.cache/trivy",
            ),
            (&[("HOME", "/h")], "/h/.cache/trivy"),
            (&[("TMPDIR", "/scratch")], "/scratch/trivy"),
            (&[], "/tmp/trivy"),
        ];
        for (env, want) in table {
            let got = trivy_default_in(|name| {
                env.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            });
            assert_eq!(got, PathBuf::from(want), "{env:?}");
        }
    }
}
