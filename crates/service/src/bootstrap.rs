//! `/bootstrap`: all the signing material of a new deployment in one call.
//!
//! The order is the older service's. First come the certificates. Then the
//! PK variable is signed by the PK certificate, the KEK variable by the PK
//! certificate and, when a db certificate is given, the db variable by the
//! db certificate. Last come the OpenPGP key, the RSA key and the HAB and
//! AHAB PKI trees. The
//! whole request is checked before anything is created, and when a step
//! fails everything this call created is removed.

use balena_sign_auth::{KeyScope, Permission};
use balena_sign_formats::efi::authvar::SecureBootVariable;

use crate::nxp::HabType;
use crate::secureboot::CertificateList;
use crate::{CreateCertificate, CreateOpenPgpKey, RequestContext, Service, ServiceError};

/// A checked bootstrap request.
#[derive(Debug)]
pub struct Bootstrap {
    pub openpgp: CreateOpenPgpKey,
    pub pk: CreateCertificate,
    pub kek: CreateCertificate,
    pub kmod: CreateCertificate,
    pub db: Option<CreateCertificate>,
}

/// Material that a bootstrap created.
#[derive(Debug, Default)]
pub struct Bootstrapped {
    /// `(name, PEM)` for each certificate: `pk`, `kek`, `db`, `kmod`.
    pub certificates: Vec<(&'static str, String)>,
    pub openpgp_fingerprint: String,
    pub rsa_key_id: String,
    pub hab_pki_id: String,
    pub ahab_pki_id: String,
}

/// Material created so far, for the rollback.
#[derive(Default)]
struct Created {
    certificates: Vec<String>,
    variables: Vec<String>,
    openpgp: Option<String>,
    rsa: Option<String>,
    pki: Vec<String>,
}

impl Service {
    /// Creates everything in `request`, or nothing.
    pub fn bootstrap(&self, context: &RequestContext, request: Bootstrap) -> Result<Bootstrapped, ServiceError> {
        let mut certificates: Vec<(&'static str, CreateCertificate)> = vec![("pk", request.pk), ("kek", request.kek)];
        if let Some(db) = request.db {
            certificates.push(("db", db));
        }
        certificates.push(("kmod", request.kmod));

        let ids: Vec<&str> = certificates.iter().map(|(_, create)| create.cert_id()).collect();
        self.check_bootstrap(context, &ids)?;
        let pk = ids.first().copied().unwrap_or_default().to_owned();
        let kek = ids.get(1).copied().unwrap_or_default().to_owned();
        let db = certificates
            .iter()
            .find(|(name, _)| *name == "db")
            .map(|(_, create)| create.cert_id().to_owned());

        let _guard = self
            .maintenance
            .lock()
            .map_err(|_| ServiceError::Internal("maintenance lock poisoned".into()))?;
        let mut created = Created::default();
        let result = self.bootstrap_steps(
            context,
            certificates,
            request.openpgp,
            &pk,
            &kek,
            db.as_deref(),
            &mut created,
        );
        if result.is_err() {
            self.roll_back(&created);
        }
        result
    }

    /// Checks limits and conflicts before anything is created.
    fn check_bootstrap(&self, context: &RequestContext, ids: &[&str]) -> Result<(), ServiceError> {
        let limits = &context.caller.limits;
        for scope in [KeyScope::Ids(ids), KeyScope::Unnamed] {
            if let Err(denied) = limits.check(Permission::Create, scope) {
                return Err(ServiceError::Forbidden(denied.0));
            }
        }

        let mut seen = std::collections::BTreeSet::new();
        for id in ids {
            if !seen.insert(*id) {
                return Err(ServiceError::InvalidField {
                    field: "certificates",
                    reason: format!("cert_id '{id}' is used twice"),
                });
            }
            if self.certificates.exists(id) {
                return Err(ServiceError::AlreadyExists {
                    kind: "certificate",
                    id: (*id).to_owned(),
                });
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn bootstrap_steps(
        &self,
        context: &RequestContext,
        certificates: Vec<(&'static str, CreateCertificate)>,
        openpgp: CreateOpenPgpKey,
        pk: &str,
        kek: &str,
        db: Option<&str>,
        created: &mut Created,
    ) -> Result<Bootstrapped, ServiceError> {
        let mut result = Bootstrapped::default();
        for (name, create) in certificates {
            let id = create.cert_id().to_owned();
            let pem = self.create_certificate(context, create)?;
            created.certificates.push(id);
            result.certificates.push((name, pem));
        }

        let mut variables = vec![(SecureBootVariable::Pk, pk, pk), (SecureBootVariable::Kek, kek, pk)];
        if let Some(db) = db {
            variables.push((SecureBootVariable::Db, db, db));
        }
        for (variable, id, signer) in variables {
            let list = CertificateList::new("certificates", vec![id.to_owned()])?;
            self.sign_stored_variable(context, variable, &list, signer, false)?;
            created
                .variables
                .push(format!("x509/{}.{}.auth", list.hash(), variable.name()));
            created.variables.push(format!("x509/{}.esl", list.hash()));
        }

        result.openpgp_fingerprint = self.create_openpgp_key(context, openpgp)?;
        created.openpgp = Some(result.openpgp_fingerprint.clone());
        result.rsa_key_id = self.create_rsa_key(context)?;
        created.rsa = Some(result.rsa_key_id.clone());
        result.hab_pki_id = self.create_pki(context, HabType::Hab)?;
        created.pki.push(result.hab_pki_id.clone());
        result.ahab_pki_id = self.create_pki(context, HabType::Ahab)?;
        created.pki.push(result.ahab_pki_id.clone());

        tracing::info!(
            certificates = result.certificates.len(),
            gpg = %result.openpgp_fingerprint,
            rsa = %result.rsa_key_id,
            hab = %result.hab_pki_id,
            ahab = %result.ahab_pki_id,
            "bootstrap complete"
        );
        Ok(result)
    }

    fn roll_back(&self, created: &Created) {
        tracing::warn!("bootstrap failed; removing what it created");
        let store = self.store();
        for path in &created.variables {
            let _ = store.remove_file(path);
        }
        for id in &created.certificates {
            for derived in ["der", "esl"] {
                let _ = store.remove_file(format!("x509/{id}.{derived}"));
            }
            let _ = self.certificates.remove(id);
        }
        if let Some(fingerprint) = &created.openpgp {
            let _ = self.openpgp_keys.remove(fingerprint);
        }
        if let Some(id) = &created.rsa {
            let _ = self.rsa_keys.remove(id);
        }
        for id in &created.pki {
            let _ = store.remove_folder(format!("pki/{id}"));
        }
    }
}
