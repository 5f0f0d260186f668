//! An exclusive advisory lock on a file, for what SQLite itself does not serialise
//! (two processes migrating a new catalog at once), and the file systems whose locks
//! SQLite cannot rely on.

use std::path::Path;

/// An exclusive advisory lock on a file, released when dropped (or when the process dies).
pub(super) struct FileLock(std::fs::File);

impl FileLock {
    pub(super) fn acquire(path: &Path) -> std::io::Result<FileLock> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(FileLock(file))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking the descriptor we locked.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// File systems whose locks SQLite cannot rely on: a catalog file there could be
/// corrupted by two workers, so it is refused.
const NETWORK_FILE_SYSTEMS: [&str; 10] = [
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "ceph",
    "glusterfs",
    "fuse.sshfs",
    "fuse.s3fs",
];

/// The network file system `path` lies on, if any, from the mount table (`mounts`,
/// as `/proc/self/mounts` lists it): the type of the longest mount point above it.
pub fn network_file_system(path: &Path, mounts: &str) -> Option<String> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            // Spaces and tabs in mount points are written as octal escapes.
            let point = point.replace("\\040", " ").replace("\\011", "\t");
            path.starts_with(&point)
                .then(|| (point.len(), kind.to_string()))
        })
        .max_by_key(|(length, _)| *length)
        .map(|(_, kind)| kind)
        .filter(|kind| NETWORK_FILE_SYSTEMS.contains(&kind.as_str()))
}

/// [`network_file_system`] of this machine's mount table, for the nearest existing
/// ancestor of `path` (the catalog file may not exist yet).
pub fn on_network_file_system(path: &Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let existing = path
        .ancestors()
        .find_map(|p| std::fs::canonicalize(p).ok())?;
    network_file_system(&existing, &mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_on_a_network_mount_is_told_by_its_nearest_mount_point() {
        let mounts = "/dev/vda1 / ext4 rw 0 0\n\
                      server:/export /mnt/share nfs4 rw,vers=4.2 0 0\n\
                      /dev/vdb1 /mnt/share/local ext4 rw 0 0\n\
                      //host/logs /mnt/my\\040logs cifs rw 0 0\n\
                      tmpfs /tmp tmpfs rw 0 0\n";
        let on = |p: &str| network_file_system(Path::new(p), mounts);
        assert_eq!(on("/mnt/share/out/catalog.db").as_deref(), Some("nfs4"));
        assert_eq!(on("/mnt/my logs/catalog.db").as_deref(), Some("cifs"));
        assert_eq!(on("/mnt/share/local/catalog.db"), None);
        assert_eq!(on("/tmp/x/catalog.db"), None);
        assert_eq!(on("/home/catalog.db"), None);
        // A mount point is a whole path component, not a prefix of a name.
        assert_eq!(on("/mnt/shared/catalog.db"), None);
    }
}
