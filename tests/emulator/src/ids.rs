//! AWS-shaped identifiers, ARNs, timestamps and the SigV4 region.

use std::time::{SystemTime, UNIX_EPOCH};

pub const ACCOUNT: &str = "123456789012";
pub const DEFAULT_REGION: &str = "us-east-1";

const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const HEX: &[u8] = b"0123456789abcdef";

fn random_from(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[fastrand::usize(..alphabet.len())] as char)
        .collect()
}

/// `<prefix>-` + 17 chars; snra ids are hex only, as in the model's pattern.
pub fn new_id(prefix: &str) -> String {
    let alphabet = if prefix == "snra" { HEX } else { ALNUM };
    format!("{prefix}-{}", random_from(alphabet, 17))
}

pub fn hex(len: usize) -> String {
    random_from(HEX, len)
}

/// Route 53 hosted-zone ids are `Z` + upper-case alphanumerics.
pub fn hosted_zone_id() -> String {
    const UPPER: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    format!("Z{}", random_from(UPPER, 20))
}

pub fn request_id() -> String {
    format!("{}-{}-{}-{}-{}", hex(8), hex(4), hex(4), hex(4), hex(12))
}

/// The Lattice ARN resource type for an id prefix.
pub fn arn_type(prefix: &str) -> Option<&'static str> {
    Some(match prefix {
        "sn" => "servicenetwork",
        "snva" => "servicenetworkvpcassociation",
        "rgw" => "resourcegateway",
        "rcfg" => "resourceconfiguration",
        "snra" => "servicenetworkresourceassociation",
        "als" => "accesslogsubscription",
        "svc" => "service",
        _ => return None,
    })
}

pub fn lattice_arn(region: &str, id: &str) -> String {
    let prefix = id.split('-').next().unwrap_or_default();
    let ty = arn_type(prefix).unwrap_or("unknown");
    format!("arn:aws:vpc-lattice:{region}:{ACCOUNT}:{ty}/{id}")
}

/// `<prefix>-[0-9a-z]{17}` (hex for snra).
pub fn is_id(prefix: &str, s: &str) -> bool {
    let Some(rest) = s.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    rest.len() == 17
        && rest.bytes().all(|b| {
            if prefix == "snra" {
                b.is_ascii_hexdigit() && !b.is_ascii_uppercase()
            } else {
                b.is_ascii_digit() || b.is_ascii_lowercase()
            }
        })
}

/// Accepts `<prefix>-…` or `arn:<partition>:vpc-lattice:<region>:<12 digits>:<type>/<prefix>-…`
/// and returns the bare id.
pub fn parse_identifier(prefix: &str, s: &str) -> Option<String> {
    if is_id(prefix, s) {
        return Some(s.to_string());
    }
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "vpc-lattice" {
        return None;
    }
    if parts[1].is_empty() || parts[3].is_empty() {
        return None;
    }
    if parts[4].len() != 12 || !parts[4].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (ty, id) = parts[5].split_once('/')?;
    (Some(ty) == arn_type(prefix) && is_id(prefix, id)).then(|| id.to_string())
}

/// Region from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/vpc-lattice/aws4_request, …`.
pub fn region_from_authorization(header: Option<&str>) -> String {
    header
        .and_then(|h| h.split("Credential=").nth(1))
        .and_then(|c| c.split([',', ' ']).next())
        .and_then(|scope| scope.split('/').nth(2))
        .filter(|r| !r.is_empty())
        .unwrap_or(DEFAULT_REGION)
        .to_string()
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-01-01T00:00:00.000Z`.
pub fn rfc3339(millis: u64) -> String {
    let secs = millis / 1000;
    let ms = millis % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian), to avoid a date crate.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
        assert_eq!(rfc3339(951_825_600_000), "2000-02-29T12:00:00.000Z");
    }

    #[test]
    fn ids_and_arns() {
        let id = new_id("rcfg");
        assert!(is_id("rcfg", &id));
        let arn = lattice_arn("eu-west-1", &id);
        assert_eq!(parse_identifier("rcfg", &arn).as_deref(), Some(id.as_str()));
        assert_eq!(parse_identifier("rgw", &arn), None);
        assert!(is_id("snra", &new_id("snra")));
        assert!(!is_id("snra", "snra-0123456789abcdefg"));
        assert!(!is_id("sn", "sn-b1bdff63-064a-4ae"));
    }

    #[test]
    fn region_from_sigv4_scope() {
        let h = "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/vpc-lattice/aws4_request, SignedHeaders=host, Signature=ab";
        assert_eq!(region_from_authorization(Some(h)), "eu-west-1");
        assert_eq!(region_from_authorization(None), "us-east-1");
    }
}
