use super::*;

/// The description the balenaOS build sends for a kernel, after its
/// template expansion and with the block line it appends.
const BALENA_KERNEL: &str = r#"[Header]
    Version = 4.3
    Hash Algorithm = sha256
    Engine = CAAM
    Engine Configuration = 0
    Certificate Format = X509
    Signature Format = CMS

[Install SRK]
    File = "%%CERTS_PATH%%/../SRK_table.bin"
    Source index = 0

[Install CSFK]
    File = "%%CERTS_PATH%%/CSF1_1_sha256_4096_65537_v3_usr_crt.pem"

[Authenticate CSF]

[Unlock]
    Engine = CAAM
    Features = MID, RNG

[Unlock]
    Engine = OCOTP
    Features = SRK REVOKE

[Install Key]
    Verification index = 0
    Target Index = 2
    File = "%%CERTS_PATH%%/IMG1_1_sha256_4096_65537_v3_usr_crt.pem"

[Authenticate Data]
    Verification index = 2
    Blocks = \
  0x40480000 0x00000000 0x3020 "%%BIN_PATH%%"
"#;

fn parse_hab(text: &str) -> HabDescription {
    match parse(text.as_bytes()).unwrap() {
        CsfDescription::Hab(hab) => hab,
        CsfDescription::Ahab(_) => panic!("parsed as AHAB"),
    }
}

fn parse_error(text: &str) -> CsfTextError {
    parse(text.as_bytes()).unwrap_err()
}

/// Replaces `from` in the balenaOS description, checking that it was there.
fn balena_with(from: &str, to: &str) -> String {
    assert!(BALENA_KERNEL.contains(from), "{from}");
    BALENA_KERNEL.replacen(from, to, 1)
}

#[test]
fn balena_kernel_description_parses() {
    let hab = parse_hab(BALENA_KERNEL);
    assert_eq!(hab.header.version.byte(), 0x43);
    assert_eq!(hab.header.engine, Engine::Caam);
    assert_eq!(hab.commands.len(), 7);
    assert_eq!(
        hab.commands[3],
        HabCommand::Unlock {
            engine: Engine::Caam,
            features: Some(0x03),
            uid: None
        }
    );
    assert_eq!(
        hab.commands[4],
        HabCommand::Unlock {
            engine: Engine::Ocotp,
            features: Some(0x02),
            uid: None
        }
    );
    let HabCommand::AuthenticateData { blocks, .. } = &hab.commands[6] else {
        panic!("expected Authenticate Data last");
    };
    assert_eq!(
        blocks,
        &[Block {
            address: 0x4048_0000,
            offset: 0,
            length: 0x3020,
            file: FileName {
                name: "%%BIN_PATH%%".into(),
                line: 34
            },
        }]
    );
}

#[test]
fn referenced_files_list_roles() {
    let description = parse(BALENA_KERNEL.as_bytes()).unwrap();
    let files: Vec<(String, FileRole)> = description
        .referenced_files()
        .into_iter()
        .map(|reference| (reference.file.name, reference.role))
        .collect();
    assert_eq!(
        files,
        [
            ("%%CERTS_PATH%%/../SRK_table.bin".to_owned(), FileRole::SrkTable),
            (
                "%%CERTS_PATH%%/CSF1_1_sha256_4096_65537_v3_usr_crt.pem".to_owned(),
                FileRole::CsfKeyCertificate
            ),
            (
                "%%CERTS_PATH%%/IMG1_1_sha256_4096_65537_v3_usr_crt.pem".to_owned(),
                FileRole::ImageKeyCertificate
            ),
            ("%%BIN_PATH%%".to_owned(), FileRole::SignedData),
        ]
    );
}

#[test]
fn rename_files_replaces_placeholders() {
    let mut description = parse(BALENA_KERNEL.as_bytes()).unwrap();
    description.rename_files(|name| name.replace("%%CERTS_PATH%%", "/pki/1/crts"));
    let names: Vec<String> = description
        .referenced_files()
        .into_iter()
        .map(|reference| reference.file.name)
        .collect();
    assert_eq!(names[0], "/pki/1/crts/../SRK_table.bin");
    assert_eq!(names[3], "%%BIN_PATH%%");
}

#[test]
fn names_ignore_case_and_spaces() {
    let text = BALENA_KERNEL
        .replace("[Install SRK]", "[installsrk]")
        .replace("Source index", "SOURCE INDEX")
        .replace("Features = SRK REVOKE", "Features = srkrevoke")
        .replace("Engine = CAAM", "engine = caam");
    assert_eq!(parse_hab(&text), parse_hab(BALENA_KERNEL));
}

#[test]
fn comments_and_blank_lines_ignored() {
    let text = BALENA_KERNEL
        .replacen("\n\n", "\n# the SRK table and its slot\n", 1)
        .replace("Source index = 0", "Source index = 0 # slot 1")
        .replace("[Authenticate CSF]", "[Authenticate CSF]   # signed by CSF1_1");
    let text = format!("{text}# end\n");
    assert_eq!(parse_hab(&text), parse_hab(BALENA_KERNEL));
}

#[test]
fn several_blocks_across_lines() {
    let text = balena_with(
        "0x40480000 0x00000000 0x3020 \"%%BIN_PATH%%\"",
        "0x7e0fc0 0x1a000 0x2a600 \"flash.bin\", \\\r\n  0x401fcdc0 0x57c00 0x1020 \"flash.bin\",\\\n 0x40200000 0x59000 0x9c6e8 \"flash.bin\"",
    );
    let hab = parse_hab(&text);
    let HabCommand::AuthenticateData { blocks, .. } = &hab.commands[6] else {
        panic!("expected Authenticate Data last");
    };
    let spans: Vec<(u32, u32, u32)> = blocks
        .iter()
        .map(|block| (block.address, block.offset, block.length))
        .collect();
    assert_eq!(
        spans,
        [
            (0x7e0fc0, 0x1a000, 0x2a600),
            (0x401fcdc0, 0x57c00, 0x1020),
            (0x40200000, 0x59000, 0x9c6e8)
        ]
    );
    assert_eq!(blocks[2].file.line, 36);
}

#[test]
fn unlock_with_uid() {
    let text = balena_with(
        "Features = SRK REVOKE",
        "Features = JTAG\n    UID = 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef",
    );
    let hab = parse_hab(&text);
    assert_eq!(
        hab.commands[4],
        HabCommand::Unlock {
            engine: Engine::Ocotp,
            features: Some(0x08),
            uid: Some([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]),
        }
    );
}

#[test]
fn set_engine_parses() {
    let text = format!("{BALENA_KERNEL}\n[Set Engine]\n Hash Algorithm = sha256\n Engine = ANY\n");
    let hab = parse_hab(&text);
    assert_eq!(
        hab.commands.last(),
        Some(&HabCommand::SetEngine {
            hash_algorithm: HashAlgorithmName::Sha256,
            engine: Engine::Any,
            engine_configuration: None,
        })
    );
}

#[test]
fn ahab_description_parses() {
    let text = r#"[Header]
  Target = AHAB
  Version = 1.0
[Install SRK]
  File = "crts/SRK_1_2_3_4_table.bin"
  Source = "crts/SRK1_sha512_4096_65537_v3_ca_crt.pem"
  Source index = 0
  Source set = OEM
  Revocations = 0x0
[Authenticate Data]
  File = "flash.bin"
  Offsets = 0x400 0x590
"#;
    let CsfDescription::Ahab(ahab) = parse(text.as_bytes()).unwrap() else {
        panic!("parsed as HAB");
    };
    assert_eq!(ahab.srk_table.name, "crts/SRK_1_2_3_4_table.bin");
    assert_eq!(ahab.srk_certificate.name, "crts/SRK1_sha512_4096_65537_v3_ca_crt.pem");
    assert_eq!(ahab.source_set, SrkSet::Oem);
    assert_eq!((ahab.container_offset, ahab.signature_block_offset), (0x400, 0x590));
    assert_eq!(ahab.certificate, None);
}

// Hostile and mistaken descriptions.

#[test]
fn rejects_unknown_key() {
    let error = parse_error(&balena_with("Source index = 0", "Source index = 0\n    Sauce = 1"));
    assert_eq!(error.line, 12);
    assert!(matches!(error.kind, CsfTextErrorKind::UnknownKey { ref key, .. } if key == "sauce"));
}

#[test]
fn rejects_unknown_section() {
    let error = parse_error(&balena_with("[Authenticate CSF]", "[Authenticate CSFs]"));
    assert_eq!(error.line, 16);
    assert!(matches!(error.kind, CsfTextErrorKind::UnknownSection { .. }));
}

#[test]
fn rejects_missing_install_csfk() {
    let text = balena_with(
        "[Install CSFK]\n    File = \"%%CERTS_PATH%%/CSF1_1_sha256_4096_65537_v3_usr_crt.pem\"\n",
        "",
    );
    let error = parse_error(&text);
    assert!(matches!(
        error.kind,
        CsfTextErrorKind::SectionOrder {
            name: "Authenticate CSF",
            ..
        }
    ));
}

#[test]
fn rejects_missing_authenticate_csf() {
    let error = parse_error(
        "[Header]\nVersion = 4.3\n[Install SRK]\nFile = \"t\"\nSource index = 0\n[Install CSFK]\nFile = \"c\"\n",
    );
    assert_eq!(
        error.kind,
        CsfTextErrorKind::MissingSection {
            name: "Authenticate CSF"
        }
    );
}

#[test]
fn rejects_missing_header() {
    let error = parse_error("[Install SRK]\nFile = \"t\"\nSource index = 0\n");
    assert_eq!(error.line, 1);
    assert!(matches!(error.kind, CsfTextErrorKind::SectionOrder { .. }));
}

#[test]
fn rejects_empty_description() {
    assert_eq!(parse_error("# nothing\n\n").kind, CsfTextErrorKind::Empty);
}

#[test]
fn rejects_missing_required_key() {
    let error = parse_error(&balena_with("    Source index = 0\n", ""));
    assert_eq!(
        error.kind,
        CsfTextErrorKind::MissingKey {
            section: "Install SRK",
            key: "Source index"
        }
    );
    assert_eq!(error.line, 9);
}

#[test]
fn rejects_duplicate_key() {
    let error = parse_error(&balena_with(
        "Source index = 0",
        "Source index = 0\n    SourceIndex = 1",
    ));
    assert!(matches!(error.kind, CsfTextErrorKind::DuplicateKey { .. }));
}

#[test]
fn rejects_duplicate_install_srk() {
    let text = balena_with(
        "[Install CSFK]",
        "[Install SRK]\n File = \"t\"\n Source index = 0\n[Install CSFK]",
    );
    assert!(matches!(
        parse_error(&text).kind,
        CsfTextErrorKind::DuplicateSection { .. }
    ));
}

const BALENA_BLOCK: &str = "0x40480000 0x00000000 0x3020 \"%%BIN_PATH%%\"";

#[test]
fn rejects_too_many_blocks() {
    let list = vec![BALENA_BLOCK; MAX_BLOCKS + 1].join(", \\\n");
    let error = parse_error(&balena_with(BALENA_BLOCK, &list));
    assert_eq!(error.kind, CsfTextErrorKind::TooManyBlocks { count: MAX_BLOCKS + 1 });
}

#[test]
fn accepts_max_blocks() {
    let list = [BALENA_BLOCK; MAX_BLOCKS].join(", ");
    parse_hab(&balena_with(BALENA_BLOCK, &list));
}

#[test]
fn rejects_number_overflow() {
    let error = parse_error(&balena_with("0x3020", "0x100000000"));
    assert_eq!(
        error.kind,
        CsfTextErrorKind::NumberOverflow {
            text: "0x100000000".into()
        }
    );
    assert_eq!(error.line, 34);

    let error = parse_error(&balena_with("Source index = 0", "Source index = 4294967296"));
    assert!(matches!(error.kind, CsfTextErrorKind::NumberOverflow { .. }));
}

#[test]
fn rejects_index_out_of_range() {
    let error = parse_error(&balena_with("Source index = 0", "Source index = 4"));
    assert_eq!(
        error.kind,
        CsfTextErrorKind::OutOfRange {
            key: "Source index",
            value: 4,
            min: 0,
            max: 3
        }
    );
    let error = parse_error(&balena_with("Target Index = 2", "Target Index = 1"));
    assert!(matches!(error.kind, CsfTextErrorKind::OutOfRange { .. }));
}

#[test]
fn rejects_malformed_numbers() {
    for bad in ["0x", "0xg1", "12ab", "1.2.3"] {
        let error = parse_error(&balena_with("0x3020", bad));
        assert!(
            matches!(error.kind, CsfTextErrorKind::InvalidNumber { .. }),
            "{bad}: {error}"
        );
    }
}

#[test]
fn rejects_unterminated_quote() {
    let error = parse_error(&balena_with("SRK_table.bin\"", "SRK_table.bin"));
    assert_eq!(error.kind, CsfTextErrorKind::UnterminatedString);
    assert_eq!(error.line, 10);
}

#[test]
fn rejects_unquoted_file() {
    let error = parse_error("[Header]\nVersion = 4.3\n[Install SRK]\nFile = table\n");
    assert!(matches!(error.kind, CsfTextErrorKind::InvalidValue { key: "File", .. }));
}

#[test]
fn rejects_stray_characters() {
    let error = parse_error(&balena_with("Source index = 0", "Source index = 0;"));
    assert_eq!(error.kind, CsfTextErrorKind::UnexpectedCharacter(';'));
    let error = parse_error(&balena_with("Blocks = \\", "Blocks = \\ x"));
    assert_eq!(error.kind, CsfTextErrorKind::MisplacedContinuation);
}

#[test]
fn rejects_trailing_comma() {
    let error = parse_error(&balena_with("Features = MID, RNG", "Features = MID, RNG,"));
    assert!(matches!(error.kind, CsfTextErrorKind::Expected { .. }));
}

#[test]
fn rejects_key_before_section() {
    let error = parse_error("Version = 4.3\n[Header]\n");
    assert!(matches!(error.kind, CsfTextErrorKind::KeyOutsideSection { .. }));
}

#[test]
fn rejects_unsupported_choices() {
    for (from, to) in [
        ("Hash Algorithm = sha256", "Hash Algorithm = sha1"),
        ("Engine Configuration = 0", "Engine Configuration = 1"),
        ("Certificate Format = X509", "Certificate Format = WTLS"),
        ("Signature Format = CMS", "Signature Format = PKCS1"),
    ] {
        let error = parse_error(&balena_with(from, to));
        assert!(
            matches!(error.kind, CsfTextErrorKind::Unsupported { .. }),
            "{to}: {error}"
        );
    }
}

#[test]
fn rejects_feature_of_other_engine() {
    let error = parse_error(&balena_with("Features = MID, RNG", "Features = MID, JTAG"));
    assert!(matches!(
        error.kind,
        CsfTextErrorKind::InvalidValue { key: "Features", .. }
    ));
}

#[test]
fn rejects_jtag_unlock_without_uid() {
    let error = parse_error(&balena_with("Features = SRK REVOKE", "Features = JTAG"));
    assert!(matches!(error.kind, CsfTextErrorKind::MissingKey { key: "UID", .. }));
}

#[test]
fn rejects_short_uid() {
    let error = parse_error(&balena_with(
        "Features = SRK REVOKE",
        "Features = SCS\n    UID = 0x01, 0x02",
    ));
    assert!(matches!(error.kind, CsfTextErrorKind::InvalidValue { key: "UID", .. }));
}

#[test]
fn rejects_unlock_before_authenticate_csf() {
    let text = balena_with(
        "[Install CSFK]",
        "[Unlock]\n Engine = CAAM\n Features = MID\n[Install CSFK]",
    );
    assert!(matches!(
        parse_error(&text).kind,
        CsfTextErrorKind::SectionOrder { name: "Unlock", .. }
    ));
}

#[test]
fn rejects_authenticate_data_without_key() {
    let text = balena_with("[Install Key]", "[Install Keys]");
    assert!(matches!(
        parse_error(&text).kind,
        CsfTextErrorKind::UnknownSection { .. }
    ));

    let text = balena_with(
        "[Install Key]\n    Verification index = 0\n    Target Index = 2\n    File = \"%%CERTS_PATH%%/IMG1_1_sha256_4096_65537_v3_usr_crt.pem\"\n",
        "",
    );
    assert!(matches!(
        parse_error(&text).kind,
        CsfTextErrorKind::SectionOrder {
            name: "Authenticate Data",
            ..
        }
    ));
}

#[test]
fn rejects_hab_keys_in_ahab_header() {
    let error = parse_error("[Header]\nTarget = AHAB\nVersion = 1.0\nEngine = CAAM\n");
    assert!(matches!(error.kind, CsfTextErrorKind::UnknownKey { .. }));
    assert_eq!(error.line, 4);
}

#[test]
fn rejects_ahab_version_2() {
    let error = parse_error("[Header]\nTarget = AHAB\nVersion = 2.0\n");
    assert!(matches!(
        error.kind,
        CsfTextErrorKind::Unsupported { key: "Version", .. }
    ));
}

#[test]
fn rejects_oversized_text() {
    let text = vec![b'#'; MAX_DESCRIPTION_LEN + 1];
    assert!(matches!(
        parse(&text).unwrap_err().kind,
        CsfTextErrorKind::TooLong { .. }
    ));
}

#[test]
fn rejects_invalid_utf8() {
    let mut text = b"[Header]\nVersion = 4.3\n# ".to_vec();
    text.push(0xff);
    let error = parse(&text).unwrap_err();
    assert_eq!((error.line, error.kind), (3, CsfTextErrorKind::NotUtf8));
}

#[test]
fn error_message_names_line() {
    let error = parse_error(&balena_with("Source index = 0", "Source index = 9"));
    assert_eq!(
        error.to_string(),
        "CSF description line 11: 'Source index' is 9, outside 0 to 3"
    );
}
