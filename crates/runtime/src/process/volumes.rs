//! Claiming a container's volumes when it starts: each is created if missing, records the
//! container as a user, and is seeded with the image's content when empty (see
//! `sandbox::volumes` for the store).

use crate::error::Error;
use crate::process::copy::{image_view, seed};
use crate::sandbox::rootfs::RootFs;
use crate::sandbox::volumes::{self, VolumeMount};

/// Creates, acquires (for container `id`) and seeds `mounts`. Idempotent: a later start claims
/// again, and a volume that holds files is never seeded. On failure the claims this call made
/// are undone (and the anonymous volumes it made removed).
pub(crate) fn claim(mounts: &[VolumeMount], id: &str, rootfs: &RootFs) -> Result<(), Error> {
    let mut claimed: Vec<VolumeMount> = Vec::new();
    let mut view = None;
    let result = (|| {
        for m in mounts {
            let store = m.store();
            let info = store.make(&m.name, m.anonymous)?;
            let fresh = !info.users.iter().any(|u| u == id);
            store.acquire(&m.name, id)?;
            if fresh {
                claimed.push(m.clone());
            }
            let empty = std::fs::read_dir(&info.mountpoint)
                .map_err(|e| Error::io("reading", &info.mountpoint, e))?
                .next()
                .is_none();
            if empty {
                if view.is_none() {
                    view = Some(image_view(rootfs)?);
                }
                if let Some(v) = &view {
                    seed(v, &m.destination, &info.mountpoint)?;
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = volumes::release(&claimed, id, true);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::container::Container;
    use crate::sandbox::volumes::Volumes;

    #[test]
    fn a_claim_creates_acquires_and_seeds_once() {
        let image = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(image.path().join("data")).unwrap();
        std::fs::write(image.path().join("data/f"), "from the image").unwrap();
        let state = tempfile::tempdir().unwrap();
        let vols = Volumes::open(state.path()).unwrap();
        let c = Container::builder(image.path())
            .cmd(["true"])
            .volume(&vols, "named", "/data", false)
            .anonymous_volume(&vols, "/data")
            .build()
            .unwrap();
        assert!(vols.list().unwrap().is_empty());
        claim(c.volumes(), c.id(), c.rootfs()).unwrap();
        for v in c.volumes() {
            let info = vols.inspect(&v.name).unwrap();
            assert_eq!(info.users, [c.id()]);
            assert_eq!(info.anonymous, v.anonymous);
            let seeded = std::fs::read_to_string(info.mountpoint.join("f")).unwrap();
            assert_eq!(seeded, "from the image");
        }
        // Again (a second start): nothing changes.
        claim(c.volumes(), c.id(), c.rootfs()).unwrap();
        assert_eq!(vols.list().unwrap().len(), 2);
        c.release_volumes(true).unwrap();
        assert_eq!(vols.list().unwrap().len(), 1);
    }
}
