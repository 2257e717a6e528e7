//! Reading a small file the environment points at (a credential file, a
//! CA bundle) without letting it stall or exhaust the process: the file is
//! opened without waiting (a FIFO without a writer, a device), must be a
//! regular file (symbolic links followed, as `SSL_CERT_FILE` and
//! `REGISTRY_AUTH_FILE` are often links), and is read up to a limit, never
//! past it (a file that grows while read included).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// The bytes of the regular file at `path`, at most `max` of them. A FIFO,
/// a device, a directory, or a file larger than `max` is an
/// [`io::ErrorKind::InvalidInput`] error that says which; nothing is waited
/// for.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let f = File::options()
        .read(true)
        .custom_flags(super::open_flags::NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("larger than {max} bytes"),
        )
    };
    if meta.len() > max {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_regular_file_within_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"12345");
        let e = read_regular(&file, 4).unwrap_err();
        assert_eq!(e.to_string(), "larger than 4 bytes");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        // Returns at once (a blocking open would wait for a writer forever).
        assert_eq!(
            read_regular(&fifo, 5).unwrap_err().to_string(),
            "not a regular file"
        );
        for dev in ["/dev/zero", "/dev/null"] {
            assert_eq!(
                read_regular(Path::new(dev), 5).unwrap_err().to_string(),
                "not a regular file"
            );
        }
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_regular(&link, 5).unwrap(), b"12345");
    }
}
