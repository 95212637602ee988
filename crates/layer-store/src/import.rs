//! `import`: a root filesystem — a directory or a tarball — as a one-layer image, as
//! `docker import` makes one.

use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use oci_spec::image::{Descriptor, Digest, ImageManifestBuilder, MediaType, Platform};
use serde_json::{json, Value};

use crate::blob::{BlobError, BlobStore, BlobWrite};
use crate::compress::{self, Compressor};
use crate::create::{write_layer, CreateError, CreateOptions, LayerSource};
use crate::digest::Sha256Writer;
use crate::platform;
use crate::store::{Image, Store, StoreError};

/// Where an imported root filesystem comes from.
pub enum ImportSource<'a> {
    /// A directory, written as a layer of its whole tree.
    Directory(&'a Path),
    /// A tar stream (plain, gzip or zstd), taken as the layer as it is, checked to be a tar.
    Tarball(&'a mut dyn Read),
}

impl std::fmt::Debug for ImportSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportSource::Directory(p) => f.debug_tuple("Directory").field(p).finish(),
            ImportSource::Tarball(_) => f.write_str("Tarball(..)"),
        }
    }
}

/// Settings for [`import`].
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The name to tag the image with, if any.
    pub name: Option<String>,
    /// The image config's `config` section (`Cmd`, `Env`, `WorkingDir`, `Entrypoint`, ...), as
    /// `docker import --change` sets it.
    pub config: Value,
    /// A comment recorded in the image's history (`docker import --message`).
    pub message: Option<String>,
    /// The platform recorded in the config (the host's by default).
    pub platform: Platform,
    /// How the layer is written (compression, `SOURCE_DATE_EPOCH`).
    pub create: CreateOptions,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            name: None,
            config: json!({}),
            message: None,
            platform: platform::host(),
            create: CreateOptions::from_env(),
        }
    }
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The directory could not be read.
    #[error(transparent)]
    Create(#[from] CreateError),
    /// The tarball could not be read, or is not a tar archive.
    #[error("importing the tarball failed")]
    Tarball(#[source] io::Error),
}

impl From<BlobError> for ImportError {
    fn from(e: BlobError) -> Self {
        ImportError::Store(StoreError::Blob(e))
    }
}

/// Imports a root filesystem as a one-layer image and tags it when `options.name` is set.
pub fn import(
    store: &Store,
    source: ImportSource<'_>,
    options: &ImportOptions,
) -> Result<Image, ImportError> {
    let _lease = store.lease()?;
    let writer = store.blobs().writer()?;
    // The blob writer hashes what it is given: its commit reports the layer's digest, so the
    // compressed stream is hashed once.
    let (writer, diff_id) = match source {
        ImportSource::Directory(dir) => {
            let (writer, tar) = write_layer(LayerSource::Directory(dir), writer, &options.create)?;
            (writer, tar.diff_id)
        }
        ImportSource::Tarball(reader) => {
            recompress(reader, writer, options).map_err(ImportError::Tarball)?
        }
    };
    let media_type = options.create.compress.compression.layer_media_type();
    let blob = writer.commit(None, None)?;

    let created = options.create.source_date_epoch.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    });
    let created = rfc3339(created);
    let mut history = json!({"created": created, "created_by": "boxwright import"});
    if let Some(message) = &options.message {
        history["comment"] = json!(message);
    }
    let mut config = json!({
        "architecture": options.platform.architecture().to_string(),
        "os": options.platform.os().to_string(),
        "created": created,
        "config": options.config,
        "history": [history],
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    });
    if let Some(variant) = options.platform.variant() {
        config["variant"] = json!(variant);
    }
    let config = store.put_config_json(&config)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(vec![Descriptor::new(
            MediaType::from(media_type),
            blob.size,
            blob.digest,
        )])
        .build()
        .map_err(|e| ImportError::Tarball(io::Error::other(e)))?;
    let target = store.put_manifest(&manifest)?;
    match &options.name {
        Some(name) => {
            let full = store.tag(&target, name)?;
            Ok(store.resolve(&full)?)
        }
        None => {
            store.add_untagged(&target)?;
            Ok(store.resolve(target.digest().as_ref())?)
        }
    }
}

/// Copies every byte read through it into `sink` as well.
struct Tee<'a, R> {
    inner: R,
    sink: &'a mut dyn Write,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Decompresses a tarball, checks it is a tar archive while passing it on, and writes it
/// recompressed; returns the writer and the diffID.
fn recompress(
    reader: &mut dyn Read,
    writer: Box<dyn BlobWrite>,
    options: &ImportOptions,
) -> io::Result<(Box<dyn BlobWrite>, Digest)> {
    let plain = compress::decompress(BufReader::with_capacity(1 << 20, reader))?;
    let compressor = Compressor::new(writer, options.create.compress)?;
    let mut diff = Sha256Writer::new(compressor);
    {
        let mut tee = Tee {
            inner: plain,
            sink: &mut diff,
        };
        let mut archive = tar::Archive::new(&mut tee);
        let mut entries = 0u64;
        for entry in archive.entries()? {
            let mut entry = entry?;
            io::copy(&mut entry, &mut io::sink())?;
            entries += 1;
        }
        if entries == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a tar archive, or an empty one",
            ));
        }
        // Whatever follows the end-of-archive blocks is part of the layer too.
        io::copy(archive.into_inner(), &mut io::sink())?;
    }
    let (compressor, diff_id, _) = diff.finish();
    Ok((compressor.finish()?, diff_id))
}

/// Seconds since the epoch as RFC 3339 UTC (`2026-11-25T10:00:00Z`), as an image config's
/// `created` and its history's times are written (by [`import`](crate::import), and by a
/// builder on top of the store).
///
/// ```
/// assert_eq!(boxwright_layer_store::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
/// ```
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_687_200), "2026-11-26T10:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
