//! Blob storage for uploads (product images now). [`LocalDirStore`] writes files under a
//! directory that the server serves at `/uploads/`; other backends (S3-compatible object storage)
//! implement [`BlobStore`] the same way.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use crate::error::AppError;

/// A place to put immutable blobs, addressed by name.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` as `name` (content-addressed names make this idempotent) and returns the
    /// URL clients fetch it from.
    fn put<'a>(
        &'a self,
        name: &'a str,
        bytes: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<String, AppError>> + Send + 'a>>;
}

/// Files in a local directory, served by this server under `{public_base_url}/uploads/`.
pub struct LocalDirStore {
    /// The directory.
    pub dir: PathBuf,
    /// URL prefix, e.g. `http://127.0.0.1:8080/uploads`.
    pub url_prefix: String,
}

impl BlobStore for LocalDirStore {
    fn put<'a>(
        &'a self,
        name: &'a str,
        bytes: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<String, AppError>> + Send + 'a>> {
        Box::pin(async move {
            if name.is_empty() || name.contains('/') || name.contains("..") {
                return Err(AppError::invalid("invalid_name", "invalid blob name"));
            }
            tokio::fs::create_dir_all(&self.dir)
                .await
                .map_err(AppError::internal)?;
            let path = self.dir.join(name);
            if !path.exists() {
                let tmp = self
                    .dir
                    .join(format!(".{name}.{}", crate::ids::random_alnum(8)));
                tokio::fs::write(&tmp, &bytes)
                    .await
                    .map_err(AppError::internal)?;
                tokio::fs::rename(&tmp, &path)
                    .await
                    .map_err(AppError::internal)?;
            }
            Ok(format!("{}/{name}", self.url_prefix.trim_end_matches('/')))
        })
    }
}

/// The image type of `bytes` by magic number: `jpg`, `png`, `webp` or `gif`.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some("jpg"),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("png"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some("webp"),
        [b'G', b'I', b'F', b'8', ..] => Some("gif"),
        _ => None,
    }
}

/// Writes a secret (a key, a token-signing secret) to `path`, creating or truncating it, readable
/// and writable by its owner only (mode 0600 on Unix, also when the file already existed).
pub fn write_secret(path: &std::path::Path, contents: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    #[cfg(unix)]
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(contents.as_ref())
}

/// Makes an existing secret file readable and writable by its owner only (mode 0600 on Unix;
/// nothing elsewhere).
pub fn restrict_secret(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
