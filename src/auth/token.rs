//! Random secrets (API keys, invitation and guardian-link tokens) and their stored hashes.

use rand::RngExt;
use sha2::{Digest, Sha256};

/// Prefix of every API key, so leaked keys are recognisable.
pub const API_KEY_PREFIX: &str = "ats_";
/// Characters of a key kept in clear (the prefix shown in lists).
pub const SHOWN_PREFIX_LEN: usize = 12;

/// A new secret: `prefix` + 64 hex characters (256 bits of entropy).
pub fn generate(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// The stored form of a high-entropy secret: hex SHA-256.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The part of a key shown in lists.
pub fn shown_prefix(key: &str) -> String {
    key.chars().take(SHOWN_PREFIX_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hash_stably() {
        let a = generate(API_KEY_PREFIX);
        let b = generate(API_KEY_PREFIX);
        assert_ne!(a, b);
        assert_eq!(a.len(), API_KEY_PREFIX.len() + 64);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(shown_prefix(&a).len(), SHOWN_PREFIX_LEN);
    }
}
