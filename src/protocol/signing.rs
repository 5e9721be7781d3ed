//! ONDC request signing: the BLAKE2b-512 digest of the exact body bytes, the three-line
//! signing string, the Ed25519 signature and the `Authorization` header around them
//! (SIGNING-AND-REGISTRY.md §2). Nothing here parses JSON or touches the network: the
//! caller hands in the raw bytes it received or is about to send.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use blake2::{Blake2b512, Digest};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

/// base64(BLAKE2b-512(body)), 88 characters.
pub fn digest_b64(body: &[u8]) -> String {
    B64.encode(Blake2b512::digest(body))
}

/// The exact bytes that are signed: three lines, no trailing newline.
pub fn signing_string(created: &str, expires: &str, digest_b64: &str) -> String {
    format!("(created): {created}\n(expires): {expires}\ndigest: BLAKE-512={digest_b64}")
}

/// The header value in the byte format every ONDC tool emits (§2.4).
pub fn authorization_header(
    subscriber_id: &str,
    unique_key_id: &str,
    created: u64,
    expires: u64,
    signature_b64: &str,
) -> String {
    format!(
        "Signature keyId=\"{subscriber_id}|{unique_key_id}|ed25519\",algorithm=\"ed25519\",created=\"{created}\",expires=\"{expires}\",headers=\"(created) (expires) digest\",signature=\"{signature_b64}\""
    )
}

/// Signs bodies as one subscriber with one key.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    subscriber_id: String,
    unique_key_id: String,
}

impl Signer {
    pub fn new(key: SigningKey, subscriber_id: &str, unique_key_id: &str) -> Self {
        Self {
            key,
            subscriber_id: subscriber_id.to_owned(),
            unique_key_id: unique_key_id.to_owned(),
        }
    }

    pub fn subscriber_id(&self) -> &str {
        &self.subscriber_id
    }

    pub fn unique_key_id(&self) -> &str {
        &self.unique_key_id
    }

    /// The `Authorization` header for `body`, valid from `created` to `expires` (Unix seconds).
    pub fn authorization(&self, body: &[u8], created: u64, expires: u64) -> String {
        let signing = signing_string(
            &created.to_string(),
            &expires.to_string(),
            &digest_b64(body),
        );
        let signature = B64.encode(self.key.sign(signing.as_bytes()).to_bytes());
        authorization_header(
            &self.subscriber_id,
            &self.unique_key_id,
            created,
            expires,
            &signature,
        )
    }

    /// base64 of the detached signature over `message` as-is (site verification, vlookup).
    pub fn sign_plain(&self, message: &[u8]) -> String {
        B64.encode(self.key.sign(message).to_bytes())
    }
}

/// Why a signature header was refused. The texts go back to the peer, so they say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is not a `Signature keyId=...,signature=...` header")]
    NotASignature(&'static str),
    #[error("the {header} header has no {param} parameter")]
    MissingParam {
        header: &'static str,
        param: &'static str,
    },
    #[error("keyId must be \"subscriber_id|unique_key_id|ed25519\"")]
    BadKeyId,
    #[error("algorithm must be \"ed25519\"")]
    BadAlgorithm,
    #[error("{0} must be a plain Unix time in whole seconds")]
    BadTime(&'static str),
    #[error("signature is not base64 of 64 bytes")]
    BadSignatureEncoding,
    #[error("the signature expired at {expires} (now {now})")]
    Expired { expires: u64, now: u64 },
    #[error("the signature was created at {created}, in the future (now {now})")]
    NotYetValid { created: u64, now: u64 },
    #[error("expires ({expires}) is before created ({created})")]
    ExpiresBeforeCreated { created: u64, expires: u64 },
    #[error("the signature does not match the body with the registered key of {0}")]
    Mismatch(String),
}

/// A parsed signature header. `created` and `expires` keep their digits verbatim because
/// the signing string is rebuilt from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub subscriber_id: String,
    pub unique_key_id: String,
    pub created: u64,
    pub expires: u64,
    created_digits: String,
    expires_digits: String,
    signature: [u8; 64],
}

impl SignatureHeader {
    /// Parses leniently, as the reference parsers do (§2.5): an optional `Signature` prefix,
    /// spaces or line breaks around parameters, values with or without quotes.
    /// `header` names the header in error messages.
    pub fn parse(header: &'static str, value: &str) -> Result<Self, SignatureError> {
        let trimmed = value.trim().trim_matches('"').trim();
        let rest = match trimmed.get(..9) {
            Some(prefix) if prefix.eq_ignore_ascii_case("signature") => &trimmed[9..],
            _ => trimmed,
        };
        let mut key_id = None;
        let mut algorithm = None;
        let mut created = None;
        let mut expires = None;
        let mut signature = None;
        for part in rest.split(',') {
            let Some((name, raw)) = part.split_once('=') else {
                if part.trim().is_empty() {
                    continue;
                }
                return Err(SignatureError::NotASignature(header));
            };
            let value = raw.trim().trim_matches('"');
            match name.trim() {
                "keyId" => key_id = Some(value),
                "algorithm" => algorithm = Some(value),
                "created" => created = Some(value),
                "expires" => expires = Some(value),
                "signature" => signature = Some(value),
                _ => {}
            }
        }
        let key_id = key_id.ok_or(SignatureError::MissingParam {
            header,
            param: "keyId",
        })?;
        let created = created.ok_or(SignatureError::MissingParam {
            header,
            param: "created",
        })?;
        let expires = expires.ok_or(SignatureError::MissingParam {
            header,
            param: "expires",
        })?;
        let signature = signature.ok_or(SignatureError::MissingParam {
            header,
            param: "signature",
        })?;

        let mut parts = key_id.split('|');
        let (Some(subscriber_id), Some(unique_key_id), Some(algo), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SignatureError::BadKeyId);
        };
        if subscriber_id.is_empty() || unique_key_id.is_empty() || algo != "ed25519" {
            return Err(SignatureError::BadKeyId);
        }
        if let Some(algorithm) = algorithm {
            if algorithm != "ed25519" {
                return Err(SignatureError::BadAlgorithm);
            }
        }
        let created_at = plain_seconds(created).ok_or(SignatureError::BadTime("created"))?;
        let expires_at = plain_seconds(expires).ok_or(SignatureError::BadTime("expires"))?;
        let mut bytes = [0u8; 64];
        match B64.decode(signature) {
            Ok(decoded) if decoded.len() == 64 => bytes.copy_from_slice(&decoded),
            _ => return Err(SignatureError::BadSignatureEncoding),
        }
        Ok(Self {
            subscriber_id: subscriber_id.to_owned(),
            unique_key_id: unique_key_id.to_owned(),
            created: created_at,
            expires: expires_at,
            created_digits: created.to_owned(),
            expires_digits: expires.to_owned(),
            signature: bytes,
        })
    }

    /// `created <= now + skew` and `now <= expires` (§2.6 step 3).
    pub fn check_window(&self, now: u64, skew_secs: u64) -> Result<(), SignatureError> {
        if self.expires < self.created {
            return Err(SignatureError::ExpiresBeforeCreated {
                created: self.created,
                expires: self.expires,
            });
        }
        if self.created > now + skew_secs {
            return Err(SignatureError::NotYetValid {
                created: self.created,
                now,
            });
        }
        if now > self.expires {
            return Err(SignatureError::Expired {
                expires: self.expires,
                now,
            });
        }
        Ok(())
    }

    /// Verifies the signature over `body` with `key`. The digest can be passed in when the
    /// same body carries two headers (Authorization and the gateway's).
    pub fn verify(&self, body_digest_b64: &str, key: &VerifyingKey) -> Result<(), SignatureError> {
        let signing = signing_string(&self.created_digits, &self.expires_digits, body_digest_b64);
        key.verify_strict(signing.as_bytes(), &Signature::from_bytes(&self.signature))
            .map_err(|_| SignatureError::Mismatch(self.subscriber_id.clone()))
    }

    /// The `subscriber_id|unique_key_id` pair, the lookup cache key.
    pub fn key_ref(&self) -> KeyRef {
        KeyRef {
            subscriber_id: self.subscriber_id.clone(),
            unique_key_id: self.unique_key_id.clone(),
        }
    }
}

/// Which registered key signed something.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyRef {
    pub subscriber_id: String,
    pub unique_key_id: String,
}

fn plain_seconds(digits: &str) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_with_spaces_and_a_squeezed_headers_list_parses() {
        let sig = B64.encode([7u8; 64]);
        let value = format!(
            "Signature keyId=\"a.b|k1|ed25519\", algorithm=\"ed25519\", created=\"10\", expires=\"20\", headers=\"(created)(expires)digest\", signature=\"{sig}\""
        );
        let parsed = SignatureHeader::parse("Authorization", &value).unwrap();
        assert_eq!(parsed.subscriber_id, "a.b");
        assert_eq!(parsed.unique_key_id, "k1");
        assert_eq!((parsed.created, parsed.expires), (10, 20));
    }

    #[test]
    fn a_key_id_without_three_parts_is_refused() {
        let sig = B64.encode([7u8; 64]);
        let value =
            format!("Signature keyId=\"a.b|k1\",created=\"1\",expires=\"2\",signature=\"{sig}\"");
        assert_eq!(
            SignatureHeader::parse("Authorization", &value),
            Err(SignatureError::BadKeyId)
        );
    }

    #[test]
    fn a_signed_created_value_is_refused() {
        let sig = B64.encode([7u8; 64]);
        let value = format!(
            "Signature keyId=\"a|k|ed25519\",created=\"+1\",expires=\"2\",signature=\"{sig}\""
        );
        assert_eq!(
            SignatureHeader::parse("Authorization", &value),
            Err(SignatureError::BadTime("created"))
        );
    }

    #[test]
    fn a_short_signature_is_refused() {
        let value =
            "Signature keyId=\"a|k|ed25519\",created=\"1\",expires=\"2\",signature=\"AAAA\"";
        assert_eq!(
            SignatureHeader::parse("Authorization", value),
            Err(SignatureError::BadSignatureEncoding)
        );
    }

    #[test]
    fn a_signature_outside_its_window_is_refused_and_inside_accepted() {
        let sig = B64.encode([7u8; 64]);
        let value = format!(
            "Signature keyId=\"a|k|ed25519\",created=\"100\",expires=\"200\",signature=\"{sig}\""
        );
        let parsed = SignatureHeader::parse("Authorization", &value).unwrap();
        assert!(parsed.check_window(150, 0).is_ok());
        assert!(parsed.check_window(96, 5).is_ok());
        assert!(matches!(
            parsed.check_window(94, 5),
            Err(SignatureError::NotYetValid { .. })
        ));
        assert!(matches!(
            parsed.check_window(201, 5),
            Err(SignatureError::Expired { .. })
        ));
    }
}
