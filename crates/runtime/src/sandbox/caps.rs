//! Capabilities: numbers for the spec's names, Docker's default set, and the child's masks.

use std::collections::HashSet;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use crate::plan::CapPlan;

/// The kernel's number for a capability.
pub(crate) fn number(c: Capability) -> u32 {
    use Capability::*;
    match c {
        Chown => 0,
        DacOverride => 1,
        DacReadSearch => 2,
        Fowner => 3,
        Fsetid => 4,
        Kill => 5,
        Setgid => 6,
        Setuid => 7,
        Setpcap => 8,
        LinuxImmutable => 9,
        NetBindService => 10,
        NetBroadcast => 11,
        NetAdmin => 12,
        NetRaw => 13,
        IpcLock => 14,
        IpcOwner => 15,
        SysModule => 16,
        SysRawio => 17,
        SysChroot => 18,
        SysPtrace => 19,
        SysPacct => 20,
        SysAdmin => 21,
        SysBoot => 22,
        SysNice => 23,
        SysResource => 24,
        SysTime => 25,
        SysTtyConfig => 26,
        Mknod => 27,
        Lease => 28,
        AuditWrite => 29,
        AuditControl => 30,
        Setfcap => 31,
        MacOverride => 32,
        MacAdmin => 33,
        Syslog => 34,
        WakeAlarm => 35,
        BlockSuspend => 36,
        AuditRead => 37,
        Perfmon => 38,
        Bpf => 39,
        CheckpointRestore => 40,
    }
}

/// Docker's default capability set (`docker run` without `--cap-add`/`--cap-drop`).
pub fn docker_default() -> Capabilities {
    use Capability::*;
    [
        Chown,
        DacOverride,
        Fsetid,
        Fowner,
        Mknod,
        NetRaw,
        Setgid,
        Setuid,
        Setfcap,
        Setpcap,
        NetBindService,
        SysChroot,
        Kill,
        AuditWrite,
    ]
    .into_iter()
    .collect()
}

/// The bit mask of a set.
pub(crate) fn mask(set: &Capabilities) -> u64 {
    set.iter().fold(0, |m, c| m | 1u64 << number(*c))
}

/// The spec's capability sets as the child applies them. `last_cap` is the highest capability
/// the running kernel knows (`/proc/sys/kernel/cap_last_cap`).
pub(crate) fn plan(caps: &LinuxCapabilities, last_cap: u32) -> CapPlan {
    let empty = HashSet::new();
    let bounding = mask(caps.bounding().as_ref().unwrap_or(&empty));
    let ambient = caps.ambient().as_ref().unwrap_or(&empty);
    CapPlan {
        bounding_drop: (0..=last_cap.max(40))
            .filter(|c| bounding & (1u64 << c) == 0)
            .collect(),
        effective: mask(caps.effective().as_ref().unwrap_or(&empty)),
        permitted: mask(caps.permitted().as_ref().unwrap_or(&empty)),
        inheritable: mask(caps.inheritable().as_ref().unwrap_or(&empty)),
        ambient: {
            let mut a: Vec<u32> = ambient.iter().map(|c| number(*c)).collect();
            a.sort_unstable();
            a
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_mask_is_the_well_known_value() {
        // `CapBnd: 00000000a80425fb` in any `docker run` container.
        assert_eq!(mask(&docker_default()), 0xa80425fb);
    }

    #[test]
    fn plan_drops_everything_outside_the_bounding_set() {
        let mut caps = LinuxCapabilities::default();
        caps.set_bounding(Some(docker_default()));
        let p = plan(&caps, 40);
        assert!(p.bounding_drop.contains(&21)); // SYS_ADMIN
        assert!(!p.bounding_drop.contains(&0)); // CHOWN
        assert_eq!(p.bounding_drop.len(), 41 - 14);
    }
}
