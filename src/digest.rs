//! Content digests computed while bytes stream past.

use serde::Serialize;

/// The blake3 and sha256 of some bytes, hex-encoded, and their length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digests {
    /// blake3, hex.
    pub blake3: String,
    /// sha256, hex.
    pub sha256: String,
    /// Length in bytes.
    pub size: u64,
}

/// An incremental hasher for both digests.
#[derive(Default)]
pub struct Hasher {
    blake3: blake3::Hasher,
    sha256: sha2::Sha256,
    size: u64,
}

impl Hasher {
    /// Feeds more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.blake3.update(bytes);
        self.sha256.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// The digests of everything fed so far.
    pub fn finish(self) -> Digests {
        use sha2::Digest;
        Digests {
            blake3: self.blake3.finalize().to_hex().to_string(),
            sha256: hex::encode(self.sha256.finalize()),
            size: self.size,
        }
    }
}

/// The blake3 of `bytes`, hex (the cheap check used on tier moves).
pub fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let mut h = Hasher::default();
        h.update(b"ab");
        h.update(b"c");
        let d = h.finish();
        assert_eq!(d.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d.blake3, blake3_hex(b"abc"));
        assert_eq!(d.size, 3);
    }
}
