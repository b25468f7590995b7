//! Delivery signatures: `Strata-Signature: t=<unix seconds>,v1=<hex>`, where
//! the hex is HMAC-SHA256 keyed with the endpoint's secret over
//! `<unix seconds>.<body>`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Strata-Signature";

/// The `Strata-Signature` value for `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body)))
}

fn mac(secret: &str, timestamp: i64, body: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Checks a `Strata-Signature` value against `body`: the MAC must match and
/// its timestamp be within `tolerance_secs` of `now` (unix seconds). What a
/// receiver does; here for tests and for anyone embedding strata.
pub fn verify(secret: &str, header: &str, body: &str, now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut given = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => given.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    let expected = mac(secret, t, body);
    given
        .iter()
        .any(|g| g.len() == expected.len() && g.iter().zip(&expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_body_and_time() {
        let header = signature("s3cret-s3cret-s3cret", 1_700_000_000, r#"{"id":"evt-1"}"#);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify("s3cret-s3cret-s3cret", &header, r#"{"id":"evt-1"}"#, 1_700_000_100, 300));
        assert!(!verify("another-secret-here", &header, r#"{"id":"evt-1"}"#, 1_700_000_100, 300));
        assert!(!verify("s3cret-s3cret-s3cret", &header, r#"{"id":"evt-2"}"#, 1_700_000_100, 300));
        assert!(!verify("s3cret-s3cret-s3cret", &header, r#"{"id":"evt-1"}"#, 1_700_001_000, 300));
        assert!(!verify("s3cret-s3cret-s3cret", "v1=00", r#"{"id":"evt-1"}"#, 1_700_000_000, 300));
    }

    #[test]
    fn the_mac_is_hmac_sha256_over_time_dot_body() {
        // Python: hmac.new(b"key", b"1.{}", hashlib.sha256).hexdigest()
        let expected = "1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224";
        assert_eq!(signature("key", 1, "{}"), format!("t=1,v1={expected}"));
    }
}
