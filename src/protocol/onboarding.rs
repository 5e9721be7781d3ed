//! The two proofs the registry asks for during `/subscribe` (SIGNING-AND-REGISTRY.md §3.7, §3.8):
//! the `/on_subscribe` challenge, AES-256-ECB under the raw X25519 shared secret, and the
//! signed request id in `ondc-site-verification.html`.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use x25519_dalek::{PublicKey, StaticSecret};

use super::signing::Signer;

type Aes256EcbDec = ecb::Decryptor<aes::Aes256>;
type Aes256EcbEnc = ecb::Encryptor<aes::Aes256>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChallengeError {
    #[error("the challenge is not base64")]
    NotBase64,
    #[error("the challenge does not decrypt with our encryption key and the registry's public key (wrong key pair or wrong registry environment?)")]
    Undecryptable,
    #[error("the decrypted challenge is not UTF-8 text")]
    NotText,
}

/// The 32 raw bytes of X25519(our private, their public), used directly as the AES key.
pub fn shared_secret(ours: &StaticSecret, theirs: &PublicKey) -> [u8; 32] {
    ours.diffie_hellman(theirs).to_bytes()
}

/// Decrypts a registry challenge; the plaintext is the `answer`.
pub fn decrypt_challenge(
    ours: &StaticSecret,
    registry_public: &PublicKey,
    challenge_b64: &str,
) -> Result<String, ChallengeError> {
    let ciphertext = B64
        .decode(challenge_b64.trim())
        .map_err(|_| ChallengeError::NotBase64)?;
    let key = shared_secret(ours, registry_public);
    let plain = Aes256EcbDec::new(&key.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&ciphertext)
        .map_err(|_| ChallengeError::Undecryptable)?;
    String::from_utf8(plain).map_err(|_| ChallengeError::NotText)
}

/// The registry's side of the challenge, for the development registry and for tests.
pub fn encrypt_challenge(
    ours: &StaticSecret,
    participant_public: &PublicKey,
    plaintext: &str,
) -> String {
    let key = shared_secret(ours, participant_public);
    let ciphertext =
        Aes256EcbEnc::new(&key.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    B64.encode(ciphertext)
}

/// base64(Ed25519(request_id)): the request id is signed as-is, without hashing.
pub fn signed_request_id(signer: &Signer, request_id: &str) -> String {
    signer.sign_plain(request_id.as_bytes())
}

/// The page the registry fetches from `https://<subscriber_id>/ondc-site-verification.html`.
pub fn site_verification_html(signed_request_id: &str) -> String {
    format!(
        "<html>\n    <head>\n        <meta name='ondc-site-verification' content='{signed_request_id}' />\n    </head>\n    <body>\n        ONDC Site Verification Page\n    </body>\n</html>\n"
    )
}
