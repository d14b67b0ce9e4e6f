//! The house's layout: no module of `zeroth` or `zeroth-core` imports, through any
//! chain of others, a module that imports it back; and `zeroth-core` names neither
//! cryptoki nor age. A module is a file (`src/ceremony/unseal.rs` is
//! `ceremony::unseal`), and so is a top module with all its files (`ceremony`); an
//! import is any path through `crate::` or `super::` outside comments and the `tests`
//! module. A path through a re-export of zeroth-core (`crate::share`) is an edge to
//! zeroth-core, which never imports zeroth back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `ceremony/mod.rs` → `ceremony`; `lib.rs` and `main.rs` → `crate`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let parts = match parts.last().map(String::as_str) {
        Some("mod") => &parts[..parts.len() - 1],
        _ => &parts[..],
    };
    match parts {
        [one] if one == "lib" || one == "main" => "crate".into(),
        _ => parts.join("::"),
    }
}

/// The text of a file without its comments and without its `#[cfg(test)] mod tests`.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path named from `start` (just after `crate::` or `super::`), with the
/// members of a `{…}` group each made a path of their own.
fn paths_at(code: &str, start: usize) -> Vec<String> {
    let rest = &code[start..];
    let mut prefix = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if is_ident(c) || c == ':' {
            prefix.push(c);
            chars.next();
        } else if c == '{' {
            // A group: its members, at its top level, each after the prefix.
            let mut depth = 0;
            let mut end = i;
            for (j, d) in rest[i..].char_indices() {
                match d {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i + j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            return rest[i + 1..end]
                .split(|c: char| c == ',' || c.is_whitespace() || c == '{' || c == '}')
                .filter(|m| !m.is_empty() && *m != "self")
                .map(|m| format!("{prefix}{m}"))
                .collect();
        } else {
            break;
        }
    }
    vec![prefix]
}

/// The graph of one crate's modules: who imports whom.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|f| (module_of(src, f), f.clone()))
        .collect();
    let resolve = |path: &str| -> Option<String> {
        let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|m| modules.contains_key(m))
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &modules {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let parent: Vec<&str> = module.split("::").collect();
        let parent = if module == "crate" {
            &[][..]
        } else {
            &parent[..parent.len() - 1]
        };
        let out = edges.entry(module.clone()).or_default();
        for (root, base) in [("crate::", String::new()), ("super::", parent.join("::"))] {
            let mut from = 0;
            while let Some(i) = code[from..].find(root) {
                let at = from + i;
                from = at + root.len();
                if code[..at].chars().next_back().is_some_and(is_ident) {
                    continue;
                }
                for path in paths_at(&code, from) {
                    let full = if base.is_empty() {
                        path
                    } else {
                        format!("{base}::{path}")
                    };
                    if let Some(to) = resolve(&full)
                        && &to != module
                        && to != "crate"
                    {
                        out.insert(to);
                    }
                }
            }
        }
    }
    edges
}

/// The cycles of `edges`: each strongly connected set of more than one module.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Two modules are in one cycle when each reaches the other.
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for to in edges.get(&m).into_iter().flatten() {
                if seen.insert(to.clone()) {
                    todo.push(to.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|m| (m, reach(m))).collect();
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for m in edges.keys() {
        if done.contains(m) || !reached[m].contains(m) {
            continue;
        }
        let set: Vec<String> = reached[m]
            .iter()
            .filter(|o| reached.get(o).is_some_and(|r| r.contains(m)))
            .cloned()
            .collect();
        done.extend(set.iter().cloned());
        found.push(set);
    }
    found
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_module_imports_itself_through_others() {
    for src in [root().join("src"), root().join("core/src")] {
        let edges = graph(&src);
        assert!(
            edges.len() > 10,
            "{}: the modules were not found",
            src.display()
        );
        let found = cycles(&edges);
        assert!(
            found.is_empty(),
            "{}: import cycles: {found:?}",
            src.display()
        );
        // And among the top modules, a directory counting as one (`ceremony` is
        // every file under src/ceremony/): no two import each other through any file.
        let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, tos) in &edges {
            let from = from.split("::").next().unwrap().to_string();
            let out = top.entry(from.clone()).or_default();
            for to in tos {
                let to = to.split("::").next().unwrap();
                if to != from {
                    out.insert(to.to_string());
                }
            }
        }
        let found = cycles(&top);
        assert!(
            found.is_empty(),
            "{}: import cycles among the top modules: {found:?}",
            src.display()
        );
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "mod x;\nmod y;\nuse crate::b::Thing;\n",
    )
    .unwrap();
    std::fs::write(src.join("a/x.rs"), "use super::{y::Y, Z};\n").unwrap();
    std::fs::write(
        src.join("a/y.rs"),
        "// crate::b is only a comment\npub fn f() { super::x::g() }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("b.rs"),
        "use crate::{a, c};\n#[cfg(test)]\nmod tests { use crate::a::x; }\n",
    )
    .unwrap();
    let edges = graph(src);
    assert_eq!(
        cycles(&edges),
        vec![
            vec!["a".to_string(), "b".to_string()],
            vec!["a::x".to_string(), "a::y".to_string()],
        ]
    );
}

#[test]
fn the_core_builds_without_the_hsm_or_age() {
    let manifest = std::fs::read_to_string(root().join("core/Cargo.toml")).unwrap();
    for name in ["cryptoki", "age "] {
        assert!(
            !manifest.lines().any(|l| l.starts_with(name)),
            "zeroth-core depends on {name}"
        );
    }
    let mut files = Vec::new();
    rust_files(&root().join("core/src"), &mut files);
    for f in files {
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        for name in ["cryptoki::", "age::"] {
            assert!(!code.contains(name), "{} names {name}", f.display());
        }
    }
}
