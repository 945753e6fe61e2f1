use super::*;

/// Toy values of realistic sizes; the codec does no arithmetic on them.
fn components() -> RsaPrivateComponents {
    let mut n = vec![0xbe; 256];
    n[255] = 0x01;
    RsaPrivateComponents {
        n,
        e: vec![0x01, 0x00, 0x01],
        d: vec![0x05; 255],
        p: vec![0xc1; 128],
        q: vec![0xd3; 128],
        u: vec![0x12; 127],
    }
}

fn assert_same(parsed: &RsaPrivateComponents, expected: &RsaPrivateComponents) {
    for (name, (got, want)) in RSA_PARAMETERS.iter().zip(parsed.values().iter().zip(expected.values())) {
        assert_eq!(got, &want, "parameter {name}");
    }
}

fn canonical(name: &str, parameters: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = format!("({}:{}(3:rsa", name.len(), name).into_bytes();
    for (name, value) in parameters {
        out.extend_from_slice(format!("({}:{}{}:", name.len(), name, value.len()).as_bytes());
        out.extend_from_slice(value);
        out.push(b')');
    }
    out.extend_from_slice(b"))");
    out
}

fn all_parameters(components: &RsaPrivateComponents) -> Vec<(&str, &[u8])> {
    RSA_PARAMETERS.into_iter().zip(components.values()).collect()
}

#[test]
fn extended_format_layout() {
    let text = write_extended_private_key(&components(), Some(1_704_164_645)).unwrap();
    let text = std::str::from_utf8(&text).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    assert_eq!(lines[0], "Created: 20240102T030405");
    assert!(
        lines[1].starts_with("Key: (private-key (rsa (n #00BEBE"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[1].len(), 71);
    for line in &lines[2..] {
        assert!(line.starts_with(' '), "{line}");
        assert!(line.len() <= 71, "{line}");
    }
    assert!(text.ends_with("#)))\n"));
    let unfolded = text.replace("\n ", "");
    assert!(unfolded.contains("BE01#)(e #010001#)(d #0505"), "{unfolded}");
    assert!(unfolded.contains("#)(p #00C1C1"));
    assert!(unfolded.contains("#)(u #1212"));
}

#[test]
fn breaks_lines_at_spaces() {
    let text = write_extended_private_key(&components(), None).unwrap();
    let text = std::str::from_utf8(&text).unwrap();
    // A break at a space leaves the space at the start of the next line,
    // so the line begins with two spaces.
    let broken_at_space: Vec<&str> = text.lines().filter(|line| line.starts_with("  ")).collect();
    assert!(!broken_at_space.is_empty());
    for line in broken_at_space {
        assert!(line.starts_with("  #"), "{line}");
    }
    assert!(text.starts_with("Key: "));
}

#[test]
fn extended_format_round_trip() {
    let expected = components();
    let text = write_extended_private_key(&expected, Some(1_704_164_645)).unwrap();
    let parsed = parse_private_key(&text).unwrap();
    assert_eq!(parsed.format, PrivateKeyFormat::Extended);
    assert_eq!(parsed.created, Some(1_704_164_645));
    assert_same(&parsed.components, &expected);
}

#[test]
fn reads_canonical_format() {
    let expected = components();
    let mut parameters = all_parameters(&expected);
    let n = [&[0x00][..], &expected.n].concat();
    parameters[0].1 = &n;
    let parsed = parse_private_key(&canonical("private-key", &parameters)).unwrap();
    assert_eq!(parsed.format, PrivateKeyFormat::Canonical);
    assert_eq!(parsed.created, None);
    assert_same(&parsed.components, &expected);
}

#[test]
fn reads_entries_in_any_order_with_comments() {
    let key = write_extended_private_key(&components(), None).unwrap();
    let mut text = b"# written by hand\n\nLabel: my key\nUse-for-ssh: no\n".to_vec();
    text.extend_from_slice(&key);
    text.extend_from_slice(b"Created: 20240102T030405\r\n");
    let parsed = parse_private_key(&text).unwrap();
    assert_eq!(parsed.created, Some(1_704_164_645));
    assert_same(&parsed.components, &components());
}

#[test]
fn reads_parameters_in_any_order() {
    let expected = components();
    let mut parameters = all_parameters(&expected);
    parameters.reverse();
    parameters.insert(2, ("comment", b"x"));
    let parsed = parse_private_key(&canonical("private-key", &parameters)).unwrap();
    assert_same(&parsed.components, &expected);
}

#[test]
fn joins_continuations_like_gnupg() {
    let raw: [&[u8]; 4] = [b" (a b", b"  c)  ", b"\t", b"   d"];
    assert_eq!(join_value(&raw).as_slice(), b"(a b c)\nd");
}

#[test]
fn rejects_protected_keys() {
    let protected = b"Key: (protected-private-key (rsa (n #00BE#)(e #010001#)\n \
        (protected openpgp-s2k3-ocb-aes ((sha1 #00# \"1\") #00#) #00#)\n \
        (protected-at \"20240102T030405\")))\n";
    assert_eq!(parse_private_key(protected).unwrap_err(), PrivateKeyError::Protected);

    let canonical_protected = b"(21:protected-private-key(3:rsa(1:n1:\x01)(9:protected3:abc)))";
    assert_eq!(
        parse_private_key(canonical_protected).unwrap_err(),
        PrivateKeyError::Protected
    );
    assert!(PrivateKeyError::Protected.to_string().contains("passphrase"));
}

#[test]
fn rejects_smartcard_and_other_keys() {
    let shadowed = b"Key: (shadowed-private-key (rsa (n #00BE#)(e #010001#)(shadowed t1-v1 (#01# OPENPGP.1))))\n";
    assert_eq!(parse_private_key(shadowed).unwrap_err(), PrivateKeyError::Shadowed);

    let ecc = b"Key: (private-key (ecc (curve Ed25519)(q #40AB#)(d #01#)))\n";
    assert_eq!(
        parse_private_key(ecc).unwrap_err(),
        PrivateKeyError::UnsupportedAlgorithm {
            algorithm: "ecc".into()
        }
    );

    let public = b"Key: (public-key (rsa (n #00BE#)(e #010001#)))\n";
    assert_eq!(
        parse_private_key(public).unwrap_err(),
        PrivateKeyError::NotPrivateKey {
            found: "public-key".into()
        }
    );
}

/// Builds the `protected-private-key` that gpg-agent stores for a key
/// imported without a passphrase.
fn openpgp_native(components: &RsaPrivateComponents, protection: &str, csum: Option<u16>) -> Vec<u8> {
    let hex = |value: &[u8]| format!("#{}#", hex::encode_upper(value));
    let mut skey = String::new();
    for value in components.values() {
        skey.push_str(&format!(" _ {}", hex(value)));
    }
    let csum = csum.map_or(String::new(), |sum| format!("(csum \"{sum}\")"));
    format!(
        "Key: (protected-private-key (rsa (n {})(e {})(protected openpgp-native \
         (openpgp-private-key (version \"4\")(algo RSA)(skey{skey}){csum}(protection {protection})))))\n",
        hex(&components.n),
        hex(&components.e),
    )
    .into_bytes()
}

/// Sum of the bytes of d, p, q and u as OpenPGP MPIs.
fn checksum(components: &RsaPrivateComponents) -> u16 {
    let mut sum = 0u16;
    for value in [&components.d, &components.p, &components.q, &components.u] {
        let bits = (value.len() * 8 - value[0].leading_zeros() as usize) as u16;
        for byte in bits.to_be_bytes().iter().chain(value) {
            sum = sum.wrapping_add(u16::from(*byte));
        }
    }
    sum
}

#[test]
fn reads_unconverted_imported_key() {
    let expected = components();
    let text = openpgp_native(&expected, "none", Some(checksum(&expected)));
    let parsed = parse_private_key(&text).unwrap();
    assert_same(&parsed.components, &expected);
}

#[test]
fn rejects_imported_key_with_passphrase() {
    let expected = components();
    let text = openpgp_native(&expected, "sha1", Some(checksum(&expected)));
    assert_eq!(parse_private_key(&text).unwrap_err(), PrivateKeyError::Protected);

    let text = String::from_utf8(openpgp_native(&expected, "none", Some(checksum(&expected)))).unwrap();
    let encrypted = text.replacen(" _ #0505", " e #0505", 1);
    assert_eq!(
        parse_private_key(encrypted.as_bytes()).unwrap_err(),
        PrivateKeyError::Protected
    );
}

#[test]
fn rejects_imported_key_with_bad_checksum() {
    let expected = components();
    let good = checksum(&expected);
    let text = openpgp_native(&expected, "none", Some(good.wrapping_add(1)));
    assert_eq!(
        parse_private_key(&text).unwrap_err(),
        PrivateKeyError::ChecksumMismatch {
            expected: good.wrapping_add(1),
            actual: good
        }
    );
    let text = openpgp_native(&expected, "none", None);
    assert!(matches!(
        parse_private_key(&text).unwrap_err(),
        PrivateKeyError::ChecksumMismatch { expected: 0, .. }
    ));
}

#[test]
fn rejects_missing_and_duplicate_parameters() {
    let expected = components();
    let mut parameters = all_parameters(&expected);
    parameters.remove(5);
    assert_eq!(
        parse_private_key(&canonical("private-key", &parameters)).unwrap_err(),
        PrivateKeyError::MissingParameter { name: "u" }
    );

    let mut parameters = all_parameters(&expected);
    parameters.push(("d", b"\x01"));
    assert_eq!(
        parse_private_key(&canonical("private-key", &parameters)).unwrap_err(),
        PrivateKeyError::DuplicateParameter { name: "d" }
    );

    let mut parameters = all_parameters(&expected);
    parameters[2].1 = b"\x00\x00";
    assert_eq!(
        parse_private_key(&canonical("private-key", &parameters)).unwrap_err(),
        PrivateKeyError::ZeroParameter { name: "d" }
    );

    let text = b"Key: (private-key (rsa (n #01# #02#)(e #03#)(d #04#)(p #05#)(q #06#)(u #07#)))\n";
    assert_eq!(
        parse_private_key(text).unwrap_err(),
        PrivateKeyError::InvalidParameter { name: "n" }
    );
}

#[test]
fn rejects_malformed_entries() {
    assert_eq!(parse_private_key(b"").unwrap_err(), PrivateKeyError::MissingKey);
    assert_eq!(
        parse_private_key(b"Created: 20240102T030405\n").unwrap_err(),
        PrivateKeyError::MissingKey
    );
    assert_eq!(
        parse_private_key(b"# comment\nno colon here\n").unwrap_err(),
        PrivateKeyError::MissingColon { line: 2 }
    );
    assert_eq!(
        parse_private_key(b"1Key: (a)\n").unwrap_err(),
        PrivateKeyError::InvalidName { line: 1 }
    );
    assert_eq!(
        parse_private_key(b"Key: (a)\nkey: (b)\n").unwrap_err(),
        PrivateKeyError::DuplicateKey { line: 2 }
    );

    let key = write_extended_private_key(&components(), None).unwrap();
    let text = [b"Created: 2024-01-02\n".as_slice(), &key].concat();
    assert_eq!(
        parse_private_key(&text).unwrap_err(),
        PrivateKeyError::InvalidCreated { line: 1 }
    );
}

#[test]
fn rejects_truncated_key_files() {
    let text = write_extended_private_key(&components(), None).unwrap();
    let end = text.len() - 5;
    for len in [10, 40, 200, end] {
        let err = parse_private_key(&text[..len]).unwrap_err();
        assert!(matches!(err, PrivateKeyError::Sexp(_)), "length {len}: {err}");
    }

    let canonical = canonical("private-key", &all_parameters(&components()));
    for len in 1..canonical.len() {
        assert!(parse_private_key(&canonical[..len]).is_err(), "length {len}");
    }
}

#[test]
fn rejects_hostile_sexp_in_key() {
    let mut deep = b"Key: ".to_vec();
    deep.extend(vec![b'('; 10_000]);
    assert!(matches!(
        parse_private_key(&deep).unwrap_err(),
        PrivateKeyError::Sexp(SexpError::TooDeep { .. })
    ));

    let huge = b"(11:private-key(3:rsa(1:n4294967296:x)))";
    assert!(matches!(
        parse_private_key(huge).unwrap_err(),
        PrivateKeyError::Sexp(SexpError::AtomTooLong { .. })
    ));

    let long = vec![b'#'; MAX_KEY_FILE_LEN + 1];
    assert_eq!(
        parse_private_key(&long).unwrap_err(),
        PrivateKeyError::TooLong {
            len: MAX_KEY_FILE_LEN + 1,
            max: MAX_KEY_FILE_LEN
        }
    );
}

#[test]
fn rejects_zero_components_when_writing() {
    let mut zero = components();
    zero.q = vec![0x00];
    assert_eq!(
        write_extended_private_key(&zero, None).unwrap_err(),
        PrivateKeyBuildError::ZeroParameter { name: "q" }
    );
    assert_eq!(
        write_extended_private_key(&components(), Some(u64::MAX)).unwrap_err(),
        PrivateKeyBuildError::CreatedOutOfRange { created: u64::MAX }
    );
}

#[test]
fn debug_output_hides_values() {
    let text = format!("{:?}", components());
    assert_eq!(text, "RsaPrivateComponents { modulus_bits: 2048, .. }");
}
