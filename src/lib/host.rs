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

/// Whether this process may create files in `dir`, by the kernel's own check, which
/// also answers for read-only mounts and immutable directories, and for a
/// superuser (whom file modes alone do not stop); the error says why not.
pub fn may_write_in(dir: &std::path::Path) -> std::io::Result<()> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::access(path.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// This host's name, for recording who holds a claim.
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}
