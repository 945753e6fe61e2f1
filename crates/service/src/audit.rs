//! The audit trail: an append-only JSON-lines file with one record per
//! operation on key material and per rejected authentication.
//!
//! Each record carries `prev`, the SHA-256 of the previous record's line
//! (64 zeros for the first), so removing or editing a record breaks the
//! chain at that point; [`verify`] finds the first break. A record is written
//! and synced to disk before the operation's result leaves the server: when
//! that fails, the operation fails and no signature is returned.
//!
//! One writer thread appends records in batches, so requests in flight at the
//! same time share one `fdatasync`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Clock;

/// `prev` of the first record.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Most records written with one sync.
const MAX_BATCH: usize = 512;

/// Bytes read from the end of the log to find its last record at startup.
const TAIL_CHUNK: u64 = 64 * 1024;

/// An operation as the service reports it to the audit log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditEvent {
    pub request_id: String,
    pub caller: String,
    /// Operation name such as `cert.create` or `rsa.sign`.
    pub operation: String,
    pub key_id: Option<String>,
    /// Lower-case hex SHA-256 of the request payload, when there is one.
    pub payload_sha256: Option<String>,
    /// Lower-case hex SHA-256 of the returned signature or signed file.
    pub output_sha256: Option<String>,
    /// `ok`, or the error code of the failure.
    pub result: String,
}

/// One line of the audit log.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    pub seq: u64,
    /// UTC, RFC 3339.
    pub time: String,
    pub request_id: String,
    pub caller: String,
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_sha256: Option<String>,
    pub result: String,
    /// Lower-case hex SHA-256 of the previous record's line.
    pub prev: String,
}

/// Failure to open or append to the audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error("cannot write audit log {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("audit log {path} is damaged at line {line}: {reason}; run `balena-sign audit verify`")]
    Damaged { path: PathBuf, line: u64, reason: String },
    #[error("the audit writer has stopped")]
    Stopped,
}

struct Pending {
    event: AuditEvent,
    done: SyncSender<Result<(), String>>,
}

/// Chain state after the last record on disk.
#[derive(Clone, Debug)]
struct ChainHead {
    seq: u64,
    prev: String,
}

/// Handle to the audit log; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    path: PathBuf,
    sender: Arc<Mutex<Sender<Pending>>>,
}

impl AuditLog {
    /// Opens the log at `path`, continuing its chain, and starts the writer.
    ///
    /// Fails when the file cannot be opened for appending, or when its last
    /// record is damaged.
    pub fn open(path: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Result<Self, AuditError> {
        let path = path.into();
        let head = read_chain_head(&path)?;
        open_for_append(&path).map_err(|err| AuditError::Write {
            path: path.clone(),
            reason: err.to_string(),
        })?;

        let (sender, receiver) = mpsc::channel();
        let writer_path = path.clone();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || run_writer(&writer_path, head, clock, receiver))
            .map_err(|err| AuditError::Write {
                path: path.clone(),
                reason: format!("cannot start the writer thread: {err}"),
            })?;

        Ok(Self {
            path,
            sender: Arc::new(Mutex::new(sender)),
        })
    }

    /// Path of the log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` and returns once it is synced to disk.
    pub fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        let (done, wait) = mpsc::sync_channel(1);
        {
            let sender = self.sender.lock().map_err(|_| AuditError::Stopped)?;
            sender.send(Pending { event, done }).map_err(|_| AuditError::Stopped)?;
        }
        match wait.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(AuditError::Write {
                path: self.path.clone(),
                reason,
            }),
            Err(_) => Err(AuditError::Stopped),
        }
    }
}

fn open_for_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().append(true).create(true).mode(0o600).open(path)
}

fn run_writer(path: &Path, mut head: ChainHead, clock: Arc<dyn Clock>, receiver: Receiver<Pending>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }

        let time = clock_rfc3339(clock.as_ref());
        let mut lines = Vec::new();
        let mut next_head = head.clone();
        for pending in &batch {
            let line = encode_record(&pending.event, &mut next_head, &time);
            lines.extend_from_slice(line.as_bytes());
            lines.push(b'\n');
        }

        let result = append_synced(path, &lines);
        if result.is_ok() {
            head = next_head;
        } else if let Err(reason) = &result {
            tracing::error!(path = %path.display(), error = %reason, records = batch.len(), "cannot write audit records");
        }
        for pending in batch {
            let _ = pending.done.send(result.clone());
        }
    }
}

/// Serializes one record and advances `head` past it.
fn encode_record(event: &AuditEvent, head: &mut ChainHead, time: &str) -> String {
    let record = AuditRecord {
        seq: head.seq + 1,
        time: time.to_owned(),
        request_id: event.request_id.clone(),
        caller: event.caller.clone(),
        operation: event.operation.clone(),
        key_id: event.key_id.clone(),
        payload_sha256: event.payload_sha256.clone(),
        output_sha256: event.output_sha256.clone(),
        result: event.result.clone(),
        prev: head.prev.clone(),
    };
    // serde_json fails only on maps with non-string keys and on failing
    // Serialize impls; this struct has neither.
    let line = serde_json::to_string(&record).unwrap_or_default();
    head.seq = record.seq;
    head.prev = hex::encode(Sha256::digest(line.as_bytes()));
    line
}

/// Appends `bytes` and syncs the file; on failure truncates back, so a
/// half-written record never stays in the log.
fn append_synced(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut file = open_for_append(path).map_err(|err| err.to_string())?;
    let is_regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
    let length_before = if is_regular {
        file.metadata().map(|m| m.len()).ok()
    } else {
        None
    };

    let written = file.write_all(bytes).and_then(|()| file.sync_data());
    if let Err(err) = written {
        if let Some(length) = length_before {
            let _ = file.set_len(length);
        }
        return Err(err.to_string());
    }
    Ok(())
}

fn clock_rfc3339(clock: &dyn Clock) -> String {
    let seconds = i64::try_from(clock.now_unix()).unwrap_or(i64::MAX);
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|time| time.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Reads the sequence number and hash of the last record; an empty, missing
/// or non-regular file starts a new chain.
fn read_chain_head(path: &Path) -> Result<ChainHead, AuditError> {
    let genesis = ChainHead {
        seq: 0,
        prev: GENESIS_PREV.into(),
    };
    let Ok(mut file) = File::open(path) else {
        return Ok(genesis);
    };
    let length = match file.metadata() {
        Ok(metadata) if metadata.is_file() => metadata.len(),
        _ => return Ok(genesis),
    };
    if length == 0 {
        return Ok(genesis);
    }

    let start = length.saturating_sub(TAIL_CHUNK);
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_to_end(&mut tail))
        .map_err(|err| AuditError::Write {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;

    let damaged = |reason: &str| AuditError::Damaged {
        path: path.to_path_buf(),
        line: 0,
        reason: reason.to_owned(),
    };
    if tail.last() != Some(&b'\n') {
        return Err(damaged("the last record is not terminated by a newline"));
    }
    let body = tail.get(..tail.len() - 1).unwrap_or_default();
    let last_line = match body.iter().rposition(|b| *b == b'\n') {
        Some(index) => body.get(index + 1..).unwrap_or_default(),
        None if start == 0 => body,
        None => return Err(damaged("the last record is longer than the tail that is read")),
    };
    let record: AuditRecord =
        serde_json::from_slice(last_line).map_err(|err| damaged(&format!("the last record is not valid: {err}")))?;
    Ok(ChainHead {
        seq: record.seq,
        prev: hex::encode(Sha256::digest(last_line)),
    })
}

/// Outcome of checking a whole log.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    /// Every record links to the one before it.
    Intact { records: u64 },
    /// The first record that does not fit the chain.
    Broken { line: u64, reason: String },
}

/// Checks every record of the log at `path`.
pub fn verify(path: &Path) -> std::io::Result<Verification> {
    let reader = BufReader::new(File::open(path)?);
    let mut expected_prev = GENESIS_PREV.to_owned();
    let mut expected_seq = None;
    let mut count = 0u64;

    for (index, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        let line_number = index as u64 + 1;
        let broken = |reason: String| {
            Ok(Verification::Broken {
                line: line_number,
                reason,
            })
        };

        let record: AuditRecord = match serde_json::from_slice(&line) {
            Ok(record) => record,
            Err(err) => return broken(format!("not a valid record: {err}")),
        };
        if record.prev != expected_prev {
            return broken(format!(
                "prev {} does not match the SHA-256 of the previous record, {expected_prev}",
                record.prev
            ));
        }
        if let Some(seq) = expected_seq {
            if record.seq != seq {
                return broken(format!("seq {} where {seq} was expected", record.seq));
            }
        }

        expected_seq = Some(record.seq + 1);
        expected_prev = hex::encode(Sha256::digest(&line));
        count += 1;
    }
    Ok(Verification::Intact { records: count })
}

/// Reads the last `count` records of the log.
pub fn tail(path: &Path, count: usize) -> std::io::Result<Vec<AuditRecord>> {
    let reader = BufReader::new(File::open(path)?);
    let mut records = std::collections::VecDeque::with_capacity(count);
    for line in reader.split(b'\n') {
        let line = line?;
        let Ok(record) = serde_json::from_slice::<AuditRecord>(&line) else {
            continue;
        };
        if records.len() == count {
            records.pop_front();
        }
        records.push_back(record);
    }
    Ok(records.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    fn event(operation: &str) -> AuditEvent {
        AuditEvent {
            request_id: "r1".into(),
            caller: "ci".into(),
            operation: operation.into(),
            key_id: Some("db".into()),
            result: "ok".into(),
            ..AuditEvent::default()
        }
    }

    #[test]
    fn chain_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path, Arc::new(FixedClock(1_700_000_000))).unwrap();
        log.record(event("cert.create")).unwrap();
        log.record(event("cert.sign")).unwrap();
        drop(log);

        let log = AuditLog::open(&path, Arc::new(FixedClock(1_700_000_001))).unwrap();
        log.record(event("rsa.sign")).unwrap();

        assert_eq!(verify(&path).unwrap(), Verification::Intact { records: 3 });
        let records = tail(&path, 2).unwrap();
        assert_eq!(records[0].operation, "cert.sign");
        assert_eq!(records[1].seq, 3);
        assert_eq!(records[1].time, "2023-11-14T22:13:21Z");
    }

    #[test]
    fn edited_record_breaks_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path, Arc::new(FixedClock(0))).unwrap();
        for _ in 0..3 {
            log.record(event("cert.sign")).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap().replacen("\"db\"", "\"xx\"", 2);
        std::fs::write(&path, text).unwrap();

        match verify(&path).unwrap() {
            Verification::Broken { line, .. } => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn full_disk_fails_the_record() {
        let log = AuditLog::open("/dev/full", Arc::new(FixedClock(0))).unwrap();
        assert!(matches!(log.record(event("cert.sign")), Err(AuditError::Write { .. })));
    }

    #[test]
    fn damaged_tail_stops_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, b"{\"seq\":1").unwrap();
        assert!(matches!(
            AuditLog::open(&path, Arc::new(FixedClock(0))),
            Err(AuditError::Damaged { .. })
        ));
    }
}
