//! Files uploaded into a call's chat: an image or a PDF a participant shares during a visit,
//! announced in the chat like a message, downloadable by the visit's participants while it lasts,
//! and kept **with the uploader's booking** afterwards (both regions' privacy policies: the chat
//! is deleted when the call ends, files uploaded in it are not).
//!
//! ```text
//!   POST /api/v1/calls/{room}/uploads ──http.rs──▶ join token ✓, admitted now ✓ (Sfu::admission),
//!        ?name=…  body = the file                  booking ✓, size ✓, type sniffed ✓ (sniff.rs)
//!                                                     │
//!                          Uploads::store ◀───────────┘  name cleaned (name.rs)
//!                            1. bytes ──▶ FileStore (store.rs): temp, fsync, rename, fsync dir
//!                            2. row   ──▶ call_uploads (records.rs)
//!                                                     │
//!                          Sfu::post_file ◀───────────┘  the chat's file message
//!   GET /api/v1/calls/{room}/uploads/{id} ──http.rs──▶ admitted now ✓, uploaded in this room ✓
//! ```
//!
//! **The row and its file together.** A row is only ever written after its file is durable, and
//! a file is only ever deleted after its row, so every row has its file, whatever crashes when:
//!
//! | crash or failure … | leaves | found by |
//! |---|---|---|
//! | while writing the bytes | a `.part` file in the store's `tmp/` | [`DirStore::open`](store::DirStore::open) at the next start |
//! | after the file is in place, before the row | a file without a row | [`Uploads::sweep`] (run at start-up): files older than an hour with no row |
//! | the row's INSERT fails | the same, unless deleting the file at once succeeds (it is tried) | the same |
//! | after the row | a complete upload | nothing to find |
//! | deleting: after the row, before the file | a file without a row | the same sweep |
//!
//! The sweep waits an hour before it removes a file without a row, because with a store shared
//! by several nodes another node's upload may be between its file and its row right then.
//!
//! **Who may.** Only a participant whom the SFU has admitted into the room and who is connected
//! right now (`Sfu::admission`), with a join token for that room that names a booking; the
//! uploader's booking is where the file is kept. Downloads likewise: admitted in that room now,
//! and only files uploaded in that room. After the visit the files stay with their booking; the
//! bookings issue adds the pages through which they are opened later, and the retention job
//! deletes them with the booking's data ([`Uploads::delete`] keeps the order above).
//!
//! **What is logged.** Upload ids, rooms and sizes; never a file's name (it can say what it is
//! about: `hiv-test.pdf`), its content, a booking or an identity.

pub mod http;
pub mod name;
pub mod records;
pub mod sniff;
pub mod store;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use vardrum_signalling::Role;

use crate::clock::Clock;
use crate::db::Db;
pub use records::UploadRecord;
use store::{FileKey, FileStore};

/// The default for `uploads.max_bytes`: 10 MiB, a phone photo or a scanned referral.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// How old a file without a row must be before [`Uploads::sweep`] removes it.
pub const ORPHAN_AGE_SECS: u64 = 3600;

/// Uploads: the table and the file store together.
pub struct Uploads {
    db: Db,
    store: Arc<dyn FileStore>,
    clock: Arc<dyn Clock>,
    max_bytes: u64,
}

/// A file to keep, as the HTTP layer received it from an admitted participant.
#[derive(Debug)]
pub struct NewUpload<'a> {
    pub room: &'a str,
    pub booking: &'a str,
    pub uploader_participant: &'a str,
    pub uploader_role: Role,
    /// The name as the uploader sent it; cleaned here.
    pub raw_name: &'a str,
    pub bytes: &'a [u8],
}

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the file is not a JPEG, PNG or PDF")]
    UnsupportedType,
    #[error("file store: {0}")]
    Store(#[from] std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl Uploads {
    pub fn new(db: Db, store: Arc<dyn FileStore>, clock: Arc<dyn Clock>, max_bytes: u64) -> Self {
        Self {
            db,
            store,
            clock,
            max_bytes,
        }
    }

    /// The largest file accepted, in bytes (`uploads.max_bytes`).
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn store(&self) -> &Arc<dyn FileStore> {
        &self.store
    }

    /// Checks and keeps a file: its type from its content, its name cleaned, then the bytes
    /// (durably) and then the row. On `Err` nothing is kept.
    pub async fn keep(&self, new: NewUpload<'_>) -> Result<UploadRecord, StoreError> {
        if new.bytes.is_empty() {
            return Err(StoreError::Empty);
        }
        if new.bytes.len() as u64 > self.max_bytes {
            return Err(StoreError::TooLarge(self.max_bytes));
        }
        let kind = sniff::sniff(new.bytes).ok_or(StoreError::UnsupportedType)?;
        let key = FileKey::random();
        let record = UploadRecord {
            id: key.to_string(),
            booking: new.booking.to_owned(),
            room: new.room.to_owned(),
            uploader_participant: new.uploader_participant.to_owned(),
            uploader_role: new.uploader_role.as_str().to_owned(),
            name: name::sanitise(new.raw_name, kind),
            content_type: kind.content_type().to_owned(),
            size: new.bytes.len() as u64,
            sha256: hex_sha256(new.bytes),
            created_at: i64::try_from(self.clock.now_unix()).unwrap_or(i64::MAX),
        };
        // 1. The bytes, durably. A failure or crash here leaves no file under the key (at most
        //    a temporary file the store clears at its next start).
        self.store.put(&key, new.bytes).await?;
        // 2. The row. If it is not written, the file goes again; should that fail too (or the
        //    process die right here), the file is an orphan without a row, which the sweep
        //    finds and removes. Never a row without its file.
        if let Err(e) = records::insert(&self.db, &record).await {
            if let Err(gone) = self.store.delete(&key).await {
                tracing::warn!(upload = %key, error = %gone,
                    "an upload whose row failed could not be removed; the sweep will");
            }
            return Err(e.into());
        }
        Ok(record)
    }

    /// The row of upload `id` if it was uploaded in `room`, with its bytes. A row whose file
    /// is missing or does not match its hash is an error, never an empty download.
    pub async fn open(
        &self,
        room: &str,
        id: &str,
    ) -> Result<Option<(UploadRecord, Vec<u8>)>, OpenError> {
        let Some(key) = FileKey::parse(id) else {
            return Ok(None);
        };
        let Some(record) = records::get(&self.db, key.as_str()).await? else {
            return Ok(None);
        };
        if record.room != room {
            return Ok(None);
        }
        let bytes = self.store.get(&key).await?.ok_or(OpenError::Missing)?;
        if hex_sha256(&bytes) != record.sha256 {
            return Err(OpenError::Damaged);
        }
        Ok(Some((record, bytes)))
    }

    /// A booking's files, oldest first.
    pub async fn for_booking(&self, booking: &str) -> Result<Vec<UploadRecord>, sqlx::Error> {
        records::for_booking(&self.db, booking).await
    }

    /// Deletes an upload: the row first, then the file, so that a crash in between leaves a
    /// file without a row (which [`Uploads::sweep`] removes), never a row without its file.
    /// Whether there was one.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let Some(key) = FileKey::parse(id) else {
            return Ok(false);
        };
        let existed = records::delete(&self.db, key.as_str()).await?;
        self.store.delete(&key).await?;
        Ok(existed)
    }

    /// Removes stored files that have had no row for at least `min_age_secs`: left by a crash
    /// between a file and its row, or by a deletion cut short. Returns how many it removed.
    pub async fn sweep(&self, min_age_secs: u64) -> Result<usize, StoreError> {
        let now = self.clock.now_unix();
        let mut removed = 0;
        for file in self.store.list().await? {
            if now.saturating_sub(file.modified_unix) < min_age_secs {
                continue;
            }
            if records::get(&self.db, file.key.as_str()).await?.is_none() {
                self.store.delete(&file.key).await?;
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(files = removed, "removed uploaded files that had no row");
        }
        Ok(removed)
    }

    /// Whether the visit in `room` has ended, as the call records say.
    pub async fn visit_ended(&self, room: &str) -> Result<bool, sqlx::Error> {
        records::visit_ended(&self.db, room).await
    }
}

/// Why a stored upload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the upload's file is missing from the store")]
    Missing,
    #[error("the upload's file does not match its SHA-256")]
    Damaged,
    #[error("file store: {0}")]
    Store(#[from] std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io;

    use futures_util::future::BoxFuture;

    use crate::clock::ManualClock;
    use store::{DirStore, StoredFile};

    const NOW: u64 = 1_800_000_000;
    const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

    async fn uploads(
        dir: &std::path::Path,
        store: Arc<dyn FileStore>,
    ) -> (Uploads, Arc<ManualClock>) {
        let db = Db::open(&crate::db::default_url(dir), dir).await.unwrap();
        let clock = Arc::new(ManualClock::new(NOW));
        (Uploads::new(db, store, clock.clone(), 1024), clock)
    }

    fn upload(bytes: &[u8]) -> NewUpload<'_> {
        NewUpload {
            room: "group-7",
            booking: "b-1",
            uploader_participant: "p-1",
            uploader_role: Role::Patient,
            raw_name: "../remiss.exe",
            bytes,
        }
    }

    #[tokio::test]
    async fn a_kept_file_has_its_row_and_its_bytes_and_opens_in_its_room_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(DirStore::open(&dir.path().join("uploads")).unwrap());
        let (u, _) = uploads(dir.path(), store.clone()).await;
        let kept = u.keep(upload(PDF)).await.unwrap();
        assert_eq!(kept.name, "remiss.pdf");
        assert_eq!(kept.content_type, "application/pdf");
        assert_eq!((kept.size, kept.created_at), (PDF.len() as u64, NOW as i64));
        assert_eq!(u.for_booking("b-1").await.unwrap(), vec![kept.clone()]);
        let (row, bytes) = u.open("group-7", &kept.id).await.unwrap().unwrap();
        assert_eq!((row, bytes.as_slice()), (kept.clone(), PDF));
        assert!(u.open("group-8", &kept.id).await.unwrap().is_none());
        assert!(
            u.open("group-7", "../../vardrum.db")
                .await
                .unwrap()
                .is_none()
        );

        // Refusals keep nothing.
        for (bytes, what) in [
            (&b""[..], "empty"),
            (&b"<html>"[..], "type"),
            (&[b'%'; 2048][..], "size"),
        ] {
            assert!(u.keep(upload(bytes)).await.is_err(), "{what}");
        }
        assert_eq!(store.list().await.unwrap().len(), 1);
        assert_eq!(u.for_booking("b-1").await.unwrap().len(), 1);

        // A file changed in the store is not handed out.
        let path = dir
            .path()
            .join("uploads")
            .join(&kept.id[..2])
            .join(&kept.id);
        std::fs::write(&path, b"%PDF-1.7 something else").unwrap();
        assert!(matches!(
            u.open("group-7", &kept.id).await,
            Err(OpenError::Damaged)
        ));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            u.open("group-7", &kept.id).await,
            Err(OpenError::Missing)
        ));
    }

    /// A store whose files can be listed but whose `delete` fails, like a disk gone read-only
    /// between the file and its row.
    struct Stubborn(DirStore);

    impl FileStore for Stubborn {
        fn put<'a>(&'a self, key: &'a FileKey, bytes: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
            self.0.put(key, bytes)
        }
        fn get<'a>(&'a self, key: &'a FileKey) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
            self.0.get(key)
        }
        fn delete<'a>(&'a self, _key: &'a FileKey) -> BoxFuture<'a, io::Result<()>> {
            Box::pin(async { Err(io::Error::other("read-only")) })
        }
        fn list(&self) -> BoxFuture<'_, io::Result<Vec<StoredFile>>> {
            self.0.list()
        }
    }

    #[tokio::test]
    async fn a_failed_row_leaves_no_row_and_the_sweep_finds_the_file_it_left() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("uploads");
        let (u, first_clock) = uploads(dir.path(), Arc::new(DirStore::open(&root).unwrap())).await;
        // The row cannot be written (the table is gone): the file is removed at once.
        sqlx::query("ALTER TABLE call_uploads RENAME TO call_uploads_away")
            .execute(u.db.pool())
            .await
            .unwrap();
        assert!(matches!(
            u.keep(upload(PDF)).await,
            Err(StoreError::Database(_))
        ));
        assert!(u.store.list().await.unwrap().is_empty());

        // Nor can the file be removed: it stays, without a row, until the sweep.
        let stubborn = Uploads::new(
            u.db.clone(),
            Arc::new(Stubborn(DirStore::open(&root).unwrap())),
            first_clock,
            1024,
        );
        assert!(stubborn.keep(upload(PDF)).await.is_err());
        assert_eq!(u.store.list().await.unwrap().len(), 1);
        sqlx::query("ALTER TABLE call_uploads_away RENAME TO call_uploads")
            .execute(u.db.pool())
            .await
            .unwrap();
        let kept = u.keep(upload(PDF)).await.unwrap();

        // Young orphans may be another node's upload in flight: kept. Old ones go; the files of
        // rows stay. (The files' times are the real clock's: the manual one starts at them.)
        let files_now = u.store.list().await.unwrap();
        assert_eq!(files_now.len(), 2);
        let newest = files_now.iter().map(|f| f.modified_unix).max().unwrap();
        let clock = Arc::new(ManualClock::new(newest));
        let later = Uploads::new(u.db.clone(), u.store.clone(), clock.clone(), 1024);
        assert_eq!(later.sweep(ORPHAN_AGE_SECS).await.unwrap(), 0);
        clock.advance(ORPHAN_AGE_SECS);
        assert_eq!(later.sweep(ORPHAN_AGE_SECS).await.unwrap(), 1);
        let left = u.store.list().await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].key.as_str(), kept.id);

        // Deleting goes row first, then file.
        assert!(u.delete(&kept.id).await.unwrap());
        assert!(u.store.list().await.unwrap().is_empty());
        assert!(u.for_booking("b-1").await.unwrap().is_empty());
        assert!(!u.delete(&kept.id).await.unwrap());
    }
}
