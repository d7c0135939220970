//! The in-app file picker's model: one folder's entries, sorted and filtered, and where the
//! user is. No egui here (`ui/picker.rs` draws it), so it is unit-tested against real
//! temporary folders.
//!
//! A folder that cannot be read (missing, not a folder, no permission) never panics: the
//! picker moves there, shows only `..` and an error, and the user goes back or elsewhere.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// What kind of entry a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// The `..` row: the parent folder.
    Parent,
    /// A folder.
    Dir,
    /// A file and its size in bytes.
    File(u64),
}

/// One row of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name shown (`..` for the parent).
    pub name: String,
    /// The full path.
    pub path: PathBuf,
    /// Folder, file or parent.
    pub kind: EntryKind,
}

impl Entry {
    /// Whether activating it goes into a folder (a folder or `..`).
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, EntryKind::Dir | EntryKind::Parent)
    }
}

/// Whether `name` is hidden by the Unix convention (starts with a dot).
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// The entries of `dir`: `..` first (unless `dir` is a root), then folders, then files, each
/// group by name (case-blind, then exact). Hidden entries only with `show_hidden`. Names that
/// are not valid UTF-8 are shown lossily. Entries whose type cannot be read are left out.
pub fn list_dir(dir: &Path, show_hidden: bool) -> Result<Vec<Entry>, String> {
    let read = std::fs::read_dir(dir).map_err(|err| describe(dir, &err))?;
    let mut entries = Vec::new();
    for item in read {
        let Ok(item) = item else { continue };
        let name = item.file_name().to_string_lossy().into_owned();
        if !show_hidden && is_hidden(&name) {
            continue;
        }
        let path = item.path();
        // Follow symlinks so a link to a folder behaves like the folder; a dangling link is
        // left out.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let kind = if meta.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File(meta.len())
        };
        entries.push(Entry { name, path, kind });
    }
    entries.sort_by(compare);
    if let Some(parent) = dir.parent() {
        entries.insert(0, parent_entry(parent));
    }
    Ok(entries)
}

fn parent_entry(parent: &Path) -> Entry {
    Entry {
        name: "..".into(),
        path: parent.to_owned(),
        kind: EntryKind::Parent,
    }
}

fn compare(a: &Entry, b: &Entry) -> Ordering {
    let rank = |e: &Entry| match e.kind {
        EntryKind::Parent => 0,
        EntryKind::Dir => 1,
        EntryKind::File(_) => 2,
    };
    rank(a)
        .cmp(&rank(b))
        .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        .then_with(|| a.name.cmp(&b.name))
}

fn describe(dir: &Path, err: &std::io::Error) -> String {
    let why = match err.kind() {
        std::io::ErrorKind::NotFound => "no such folder".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::NotADirectory => "not a folder".to_owned(),
        _ => err.to_string(),
    };
    format!("Cannot open {}: {why}.", dir.display())
}

/// `~` and `~/…` expanded with `$HOME`; anything else as typed (trimmed).
pub fn expand_tilde(typed: &str) -> PathBuf {
    let typed = typed.trim();
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    match (typed, home) {
        ("~", Some(home)) => PathBuf::from(home),
        (t, Some(home)) if t.starts_with("~/") => PathBuf::from(home).join(&t[2..]),
        (t, _) => PathBuf::from(t),
    }
}

/// The user's home folder (`$HOME`), else the current folder, else `/`.
pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// What the picker is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickMode {
    /// Choose a file (to upload).
    File,
    /// Choose a folder (to save a download in).
    Folder,
}

/// The picker: the folder shown, its entries, the selection, the path field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picker {
    /// File or folder.
    pub mode: PickMode,
    /// The folder shown.
    pub dir: PathBuf,
    /// Its entries (see [`list_dir`]); only `..` when it cannot be read.
    pub entries: Vec<Entry>,
    /// Why the folder could not be read.
    pub error: Option<String>,
    /// The selected row (an index into `entries`).
    pub selected: Option<usize>,
    /// The path field, editable; follows `dir` on every move.
    pub path_text: String,
    /// Whether dot-files are listed.
    pub show_hidden: bool,
}

impl Picker {
    /// A picker showing `dir` (made absolute against the current folder).
    pub fn new(mode: PickMode, dir: impl Into<PathBuf>) -> Self {
        let mut picker = Picker {
            mode,
            dir: PathBuf::new(),
            entries: Vec::new(),
            error: None,
            selected: None,
            path_text: String::new(),
            show_hidden: false,
        };
        picker.go(dir.into());
        picker
    }

    /// Shows `dir`. If it cannot be read, the picker still moves there (so `..` leads back)
    /// and says why.
    pub fn go(&mut self, dir: PathBuf) {
        let dir = if dir.is_relative() {
            std::env::current_dir()
                .map(|cwd| cwd.join(&dir))
                .unwrap_or(dir)
        } else {
            dir
        };
        let dir = normalize(&dir);
        self.selected = None;
        self.path_text = dir.display().to_string();
        self.dir = dir;
        self.refresh();
    }

    /// Reads the folder again (after toggling hidden files, say); keeps the selection by path.
    pub fn refresh(&mut self) {
        let keep = self.selected_entry().map(|e| e.path.clone());
        match list_dir(&self.dir, self.show_hidden) {
            Ok(entries) => {
                self.entries = entries;
                self.error = None;
            }
            Err(error) => {
                self.entries = self.dir.parent().map(parent_entry).into_iter().collect();
                self.error = Some(error);
            }
        }
        self.selected = keep.and_then(|path| self.entries.iter().position(|e| e.path == path));
    }

    /// Shows or hides dot-files.
    pub fn set_show_hidden(&mut self, show: bool) {
        if self.show_hidden != show {
            self.show_hidden = show;
            self.refresh();
        }
    }

    /// Goes to the home folder.
    pub fn home(&mut self) {
        self.go(home_dir());
    }

    /// Goes up one folder, if there is one.
    pub fn up(&mut self) {
        if let Some(parent) = self.dir.parent() {
            self.go(parent.to_owned());
        }
    }

    /// Goes where the path field says: a folder is shown; a file (in file mode) shows its
    /// folder with the file selected.
    pub fn go_typed(&mut self) {
        let path = expand_tilde(&self.path_text);
        if path.as_os_str().is_empty() {
            self.path_text = self.dir.display().to_string();
            return;
        }
        if self.mode == PickMode::File
            && path.is_file()
            && let (Some(parent), Some(name)) = (path.parent(), path.file_name())
        {
            let name = name.to_string_lossy().into_owned();
            self.go(parent.to_owned());
            self.selected = self.entries.iter().position(|e| e.name == name);
            return;
        }
        self.go(path);
    }

    /// Selects row `index` (ignored if out of range).
    pub fn select(&mut self, index: usize) {
        if index < self.entries.len() {
            self.selected = Some(index);
        }
    }

    /// Moves the selection by `delta` rows, clamped; from nothing it starts at the top.
    pub fn move_selection(&mut self, delta: isize) {
        if self.entries.is_empty() {
            return;
        }
        let last = self.entries.len() - 1;
        self.selected = Some(match self.selected {
            None => 0,
            Some(at) => at.saturating_add_signed(delta).min(last),
        });
    }

    /// The selected entry.
    pub fn selected_entry(&self) -> Option<&Entry> {
        self.selected.and_then(|at| self.entries.get(at))
    }

    /// Activates row `index` (double-click, or Enter on the selection): a folder or `..` is
    /// entered; a file in file mode is returned as the choice.
    pub fn activate(&mut self, index: usize) -> Option<PathBuf> {
        let entry = self.entries.get(index)?.clone();
        if entry.is_dir() {
            self.go(entry.path);
            None
        } else {
            self.selected = Some(index);
            (self.mode == PickMode::File).then_some(entry.path)
        }
    }

    /// What the confirm button would choose: the selected file in file mode; in folder mode
    /// the selected folder, else the folder shown (`None` if it cannot be read).
    pub fn choice(&self) -> Option<PathBuf> {
        let selected = self.selected_entry();
        match self.mode {
            PickMode::File => selected
                .filter(|e| matches!(e.kind, EntryKind::File(_)))
                .map(|e| e.path.clone()),
            PickMode::Folder => match selected {
                Some(e) if e.kind == EntryKind::Dir => Some(e.path.clone()),
                _ => self.error.is_none().then(|| self.dir.clone()),
            },
        }
    }
}

/// `a/./b/../c` → `a/c`, lexically, so `..` in a typed path does not pile up.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(part);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["beta", "Alpha", ".config"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("zeta.txt"), b"zz").unwrap();
        std::fs::write(root.join("b.bin"), vec![0u8; 1500]).unwrap();
        std::fs::write(root.join("A.md"), b"").unwrap();
        std::fs::write(root.join(".hidden"), b"h").unwrap();
        std::fs::write(root.join("beta/inner.txt"), b"inner").unwrap();
        dir
    }

    #[test]
    fn parent_first_then_folders_then_files_each_by_name() {
        let dir = tree();
        let entries = list_dir(dir.path(), false).unwrap();
        assert_eq!(
            names(&entries),
            ["..", "Alpha", "beta", "A.md", "b.bin", "zeta.txt"]
        );
        assert_eq!(entries[0].kind, EntryKind::Parent);
        assert_eq!(entries[0].path, dir.path().parent().unwrap());
        assert_eq!(entries[1].kind, EntryKind::Dir);
        assert_eq!(entries[4].kind, EntryKind::File(1500));
        assert_eq!(entries[5].kind, EntryKind::File(2));
    }

    #[test]
    fn hidden_entries_only_when_asked() {
        let dir = tree();
        let entries = list_dir(dir.path(), true).unwrap();
        assert_eq!(
            names(&entries),
            [
                "..", ".config", "Alpha", "beta", ".hidden", "A.md", "b.bin", "zeta.txt"
            ]
        );
        let mut picker = Picker::new(PickMode::File, dir.path());
        assert!(!names(&picker.entries).contains(&".hidden"));
        picker.set_show_hidden(true);
        assert!(names(&picker.entries).contains(&".hidden"));
    }

    #[test]
    fn the_root_has_no_parent_row() {
        let entries = list_dir(Path::new("/"), false).unwrap();
        assert!(entries.iter().all(|e| e.kind != EntryKind::Parent));
    }

    #[test]
    fn unreadable_folders_give_an_error_and_a_way_back() {
        let dir = tree();
        let missing = dir.path().join("missing");
        let err = list_dir(&missing, false).unwrap_err();
        assert!(err.contains("no such folder"), "{err}");
        let err = list_dir(&dir.path().join("zeta.txt"), false).unwrap_err();
        assert!(err.contains("Cannot open"), "{err}");

        let mut picker = Picker::new(PickMode::File, dir.path());
        picker.path_text = missing.display().to_string();
        picker.go_typed();
        assert_eq!(picker.dir, missing);
        assert!(picker.error.as_deref().unwrap().contains("no such folder"));
        assert_eq!(names(&picker.entries), [".."]);
        assert_eq!(picker.choice(), None);
        // `..` leads back, and the error goes.
        assert_eq!(picker.activate(0), None);
        assert_eq!(picker.dir, dir.path());
        assert_eq!(picker.error, None);
    }

    #[test]
    fn activating_enters_folders_and_picks_files() {
        let dir = tree();
        let mut picker = Picker::new(PickMode::File, dir.path());
        let beta = picker
            .entries
            .iter()
            .position(|e| e.name == "beta")
            .unwrap();
        assert_eq!(picker.activate(beta), None);
        assert_eq!(picker.dir, dir.path().join("beta"));
        assert_eq!(names(&picker.entries), ["..", "inner.txt"]);
        assert_eq!(
            picker.path_text,
            dir.path().join("beta").display().to_string()
        );
        assert_eq!(picker.activate(1), Some(dir.path().join("beta/inner.txt")));
        picker.select(1);
        assert_eq!(picker.choice(), Some(dir.path().join("beta/inner.txt")));
        picker.up();
        assert_eq!(picker.dir, dir.path());
        assert_eq!(picker.choice(), None, "nothing selected after a move");
    }

    #[test]
    fn a_typed_file_path_selects_the_file_and_dotdot_is_resolved() {
        let dir = tree();
        let mut picker = Picker::new(PickMode::File, dir.path().join("beta"));
        picker.path_text = format!("{}/../b.bin", dir.path().join("beta").display());
        picker.go_typed();
        assert_eq!(picker.dir, dir.path());
        assert_eq!(picker.choice(), Some(dir.path().join("b.bin")));
    }

    #[test]
    fn folder_mode_chooses_the_selected_folder_or_the_one_shown() {
        let dir = tree();
        let mut picker = Picker::new(PickMode::Folder, dir.path());
        assert_eq!(picker.choice(), Some(dir.path().to_owned()));
        let alpha = picker
            .entries
            .iter()
            .position(|e| e.name == "Alpha")
            .unwrap();
        picker.select(alpha);
        assert_eq!(picker.choice(), Some(dir.path().join("Alpha")));
        let file = picker
            .entries
            .iter()
            .position(|e| e.name == "b.bin")
            .unwrap();
        assert_eq!(
            picker.activate(file),
            None,
            "files are not chosen in folder mode"
        );
        assert_eq!(picker.choice(), Some(dir.path().to_owned()));
    }

    #[test]
    fn moving_the_selection_is_clamped() {
        let dir = tree();
        let mut picker = Picker::new(PickMode::File, dir.path());
        picker.move_selection(1);
        assert_eq!(picker.selected, Some(0));
        picker.move_selection(-5);
        assert_eq!(picker.selected, Some(0));
        picker.move_selection(100);
        assert_eq!(picker.selected, Some(picker.entries.len() - 1));
    }
}
