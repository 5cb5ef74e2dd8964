//! The layering the build does not check by itself (one crate), checked here from the source:
//! no import circle between files or between top-level modules, a mock that uses no client
//! module (so it checks the client independently), and no file over 800 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
const TESTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`.
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix(SRC).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without its unit tests and comments (what the build of the library uses).
fn code_of(text: &str) -> String {
    let text = text
        .find("#[cfg(test)]\nmod tests")
        .map_or(text, |at| &text[..at]);
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a file names from `crate::` and `super::`, resolved to absolute module paths; a
/// `use` group (`crate::a::{b, c::d}`) names each of its members.
fn named_paths(module: &str, code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    for (start, prefix) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let mut rest = &code[start + prefix.len()..];
        let mut base: Vec<&str> = if prefix == "crate::" {
            Vec::new()
        } else {
            let mut parent: Vec<&str> = module.split("::").collect();
            parent.pop();
            parent
        };
        // `super::super::x`
        while let Some(more) = rest.strip_prefix("super::") {
            base.pop();
            rest = more;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches(':');
        let full = |tail: &str| {
            let mut parts = base.clone();
            parts.extend(tail.split("::").filter(|p| !p.is_empty()));
            parts.join("::")
        };
        paths.push(full(path));
        if rest[end..].starts_with('{') {
            if let Some(close) = rest[end..].find('}') {
                for member in rest[end + 1..end + close].split(',') {
                    let member = member.split(" as ").next().unwrap_or("").trim();
                    if !member.is_empty() && member != "self" {
                        paths.push(full(&format!("{path}::{member}")));
                    }
                }
            }
        }
    }
    paths
}

/// The module of `path` among `modules`: its longest prefix that is one.
fn owner<'m>(path: &str, modules: &'m BTreeSet<String>) -> Option<&'m String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .find_map(|n| modules.get(&parts[..n].join("::")))
}

/// The groups of nodes that import each other in a circle (Tarjan's strongly connected
/// components of more than one node).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        circles: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, node: &'g str) {
            let index = self.index.len();
            self.index.insert(node, index);
            self.low.insert(node, index);
            self.stack.push(node);
            for next in self.graph.get(node).into_iter().flatten() {
                if !self.index.contains_key(next.as_str()) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next.as_str()]);
                    self.low.insert(node, low);
                } else if self.stack.contains(&next.as_str()) {
                    let low = self.low[node].min(self.index[next.as_str()]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let at = self.stack.iter().rposition(|n| *n == node).unwrap();
                let members: Vec<String> = self.stack.drain(at..).map(String::from).collect();
                if members.len() > 1 {
                    self.circles.push(members);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        circles: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            walk.visit(node);
        }
    }
    walk.circles
}

/// Each library file with the modules it imports; edges to a file's own ancestors are left out
/// (a child names its parent's items by `super::`, which is how Rust modules nest).
fn import_graphs() -> (
    BTreeMap<String, BTreeSet<String>>,
    BTreeMap<String, BTreeSet<String>>,
) {
    let files: Vec<(String, String)> = rust_files(Path::new(SRC))
        .into_iter()
        .filter(|p| !p.ends_with("main.rs") && !p.ends_with("lib.rs"))
        .map(|p| {
            (
                module_of(&p),
                code_of(&std::fs::read_to_string(&p).unwrap()),
            )
        })
        .collect();
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut by_file: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut by_top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in &files {
        let top = module.split("::").next().unwrap().to_string();
        for path in named_paths(module, code) {
            let Some(target) = owner(&path, &modules) else {
                continue;
            };
            let target_top = target.split("::").next().unwrap().to_string();
            if target_top != top {
                by_top.entry(top.clone()).or_default().insert(target_top);
            }
            let ancestor = module.starts_with(&format!("{target}::"));
            if target != module && !ancestor {
                by_file
                    .entry(module.clone())
                    .or_default()
                    .insert(target.clone());
            }
        }
    }
    (by_file, by_top)
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(n, e)| (n.to_string(), e.into_iter().map(String::from).collect()))
    .collect();
    let found = circles(&graph);
    assert_eq!(found.len(), 1);
    let mut members = found[0].clone();
    members.sort();
    assert_eq!(members, ["a", "b", "c"]);
    assert_eq!(
        named_paths("x::y", "use super::{z, w::v as u};\nuse crate::q::r;"),
        ["q::r", "x", "x::z", "x::w::v"]
    );
}

#[test]
fn no_file_or_module_imports_in_a_circle() {
    let (by_file, by_top) = import_graphs();
    assert!(by_file.len() > 50, "the source was not read");
    assert!(
        by_top["pipeline"].contains("source"),
        "{:?}",
        by_top["pipeline"]
    );
    assert_eq!(circles(&by_file), Vec::<Vec<String>>::new(), "files");
    assert_eq!(
        circles(&by_top),
        Vec::<Vec<String>>::new(),
        "top-level modules"
    );
}

#[test]
fn the_mock_uses_no_client_module() {
    let (_, by_top) = import_graphs();
    let used = by_top.get("mock").cloned().unwrap_or_default();
    assert!(
        used.is_empty(),
        "the mock tenant must check the client independently, yet it imports {used:?}"
    );
}

#[test]
fn no_file_is_over_800_lines() {
    let long: Vec<String> = rust_files(Path::new(SRC))
        .into_iter()
        .chain(rust_files(Path::new(TESTS)))
        .filter_map(|path| {
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            (lines > 800).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by what they do: {long:#?}");
}
