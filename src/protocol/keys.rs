//! The node's two key pairs (Ed25519 for signing, X25519 for the registry challenge) in every
//! encoding ONDC tools produce, and the key file that holds them (SIGNING-AND-REGISTRY.md §1).

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey as XPublicKey, StaticSecret};

/// DER prefix of an X25519 SubjectPublicKeyInfo (OID 1.3.101.110), followed by 32 key bytes.
const SPKI_X25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
];
/// DER prefix of a version-0 PKCS#8 X25519 private key, followed by 32 key bytes.
const PKCS8_V0_X25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];
const X25519_OID: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x6e];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("{0} is not valid base64")]
    NotBase64(&'static str),
    #[error("the signing private key must be 32 bytes (seed) or 64 bytes (seed followed by public key), not {0}")]
    SigningKeyLength(usize),
    #[error("the signing key's public half does not belong to its private half")]
    SigningPairMismatch,
    #[error("the signing public key must be 32 bytes of a valid Ed25519 point")]
    BadSigningPublicKey,
    #[error("the encryption private key is not an X25519 PKCS#8 key ({0})")]
    BadEncryptionPrivateKey(&'static str),
    #[error("the encryption public key is not an X25519 key (expected base64 DER SubjectPublicKeyInfo, MCowBQYDK2VuAyEA...)")]
    BadEncryptionPublicKey,
    #[error("the encryption key's public half does not belong to its private half")]
    EncryptionPairMismatch,
}

/// Reads an Ed25519 private key given as base64 of the 32-byte seed or of the 64-byte
/// `seed || public` form. In the 64-byte form the public half must match the seed.
pub fn signing_key_from_b64(b64: &str) -> Result<SigningKey, KeyError> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| KeyError::NotBase64("the signing private key"))?;
    match bytes.len() {
        32 => {
            let seed: [u8; 32] = bytes.try_into().expect("length checked");
            Ok(SigningKey::from_bytes(&seed))
        }
        64 => {
            let pair: [u8; 64] = bytes.try_into().expect("length checked");
            SigningKey::from_keypair_bytes(&pair).map_err(|_| KeyError::SigningPairMismatch)
        }
        other => Err(KeyError::SigningKeyLength(other)),
    }
}

/// Reads a raw 32-byte Ed25519 public key in base64, the form the registry publishes.
pub fn verifying_key_from_b64(b64: &str) -> Result<VerifyingKey, KeyError> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| KeyError::NotBase64("the signing public key"))?;
    let raw: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyError::BadSigningPublicKey)?;
    VerifyingKey::from_bytes(&raw).map_err(|_| KeyError::BadSigningPublicKey)
}

/// Reads an X25519 private key: PKCS#8 version 0, version 1, or version 1 with the public key
/// appended (BouncyCastle), all base64 DER. When the structure carries a public key, it must
/// match the private one.
pub fn x25519_secret_from_pkcs8_b64(b64: &str) -> Result<StaticSecret, KeyError> {
    let der = B64
        .decode(b64.trim())
        .map_err(|_| KeyError::NotBase64("the encryption private key"))?;
    let (private, embedded_public) = parse_x25519_pkcs8(&der)?;
    let secret = StaticSecret::from(private);
    if let Some(public) = embedded_public {
        if XPublicKey::from(&secret).as_bytes() != &public {
            return Err(KeyError::EncryptionPairMismatch);
        }
    }
    Ok(secret)
}

/// Reads an X25519 public key given as base64 DER SPKI (the registry form) or raw 32 bytes.
pub fn x25519_public_from_b64(b64: &str) -> Result<XPublicKey, KeyError> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| KeyError::BadEncryptionPublicKey)?;
    let raw: [u8; 32] = if bytes.len() == 44 && bytes[..12] == SPKI_X25519_PREFIX {
        bytes[12..].try_into().expect("length checked")
    } else if bytes.len() == 32 {
        bytes.try_into().expect("length checked")
    } else {
        return Err(KeyError::BadEncryptionPublicKey);
    };
    Ok(XPublicKey::from(raw))
}

pub fn x25519_public_to_spki_b64(public: &XPublicKey) -> String {
    let mut der = SPKI_X25519_PREFIX.to_vec();
    der.extend_from_slice(public.as_bytes());
    B64.encode(der)
}

pub fn x25519_secret_to_pkcs8_b64(secret: &StaticSecret) -> String {
    let mut der = PKCS8_V0_X25519_PREFIX.to_vec();
    der.extend_from_slice(&secret.to_bytes());
    B64.encode(der)
}

/// A minimal DER walk over the three PKCS#8 shapes ONDC material uses. Only short-form
/// lengths occur in these structures (all under 128 bytes).
fn parse_x25519_pkcs8(der: &[u8]) -> Result<([u8; 32], Option<[u8; 32]>), KeyError> {
    let bad = KeyError::BadEncryptionPrivateKey;
    let (tag, outer, rest) = der_element(der).ok_or(bad("not DER"))?;
    if tag != 0x30 || !rest.is_empty() {
        return Err(bad("not a DER SEQUENCE"));
    }
    let (tag, version, outer) = der_element(outer).ok_or(bad("no version"))?;
    if tag != 0x02 || version.len() != 1 || version[0] > 1 {
        return Err(bad("unknown version"));
    }
    let (tag, algorithm, outer) = der_element(outer).ok_or(bad("no algorithm"))?;
    if tag != 0x30 || algorithm != X25519_OID {
        return Err(bad("the algorithm is not X25519"));
    }
    let (tag, octets, mut outer) = der_element(outer).ok_or(bad("no private key"))?;
    if tag != 0x04 {
        return Err(bad("the private key is not an OCTET STRING"));
    }
    let (tag, inner, trailing) = der_element(octets).ok_or(bad("bad private key"))?;
    if tag != 0x04 || inner.len() != 32 || !trailing.is_empty() {
        return Err(bad("the private key is not 32 bytes"));
    }
    let private: [u8; 32] = inner.try_into().expect("length checked");
    let mut public = None;
    while !outer.is_empty() {
        let (tag, value, rest) = der_element(outer).ok_or(bad("bad trailing fields"))?;
        match tag {
            0xa0 => {}
            0x81 => {
                // [1] IMPLICIT BIT STRING: one byte of unused bits (0), then the key.
                if value.len() != 33 || value[0] != 0 {
                    return Err(bad("bad embedded public key"));
                }
                public = Some(value[1..].try_into().expect("length checked"));
            }
            0xa1 => {
                let (tag, bits, _) = der_element(value).ok_or(bad("bad embedded public key"))?;
                if tag != 0x03 || bits.len() != 33 || bits[0] != 0 {
                    return Err(bad("bad embedded public key"));
                }
                public = Some(bits[1..].try_into().expect("length checked"));
            }
            _ => return Err(bad("unexpected field")),
        }
        outer = rest;
    }
    Ok((private, public))
}

fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let (len, rest) = if len < 0x80 {
        (len as usize, rest)
    } else if len == 0x81 {
        let (&l, rest) = rest.split_first()?;
        (l as usize, rest)
    } else {
        return None;
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Both key pairs of a node (or of the buyer tool), ready to use.
#[derive(Clone)]
pub struct KeyPairs {
    pub unique_key_id: String,
    pub signing: SigningKey,
    pub encryption: StaticSecret,
}

impl KeyPairs {
    pub fn generate(unique_key_id: &str) -> Self {
        let mut rng = rand::rngs::OsRng;
        Self {
            unique_key_id: unique_key_id.to_owned(),
            signing: SigningKey::generate(&mut rng),
            encryption: StaticSecret::random_from_rng(rng),
        }
    }

    pub fn signing_public_b64(&self) -> String {
        B64.encode(self.signing.verifying_key().as_bytes())
    }

    pub fn encryption_public_b64(&self) -> String {
        x25519_public_to_spki_b64(&XPublicKey::from(&self.encryption))
    }

    pub fn to_file(&self) -> KeyFile {
        KeyFile {
            unique_key_id: self.unique_key_id.clone(),
            signing_private_key: B64.encode(self.signing.to_keypair_bytes()),
            signing_public_key: Some(self.signing_public_b64()),
            encryption_private_key: x25519_secret_to_pkcs8_b64(&self.encryption),
            encryption_public_key: Some(self.encryption_public_b64()),
            created_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }
    }
}

/// The key file on disk. Private keys are written as ONDC tools expect them (64-byte
/// Ed25519 `seed || public`, PKCS#8 v0 X25519) and read in every shape listed above.
#[derive(Serialize, Deserialize)]
pub struct KeyFile {
    pub unique_key_id: String,
    pub signing_private_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_public_key: Option<String>,
    pub encryption_private_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("unique_key_id", &self.unique_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the key file {path} is not valid JSON with unique_key_id, signing_private_key and encryption_private_key: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("the key file {path} holds an unusable key: {source}")]
    Key { path: String, source: KeyError },
    #[error("cannot write the key file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("the key file {0} already exists; move it away first if you really want new keys")]
    Exists(String),
}

impl KeyFile {
    pub fn into_key_pairs(self) -> Result<KeyPairs, KeyError> {
        let signing = signing_key_from_b64(&self.signing_private_key)?;
        if let Some(public) = &self.signing_public_key {
            if verifying_key_from_b64(public)? != signing.verifying_key() {
                return Err(KeyError::SigningPairMismatch);
            }
        }
        let encryption = x25519_secret_from_pkcs8_b64(&self.encryption_private_key)?;
        if let Some(public) = &self.encryption_public_key {
            if x25519_public_from_b64(public)?.as_bytes()
                != XPublicKey::from(&encryption).as_bytes()
            {
                return Err(KeyError::EncryptionPairMismatch);
            }
        }
        Ok(KeyPairs {
            unique_key_id: self.unique_key_id,
            signing,
            encryption,
        })
    }

    pub fn load(path: &Path) -> Result<KeyPairs, KeyFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
            path: shown.clone(),
            source,
        })?;
        let file: KeyFile = serde_json::from_str(&text).map_err(|source| KeyFileError::Parse {
            path: shown.clone(),
            source,
        })?;
        file.into_key_pairs().map_err(|source| KeyFileError::Key {
            path: shown,
            source,
        })
    }

    /// Writes a new key file readable only by its owner; refuses to overwrite one.
    pub fn create(path: &Path, keys: &KeyPairs) -> Result<(), KeyFileError> {
        use std::io::Write;
        let shown = path.display().to_string();
        let write_err = |source| KeyFileError::Write {
            path: shown.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(write_err)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyFileError::Exists(shown.clone())
            } else {
                KeyFileError::Write {
                    path: shown.clone(),
                    source,
                }
            }
        })?;
        let json = serde_json::to_string_pretty(&keys.to_file()).expect("key file serialises");
        file.write_all(json.as_bytes())
            .and_then(|_| file.write_all(b"\n"))
            .map_err(write_err)?;
        file.sync_all().map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_file_reads_back_to_the_same_keys() {
        let keys = KeyPairs::generate("k1");
        let back = keys.to_file().into_key_pairs().unwrap();
        assert_eq!(back.signing.to_bytes(), keys.signing.to_bytes());
        assert_eq!(back.encryption.to_bytes(), keys.encryption.to_bytes());
    }

    #[test]
    fn a_key_file_whose_public_half_belongs_to_another_key_is_refused() {
        let mut file = KeyPairs::generate("k1").to_file();
        file.signing_public_key = Some(KeyPairs::generate("k2").signing_public_b64());
        assert_eq!(
            file.into_key_pairs().err(),
            Some(KeyError::SigningPairMismatch)
        );
        let mut file = KeyPairs::generate("k1").to_file();
        file.encryption_public_key = Some(KeyPairs::generate("k2").encryption_public_b64());
        assert_eq!(
            file.into_key_pairs().err(),
            Some(KeyError::EncryptionPairMismatch)
        );
    }

    #[test]
    fn a_signing_key_of_the_wrong_length_is_refused() {
        assert_eq!(
            signing_key_from_b64(&B64.encode([1u8; 48])).err(),
            Some(KeyError::SigningKeyLength(48))
        );
    }
}
