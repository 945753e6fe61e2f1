//! SPSDK as a judge for NXP formats: the Python interpreter that has it,
//! and the scripts the tests run in it.

/// Returns the Python interpreter with SPSDK installed: `SPSDK_PYTHON`, else
/// the test virtual environment that `scripts/install-test-deps` makes, else
/// `python3`.
pub fn python() -> String {
    if let Some(python) = std::env::var("SPSDK_PYTHON").ok().filter(|python| !python.is_empty()) {
        return python;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/test-venv/bin/python3");
    if std::path::Path::new(venv).exists() {
        return venv.to_owned();
    }
    "python3".to_owned()
}

/// Builds SPSDK's SRK table from certificate files: `out` then the files;
/// writes `out.table` and `out.fuses`.
pub const HAB_SRK_TABLE: &str = r#"
import sys
from spsdk.crypto.certificate import Certificate
from spsdk.image.hab.hab_srk import SrkItem, SrkTable

table = SrkTable()
for path in sys.argv[2:]:
    table.append(SrkItem.from_certificate(Certificate.load(path)))
open(sys.argv[1] + ".table", "wb").write(table.export())
open(sys.argv[1] + ".fuses", "wb").write(table.export_fuses())
"#;

/// Parses a CSF with SPSDK and prints the header and one line per command.
pub const PARSE_CSF: &str = r#"
import sys
from spsdk.image.hab.segments.seg_csf import SegCSF

csf = SegCSF.parse(open(sys.argv[1], "rb").read())
header = csf._header
print(f"header tag={header.tag:#x} length={header.length} version={header.param:#x}")
for command in csf.commands:
    head = command._header
    parts = [type(command).__name__, f"tag={head.tag:#x}", f"param={head.param:#x}"]
    if head.tag == 0xBE:
        parts += [
            f"protocol={command.certificate_format.tag:#x}",
            f"algorithm={command.hash_algorithm.tag:#x}",
            f"source={command.source_index}",
            f"target={command.target_index}",
            f"location={command.cmd_data_location:#x}",
            f"data={type(command.cmd_data_reference).__name__}",
        ]
    elif head.tag == 0xCA:
        blocks = ", ".join(f"({start:#x}, {length:#x})" for start, length in command)
        parts += [
            f"key={command.key_index}",
            f"format={command.sig_format.tag:#x}",
            f"engine={command.engine.tag:#x}",
            f"config={command.engine_cfg}",
            f"location={command.location:#x}",
            f"blocks=[{blocks}]",
            f"data={type(command.cmd_data_reference).__name__}",
        ]
    elif head.tag == 0xB2:
        parts.append(f"features={command.features:#x}")
        if command.uid:
            parts.append(f"uid={command.uid:#x}")
    elif head.tag == 0xB1:
        parts += [f"algorithm={command.hash_algorithm.tag:#x}", f"engine={command.engine.tag:#x}"]
    print(" ".join(parts))
"#;

/// Runs `nxpimage ahab verify -f mimx9352 -b FILE`; with `pkcs1` as the
/// second argument, SPSDK's RSA signature check uses PKCS#1 v1.5 padding.
pub const VERIFY_AHAB: &str = r#"
import runpy
import sys

from spsdk.crypto.keys import PublicKeyRsa

if sys.argv[2] == "pkcs1":
    original = PublicKeyRsa.verify_signature

    def verify_pkcs1_v15(self, signature, data, algorithm=None, pss_padding=False, **kwargs):
        return original(self, signature, data, algorithm=algorithm, pss_padding=False, **kwargs)

    PublicKeyRsa.verify_signature = verify_pkcs1_v15

sys.argv = ["nxpimage", "ahab", "verify", "-f", "mimx9352", "-b", sys.argv[1]]
runpy.run_module("spsdk.apps.nxpimage", run_name="__main__")
"#;

/// Parses an SRK table with SPSDK, re-exports it, hashes it and prints each
/// record.
pub const AHAB_SRK_TABLE: &str = r#"
import hashlib
import sys

from spsdk.image.ahab.ahab_srk import SRKTable

data = open(sys.argv[1], "rb").read()
table = SRKTable.parse(data)
print(f"export-equal={table.export() == data}")
print(f"sha256={table.compute_srk_hash().hex()}")
print(f"sha512={hashlib.sha512(table.export()).hexdigest()}")
for record in table.srk_records:
    n = record.crypto_params[: len(record.crypto_params) - 3].hex()
    print(f"record algorithm={record.version:#x} hash={record.hash_algorithm.label} flags={record.srk_flags:#x} n={n}")
"#;

/// Prints the HAB4 fuse hash SPSDK computes from an SRK table file.
pub const HAB_FUSES: &str = r#"
import sys
from spsdk.image.hab.hab_srk import SrkTable

table = SrkTable.parse(open(sys.argv[1], "rb").read())
print(table.export_fuses().hex())
"#;
