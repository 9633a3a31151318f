//! The fuzz corpora as regression tests: every input in `fuzz/corpus/<target>/` (the
//! minimised corpus the fuzzers built) and `fuzz/regressions/<target>/` (inputs that once
//! crashed or hung a target) is run through the same `bedrock_gate::fuzzing` entry point
//! the fuzz target calls, so a change that breaks a parser on any of them fails plain
//! `cargo test`. The fuzzers themselves run from `fuzz/` (docs/FUZZING.md).
use std::path::Path;

use bedrock_gate::fuzzing::TARGETS;

/// The files of `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, target) in TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(
            corpus.len() >= 5,
            "fuzz/corpus/{name} holds {} inputs; the committed corpus is missing",
            corpus.len()
        );
        for path in corpus
            .iter()
            .chain(&inputs(&root.join("regressions").join(name)))
        {
            let data = std::fs::read(path).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} fails on {}", path.display());
        }
    }
}
