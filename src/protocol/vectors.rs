//! Every case of `protocol/vectors/ondc-crypto-vectors.json`, produced by ONDC's own tools,
//! reproduced byte for byte.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;

use super::keys::{
    signing_key_from_b64, verifying_key_from_b64, x25519_public_from_b64,
    x25519_secret_from_pkcs8_b64,
};
use super::onboarding::{decrypt_challenge, encrypt_challenge, shared_secret, signed_request_id};
use super::signing::{digest_b64, signing_string, SignatureHeader, Signer};

const VECTORS: &str = include_str!("../../protocol/vectors/ondc-crypto-vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("the vector file is JSON")
}

fn text<'a>(case: &'a Value, pointer: &str) -> &'a str {
    case.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("vector field {pointer} missing"))
}

fn body_bytes(case: &Value) -> Vec<u8> {
    B64.decode(text(case, "/body_utf8_b64"))
        .expect("body_utf8_b64 is base64")
}

#[test]
fn every_signing_vector_is_reproduced_byte_for_byte_from_either_key_encoding() {
    let all = vectors();
    let cases = all["signing_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let id = text(case, "/id");
        let body = body_bytes(case);
        assert_eq!(
            body.len() as u64,
            case["body_utf8_length"].as_u64().unwrap(),
            "{id}"
        );
        let created = case["created"].as_u64().unwrap();
        let expires = case["expires"].as_u64().unwrap();
        let digest = digest_b64(&body);
        assert_eq!(digest, text(case, "/expected/digest_b64"), "{id} digest");
        assert_eq!(
            format!("digest: BLAKE-512={digest}"),
            text(case, "/expected/digest_line"),
            "{id}"
        );
        assert_eq!(
            signing_string(&created.to_string(), &expires.to_string(), &digest),
            text(case, "/expected/signing_string"),
            "{id} signing string"
        );
        for key_field in ["/private_key_b64", "/seed_b64"] {
            let key = signing_key_from_b64(text(case, key_field)).unwrap();
            assert_eq!(
                B64.encode(key.verifying_key().as_bytes()),
                text(case, "/public_key_b64"),
                "{id}"
            );
            let signer = Signer::new(
                key,
                text(case, "/subscriber_id"),
                text(case, "/unique_key_id"),
            );
            let header = signer.authorization(&body, created, expires);
            assert_eq!(
                header,
                text(case, "/expected/authorization_header"),
                "{id} header from {key_field}"
            );
            let parsed = SignatureHeader::parse("Authorization", &header).unwrap();
            let public = verifying_key_from_b64(text(case, "/public_key_b64")).unwrap();
            parsed.verify(&digest, &public).unwrap();
            assert!(header.ends_with(&format!(
                "signature=\"{}\"",
                text(case, "/expected/signature_b64")
            )));
        }
    }
}

#[test]
fn every_verification_vector_gets_its_expected_verdict() {
    let all = vectors();
    let cases = all["verification_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let id = text(case, "/id");
        let body = body_bytes(case);
        let now = case["verifier_now"].as_u64().unwrap();
        let public = verifying_key_from_b64(text(case, "/public_key_b64")).unwrap();
        let verdict = SignatureHeader::parse("Authorization", text(case, "/authorization_header"))
            .and_then(|header| header.check_window(now, 0).map(|()| header))
            .and_then(|header| header.verify(&digest_b64(&body), &public));
        let expected = text(case, "/expected_verdict");
        assert_eq!(
            if verdict.is_ok() { "accept" } else { "reject" },
            expected,
            "{id}: {verdict:?}"
        );
    }
}

#[test]
fn every_on_subscribe_challenge_decrypts_to_its_expected_answer() {
    let all = vectors();
    let cases = all["on_subscribe_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let id = text(case, "/id");
        let ours =
            x25519_secret_from_pkcs8_b64(text(case, "/participant_private_key_pkcs8_der_b64"))
                .unwrap();
        let registry =
            x25519_public_from_b64(text(case, "/registry_public_key_spki_der_b64")).unwrap();
        assert_eq!(
            B64.encode(shared_secret(&ours, &registry)),
            text(case, "/x25519_shared_secret_b64"),
            "{id}"
        );
        let challenge = text(case, "/encrypted_challenge_b64");
        if let Some(request) = case.get("on_subscribe_request_body") {
            assert_eq!(request["challenge"].as_str(), Some(challenge), "{id}");
        }
        let answer = decrypt_challenge(&ours, &registry, challenge).unwrap();
        assert_eq!(answer, text(case, "/expected_answer"), "{id}");
        if let Some(expected) = case.get("expected_response_body") {
            assert_eq!(
                &serde_json::json!({"answer": answer}),
                expected,
                "{id} response body"
            );
        }
    }
}

#[test]
fn a_challenge_encrypted_from_the_registry_side_matches_the_vector() {
    let all = vectors();
    let case = &all["on_subscribe_cases"][0];
    let registry =
        x25519_secret_from_pkcs8_b64(text(case, "/registry_private_key_pkcs8_der_b64")).unwrap();
    let participant =
        x25519_public_from_b64(text(case, "/participant_public_key_spki_der_b64")).unwrap();
    let encrypted = encrypt_challenge(&registry, &participant, text(case, "/plaintext_challenge"));
    assert_eq!(encrypted, text(case, "/encrypted_challenge_b64"));
}

#[test]
fn the_site_verification_vector_is_reproduced() {
    let all = vectors();
    let case = &all["site_verification_cases"][0];
    for key_field in ["/signing_private_key_b64", "/signing_seed_b64"] {
        let signer = Signer::new(
            signing_key_from_b64(text(case, key_field)).unwrap(),
            "seller.example.com",
            "k",
        );
        assert_eq!(
            signed_request_id(&signer, text(case, "/request_id")),
            text(case, "/expected_signed_unique_req_id")
        );
    }
}

#[test]
fn the_vlookup_signature_vector_is_reproduced() {
    let all = vectors();
    let case = &all["vlookup_signature_cases"][0];
    let signer = Signer::new(
        signing_key_from_b64(text(case, "/signing_private_key_b64")).unwrap(),
        "s",
        "k",
    );
    assert_eq!(
        signer.sign_plain(text(case, "/string_signed").as_bytes()),
        text(case, "/expected_signature_b64")
    );
}

#[test]
fn x25519_private_keys_are_read_in_all_three_pkcs8_shapes() {
    let all = vectors();
    let raw = B64
        .decode(text(&all, "/keys/participant_encryption/raw_private_b64"))
        .unwrap();
    let public = B64
        .decode(text(&all, "/keys/participant_encryption/raw_public_b64"))
        .unwrap();
    let v0 = text(
        &all,
        "/keys/participant_encryption/private_key_pkcs8_der_b64",
    )
    .to_owned();
    let mut v1 = B64.decode(&v0).unwrap();
    v1[4] = 1; // version 1, no public key (Go utility, PHP, the on_subscribe Node sample)
    let mut bouncy = vec![
        0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04,
        0x20,
    ];
    bouncy.extend_from_slice(&raw);
    bouncy.extend_from_slice(&[0x81, 0x21, 0x00]);
    bouncy.extend_from_slice(&public);
    assert_eq!(bouncy.len(), 83);
    for shape in [v0, B64.encode(&v1), B64.encode(&bouncy)] {
        let secret = x25519_secret_from_pkcs8_b64(&shape).unwrap();
        assert_eq!(secret.to_bytes().to_vec(), raw);
    }
    let mut mismatched = bouncy.clone();
    let last = mismatched.len() - 1;
    mismatched[last] ^= 1;
    assert!(x25519_secret_from_pkcs8_b64(&B64.encode(mismatched)).is_err());
}

#[test]
fn an_ed25519_key_pair_whose_halves_disagree_is_refused() {
    let all = vectors();
    let mut pair = B64
        .decode(text(&all, "/keys/bpp_signing/private_key_b64"))
        .unwrap();
    pair[63] ^= 1;
    assert!(signing_key_from_b64(&B64.encode(pair)).is_err());
}
