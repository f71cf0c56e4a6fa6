//! API keys at rest (FR-054): an operator's key is stored **sealed** (AES-256-GCM, so an admin
//! can read it back at `GET /admin/operators/{id}/api-key`, as the contract requires) and
//! looked up by a keyed hash (HMAC-SHA256 under the same secret), so the database alone reveals
//! neither the keys nor which key is whose.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// The secret that seals and indexes API keys.
pub struct KeySeal {
    aead: LessSafeKey,
    index: hmac::Key,
}

impl KeySeal {
    /// From 32 bytes.
    pub fn new(secret: &[u8; 32]) -> KeySeal {
        let unbound = UnboundKey::new(&AES_256_GCM, secret).expect("32-byte AES-256 key");
        KeySeal {
            aead: LessSafeKey::new(unbound),
            index: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The configured secret (64 hex digits), or the one in `data_dir/mr_api_key_seal.key`,
    /// created (mode 0600) when missing. Errors are messages for the operator.
    pub fn load(configured: &str, data_dir: &str) -> Result<KeySeal, String> {
        let from_hex = |s: &str| -> Result<[u8; 32], String> {
            let v = hex::decode(s.trim()).map_err(|_| "mr.api_key_seal_key must be hex")?;
            v.try_into()
                .map_err(|_| "mr.api_key_seal_key must be 32 bytes (64 hex digits)".to_string())
        };
        if !configured.is_empty() {
            return Ok(KeySeal::new(&from_hex(configured)?));
        }
        let path = Path::new(data_dir).join("mr_api_key_seal.key");
        if let Ok(s) = std::fs::read_to_string(&path) {
            return Ok(KeySeal::new(&from_hex(&s)?));
        }
        std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create {data_dir}: {e}"))?;
        let secret: [u8; 32] = rand::random();
        suanpan_core::secrets::write_private(&path, hex::encode(secret).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(KeySeal::new(&secret))
    }

    /// The lookup index of `api_key`: hex HMAC-SHA256.
    pub fn index(&self, api_key: &str) -> String {
        hex::encode(hmac::sign(&self.index, api_key.as_bytes()).as_ref())
    }

    /// `api_key` sealed: Base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, api_key: &str) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut data = api_key.as_bytes().to_vec();
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::empty(),
                &mut data,
            )
            .expect("AES-GCM sealing of a short key");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&data);
        B64.encode(out)
    }

    /// The key inside `sealed`; `None` when it was sealed under another secret or altered.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let raw = B64.decode(sealed).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let mut data = rest.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plain = self
            .aead
            .open_in_place(nonce, Aad::empty(), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// A new API key: 64 letters and digits (contract: `X-Api-Key`, 64 characters).
pub fn new_api_key() -> String {
    suanpan_core::ids::random_alnum(crate::domain::API_KEY_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_under_their_secret() {
        let a = KeySeal::new(&[7; 32]);
        let b = KeySeal::new(&[8; 32]);
        let key = new_api_key();
        assert_eq!(key.len(), 64);
        let sealed = a.seal(&key);
        assert!(!sealed.contains(&key));
        assert_eq!(a.open(&sealed).as_deref(), Some(key.as_str()));
        assert_eq!(b.open(&sealed), None);
        assert_ne!(a.seal(&key), sealed, "a fresh nonce each time");
        assert_eq!(a.index(&key), a.index(&key));
        assert_ne!(a.index(&key), b.index(&key));
        let mut tampered = B64.decode(&sealed).unwrap();
        tampered[20] ^= 1;
        assert_eq!(a.open(&B64.encode(tampered)), None);
    }
}
