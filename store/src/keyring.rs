//! The keys that encrypt stored secrets (model provider keys, webhook signing
//! secrets, Slack tokens, two-factor secrets) with AES-256-GCM. They are
//! separate from the session-signing secret and versioned: every ciphertext
//! starts with the id of the key that sealed it, so an operator adds a new key
//! in front (`STEWARD_ENCRYPTION_KEYS`), re-seals everything with
//! `steward keys rotate` while the old key still opens what it sealed, and then
//! retires the old key. No downtime: every process reads both keys meanwhile.
//!
//! Ciphertexts sealed before keys were versioned carry no id; they were sealed
//! by the key derived from `APP_SECRET`, which the keyring keeps as `app`.

use aes_gcm::{
    aead::{Aead, AeadCore, KeyInit, OsRng},
    Aes256Gcm, Key, Nonce,
};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Marks a ciphertext that names its key: `MAGIC, id length, id, AES-GCM output`.
const MAGIC: u8 = 0xFE;
/// The id of the key derived from `APP_SECRET` (development, and what older ciphertexts used).
pub const APP_KEY_ID: &str = "app";

#[derive(Clone)]
struct EncryptionKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The encryption keys of this installation, the current one first.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<EncryptionKey>,
    /// Whether the keys were configured (production requires it) or derived from `APP_SECRET`.
    configured: bool,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("ids", &ids).finish()
    }
}

fn derived_from(app_secret: &[u8]) -> EncryptionKey {
    let mut hasher = Sha256::new();
    hasher.update(b"steward/secrets/v1:");
    hasher.update(app_secret);
    let key: [u8; 32] = hasher.finalize().into();
    EncryptionKey { id: APP_KEY_ID.into(), cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)) }
}

impl Keyring {
    /// Only the key derived from `APP_SECRET`: development, and installs that
    /// have not configured keys yet.
    pub fn derived(app_secret: &[u8]) -> Self {
        Keyring { keys: vec![derived_from(app_secret)], configured: false }
    }

    /// `id:base64-of-32-bytes` entries separated by commas or whitespace, the
    /// current key first. The `APP_SECRET` key stays last, to open older ciphertexts.
    pub fn parse(spec: &str, app_secret: &[u8]) -> Result<Self, String> {
        let mut keys = Vec::new();
        for entry in spec.split([',', ' ', '\n', '\t']).map(str::trim).filter(|e| !e.is_empty()) {
            let (id, encoded) =
                entry.split_once(':').ok_or_else(|| format!("'{}…' is not id:base64-key", short(entry)))?;
            let id = id.trim();
            if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(format!("key id '{id}' must be 1 to 32 letters, digits, '-', '_' or '.'"));
            }
            if id == APP_KEY_ID {
                return Err(format!("key id '{APP_KEY_ID}' is reserved for the key derived from APP_SECRET"));
            }
            if keys.iter().any(|k: &EncryptionKey| k.id == id) {
                return Err(format!("key id '{id}' appears twice"));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| format!("key '{id}' is not base64"))?;
            let key: [u8; 32] =
                bytes.try_into().map_err(|_| format!("key '{id}' must be exactly 32 bytes (44 base64 characters)"))?;
            keys.push(EncryptionKey { id: id.to_owned(), cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)) });
        }
        if keys.is_empty() {
            return Err("no keys given".into());
        }
        keys.push(derived_from(app_secret));
        Ok(Keyring { keys, configured: true })
    }

    /// A new key entry for `STEWARD_ENCRYPTION_KEYS`, named `id`.
    pub fn generate_entry(id: &str) -> String {
        let key = Aes256Gcm::generate_key(&mut OsRng);
        format!("{id}:{}", base64::engine::general_purpose::STANDARD.encode(key))
    }

    pub fn is_configured(&self) -> bool {
        self.configured
    }

    /// The key new ciphertexts are sealed with.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Returns `(nonce, ciphertext)`; a fresh random nonce every time.
    pub fn seal(&self, plaintext: &str) -> (Vec<u8>, Vec<u8>) {
        let key = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed =
            key.cipher.encrypt(&nonce, plaintext.as_bytes()).expect("AES-GCM encryption of a short secret cannot fail");
        let mut out = Vec::with_capacity(2 + key.id.len() + sealed.len());
        out.push(MAGIC);
        out.push(key.id.len() as u8);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&sealed);
        (nonce.to_vec(), out)
    }

    /// The plaintext, or `None` when the data was tampered with or its key is not in the keyring.
    pub fn open(&self, nonce: &[u8], ciphertext: &[u8]) -> Option<String> {
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let nonce = Nonce::from(nonce);
        let attempt = |key: &EncryptionKey, body: &[u8]| key.cipher.decrypt(&nonce, body).ok();
        let plain = match labelled(ciphertext) {
            Some((id, body)) => match self.keys.iter().find(|k| k.id == id) {
                Some(key) => attempt(key, body),
                None => None,
            },
            None => None,
        }
        // An unlabelled ciphertext predates versioned keys (or happens to start
        // like a label): the APP_SECRET key sealed it.
        .or_else(|| self.keys.iter().find(|k| k.id == APP_KEY_ID).and_then(|k| attempt(k, ciphertext)))?;
        String::from_utf8(plain).ok()
    }

    /// Whether the ciphertext was sealed with the current key (rotation skips it).
    pub fn is_current(&self, ciphertext: &[u8]) -> bool {
        labelled(ciphertext).is_some_and(|(id, _)| id == self.current_id())
    }
}

/// The key id and the AES-GCM output of a labelled ciphertext.
fn labelled(ciphertext: &[u8]) -> Option<(&str, &[u8])> {
    let (&magic, rest) = ciphertext.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if magic != MAGIC || rest.len() < len as usize {
        return None;
    }
    let (id, body) = rest.split_at(len as usize);
    Some((std::str::from_utf8(id).ok()?, body))
}

fn short(s: &str) -> String {
    s.chars().take(6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &[u8] = b"an application secret of some length";

    fn entry(id: &str) -> String {
        Keyring::generate_entry(id)
    }

    #[test]
    fn seals_with_the_current_key_and_names_it() {
        let ring = Keyring::parse(&format!("k2:{},k1:{}", &entry("x")[2..], &entry("y")[2..]), APP).unwrap();
        let (nonce, ct) = ring.seal("sk-live-123");
        assert_eq!(labelled(&ct).unwrap().0, "k2");
        assert!(ring.is_current(&ct));
        assert!(!String::from_utf8_lossy(&ct).contains("sk-live-123"));
        assert_eq!(ring.open(&nonce, &ct).as_deref(), Some("sk-live-123"));
        let mut bad = ct.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(ring.open(&nonce, &bad), None, "tampering is detected");
    }

    #[test]
    fn an_older_key_still_opens_what_it_sealed_until_it_is_retired() {
        let k1 = entry("k1");
        let k2 = entry("k2");
        let old = Keyring::parse(&k1, APP).unwrap();
        let (nonce, ct) = old.seal("whsec_abc");
        let both = Keyring::parse(&format!("{k2}, {k1}"), APP).unwrap();
        assert_eq!(both.open(&nonce, &ct).as_deref(), Some("whsec_abc"));
        assert!(!both.is_current(&ct));
        let retired = Keyring::parse(&k2, APP).unwrap();
        assert_eq!(retired.open(&nonce, &ct), None);
    }

    #[test]
    fn unlabelled_ciphertexts_from_before_versioning_open_with_the_app_secret_key() {
        // What secrets::encrypt produced before keys were versioned.
        let legacy = derived_from(APP);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = legacy.cipher.encrypt(&nonce, b"old".as_ref()).unwrap();
        let ring = Keyring::parse(&entry("k1"), APP).unwrap();
        assert_eq!(ring.open(&nonce, &ct).as_deref(), Some("old"));
        assert!(!ring.is_current(&ct));
        assert_eq!(Keyring::parse(&entry("k1"), b"another app secret").unwrap().open(&nonce, &ct), None);
    }

    #[test]
    fn bad_key_lists_are_refused_with_the_reason() {
        assert!(Keyring::parse("k1", APP).unwrap_err().contains("id:base64"));
        assert!(Keyring::parse("k1:YWJj", APP).unwrap_err().contains("32 bytes"));
        assert!(Keyring::parse("k1:***", APP).unwrap_err().contains("base64"));
        assert!(Keyring::parse(&format!("{},{}", entry("a"), entry("a")), APP).unwrap_err().contains("twice"));
        assert!(Keyring::parse(&entry("app"), APP).unwrap_err().contains("reserved"));
        assert!(Keyring::parse(" ", APP).unwrap_err().contains("no keys"));
    }
}
