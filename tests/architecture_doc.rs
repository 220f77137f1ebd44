//! docs/architecture.md stays true: every file it names exists, and every code name it names
//! (`read::prepare`, `Summary::from_result`, `uses_groups`) is a word of the code, inside the
//! module it is said to be in. A renamed or removed function fails here, not in a newcomer's hands.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Every file under `dir`, skipping build output and version control.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let build_output = name == "target" && !path.parent().is_some_and(|p| p.ends_with("src"));
        if build_output || name == ".git" {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The names the document puts in backticks, and the `module::name`s of its flow diagram.
fn names(doc: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut in_fence = false;
    for line in doc.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            // `(read::prepare, connect)`: the diagram's code names, joined by `::`.
            let words = line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'));
            names.extend(words.filter(|w| w.contains("::")).map(str::to_string));
        } else {
            names.extend(line.split('`').skip(1).step_by(2).map(str::to_string));
        }
    }
    names.sort();
    names.dedup();
    names
}

/// `a::b::c` or `f()`: a name of the code.
fn is_code_path(name: &str) -> bool {
    let name = name.trim_end_matches("()");
    !name.is_empty()
        && name.split("::").all(|part| {
            part.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

fn is_file_name(name: &str) -> bool {
    name.contains('/')
        || [".rs", ".json", ".md", ".sh", ".groovy", ".jsonl", ".xml"].iter().any(|e| name.ends_with(e))
}

fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let outside = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        outside(before) && outside(after)
    })
}

#[test]
fn every_name_in_the_architecture_doc_exists() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let mut all = Vec::new();
    files(&root(), &mut all);
    let rel: Vec<String> =
        all.iter().map(|p| p.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/")).collect();
    let code: Vec<(String, String)> = all
        .iter()
        .zip(&rel)
        .filter(|(_, r)| {
            (r.starts_with("src/") && r.ends_with(".rs"))
                || (r.starts_with("jenkins-shared-lib/") && r.ends_with(".groovy"))
        })
        .map(|(p, r)| (r.clone(), std::fs::read_to_string(p).unwrap()))
        .collect();
    // The code of a top-level module (`src/read.rs`, or every file of `src/report/`), of `src/`
    // (`Some("")`), or all of it, the Jenkins step's Groovy included (`None`).
    let code_of = |module: Option<&str>| -> String {
        code.iter()
            .filter(|(r, _)| match module {
                Some("") => r.starts_with("src/"),
                Some(m) => *r == format!("src/{m}.rs") || r.starts_with(&format!("src/{m}/")),
                None => true,
            })
            .map(|(_, text)| text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let is_module = |name: &str| {
        rel.iter().any(|r| *r == format!("src/{name}.rs") || r.starts_with(&format!("src/{name}/")))
    };
    let mut missing = Vec::new();
    let names = names(&doc);
    for name in &names {
        if is_file_name(name) {
            let path = name.trim_end_matches('/').split(' ').next().unwrap();
            let found = rel.iter().any(|r| {
                r == path
                    || r.ends_with(&format!("/{path}"))
                    || r.starts_with(&format!("{path}/"))
                    || r.contains(&format!("/{path}/"))
                    || *r == format!("src/{path}.rs")
                    || r.starts_with(&format!("src/{path}/"))
            });
            // Or a file the code writes (`summary.json`).
            if !found && !code_of(Some("")).contains(path) {
                missing.push(format!("{name} (no such file)"));
            }
        } else if is_code_path(name) {
            let parts: Vec<&str> = name.trim_end_matches("()").split("::").collect();
            let last = parts[parts.len() - 1];
            let (module, rest) = match parts.first() {
                Some(first) if parts.len() > 1 && is_module(first) => (Some(*first), &parts[1..]),
                _ => (None, &parts[..]),
            };
            if parts.len() == 1 && is_module(last) {
                continue;
            }
            let text = code_of(module);
            if !rest.iter().all(|part| has_word(&text, part)) {
                let place = module.map_or("src/ or the Jenkins step".to_string(), |m| format!("module {m}"));
                missing.push(format!("{name} (no `{last}` in {place})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/architecture.md names what does not exist:\n  {}",
        missing.join("\n  ")
    );
    assert!(names.len() > 50, "the doc's names were found: {names:?}");
}
