//! Files slack-im writes into folders others may write to as well (a shared report folder, a
//! Jenkins workspace): nothing planted there in advance (a file, a symbolic link) is ever opened,
//! followed or widened. A new file gets a random name, is created new and gets its mode at creation.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Attempts at a fresh random name before giving up (each name is 64 random bits: a clash is
/// someone planting files, not chance).
const ATTEMPTS: usize = 4;

/// Mode of files that hold personal data (the members file, the journal): the owner's only.
pub const PRIVATE: u32 = 0o600;
/// Mode of the reports, which CI reads and archives (they hold no secret: every one is redacted).
pub const SHARED: u32 = 0o644;

/// A new file beside `path` with a random name (`.NAME.RANDOM.partial`), created new (an existing
/// file or symlink of that name is an error, never opened or followed) with `mode`.
pub fn temporary_beside(path: &Path, mode: u32) -> std::io::Result<(PathBuf, File)> {
    use ring::rand::SecureRandom;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let random = ring::rand::SystemRandom::new();
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let mut bytes = [0u8; 8];
        random.fill(&mut bytes).map_err(|_| std::io::Error::other("the system has no randomness"))?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = path.with_file_name(format!(".{name}.{hex}.partial"));
        match create_new(&tmp, mode) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    let e = last.map_or_else(String::new, |e| e.to_string());
    Err(std::io::Error::other(format!("{ATTEMPTS} fresh temporary names beside it were all taken ({e})")))
}

/// Writes `text` to `path` through [`temporary_beside`] and a rename: readers never see half a
/// file, and a symlink planted at `path` is replaced, not followed.
pub fn replace(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    let (tmp, mut file) = temporary_beside(path, mode)?;
    let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Why [`read_regular`] refused a file.
#[derive(Debug)]
pub enum Refused {
    Io(std::io::Error),
    /// A folder, a FIFO or a device.
    NotRegular,
    /// Larger than the cap.
    TooLarge,
}

/// The bytes of `path`, a regular file of at most `cap` bytes. It is opened without blocking, so a
/// FIFO nobody writes to (or a device) is refused at once instead of stalling the run past its
/// deadline, and its size is that of the file opened, not of a name that may have changed since.
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, Refused> {
    use std::io::Read;
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(Refused::Io)?;
    let metadata = file.metadata().map_err(Refused::Io)?;
    if !metadata.is_file() {
        return Err(Refused::NotRegular);
    }
    if metadata.len() > cap {
        return Err(Refused::TooLarge);
    }
    // Bounded also if the file grows while it is read.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes).map_err(Refused::Io)?;
    if bytes.len() as u64 > cap {
        return Err(Refused::TooLarge);
    }
    Ok(bytes)
}

/// Opens `path` to append to it, creating it with [`PRIVATE`] mode; a symbolic link there is an
/// error (it is not followed), and so is anything but a regular file.
pub fn append_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    no_follow(&mut options, PRIVATE);
    let file = options.open(path).map_err(|e| match e.raw_os_error() {
        #[cfg(unix)]
        Some(libc::ELOOP) => std::io::Error::other("it is a symbolic link: refused, never followed"),
        _ => e,
    })?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    Ok(file)
}

fn create_new(path: &Path, mode: u32) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    no_follow(&mut options, mode);
    options.open(path)
}

/// The mode a created file gets, and no following of a symlink at the path itself.
#[cfg_attr(not(unix), allow(unused_variables))]
fn no_follow(options: &mut OpenOptions, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode).custom_flags(libc::O_NOFOLLOW);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_replaced_file_gets_its_mode_and_a_planted_symlink_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let path = dir.path().join("summary.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        replace(&path, "{}", PRIVATE).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "no temporary file left behind: {left:?}");
    }

    #[test]
    fn appending_refuses_a_symlink_and_creates_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("actions.jsonl");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        let err = append_private(&link).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!dir.path().join("elsewhere").exists());
        let path = dir.path().join("journal");
        append_private(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
