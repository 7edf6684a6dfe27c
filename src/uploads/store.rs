//! Where the bytes of uploaded files live, behind [`FileStore`]: today a directory under the
//! data directory ([`DirStore`]); when several nodes serve one region, a store they all reach
//! (object storage, a shared volume) implements the same four calls and nothing else changes.
//!
//! ```text
//!   <data_dir>/uploads/
//!     3f/3fa2…c9        one file per upload, named by its id (32 hex digits), in a
//!     a0/a07e…11        sub-directory per first two digits so no directory grows huge
//!     tmp/<id>.<n>.part being written; never read
//! ```
//!
//! **Durable before it is visible.** [`DirStore`]'s `put` writes the bytes to a temporary file,
//! fsyncs it, renames it into place (atomic within one file system) and fsyncs the directory,
//! so once `put` returns the file is complete under its name and survives a power cut; before
//! that, nothing is under the name at all. A crash mid-write leaves only a `.part` file in
//! `tmp/`, which the next [`DirStore::open`] removes. How the table row and the file are kept
//! together is in `mod.rs`.
//!
//! Keys are ids the server made ([`FileKey`]: 32 lowercase hex digits), never anything a client
//! sent, so no key can name a path outside the store.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;

/// The id of a stored file: 32 lowercase hex digits (a random UUID), made by the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey(String);

impl FileKey {
    /// A new random key.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// A key from text (a URL path, a table row), if it has the shape of one.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file in the store, as a sweep for orphans sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub key: FileKey,
    /// When it was written, Unix seconds.
    pub modified_unix: u64,
}

/// The bytes of uploads, by key. Every call is safe to repeat.
pub trait FileStore: Send + Sync + 'static {
    /// Stores `bytes` under `key`, durably: when this returns `Ok`, a crash loses nothing, and
    /// until then no reader sees a partial file under `key`.
    fn put<'a>(&'a self, key: &'a FileKey, bytes: &'a [u8]) -> BoxFuture<'a, io::Result<()>>;

    /// The bytes under `key`, or `None` when there are none.
    fn get<'a>(&'a self, key: &'a FileKey) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>>;

    /// Removes the file under `key`; `Ok` when there was none.
    fn delete<'a>(&'a self, key: &'a FileKey) -> BoxFuture<'a, io::Result<()>>;

    /// Every stored file, for the sweep that removes files whose row never came.
    fn list(&self) -> BoxFuture<'_, io::Result<Vec<StoredFile>>>;
}

/// Temporary files older than this at start-up belong to a writer that died; younger ones may
/// belong to another process sharing the directory.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// The store in a local directory (by default `<data_dir>/uploads`).
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// Opens (creating) the store at `root`, and removes what crashed writers left in `tmp/`.
    pub fn open(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root.join("tmp"))?;
        let store = Self {
            root: root.to_owned(),
        };
        let removed = store.remove_stale_temp(STALE_TEMP)?;
        if removed > 0 {
            tracing::info!(
                files = removed,
                "removed unfinished uploads left by a crash"
            );
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &FileKey) -> PathBuf {
        self.root.join(&key.0[..2]).join(&key.0)
    }

    fn remove_stale_temp(&self, older_than: Duration) -> io::Result<usize> {
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in std::fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() >= older_than)
                .unwrap_or(true);
            if stale && entry.file_name().to_string_lossy().ends_with(".part") {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn put_blocking(&self, key: &FileKey, bytes: &[u8]) -> io::Result<()> {
        let dir = self
            .path(key)
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default();
        std::fs::create_dir_all(&dir)?;
        let temp = self
            .root
            .join("tmp")
            .join(format!("{key}.{}.part", uuid::Uuid::new_v4().simple()));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, self.path(key))?;
            // The rename is an entry in the directory: make it durable too.
            sync_dir(&dir)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written
    }

    fn list_blocking(&self) -> io::Result<Vec<StoredFile>> {
        let mut files = Vec::new();
        for shard in std::fs::read_dir(&self.root)? {
            let shard = shard?;
            let name = shard.file_name();
            let name = name.to_string_lossy();
            if name.len() != 2 || !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(shard.path())? {
                let entry = entry?;
                let Some(key) = FileKey::parse(&entry.file_name().to_string_lossy()) else {
                    continue;
                };
                let modified_unix = entry
                    .metadata()?
                    .modified()?
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                files.push(StoredFile { key, modified_unix });
            }
        }
        files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(files)
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Runs blocking file-system work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
}

impl FileStore for DirStore {
    fn put<'a>(&'a self, key: &'a FileKey, bytes: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        let store = self.clone();
        let (key, bytes) = (key.clone(), bytes.to_vec());
        Box::pin(blocking(move || store.put_blocking(&key, &bytes)))
    }

    fn get<'a>(&'a self, key: &'a FileKey) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            match tokio::fs::read(self.path(key)).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a FileKey) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    fn list(&self) -> BoxFuture<'_, io::Result<Vec<StoredFile>>> {
        let store = self.clone();
        Box::pin(blocking(move || store.list_blocking()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_delete_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(&dir.path().join("uploads")).unwrap();
        let key = FileKey::random();
        assert_eq!(store.get(&key).await.unwrap(), None);
        store.put(&key, b"%PDF-1.7 hello").await.unwrap();
        assert_eq!(
            store.get(&key).await.unwrap().as_deref(),
            Some(&b"%PDF-1.7 hello"[..])
        );
        let path = dir
            .path()
            .join("uploads")
            .join(&key.as_str()[..2])
            .join(key.as_str());
        assert!(path.is_file(), "{}", path.display());
        let listed = store.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, key);
        // Nothing is left behind in tmp/.
        assert_eq!(
            std::fs::read_dir(dir.path().join("uploads/tmp"))
                .unwrap()
                .count(),
            0
        );
        store.delete(&key).await.unwrap();
        store.delete(&key).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap(), None);
        assert!(store.list().await.unwrap().is_empty());
    }

    #[test]
    fn keys_are_ours_only() {
        assert!(FileKey::parse(FileKey::random().as_str()).is_some());
        for bad in [
            "",
            "../../../../etc/passwd",
            "3FA2C9E07E1100000000000000000000",
            "3fa2c9e07e110000000000000000000",
            "3fa2c9e07e11000000000000000000000",
            "3fa2c9e07e11000000000000000000/0",
        ] {
            assert_eq!(FileKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_crashed_writers_temp_file_is_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("uploads");
        let store = DirStore::open(&root).unwrap();
        let part = root.join("tmp").join("abc.def.part");
        std::fs::write(&part, b"half a file").unwrap();
        // A fresh one may belong to another process sharing the directory: kept.
        drop(DirStore::open(&root).unwrap());
        assert!(part.exists());
        assert_eq!(store.remove_stale_temp(Duration::ZERO).unwrap(), 1);
        assert!(!part.exists());
    }
}
