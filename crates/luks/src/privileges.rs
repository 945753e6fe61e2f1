//! Leaving root once the volume is mounted: unlocking and mounting need
//! root, serving requests does not.

use nix::unistd::{getegid, geteuid, getgid, getuid, setgid, setgroups, setuid, Gid, Uid};

use crate::error::LuksError;
use crate::Owner;

/// Switches the whole process (every thread, since glibc applies
/// set*id(2) to all of them) to `owner` with no supplementary groups.
///
/// Returns `false` and changes nothing when the process is not root.
pub fn drop_privileges(owner: Owner) -> Result<bool, LuksError> {
    if !geteuid().is_root() {
        return Ok(false);
    }

    let fail = |source| LuksError::DropPrivileges { owner, source };
    let gid = Gid::from_raw(owner.gid);
    let uid = Uid::from_raw(owner.uid);
    setgroups(&[gid]).map_err(fail)?;
    setgid(gid).map_err(fail)?;
    setuid(uid).map_err(fail)?;

    // setuid(2) as root sets real, effective and saved ids; check that no
    // root id is left that could be used to switch back.
    if getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid {
        return Err(fail(nix::Error::EPERM));
    }
    Ok(true)
}
