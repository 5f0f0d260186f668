-- What each path held when it was last read: its file-system identity (size,
-- modification and change times in ns, inode) and the content hash of its bytes
-- then. A rescan skips a path whose identity has not changed without reading it;
-- any change means it is read and hashed again. Device ids are not kept: they
-- differ between NFS clients of one share. The inode is stored bit for bit as a
-- signed 64-bit number.
CREATE TABLE path_identity (
    path          TEXT PRIMARY KEY,
    size_bytes    BIGINT NOT NULL,
    mtime_ns      BIGINT NOT NULL,
    ctime_ns      BIGINT NOT NULL,
    inode         BIGINT NOT NULL,
    content_hash  TEXT NOT NULL,
    seen_at       TEXT NOT NULL
);
