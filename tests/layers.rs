//! The module graph stays one-way: every `crate::` / `super::` edge between the top-level modules of
//! `src/` must be one the "Layers" table of docs/architecture.md allows, and the table itself may
//! only point down (each module imports modules listed below it), so no cycle can come back. The
//! table lists the imports there are, no more: it stays a true map of the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One row of the table: a module and the modules it may import.
struct Row {
    module: String,
    may_import: BTreeSet<String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The rows of the table under "## Layers", top to bottom.
fn layer_table(doc: &str) -> Vec<Row> {
    let section = doc.split("\n## Layers").nth(1).expect("docs/architecture.md has a \"## Layers\" section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`').skip(1).step_by(2).map(|name| name.trim_end_matches(".rs").to_string()).collect()
    };
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| layer"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
            assert_eq!(cells.len(), 3, "a row is | layer | module | may import |: {line}");
            let module = ticked(cells[1]);
            assert_eq!(module.len(), 1, "one module per row: {line}");
            Row { module: module[0].clone(), may_import: ticked(cells[2]).into_iter().collect() }
        })
        .collect()
}

/// Every `.rs` file under `src/`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `lib.rs` and `main.rs` are roots (`[]`), `a.rs` and `a/mod.rs` are
/// `[a]`, `a/b.rs` is `[a, b]`.
fn module_path(src: &Path, file: &Path) -> (bool, Vec<String>) {
    let rel: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    let is_main = rel == ["main"];
    let mut path: Vec<String> = rel.into_iter().filter(|c| c != "mod").collect();
    if path == ["lib"] || path == ["main"] {
        path.clear();
    }
    (is_main, path)
}

/// The code of a file with comments, string and character literals blanked out (so a path in a
/// doc comment or a brace in a JSON sample does not count), lengths kept.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i..].starts_with(b"//") {
            i = text[i..].find('\n').map_or(b.len(), |n| i + n);
            blank(&mut out, start, i);
        } else if b[i..].starts_with(b"/*") {
            i = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            blank(&mut out, start, i);
        } else if b[i] == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            i = text[i + 2 + hashes..].find(&close).map_or(b.len(), |n| i + 2 + hashes + n + close.len());
            blank(&mut out, start, i);
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            blank(&mut out, start, i);
        } else if b[i] == b'\'' {
            // A character literal ('x', '\n', '{'), not a lifetime ('a).
            let len = if b.get(i + 1) == Some(&b'\\') {
                text[i + 2..].find('\'').map(|n| n + 3)
            } else {
                text[i + 1..]
                    .chars()
                    .next()
                    .map(|c| c.len_utf8() + 1)
                    .filter(|n| b.get(i + n) == Some(&b'\''))
            };
            match len {
                Some(n) => {
                    i += n + 1;
                    blank(&mut out, start, i);
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn ident_at(code: &str, at: usize) -> &str {
    let rest = &code[at..];
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
    &rest[..end]
}

/// The first identifiers of a path after `at`: one (`crate::a::b`), or each of a group
/// (`crate::{a, b::c}`).
fn heads(code: &str, at: usize) -> Vec<String> {
    if code[at..].starts_with('{') {
        let mut depth = 0;
        let mut names = Vec::new();
        let mut expect_name = true;
        for (i, c) in code[at..].char_indices() {
            match c {
                '{' => {
                    depth += 1;
                    expect_name = depth == 1;
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => expect_name = true,
                c if expect_name && depth == 1 && (c.is_alphanumeric() || c == '_') => {
                    names.push(ident_at(code, at + i).to_string());
                    expect_name = false;
                }
                _ => {}
            }
        }
        names
    } else {
        vec![ident_at(code, at).to_string()]
    }
}

/// The inline modules (`mod tests { … }`) open at each byte of the code.
fn inline_modules(code: &str) -> Vec<Vec<String>> {
    let mut at = Vec::with_capacity(code.len());
    let mut stack: Vec<(Option<String>, usize)> = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut pending: Option<String> = None;
    let bytes = code.as_bytes();
    for i in 0..bytes.len() {
        at.push(open.clone());
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if word_start && code[i..].starts_with("mod ") {
            let name = ident_at(code, i + 4).to_string();
            let after = code[i + 4 + name.len()..].trim_start();
            if after.starts_with('{') {
                pending = Some(name);
            }
        }
        match bytes[i] {
            b'{' => {
                depth += 1;
                if let Some(name) = pending.take() {
                    open.push(name.clone());
                    stack.push((Some(name), depth));
                }
            }
            b'}' => {
                if stack.last().is_some_and(|(_, d)| *d == depth) {
                    stack.pop();
                    open.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    at
}

/// Every edge `from -> to` between top-level modules, with where it was seen. `lib` stands for the
/// crate root's own items (`crate::Error` when `Error` is not a module).
fn edges(modules: &BTreeSet<String>) -> BTreeMap<(String, String), String> {
    let src = root().join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut found = BTreeMap::new();
    let top_of = |path: &[String], name: &str| -> String {
        match path.first() {
            Some(first) => first.clone(),
            None if modules.contains(name) => name.to_string(),
            None => "lib".to_string(),
        }
    };
    for file in files {
        let (is_main, file_path) = module_path(&src, &file);
        let from =
            if is_main { "main".to_string() } else { file_path.first().cloned().unwrap_or("lib".into()) };
        let text = std::fs::read_to_string(&file).unwrap();
        let code = code_only(&text);
        let open = inline_modules(&code);
        let line_of = |at: usize| code[..at].matches('\n').count() + 1;
        let mut add = |to: String, at: usize| {
            if to != from && !to.is_empty() {
                let place = format!("{}:{}", file.strip_prefix(root()).unwrap().display(), line_of(at));
                found.entry((from.clone(), to)).or_insert(place);
            }
        };
        let crate_word = if is_main { "slack_im::" } else { "crate::" };
        for (at, _) in code.match_indices(crate_word) {
            if at > 0 && (code.as_bytes()[at - 1].is_ascii_alphanumeric() || code.as_bytes()[at - 1] == b'_')
            {
                continue;
            }
            for name in heads(&code, at + crate_word.len()) {
                add(top_of(&[], &name), at);
            }
        }
        for (at, _) in code.match_indices("super::") {
            if at > 0 && (code.as_bytes()[at - 1] == b':' || code.as_bytes()[at - 1].is_ascii_alphanumeric())
            {
                continue;
            }
            let mut path: Vec<String> = file_path.iter().chain(&open[at]).cloned().collect();
            let mut rest = at;
            while code[rest..].starts_with("super::") {
                path.pop();
                rest += "super::".len();
            }
            for name in heads(&code, rest) {
                add(top_of(&path, &name), at);
            }
        }
        // In the crate root, a top-level module is named without `crate::` (`report::Combined`).
        if file_path.is_empty() && !is_main {
            for name in modules {
                for (at, _) in code.match_indices(&format!("{name}::")) {
                    let before = code[..at].chars().next_back();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                        add(name.clone(), at);
                    }
                }
            }
        }
    }
    found
}

/// The top-level modules: `lib`, `main` and every `src/<name>.rs` or `src/<name>/`.
fn top_level_modules() -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("src")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            modules.insert(name);
        }
    }
    modules
}

#[test]
fn every_import_between_modules_is_one_the_layer_table_allows() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let table = layer_table(&doc);
    let modules = top_level_modules();
    let listed: BTreeSet<String> = table.iter().map(|r| r.module.clone()).collect();
    let files: BTreeSet<String> = modules.iter().filter(|m| !has_no_code(m)).cloned().collect();
    assert_eq!(listed, files, "the Layers table lists every top-level module of src/, and only those");

    // The table points down: a module may import only modules listed below it.
    for (i, row) in table.iter().enumerate() {
        for to in &row.may_import {
            let below = table[i + 1..].iter().any(|r| &r.module == to);
            assert!(below, "the Layers table lets `{}` import `{to}`, which is not below it", row.module);
        }
    }

    let lib_items: BTreeSet<String> = modules.iter().filter(|m| m.as_str() != "main").cloned().collect();
    let allowed: BTreeMap<&str, &BTreeSet<String>> =
        table.iter().map(|r| (r.module.as_str(), &r.may_import)).collect();
    let edges = edges(&lib_items);
    // The table is the graph as it is, not a wish list: a name no import uses is stale.
    let stale: Vec<String> = table
        .iter()
        .flat_map(|r| r.may_import.iter().map(move |to| (r.module.clone(), to.clone())))
        .filter(|edge| !edges.contains_key(edge))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        stale.is_empty(),
        "the Layers table of docs/architecture.md allows imports no code makes (remove them):\n  {}",
        stale.join("\n  ")
    );
    let bad: Vec<String> = edges
        .into_iter()
        .filter(|((from, to), _)| !allowed.get(from.as_str()).is_some_and(|may| may.contains(to)))
        .map(|((from, to), at)| format!("{from} -> {to} ({at})"))
        .collect();
    assert!(
        bad.is_empty(),
        "imports the Layers table of docs/architecture.md does not allow:\n  {}",
        bad.join("\n  ")
    );
}

/// Folders of `src/` that are not modules (data files beside the code).
fn has_no_code(name: &str) -> bool {
    let dir = root().join("src").join(name);
    dir.is_dir() && !dir.join("mod.rs").exists() && !root().join("src").join(format!("{name}.rs")).exists()
}

#[test]
fn the_edge_finder_sees_through_comments_strings_and_test_modules() {
    let code = code_only(
        "// crate::a\nlet s = \"crate::b\"; let r = r#\"{ crate::c }\"#; let c = '{';\nuse crate::d;",
    );
    assert!(!code.contains("crate::a") && !code.contains("crate::b") && !code.contains("crate::c"));
    assert!(code.contains("use crate::d;"));
    assert_eq!(heads("{self, b::c, d}", 0), ["self", "b", "d"]);
    let code = "fn f() {}\nmod tests {\n    use super::*;\n}\n";
    let open = inline_modules(code);
    assert_eq!(open[code.find("super").unwrap()], ["tests"]);
    assert!(open[code.find("fn f").unwrap()].is_empty());
}
