//! X.509 certificates (RFC 5280) as `openssl req -x509` and `openssl ca`
//! make them.

mod certificate;
mod issued;
mod subject;

pub(crate) use certificate::x509_time;
pub use certificate::{self_signed_certificate, CertificateError, CertificateParams, SERIAL_LEN};
pub use issued::{issued_certificate, IssuedProfile, NETSCAPE_COMMENT_TEXT};
pub use subject::{parse_openssl_subject, SubjectError, MAX_SUBJECT_LEN};
