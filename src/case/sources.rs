//! A folder of cases, one per source, for the same people: `batch --source audit --out-dir
//! CASE/audit`, `batch --source signins --out-dir CASE/signins`, ... Each keeps its own
//! manifest, lock, resume and signature (a source's walk, resume rule and filters are its own);
//! `verify CASE` checks every one and `triage CASE` reads them together.

use std::path::{Path, PathBuf};

use super::{MAILBOXES, MANIFEST};

/// The cases inside `folder`, sorted, when it is a folder of cases: no manifest of its own, no
/// mailboxes (a case that lost its manifest still has them, and is not one), and at least one
/// sub-folder with a case manifest. `None` otherwise.
pub fn source_cases(folder: &Path) -> Option<Vec<PathBuf>> {
    if !folder.is_dir() || folder.join(MANIFEST).exists() || folder.join(MAILBOXES).exists() {
        return None;
    }
    let mut cases: Vec<PathBuf> = std::fs::read_dir(folder)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir() && path.join(MANIFEST).is_file())
        .collect();
    cases.sort();
    (!cases.is_empty()).then_some(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_of_cases_is_told_from_a_case_and_from_a_case_without_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(source_cases(root), None, "an empty folder");
        for source in ["signins", "audit"] {
            std::fs::create_dir_all(root.join(source).join(MAILBOXES)).unwrap();
            std::fs::write(root.join(source).join(MANIFEST), "{}").unwrap();
        }
        std::fs::create_dir(root.join("notes")).unwrap();
        assert_eq!(
            source_cases(root),
            Some(vec![root.join("audit"), root.join("signins")])
        );
        // A case is not a folder of cases, nor is a case that lost its manifest.
        assert_eq!(source_cases(&root.join("audit")), None);
        std::fs::remove_file(root.join("audit").join(MANIFEST)).unwrap();
        assert_eq!(source_cases(&root.join("audit")), None);
    }
}
