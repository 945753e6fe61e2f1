//! The endpoint table: the router is built from it and the OpenAPI 3.0
//! document at `GET /openapi.json` is generated from it, so the two cannot
//! drift apart.

use serde_json::{json, Map, Value};

/// The handler an endpoint runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handler {
    Health,
    Metrics,
    OpenApi,
    CertCreate,
    CertGet,
    CertSign,
    RsaList,
    RsaGet,
    RsaCreate,
    RsaSign,
    GpgList,
    GpgGet,
    GpgCreate,
    GpgSign,
    SecureBootPk,
    SecureBootKek,
    SecureBootDb,
    SecureBootDbx,
    SecureBootGet,
    EfiSign,
    KmodSign,
    ImxList,
    ImxEfuses,
    ImxCreate,
    ImxCst,
    Bootstrap,
    Export,
    Import,
}

/// JSON type of a body field.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Text,
    Base64,
    Integer,
    Boolean,
    /// A string or an array of strings.
    IdOrList,
    TextList,
    Base64List,
    Object,
}

/// A field of a request or response body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) required: bool,
    pub(crate) description: &'static str,
}

const fn required(name: &'static str, kind: Kind, description: &'static str) -> Field {
    Field {
        name,
        kind,
        required: true,
        description,
    }
}

const fn optional(name: &'static str, kind: Kind, description: &'static str) -> Field {
    Field {
        name,
        kind,
        required: false,
        description,
    }
}

/// One method on one path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Endpoint {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) handler: Handler,
    pub(crate) summary: &'static str,
    pub(crate) request: &'static [Field],
    pub(crate) response: &'static [Field],
}

impl Endpoint {
    /// POSTs need an API key; GETs serve public material.
    pub(crate) fn needs_api_key(&self) -> bool {
        self.method == "POST"
    }
}

const fn get(path: &'static str, handler: Handler, summary: &'static str, response: &'static [Field]) -> Endpoint {
    Endpoint {
        method: "GET",
        path,
        handler,
        summary,
        request: &[],
        response,
    }
}

const fn post(
    path: &'static str,
    handler: Handler,
    summary: &'static str,
    request: &'static [Field],
    response: &'static [Field],
) -> Endpoint {
    Endpoint {
        method: "POST",
        path,
        handler,
        summary,
        request,
        response,
    }
}

const CERT_FIELDS: &[Field] = &[
    required("cert_id", Kind::Text, "Id of the new certificate."),
    required(
        "subject",
        Kind::Text,
        "Subject in OpenSSL slash form, such as /C=US/O=Example/CN=name/.",
    ),
    optional("key_length", Kind::Integer, "RSA key size: 2048 (default) or 4096."),
    optional("days", Kind::Integer, "Validity in days, at least 1; default 7305."),
];
const GPG_KEY_FIELDS: &[Field] = &[
    required("name_real", Kind::Text, "Name part of the user id."),
    required("name_email", Kind::Text, "E-mail address of the user id."),
    optional("name_comment", Kind::Text, "Comment part of the user id."),
    optional("key_length", Kind::Integer, "RSA key size: 2048 (default) or 4096."),
];
const SIGN_FIELDS: &[Field] = &[
    required("key_id", Kind::Text, "Id of the signing key or certificate."),
    required("payload", Kind::Base64, "Data to sign."),
];
const VARIABLE_FIELDS: &[Field] = &[
    required(
        "key_id",
        Kind::IdOrList,
        "Certificate id, or ids, whose signature list the variable carries.",
    ),
    optional(
        "signing_key_id",
        Kind::Text,
        "Certificate that signs; default the first of key_id.",
    ),
    optional("append", Kind::Boolean, "Set EFI_VARIABLE_APPEND_WRITE."),
];
const DATABASE_FIELDS: &[Field] = &[
    optional(
        "key_id",
        Kind::IdOrList,
        "Stored certificates for the list; or give esl.",
    ),
    optional(
        "esl",
        Kind::Base64,
        "A signature list to sign instead; answered as auth, not stored.",
    ),
    optional(
        "signing_key_id",
        Kind::Text,
        "Certificate that signs; required with esl.",
    ),
    optional("append", Kind::Boolean, "Set EFI_VARIABLE_APPEND_WRITE."),
];
const PKI_FIELDS: &[Field] = &[required("hab_type", Kind::Text, "hab (HAB4) or ahab.")];
const CERT_ANSWER: &[Field] = &[required("cert", Kind::Text, "PEM certificate.")];
const SIGNED_ANSWER: &[Field] = &[required("signed", Kind::Base64, "The signed file.")];

/// Every endpoint of the API.
pub(crate) const ENDPOINTS: &[Endpoint] = &[
    get(
        "/health",
        Handler::Health,
        "Checks that the key store is readable and writable.",
        &[required("status", Kind::Text, "ok")],
    ),
    get("/metrics", Handler::Metrics, "Prometheus metrics, text format.", &[]),
    get("/openapi.json", Handler::OpenApi, "This document.", &[]),
    post(
        "/cert",
        Handler::CertCreate,
        "Creates a key and a self-signed certificate.",
        CERT_FIELDS,
        CERT_ANSWER,
    ),
    get(
        "/cert/{cert_id}",
        Handler::CertGet,
        "Returns a certificate.",
        CERT_ANSWER,
    ),
    get(
        "/kmod/cert/{cert_id}",
        Handler::CertGet,
        "Returns a certificate (module signing path).",
        CERT_ANSWER,
    ),
    post(
        "/cert/sign",
        Handler::CertSign,
        "Signs a SHA-256 digest with PKCS#1 v1.5, without DigestInfo.",
        &[
            required("cert_id", Kind::Text, "Certificate whose key signs."),
            required("digest", Kind::Text, "SHA-256 digest, 64 hex digits."),
        ],
        &[required("signature", Kind::Base64, "The signature.")],
    ),
    get(
        "/rsa/keys",
        Handler::RsaList,
        "Lists Raspberry Pi key ids.",
        &[required("keys", Kind::TextList, "Key ids.")],
    ),
    get(
        "/rsa/key/{id}",
        Handler::RsaGet,
        "Returns a PEM public key.",
        &[required("key", Kind::Text, "PEM public key.")],
    ),
    post(
        "/rsa/key",
        Handler::RsaCreate,
        "Creates an RSA-2048 key.",
        &[],
        &[required("fingerprint", Kind::Text, "The new key's id.")],
    ),
    post(
        "/rsa/sign",
        Handler::RsaSign,
        "Signs a Raspberry Pi boot image; answers the rpi-eeprom digest file.",
        SIGN_FIELDS,
        &[required("signature", Kind::Base64, "The digest file.")],
    ),
    get(
        "/gpg/keys",
        Handler::GpgList,
        "Lists OpenPGP key fingerprints.",
        &[required("keys", Kind::TextList, "Fingerprints.")],
    ),
    get(
        "/gpg/key/{fingerprint}",
        Handler::GpgGet,
        "Returns an ASCII-armored public key.",
        &[required("key", Kind::Text, "Armored public key.")],
    ),
    post(
        "/gpg/key",
        Handler::GpgCreate,
        "Creates an OpenPGP key.",
        GPG_KEY_FIELDS,
        &[required("fingerprint", Kind::Text, "Fingerprint.")],
    ),
    post(
        "/gpg/sign",
        Handler::GpgSign,
        "Makes a binary detached OpenPGP signature.",
        SIGN_FIELDS,
        &[required("signature", Kind::Base64, "The signature packet.")],
    ),
    post(
        "/secureboot/pk",
        Handler::SecureBootPk,
        "Signs and stores the PK variable.",
        VARIABLE_FIELDS,
        &[],
    ),
    post(
        "/secureboot/kek",
        Handler::SecureBootKek,
        "Signs and stores the KEK variable.",
        VARIABLE_FIELDS,
        &[],
    ),
    post(
        "/secureboot/db",
        Handler::SecureBootDb,
        "Signs the db variable.",
        DATABASE_FIELDS,
        &[optional(
            "auth",
            Kind::Base64,
            "The signed variable, for an esl request.",
        )],
    ),
    post(
        "/secureboot/dbx",
        Handler::SecureBootDbx,
        "Signs the dbx variable.",
        DATABASE_FIELDS,
        &[optional(
            "auth",
            Kind::Base64,
            "The signed variable, for an esl request.",
        )],
    ),
    get(
        "/secureboot/{variable}/{ids}",
        Handler::SecureBootGet,
        "Returns a stored variable (pk, kek or db), its signature list and certificates; ids comma-separated.",
        &[
            required("esl", Kind::Base64, "The signature list."),
            required("der", Kind::Base64List, "The certificates, DER, sorted by id."),
        ],
    ),
    post(
        "/secureboot/efi",
        Handler::EfiSign,
        "Authenticode-signs an EFI binary.",
        SIGN_FIELDS,
        SIGNED_ANSWER,
    ),
    post(
        "/kmod/sign",
        Handler::KmodSign,
        "Appends a kernel module signature.",
        SIGN_FIELDS,
        SIGNED_ANSWER,
    ),
    get(
        "/imx/pkis",
        Handler::ImxList,
        "Lists NXP PKI tree ids.",
        &[required("pkis", Kind::TextList, "Tree ids.")],
    ),
    get(
        "/imx/efuses/{pki_id}",
        Handler::ImxEfuses,
        "Returns the SRK hash to burn into the fuses.",
        &[required("efuses", Kind::Base64, "SRK hash.")],
    ),
    get(
        "/nxp/efuses/{pki_id}",
        Handler::ImxEfuses,
        "Alias of /imx/efuses/{pki_id}.",
        &[required("efuses", Kind::Base64, "SRK hash.")],
    ),
    post(
        "/imx/pki",
        Handler::ImxCreate,
        "Creates an NXP PKI tree.",
        PKI_FIELDS,
        &[required("pki_id", Kind::Text, "Tree id.")],
    ),
    post(
        "/imx/cst",
        Handler::ImxCst,
        "Signs with a CSF description, as NXP's Code Signing Tool does.",
        &[
            required("pki_id", Kind::Text, "PKI tree."),
            required("hab_type", Kind::Text, "hab or ahab."),
            required("payload", Kind::Base64, "The image."),
            required("csf", Kind::Base64, "The CSF description text."),
        ],
        &[required(
            "csf_bin",
            Kind::Base64,
            "HAB4: the CSF binary; AHAB: the signed image.",
        )],
    ),
    post(
        "/nxp/cst",
        Handler::ImxCst,
        "Alias of /imx/cst.",
        &[
            required("pki_id", Kind::Text, "PKI tree."),
            required("hab_type", Kind::Text, "hab or ahab."),
            required("payload", Kind::Base64, "The image."),
            required("csf", Kind::Base64, "The CSF description text."),
        ],
        &[required(
            "csf_bin",
            Kind::Base64,
            "HAB4: the CSF binary; AHAB: the signed image.",
        )],
    ),
    post(
        "/bootstrap",
        Handler::Bootstrap,
        "Creates certificates, PK/KEK/db variables, OpenPGP and RSA keys and HAB and AHAB trees at once.",
        &[
            required("gpg", Kind::Object, "A /gpg/key body."),
            required("rsa", Kind::Object, "A /rsa/key body ({})."),
            required("hab", Kind::Object, "A /imx/pki body with hab_type hab."),
            required("ahab", Kind::Object, "A /imx/pki body with hab_type ahab."),
            required(
                "certificates",
                Kind::Object,
                "/cert bodies by name: pk, kek, kmod and optional db.",
            ),
        ],
        &[
            required("gpg", Kind::Object, "fingerprint."),
            required("rsa", Kind::Object, "fingerprint."),
            required("hab", Kind::Object, "pki_id."),
            required("ahab", Kind::Object, "pki_id."),
            required("certificates", Kind::Object, "PEM certificates by name."),
        ],
    ),
    post(
        "/export",
        Handler::Export,
        "Exports the whole store, encrypted.",
        &[required("key", Kind::Text, "Passphrase.")],
        &[
            required("data", Kind::Text, "Fernet token of the gzip-compressed tar."),
            required("salt", Kind::Base64, "PBKDF2 salt, 16 bytes."),
        ],
    ),
    post(
        "/import",
        Handler::Import,
        "Merges an exported store; answers 204.",
        &[
            required("key", Kind::Text, "Passphrase."),
            required("data", Kind::Text, "Fernet token from /export."),
            required("salt", Kind::Base64, "Salt from /export."),
        ],
        &[],
    ),
];

/// Builds the OpenAPI 3.0 document.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for endpoint in ENDPOINTS {
        let entry = paths.entry(endpoint.path.to_owned()).or_insert_with(|| json!({}));
        if let Value::Object(methods) = entry {
            methods.insert(endpoint.method.to_lowercase(), operation(endpoint));
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "balena-sign",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Signing server for balenaOS builds. POST requests need an X-API-Key header; GET requests serve public material.",
        },
        "components": {
            "securitySchemes": { "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" } },
            "schemas": {
                "Error": object_schema(&[
                    required("error", Kind::Text, "What is wrong and what to do."),
                    required("code", Kind::Text, "Stable error code."),
                    optional("field", Kind::Text, "The request field at fault."),
                ]),
            },
        },
        "paths": paths,
    })
}

fn operation(endpoint: &Endpoint) -> Value {
    let parameters: Vec<Value> = endpoint
        .path
        .split('/')
        .filter_map(|part| part.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    let success = if endpoint.handler == Handler::Import {
        "204"
    } else {
        "200"
    };
    let error = json!({ "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });

    let mut responses = Map::new();
    responses.insert(
        success.to_owned(),
        json!({ "description": "Success", "content": { "application/json": { "schema": object_schema(endpoint.response) } } }),
    );
    for status in ["400", "404", "413", "500"] {
        responses.insert(status.to_owned(), error.clone());
    }

    let mut operation = json!({ "summary": endpoint.summary, "parameters": parameters, "responses": responses });
    if endpoint.needs_api_key() {
        for status in ["401", "403", "409", "503"] {
            operation["responses"][status] = error.clone();
        }
        operation["security"] = json!([{ "apiKey": [] }]);
        operation["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": object_schema(endpoint.request) } },
        });
    }
    operation
}

fn object_schema(fields: &[Field]) -> Value {
    let mut properties = Map::new();
    let mut required_names = Vec::new();
    for field in fields {
        let mut schema = kind_schema(field.kind);
        schema["description"] = json!(field.description);
        properties.insert(field.name.to_owned(), schema);
        if field.required {
            required_names.push(field.name);
        }
    }
    let mut schema = json!({ "type": "object", "properties": properties, "additionalProperties": false });
    if !required_names.is_empty() {
        schema["required"] = json!(required_names);
    }
    schema
}

fn kind_schema(kind: Kind) -> Value {
    match kind {
        Kind::Text => json!({ "type": "string" }),
        Kind::Base64 => json!({ "type": "string", "format": "byte" }),
        Kind::Integer => json!({ "type": "integer", "minimum": 0 }),
        Kind::Boolean => json!({ "type": "boolean" }),
        Kind::IdOrList => {
            json!({ "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }] })
        }
        Kind::TextList => json!({ "type": "array", "items": { "type": "string" } }),
        Kind::Base64List => json!({ "type": "array", "items": { "type": "string", "format": "byte" } }),
        Kind::Object => json!({ "type": "object" }),
    }
}
