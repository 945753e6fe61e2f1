//! X.509 certificates (RFC 5280) as `openssl req -x509` makes them.

mod certificate;
mod subject;

pub use certificate::{self_signed_certificate, CertificateError, CertificateParams, SERIAL_LEN};
pub use subject::{parse_openssl_subject, SubjectError, MAX_SUBJECT_LEN};
