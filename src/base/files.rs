//! Reading the files a user names (policies, key files, trusted roots, docker config, gate
//! config, approvers and allowed-signers files, TLS files): only regular files, after
//! resolving symlinks, and only up to a size bound. A FIFO, a socket, a device or a
//! directory is a clear error naming the file, never a read that blocks forever.
//!
//! The file is opened with `O_NONBLOCK` (opening a FIFO without a writer would otherwise
//! wait for one) and its type is checked on the opened descriptor, so a file swapped for a
//! FIFO between a check and the open cannot make the read hang either.

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Bound for small configuration-like files (keys, certificates, signer lists): 1 MiB.
pub const MAX_SMALL_FILE: u64 = 1 << 20;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a regular file ({kind}); only regular files are read", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{}: larger than {max} bytes", path.display())]
    TooLarge { path: PathBuf, max: u64 },
    #[error("{}: not UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
}

impl FileError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::NotRegular { path, .. }
            | Self::TooLarge { path, .. }
            | Self::NotUtf8 { path } => path,
        }
    }
}

impl FileError {
    /// The same error as an [`std::io::Error`] whose message omits the path, for error
    /// types that already carry the path beside an `io::Error` source.
    pub fn into_io(self) -> std::io::Error {
        use std::io::{Error, ErrorKind};
        match self {
            Self::Io { source, .. } => source,
            Self::NotRegular { kind, .. } => Error::new(
                ErrorKind::InvalidInput,
                format!("not a regular file ({kind}); only regular files are read"),
            ),
            Self::TooLarge { max, .. } => {
                Error::new(ErrorKind::InvalidData, format!("larger than {max} bytes"))
            }
            Self::NotUtf8 { .. } => Error::new(ErrorKind::InvalidData, "not UTF-8 text"),
        }
    }
}

/// What kind of file a non-regular file type is, for messages.
pub fn kind_name(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_char_device() {
            return "a character device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Opens `path` for reading if, after resolving symlinks, it is a regular file.
///
/// # Errors
/// [`FileError::Io`] (with the path) when it cannot be opened or examined,
/// [`FileError::NotRegular`] for anything but a regular file.
pub fn open_regular(path: &Path) -> Result<std::fs::File, FileError> {
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    // a directory opens fine on Linux; report it (and devices) before opening anything
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_name(meta.file_type()),
        });
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let f = opts.open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_name(meta.file_type()),
        });
    }
    Ok(f)
}

/// Reads a regular file of at most `max` bytes.
///
/// # Errors
/// Any [`open_regular`] error, [`FileError::TooLarge`] past `max`.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let f = open_regular(path)?;
    let mut bytes = Vec::new();
    f.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| FileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text.
///
/// # Errors
/// Any [`read_regular`] error, [`FileError::NotUtf8`].
pub fn read_regular_string(path: &Path, max: u64) -> Result<String, FileError> {
    String::from_utf8(read_regular(path, max)?).map_err(|_| FileError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let st = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success());
    }

    #[test]
    fn regular_files_read_with_their_bound() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.yaml");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_regular(&p, 5).unwrap(), b"12345");
        let e = read_regular(&p, 4).unwrap_err();
        assert!(matches!(e, FileError::TooLarge { max: 4, .. }), "{e}");
        assert!(e.to_string().contains("a.yaml"), "{e}");
        // a symlink to a regular file is followed
        let l = d.path().join("link.yaml");
        std::os::unix::fs::symlink(&p, &l).unwrap();
        assert_eq!(read_regular_string(&l, 10).unwrap(), "12345");
    }

    #[test]
    fn fifo_directory_and_device_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("policy.yaml");
        mkfifo(&fifo);
        let e = read_regular(&fifo, 10).unwrap_err();
        assert!(
            matches!(e, FileError::NotRegular { kind: "a FIFO", .. }),
            "{e}"
        );
        assert!(e.to_string().contains("policy.yaml"), "{e}");
        // through a symlink too
        let l = d.path().join("link.yaml");
        std::os::unix::fs::symlink(&fifo, &l).unwrap();
        assert!(matches!(
            read_regular(&l, 10).unwrap_err(),
            FileError::NotRegular { kind: "a FIFO", .. }
        ));
        assert!(matches!(
            read_regular(d.path(), 10).unwrap_err(),
            FileError::NotRegular {
                kind: "a directory",
                ..
            }
        ));
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), 10).unwrap_err(),
            FileError::NotRegular {
                kind: "a character device",
                ..
            }
        ));
        let missing = read_regular(&d.path().join("none"), 10).unwrap_err();
        assert!(matches!(missing, FileError::Io { .. }), "{missing}");
    }
}
