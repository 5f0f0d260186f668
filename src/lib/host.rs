//! Facts about this host and its processes, for stale claims and leftover temporaries.

/// Whether a process with this pid exists on this host.
pub fn is_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// This host's name, for recording who holds a claim.
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}
