//! CloudTrail log files: finding them (files, or directories walked recursively in
//! name order, such as the S3 layout `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`)
//! and reading one (`{"Records": [...]}`, plain or gzip, told apart by content) as a
//! stream, so that the records before a corrupt or truncated part are kept.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;

use super::error::{describe, CloudTrailError};
use super::record::{RawRecord, Seen};

/// Whether a file found in a directory is a log file (`.json`, `.json.gz`, `.gz`).
fn is_log_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.') && (name.ends_with(".json") || name.ends_with(".gz"))
}

/// The log files named by `paths`: files as given, directories walked recursively (only
/// `.json` and `.gz` files, in name order).
pub fn log_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CloudTrailError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| CloudTrailError::Io {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CloudTrailError> {
    let io = |source| CloudTrailError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let kind = e.file_type().map_err(io)?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() && is_log_name(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads one log file, handing each record to `each` as it is parsed. Returns the
/// number of records; a fault part-way is an error that says how many came before it
/// (those were handed over).
pub fn read_log_file(path: &Path, each: &mut dyn FnMut(Seen)) -> Result<u64, CloudTrailError> {
    let file = File::open(path).map_err(|source| CloudTrailError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_log(BufReader::with_capacity(256 * 1024, file), path, each)
}

/// [`read_log_file`] on an opened file; `path` names it in errors.
pub(crate) fn read_log(
    mut buffered: impl BufRead,
    path: &Path,
    each: &mut dyn FnMut(Seen),
) -> Result<u64, CloudTrailError> {
    let head = buffered.fill_buf().map_err(|source| CloudTrailError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read + '_> = if gzip {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    };
    let mut records = 0u64;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = LogSeed {
        each: &mut |seen| {
            records += 1;
            each(seen);
        },
    }
    .deserialize(&mut de)
    .and_then(|found| de.end().map(|()| found));
    match parsed {
        Ok(true) => Ok(records),
        Ok(false) => Err(CloudTrailError::Corrupt {
            path: path.to_path_buf(),
            what: "not a CloudTrail log: the object has no `Records` list".into(),
            records,
        }),
        Err(e) => Err(CloudTrailError::Corrupt {
            path: path.to_path_buf(),
            what: describe(&e, gzip),
            records,
        }),
    }
}

/// The top-level object; finds `Records` and streams it.
struct LogSeed<'a> {
    each: &'a mut dyn FnMut(Seen),
}

impl<'de> DeserializeSeed<'de> for LogSeed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LogSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a `Records` list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "Records" {
                map.next_value_seed(RecordsSeed {
                    each: &mut *self.each,
                })?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// The `Records` list, one record at a time.
struct RecordsSeed<'a> {
    each: &'a mut dyn FnMut(Seen),
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of CloudTrail records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<RawRecord>()? {
            (self.each)(record.classify());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn record(id: u32) -> String {
        format!(
            r#"{{"eventID":"e-{id}","eventTime":"2026-11-27T10:00:00Z","eventSource":"bedrock.amazonaws.com",
            "eventName":"InvokeModel","userIdentity":{{"type":"IAMUser","userName":"u"}},
            "responseElements":null,"resources":[{{"ARN":"x"}}]}}"#
        )
    }

    fn read(path: &Path) -> (Vec<Seen>, Result<u64, CloudTrailError>) {
        let mut seen = Vec::new();
        let r = read_log_file(path, &mut |s| seen.push(s));
        (seen, r)
    }

    #[test]
    fn plain_and_gzip_files_read_alike_and_truncation_keeps_what_came_before() {
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            r#"{{"Records":[{}, {}, {}], "other": {{"x": [1]}}}}"#,
            record(1),
            record(2),
            record(3)
        );
        let plain = dir.path().join("a.json");
        std::fs::write(&plain, &body).unwrap();
        let gz = dir.path().join("b.json.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(body.as_bytes()).unwrap();
        let bytes = enc.finish().unwrap();
        std::fs::write(&gz, &bytes).unwrap();
        for p in [&plain, &gz] {
            let (seen, r) = read(p);
            assert_eq!(r.unwrap(), 3);
            assert!(seen.iter().all(|s| matches!(s, Seen::Call(_))));
        }

        // Cut inside the third record: two records come through, the error names the file.
        let cut = body.find("e-3").unwrap();
        let truncated = dir.path().join("c.json");
        std::fs::write(&truncated, &body[..cut]).unwrap();
        let (seen, r) = read(&truncated);
        assert_eq!(seen.len(), 2);
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("c.json") && e.contains("truncated") && e.contains("2 records"),
            "{e}"
        );

        let gz_cut = dir.path().join("d.json.gz");
        std::fs::write(&gz_cut, &bytes[..bytes.len() / 2]).unwrap();
        let (_, r) = read(&gz_cut);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("d.json.gz") && e.contains("gzip"), "{e}");

        let not_log = dir.path().join("e.json");
        std::fs::write(&not_log, r#"{"Digest": 1}"#).unwrap();
        let e = read(&not_log).1.unwrap_err().to_string();
        assert!(e.contains("no `Records`"), "{e}");

        let files = log_files(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            ["a.json", "b.json.gz", "c.json", "d.json.gz", "e.json"]
        );
        assert!(log_files(&[dir.path().join("missing")])
            .unwrap_err()
            .to_string()
            .contains("missing"));
    }
}
