//! The "save as" dialog a Download opens: the folder (the download folder at first) and the
//! name (the shared file's), editable, checked before anything starts.

use std::path::PathBuf;

use crate::picker::expand_tilde;

/// The dialog's fields and what the last Save found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveDialog {
    /// The shared file's name on the server (what is downloaded).
    pub file: String,
    /// Its size, for the dialog's text.
    pub size: u64,
    /// The folder field (`~/` allowed).
    pub folder: String,
    /// The name field.
    pub name: String,
    /// Why the last Save was refused, worded for the user.
    pub problem: Option<String>,
    /// Set when the last Save found the target already there: Replace overwrites this path.
    pub exists: Option<PathBuf>,
}

/// What [`SaveDialog::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveCheck {
    /// Free to save here.
    Ok(PathBuf),
    /// A file is already there; saving replaces it.
    Exists(PathBuf),
    /// Cannot save: why.
    Invalid(String),
}

impl SaveDialog {
    /// The dialog for `file`, prefilled with `folder` and the file's own name.
    pub fn new(file: &str, size: u64, folder: PathBuf) -> Self {
        SaveDialog {
            file: file.to_owned(),
            size,
            folder: folder.display().to_string(),
            name: file.to_owned(),
            problem: None,
            exists: None,
        }
    }

    /// Where the fields say to save, checked: a folder is given, the name is a bare safe file
    /// name (the same rule as the protocol's, via `client::save_path`), the target is not a
    /// folder, and whether a file is already there.
    pub fn check(&self) -> SaveCheck {
        let folder = self.folder.trim();
        if folder.is_empty() {
            return SaveCheck::Invalid("Choose a folder to save in.".into());
        }
        let folder = expand_tilde(folder);
        if folder.exists() && !folder.is_dir() {
            return SaveCheck::Invalid(format!("{} is not a folder.", folder.display()));
        }
        let dest = match client::save_path(&folder, &self.name) {
            Ok(dest) => dest,
            Err(_) => {
                let why = match proto::validate_file_name(&self.name) {
                    Err(err) => err.to_string(),
                    Ok(()) => "it is not a plain file name".into(),
                };
                return SaveCheck::Invalid(format!("Cannot save as '{}': {why}.", self.name));
            }
        };
        if dest.is_dir() {
            return SaveCheck::Invalid(format!(
                "{} is a folder; choose another name.",
                dest.display()
            ));
        }
        if dest.exists() {
            return SaveCheck::Exists(dest);
        }
        SaveCheck::Ok(dest)
    }

    /// Save pressed: the path to download to, or `None` with the problem (or the clash) noted
    /// for the dialog to show.
    pub fn save(&mut self) -> Option<PathBuf> {
        self.problem = None;
        self.exists = None;
        match self.check() {
            SaveCheck::Ok(dest) => Some(dest),
            SaveCheck::Exists(dest) => {
                self.exists = Some(dest);
                None
            }
            SaveCheck::Invalid(why) => {
                self.problem = Some(why);
                None
            }
        }
    }

    /// Replace pressed: the path, if the fields still name a saveable target.
    pub fn replace(&mut self) -> Option<PathBuf> {
        match self.check() {
            SaveCheck::Ok(dest) | SaveCheck::Exists(dest) => Some(dest),
            SaveCheck::Invalid(why) => {
                self.exists = None;
                self.problem = Some(why);
                None
            }
        }
    }

    /// A field changed: earlier findings no longer apply.
    pub fn edited(&mut self) {
        self.problem = None;
        self.exists = None;
    }

    /// Sets the folder (from the picker).
    pub fn set_folder(&mut self, folder: PathBuf) {
        self.folder = folder.display().to_string();
        self.edited();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog(dir: &std::path::Path) -> SaveDialog {
        SaveDialog::new("notes.txt", 10, dir.to_owned())
    }

    #[test]
    fn prefilled_with_the_folder_and_the_name() {
        let d = dialog(std::path::Path::new("/tmp/dl"));
        assert_eq!(d.folder, "/tmp/dl");
        assert_eq!(d.name, "notes.txt");
        assert_eq!(d.check(), SaveCheck::Ok("/tmp/dl/notes.txt".into()));
    }

    #[test]
    fn unsafe_or_empty_names_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = dialog(dir.path());
        for bad in ["", "../x", "a/b", "..", " pad", "tab\there"] {
            d.name = bad.into();
            assert!(matches!(d.check(), SaveCheck::Invalid(_)), "{bad:?}");
            assert_eq!(d.save(), None);
            let problem = d.problem.clone().unwrap();
            assert!(problem.starts_with("Cannot save as"), "{problem}");
        }
        d.edited();
        assert_eq!(d.problem, None);
        d.name = "ok.txt".into();
        d.folder = "  ".into();
        assert_eq!(d.save(), None);
        assert_eq!(d.problem.as_deref(), Some("Choose a folder to save in."));
    }

    #[test]
    fn an_existing_file_asks_to_replace_and_a_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"old").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let mut d = dialog(dir.path());
        assert_eq!(d.save(), None);
        assert_eq!(d.exists, Some(dir.path().join("notes.txt")));
        assert_eq!(d.problem, None);
        assert_eq!(d.replace(), Some(dir.path().join("notes.txt")));

        // Another name instead: free.
        d.name = "notes2.txt".into();
        d.edited();
        assert_eq!(d.exists, None);
        assert_eq!(d.save(), Some(dir.path().join("notes2.txt")));

        d.name = "sub".into();
        assert_eq!(d.save(), None);
        assert!(d.problem.as_deref().unwrap().contains("is a folder"));

        d.folder = dir.path().join("notes.txt").display().to_string();
        d.name = "x".into();
        assert_eq!(d.save(), None);
        assert!(d.problem.as_deref().unwrap().contains("is not a folder"));
    }

    #[test]
    fn a_missing_folder_is_fine_it_is_created_on_download() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = dialog(&dir.path().join("new"));
        assert_eq!(d.save(), Some(dir.path().join("new/notes.txt")));
    }
}
