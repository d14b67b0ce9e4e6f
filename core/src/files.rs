//! Files as zeroth reads and writes them: never through a symbolic link, only regular
//! files, secrets 0600 and never overwritten, replacements atomic and synced.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{Error, Result, StoreError};
use crate::fault;

/// Replaces `path` with `bytes` atomically: temporary file, fsync, rename, fsync of the
/// directory (a failure of that last step is a warning: see [`sync_dir_after`]).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    fault::write_all("write", path, &mut tmp, bytes)
        .map_err(|e| Error::io("write", tmp.path(), e))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set permissions on", tmp.path(), e))?;
    fault::io("sync", path)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io("sync", tmp.path(), e))?;
    fault::io("rename", path).map_err(|e| Error::io("rename into", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("rename into", path, e.error))?;
    sync_dir_after(dir);
    Ok(())
}

/// Writes `bytes` to a new file at `path`, mode 0600, atomically, and never over an
/// existing file: the file is linked into place only if nothing is there.
pub fn write_new_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    write_new_secret_unsynced(path, bytes)?;
    sync_dir_after(parent(path));
    Ok(())
}

/// [`write_new_secret`] but for the directory's sync, which the caller does once after
/// the last file of a batch ([`sync_directory`]).
pub fn write_new_secret_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    fault::write_all("write", path, &mut tmp, bytes)
        .map_err(|e| Error::io("write", tmp.path(), e))?;
    fault::io("sync", path)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io("sync", tmp.path(), e))?;
    fault::io("link", path).map_err(|e| Error::io("write", path, e))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {}
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(exists_error(path));
        }
        Err(e) => return Err(Error::io("write", path, e.error)),
    }
    Ok(())
}

/// Syncs a directory after files were linked into it, so their entries survive a
/// power cut (a failure is a warning: the files are written).
pub fn sync_directory(dir: &Path) {
    sync_dir_after(dir);
}

/// The error for a file zeroth will not overwrite.
pub fn exists_error(path: &Path) -> Error {
    StoreError::FileExists {
        path: path.to_path_buf(),
    }
    .into()
}

/// Turns the `ELOOP` of an `O_NOFOLLOW` open into words.
pub fn nofollow_error(e: rustix::io::Errno) -> std::io::Error {
    if e == rustix::io::Errno::LOOP {
        std::io::Error::other(
            "it is a symbolic link, and zeroth does not follow links inside the store",
        )
    } else {
        e.into()
    }
}

/// Opens `path` for reading without following a symbolic link, and only if it is a
/// regular file (a FIFO or a device is refused without blocking).
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    open_regular_at(rustix::fs::CWD, path).map(|(file, _)| file)
}

const READ_FLAGS: rustix::fs::OFlags = rustix::fs::OFlags::RDONLY
    .union(rustix::fs::OFlags::NOFOLLOW)
    .union(rustix::fs::OFlags::NONBLOCK)
    .union(rustix::fs::OFlags::CLOEXEC);

/// [`open_regular`] of `path` relative to the directory `dir`, with the file's size.
pub fn open_regular_at(
    dir: impl rustix::fd::AsFd,
    path: impl rustix::path::Arg,
) -> std::io::Result<(File, u64)> {
    let fd = rustix::fs::openat(dir, path, READ_FLAGS, rustix::fs::Mode::empty())
        .map_err(nofollow_error)?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    Ok((file, meta.len()))
}

/// Reads the whole of `path` (see [`open_regular`]).
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    read_regular_at(rustix::fs::CWD, path)
}

/// [`read_regular`] of `path` relative to the directory `dir` (many files of one
/// directory are opened without walking its path each time).
pub fn read_regular_at(
    dir: impl rustix::fd::AsFd,
    path: impl rustix::path::Arg,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    read_regular_at_into(dir, path, &mut out)?;
    Ok(out)
}

/// [`read_regular_at`] into `out`, emptied first (a buffer reused for many files).
pub fn read_regular_at_into(
    dir: impl rustix::fd::AsFd,
    path: impl rustix::path::Arg,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let (mut file, len) = open_regular_at(dir, path)?;
    // The size the one fstat above gave is what is read: no second fstat
    // (`File::read_to_end` would ask again) and no read to find the end (a read each of
    // 10,000 record files in `list`). A file that grew meanwhile is read as it was at
    // the fstat; one that shrank, to its end.
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    out.clear();
    out.try_reserve(len)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::OutOfMemory, "file too large"))?;
    out.resize(len, 0);
    let mut got = 0;
    while got < len {
        match file.read(&mut out[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    out.truncate(got);
    if len == 0 {
        // A size of 0 may be a file system that does not know it (a pseudo-file).
        file.read_to_end(out)?;
    }
    Ok(())
}

/// Opens the ceremony log `path` for appending: created if missing, never through a
/// symbolic link, and only a regular file.
pub fn open_log_for_append(path: &Path) -> std::io::Result<File> {
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::RDWR
            | rustix::fs::OFlags::APPEND
            | rustix::fs::OFlags::CREATE
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::NONBLOCK
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .map_err(nofollow_error)?;
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    Ok(file)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Syncs `dir` after a rename or a link put a file in it. The file is in place, for
/// every reader, whatever this finds: a failure only means the new name might not
/// survive a power cut, the same as a crash just before the rename, which every
/// ceremony is built to survive. So it is said, not returned: a caller that took it
/// for a failed write would undo its ceremony around a file that is there.
fn sync_dir_after(dir: &Path) {
    if let Err(e) = sync_dir(dir) {
        eprintln!(
            "warning: {}: the file is written, but its directory entry may not survive a power cut",
            e.message()
        );
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    fault::io("sync-dir", dir)
        .and_then(|_| File::open(dir))
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.share");
        write_new_secret(&p, b"one").unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = write_new_secret(&p, b"two").unwrap_err();
        assert!(
            matches!(err.cause(), Error::Store(StoreError::FileExists { .. })),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 3);
        assert_eq!(fs::read(&p).unwrap(), b"one");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }
}
