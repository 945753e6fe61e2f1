//! UEFI Secure Boot variables: the signature lists stored in `PK`, `KEK`,
//! `db` and `dbx`, and the signed updates that replace or extend them.

pub mod authvar;
pub mod guid;
pub mod siglist;
mod time;

pub use guid::{Guid, GuidError};
pub use time::{EfiTime, EfiTimeError, EFI_TIME_LEN};
