//! Encryption of stored secrets (model provider keys, API credentials) with
//! AES-256-GCM. The key is derived from `APP_SECRET`, so a database dump
//! alone reveals nothing; rotating `APP_SECRET` means re-entering secrets.

use crate::config::Settings;
use aes_gcm::{
    aead::{Aead, AeadCore, KeyInit, OsRng},
    Aes256Gcm, Key, Nonce,
};
use sha2::{Digest, Sha256};

fn cipher(settings: &Settings) -> Aes256Gcm {
    let mut hasher = Sha256::new();
    hasher.update(b"steward/secrets/v1:");
    hasher.update(&settings.app_secret);
    let key: [u8; 32] = hasher.finalize().into();
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(key))
}

/// Returns `(nonce, ciphertext)`; a fresh random nonce every time.
pub fn encrypt(settings: &Settings, plaintext: &str) -> (Vec<u8>, Vec<u8>) {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = cipher(settings).encrypt(&nonce, plaintext.as_bytes()).expect("AES-GCM encryption of a short secret cannot fail");
    (nonce.to_vec(), ciphertext)
}

/// The plaintext, or `None` when the data was tampered with or the key changed.
pub fn decrypt(settings: &Settings, nonce: &[u8], ciphertext: &[u8]) -> Option<String> {
    let nonce: [u8; 12] = nonce.try_into().ok()?;
    let plain = cipher(settings).decrypt(&Nonce::from(nonce), ciphertext).ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_tampering_is_detected() {
        let settings = Settings::for_development("x".into(), "y".into());
        let (nonce, ct) = encrypt(&settings, "sk-live-123");
        assert!(!String::from_utf8_lossy(&ct).contains("sk-live-123"));
        assert_eq!(decrypt(&settings, &nonce, &ct).as_deref(), Some("sk-live-123"));
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(decrypt(&settings, &nonce, &bad), None);
        let mut other = settings.clone();
        other.app_secret = b"a different secret for another install".to_vec();
        assert_eq!(decrypt(&other, &nonce, &ct), None);
        assert_ne!(encrypt(&settings, "sk-live-123").0, nonce, "a fresh nonce each time");
    }
}
