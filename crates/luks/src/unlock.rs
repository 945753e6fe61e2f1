//! Unlocking a LUKS2 device into a device-mapper device through
//! libcryptsetup, as `cryptsetup open` does, without running it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libcryptsetup_rs::consts::flags::CryptActivate;
use libcryptsetup_rs::consts::vals::{CryptStatusInfo, EncryptionFormat};
use libcryptsetup_rs::{CryptDevice, CryptInit, LibcryptErr};
use nix::errno::Errno;

use crate::error::LuksError;
use crate::Step;

/// Folder of the device-mapper device nodes.
pub const MAPPER_DIR: &str = "/dev/mapper";

/// The kernel's list of registered misc drivers, as `minor name` lines.
const PROC_MISC: &str = "/proc/misc";

/// How long udev may take to create the node of a new mapper device.
const NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// Name of the device-mapper device for a label; the older service's start
/// script used the same name, so a device it opened is reused.
pub fn mapper_name(label: &str) -> String {
    format!("luks-{label}")
}

/// Path of the device node of mapper device `name`.
pub fn mapper_path(name: &str) -> PathBuf {
    Path::new(MAPPER_DIR).join(name)
}

/// Checks that `passphrase` opens a key slot of the LUKS2 header on
/// `device` (a block device or an image file) without creating any device.
pub fn check_passphrase(device: &Path, passphrase: &[u8]) -> Result<(), LuksError> {
    let mut crypt = load_header(device)?;
    crypt
        .activate_handle()
        .activate_by_passphrase(None, None, passphrase, CryptActivate::empty())
        .map(|_slot| ())
        .map_err(|source| activation_error(device, None, source))
}

/// Opens `device` as mapper device `name` unless it is open already.
///
/// An open mapper device must sit on `device`; one left on another device
/// (another stick with the same label, say) is an error, never reused.
pub fn open(device: &Path, name: &str, passphrase: &[u8]) -> Result<Step, LuksError> {
    if !device_mapper_available() {
        // Report a wrong passphrase first: it is the one mistake the
        // operator can fix without touching the host.
        check_passphrase(device, passphrase)?;
        return Err(LuksError::DeviceMapperUnavailable {
            device: device.to_owned(),
        });
    }

    let status = libcryptsetup_rs::status(None, name).map_err(|source| LuksError::Activate {
        device: device.to_owned(),
        name: name.to_owned(),
        source,
    })?;
    if matches!(status, CryptStatusInfo::Active | CryptStatusInfo::Busy) {
        check_backing_device(device, name)?;
        return Ok(Step::AlreadyDone);
    }

    let mut crypt = load_header(device)?;
    crypt
        .activate_handle()
        .activate_by_passphrase(Some(name), None, passphrase, CryptActivate::empty())
        .map_err(|source| activation_error(device, Some(name), source))?;
    wait_for_node(&mapper_path(name))?;
    Ok(Step::Done)
}

/// Checks whether the kernel offers device-mapper, as `/proc/misc` lists it.
///
/// The `/dev/mapper/control` node proves nothing: libdevmapper creates it
/// whenever it is missing, even on kernels without the driver.
pub fn device_mapper_available() -> bool {
    std::fs::read_to_string(PROC_MISC)
        .map(|misc| {
            misc.lines()
                .any(|line| line.split_whitespace().nth(1) == Some("device-mapper"))
        })
        .unwrap_or(false)
}

fn load_header(device: &Path) -> Result<CryptDevice, LuksError> {
    let header_error = |source| LuksError::Header {
        device: device.to_owned(),
        source,
    };
    let mut crypt = CryptInit::init(device).map_err(header_error)?;
    crypt
        .context_handle()
        .load::<()>(Some(EncryptionFormat::Luks2), None)
        .map_err(header_error)?;
    Ok(crypt)
}

/// libcryptsetup reports a passphrase that opens no key slot as EPERM.
fn activation_error(device: &Path, name: Option<&str>, source: LibcryptErr) -> LuksError {
    if let LibcryptErr::IOError(err) = &source {
        if err.raw_os_error() == Some(Errno::EPERM as i32) {
            return LuksError::WrongPassphrase {
                device: device.to_owned(),
            };
        }
    }
    match name {
        Some(name) => LuksError::Activate {
            device: device.to_owned(),
            name: name.to_owned(),
            source,
        },
        None => LuksError::Header {
            device: device.to_owned(),
            source,
        },
    }
}

/// Fails unless the open mapper device `name` sits on `device`.
fn check_backing_device(device: &Path, name: &str) -> Result<(), LuksError> {
    let activate_error = |source| LuksError::Activate {
        device: device.to_owned(),
        name: name.to_owned(),
        source,
    };
    let mut crypt = CryptInit::init_by_name_and_header(name, None).map_err(activate_error)?;
    let backing = crypt
        .status_handle()
        .get_device_path()
        .map_err(activate_error)?
        .to_owned();

    if device_number(&backing)? == device_number(device)? {
        return Ok(());
    }
    Err(LuksError::MapperInUse {
        name: name.to_owned(),
        backing,
        device: device.to_owned(),
    })
}

fn device_number(path: &Path) -> Result<u64, LuksError> {
    std::fs::metadata(path)
        .map(|metadata| metadata.rdev())
        .map_err(|err| LuksError::io(path, err))
}

/// Waits until udev (or libdevmapper, where udev does not run) has
/// created the device node.
fn wait_for_node(path: &Path) -> Result<(), LuksError> {
    let deadline = Instant::now() + NODE_TIMEOUT;
    while !path.exists() {
        if Instant::now() > deadline {
            return Err(LuksError::MapperNodeMissing {
                path: path.to_owned(),
                seconds: NODE_TIMEOUT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
