//! The crate's modules depend one way: no module imports a module that
//! imports it back, directly or round a longer loop. ARCHITECTURE.md draws
//! the arrows (doors → services → store, hub → backplane); a loop would mean
//! two modules that can only be understood, or changed, together.
//!
//! Read from the source text, not the compiler: an import is a path that
//! starts at `crate::` or `super::` (in a `use` or in code, `use` groups
//! included), or that starts with a name a `use` bound to a module. A
//! parent's own `mod` children are not imports of it. Comments and
//! `#[cfg(test)] mod tests` are left out: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module, as its path of names below the crate (`["compat", "rest"]`).
type Module = Vec<String>;

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = modules_under(&root);
    assert!(sources.len() > 50, "read {} modules", sources.len());
    let known: BTreeSet<Module> = sources.keys().cloned().collect();
    let imports: BTreeMap<Module, BTreeSet<Module>> = sources
        .iter()
        .map(|(module, source)| (module.clone(), imports_of(module, source, &known)))
        .collect();
    let loops: Vec<String> = loops_in(&imports)
        .into_iter()
        .map(|members| {
            let names: Vec<String> = members.iter().map(|module| module.join("::")).collect();
            names.join(" ↔ ")
        })
        .collect();
    assert!(
        loops.is_empty(),
        "modules that import each other: {loops:#?}"
    );
}

#[test]
fn the_reading_finds_a_loop_when_there_is_one() {
    let known: BTreeSet<Module> = [name("a"), name("b"), name("c"), name("c::d")]
        .into_iter()
        .collect();
    let sources = [
        (
            name("a"),
            "use crate::b::{self, Thing};\nfn f() { b::call(); }",
        ),
        (
            name("b"),
            "// use crate::a; is a comment\nuse crate::c::d::Item;",
        ),
        (
            name("c::d"),
            "fn g() { crate::a::run(); }\n#[cfg(test)]\nmod tests { use crate::b; }",
        ),
        (
            name("c"),
            "mod d;\nuse super::b as other;\nfn h() { other::x(); }",
        ),
    ];
    let imports: BTreeMap<Module, BTreeSet<Module>> = sources
        .iter()
        .map(|(module, source)| (module.clone(), imports_of(module, source, &known)))
        .collect();
    assert_eq!(imports[&name("a")], [name("b")].into_iter().collect());
    assert_eq!(imports[&name("b")], [name("c::d")].into_iter().collect());
    assert_eq!(imports[&name("c::d")], [name("a")].into_iter().collect());
    assert_eq!(imports[&name("c")], [name("b")].into_iter().collect());
    assert_eq!(
        loops_in(&imports),
        vec![vec![name("a"), name("b"), name("c::d")]]
    );
}

fn name(path: &str) -> Module {
    path.split("::").map(str::to_owned).collect()
}

/// Every `.rs` file of the library below `root` by module path (`mod.rs`
/// and `lib.rs` name their folder's module).
fn modules_under(root: &Path) -> BTreeMap<Module, String> {
    let mut modules = BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let relative = path.strip_prefix(root).unwrap().with_extension("");
            if relative == Path::new("main") {
                // The binary: a crate of its own, whose `crate::` is not this one.
                continue;
            }
            let mut module: Module = relative
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            modules.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    modules
}

/// The modules `source` (the text of `module`) imports.
fn imports_of(module: &Module, source: &str, known: &BTreeSet<Module>) -> BTreeSet<Module> {
    let code = without_comments_and_tests(source);
    let parent: Module = module[..module.len().saturating_sub(1)].to_vec();
    let mut paths: Vec<Module> = Vec::new();
    for (start, base) in [("crate::", Vec::new()), ("super::", parent)] {
        for (at, _) in code.match_indices(start) {
            if at > 0 && is_path_char(code.as_bytes()[at - 1]) {
                continue;
            }
            paths.extend(expand(&base, &code[at + start.len()..]));
        }
    }
    // A `use` that names a module binds its last name (or its `as` name).
    let mut aliases: BTreeMap<String, Module> = BTreeMap::new();
    for path in &paths {
        if let Some(last) = path.last().filter(|_| known.contains(path)) {
            aliases.insert(last.clone(), path.clone());
        }
    }
    for (alias, target) in aliases_bound_with_as(&code, known, module) {
        aliases.insert(alias, target);
    }
    for (alias, target) in &aliases {
        let start = format!("{alias}::");
        for (at, _) in code.match_indices(&start) {
            if at > 0 && is_path_char(code.as_bytes()[at - 1]) {
                continue;
            }
            paths.extend(expand(target, &code[at + start.len()..]));
        }
    }
    paths
        .iter()
        .filter_map(|path| longest_known_prefix(path, known))
        .filter(|target| target != module)
        .collect()
}

/// `use crate::x::y as z;` and `use super::y as z;`: `z` names `x::y`.
fn aliases_bound_with_as(
    code: &str,
    known: &BTreeSet<Module>,
    module: &Module,
) -> Vec<(String, Module)> {
    let parent: Module = module[..module.len().saturating_sub(1)].to_vec();
    let mut bound = Vec::new();
    for statement in code.split(';') {
        let Some((path, alias)) = statement.trim().split_once(" as ") else {
            continue;
        };
        let path = path
            .trim()
            .trim_start_matches("pub ")
            .trim_start_matches("use ");
        let (base, rest) = if let Some(rest) = path.strip_prefix("crate::") {
            (Vec::new(), rest)
        } else if let Some(rest) = path.strip_prefix("super::") {
            (parent.clone(), rest)
        } else {
            continue;
        };
        let mut target = base;
        target.extend(rest.split("::").map(str::to_owned));
        if known.contains(&target) {
            bound.push((alias.trim().to_owned(), target));
        }
    }
    bound
}

/// The paths a reference starting at `rest` names, below `base`: one for
/// `a::b::c`, one for each entry of a `a::{b, c::d}` group.
fn expand(base: &Module, rest: &str) -> Vec<Module> {
    let mut path = base.clone();
    let mut text = rest;
    loop {
        let length = text.bytes().take_while(|&byte| is_path_char(byte)).count();
        if length == 0 {
            break;
        }
        path.push(text[..length].to_owned());
        text = &text[length..];
        match text.strip_prefix("::") {
            Some(after) => text = after,
            None => return vec![path],
        }
    }
    let Some(group) = text.strip_prefix('{') else {
        return vec![path];
    };
    let group = &group[..closing_brace(group)];
    let mut paths = vec![path.clone()];
    for entry in split_top_level(group) {
        let entry = entry.split(" as ").next().unwrap_or("").trim();
        if entry.is_empty() || entry == "self" || entry == "*" {
            continue;
        }
        paths.extend(expand(&path, entry));
    }
    paths
}

/// Where the group that `text` starts inside of closes.
fn closing_brace(text: &str) -> usize {
    let mut depth = 0usize;
    for (at, byte) in text.bytes().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' if depth == 0 => return at,
            b'}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// The entries of a `use` group, split at commas outside nested groups.
fn split_top_level(group: &str) -> Vec<&str> {
    let mut entries = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (at, byte) in group.bytes().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                entries.push(&group[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    entries.push(&group[start..]);
    entries
}

fn longest_known_prefix(path: &Module, known: &BTreeSet<Module>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|length| path[..length].to_vec())
        .find(|prefix| known.contains(prefix))
}

fn is_path_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// `source` without `//` comments (doc comments included) and without its
/// `#[cfg(test)] mod tests` module, which the file ends with by convention.
fn without_comments_and_tests(source: &str) -> String {
    let source = match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    source
        .lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string (a URL) ends the line early too: that
            // can only hide an import, never invent one.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The groups of modules that reach each other (strongly connected
/// components with more than one member), each sorted.
fn loops_in(imports: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    let reachable = |from: &Module| -> BTreeSet<Module> {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<&Module> = vec![from];
        while let Some(module) = pending.pop() {
            for next in imports.get(module).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    pending.push(next);
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&Module, BTreeSet<Module>> = imports
        .keys()
        .map(|module| (module, reachable(module)))
        .collect();
    let mut loops: Vec<Vec<Module>> = Vec::new();
    for (module, reached) in &reach {
        if !reached.contains(*module) || loops.iter().any(|group| group.contains(module)) {
            continue;
        }
        let group: Vec<Module> = reached
            .iter()
            .filter(|other| reach.get(other).is_some_and(|back| back.contains(*module)))
            .cloned()
            .collect();
        loops.push(group);
    }
    loops
}
