//! The message store: SQLite in WAL mode under the data directory.
//!
//! One connection, owned by the hub thread, so there is never lock contention and every write
//! happens in the order the hub decides. The hub groups the messages that arrive together into
//! one transaction (group commit): with `synchronous=FULL` each commit is durable on disk before
//! any of its messages is acknowledged, and a burst of N messages costs one sync, not N.

use std::path::{Path, PathBuf};

use proto::{ChatMessage, FileInfo};
use rusqlite::{Connection, OptionalExtension, params};

/// Schema version stored in `PRAGMA user_version`; bump with a migration when the schema changes.
const SCHEMA_VERSION: i64 = 2;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "confab.db";

/// Storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// SQLite refused an operation (disk full, corrupt file, permissions…).
    #[error("message store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file was written by a newer confab.
    #[error(
        "{path} has schema version {found}; this confab understands up to {SCHEMA_VERSION} — upgrade confab"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
    },
}

/// The SQLite-backed message store.
#[derive(Debug)]
pub(crate) struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/confab.db`.
    pub(crate) fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let conn = Connection::open(&path)?;
        // WAL lets readers (a future second process, `sqlite3` for an operator) run beside the
        // writer; FULL makes each commit durable before we acknowledge its messages.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path,
                found: version,
            });
        }
        if version < 1 {
            // AUTOINCREMENT (not just INTEGER PRIMARY KEY) so an id is never handed out twice,
            // even if the newest rows were ever deleted: ids are what clients resume from.
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS messages (
                     id            INTEGER PRIMARY KEY AUTOINCREMENT,
                     ts            INTEGER NOT NULL,        -- ms since the Unix epoch
                     sender        TEXT    NOT NULL,
                     sender_key    TEXT    NOT NULL,        -- lowercase nick
                     recipient     TEXT,                    -- NULL: the lobby
                     recipient_key TEXT,
                     text          TEXT    NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS messages_sender ON messages(sender_key, id);
                 CREATE INDEX IF NOT EXISTS messages_recipient ON messages(recipient_key, id);
                 PRAGMA user_version = 1;
                 COMMIT;",
            )?;
        }
        if version < 2 {
            // The shared-file catalog. Bodies live in files/<hash>, so two names with the same
            // content share one body; a row appears only once its body is verified and in place.
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS files (
                     name     TEXT    PRIMARY KEY,
                     size     INTEGER NOT NULL,         -- bytes
                     hash     TEXT    NOT NULL,         -- BLAKE3, lowercase hex
                     uploader TEXT    NOT NULL,
                     ts       INTEGER NOT NULL          -- ms since the Unix epoch
                 );
                 CREATE INDEX IF NOT EXISTS files_hash ON files(hash);
                 PRAGMA user_version = 2;
                 COMMIT;",
            )?;
        }
        Ok(Self { conn })
    }

    /// Every listed file, sorted by name.
    pub(crate) fn files(&self) -> Result<Vec<FileInfo>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, size, hash, uploader, ts FROM files ORDER BY name")?;
        let files = stmt
            .query_map([], row_to_file)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(files)
    }

    /// The listed file called `name`, if any.
    pub(crate) fn file(&self, name: &str) -> Result<Option<FileInfo>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, size, hash, uploader, ts FROM files WHERE name = ?1")?;
        Ok(stmt.query_row([name], row_to_file).optional()?)
    }

    /// Lists (or re-lists) a file whose body is already verified and in place. Durable on return.
    pub(crate) fn put_file(&self, file: &FileInfo) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO files (name, size, hash, uploader, ts) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET size = excluded.size, hash = excluded.hash,
                 uploader = excluded.uploader, ts = excluded.ts",
        )?;
        stmt.execute(params![
            file.name,
            file.size as i64,
            file.hash,
            file.uploader,
            file.ts as i64
        ])?;
        Ok(())
    }

    /// Whether any listed file still uses the body with this hash (before deleting a body).
    pub(crate) fn hash_in_use(&self, hash: &str) -> Result<bool, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM files WHERE hash = ?1 LIMIT 1")?;
        Ok(stmt.exists([hash])?)
    }

    /// The highest id ever stored (0 for an empty store).
    pub(crate) fn last_id(&self) -> Result<u64, StoreError> {
        let seq: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(seq.unwrap_or(0).max(0) as u64)
    }

    /// Starts a transaction; messages inserted until [`Store::commit`] become durable together.
    pub(crate) fn begin(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    /// Makes the open transaction durable.
    pub(crate) fn commit(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Abandons the open transaction (after a failed commit, or a failed insert).
    pub(crate) fn rollback(&self) {
        // Fails only when no transaction is open, which is the state we want anyway.
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    /// Inserts one message and returns its id. Call between `begin` and `commit`.
    pub(crate) fn insert(
        &self,
        ts: u64,
        from: &str,
        to: Option<&str>,
        text: &str,
    ) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO messages (ts, sender, sender_key, recipient, recipient_key, text)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        stmt.execute(params![
            ts as i64,
            from,
            from.to_ascii_lowercase(),
            to,
            to.map(str::to_ascii_lowercase),
            text
        ])?;
        Ok(self.conn.last_insert_rowid() as u64)
    }

    /// The most recent `limit` messages `viewer` may see, oldest first.
    pub(crate) fn recent(&self, viewer: &str, limit: u32) -> Result<Vec<ChatMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, ts, sender, recipient, text FROM messages
             WHERE recipient_key IS NULL OR sender_key = ?1 OR recipient_key = ?1
             ORDER BY id DESC LIMIT ?2",
        )?;
        let mut out = stmt
            .query_map(params![viewer.to_ascii_lowercase(), limit], row_to_message)?
            .collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok(out)
    }

    /// The first `limit` messages after id `since` that `viewer` may see, oldest first, and
    /// whether more follow.
    pub(crate) fn since(
        &self,
        viewer: &str,
        since: u64,
        limit: u32,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, ts, sender, recipient, text FROM messages
             WHERE id > ?2 AND (recipient_key IS NULL OR sender_key = ?1 OR recipient_key = ?1)
             ORDER BY id ASC LIMIT ?3",
        )?;
        // One row past the limit tells whether the answer is complete.
        let mut out = stmt
            .query_map(
                params![
                    viewer.to_ascii_lowercase(),
                    since.min(i64::MAX as u64) as i64,
                    u64::from(limit) + 1
                ],
                row_to_message,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let more = out.len() > limit as usize;
        out.truncate(limit as usize);
        Ok((out, more))
    }
}

fn row_to_file(row: &rusqlite::Row<'_>) -> rusqlite::Result<FileInfo> {
    Ok(FileInfo {
        name: row.get(0)?,
        size: row.get::<_, i64>(1)? as u64,
        hash: row.get(2)?,
        uploader: row.get(3)?,
        ts: row.get::<_, i64>(4)? as u64,
    })
}

fn row_to_message(row: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
    Ok(ChatMessage {
        id: row.get::<_, i64>(0)? as u64,
        ts: row.get::<_, i64>(1)? as u64,
        from: row.get(2)?,
        to: row.get(3)?,
        text: row.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_messages_only_visible_to_their_parties() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.begin().unwrap();
        store.insert(1, "alice", None, "hi all").unwrap();
        store.insert(2, "Alice", Some("Bob"), "psst").unwrap();
        store.commit().unwrap();
        let texts = |v: Vec<ChatMessage>| v.into_iter().map(|m| m.text).collect::<Vec<_>>();
        assert_eq!(texts(store.recent("carol", 10).unwrap()), ["hi all"]);
        assert_eq!(texts(store.recent("BOB", 10).unwrap()), ["hi all", "psst"]);
        assert_eq!(texts(store.since("alice", 1, 10).unwrap().0), ["psst"]);
        let (first, more) = store.since("bob", 0, 1).unwrap();
        assert_eq!((texts(first), more), (vec!["hi all".to_string()], true));
        assert!(!store.since("bob", 0, 2).unwrap().1);
    }

    #[test]
    fn catalog_lists_replaces_and_tracks_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut file = FileInfo {
            name: "b.txt".into(),
            size: 3,
            hash: "aa".into(),
            uploader: "alice".into(),
            ts: 1,
        };
        store.put_file(&file).unwrap();
        store
            .put_file(&FileInfo {
                name: "a.txt".into(),
                ..file.clone()
            })
            .unwrap();
        file.hash = "bb".into();
        store.put_file(&file).unwrap();
        let names: Vec<_> = store.files().unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["a.txt", "b.txt"]);
        assert_eq!(store.file("b.txt").unwrap().unwrap().hash, "bb");
        assert!(store.file("c.txt").unwrap().is_none());
        assert!(store.hash_in_use("aa").unwrap(), "a.txt still uses it");
        assert!(!store.hash_in_use("cc").unwrap());
    }

    #[test]
    fn ids_survive_reopen_and_rollback_reuses_nothing_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.begin().unwrap();
            assert_eq!(store.insert(1, "a", None, "one").unwrap(), 1);
            store.commit().unwrap();
            store.begin().unwrap();
            store.insert(2, "a", None, "never committed").unwrap();
            store.rollback();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last_id().unwrap(), 1);
        store.begin().unwrap();
        assert_eq!(store.insert(3, "a", None, "two").unwrap(), 2);
        store.commit().unwrap();
        assert_eq!(store.recent("a", 10).unwrap().len(), 2);
    }
}
