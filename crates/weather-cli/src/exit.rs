//! Exit codes, one per class of failure, and their table for `weather --help`. A leaf module: the command
//! line (`args`) shows the table and `CliError::exit_code` (`error`) picks the code.

/// Anything not classified below (unexpected answers, local I/O).
pub(crate) const OTHER: u8 = 1;
/// Bad command line or settings (also clap's own code for usage errors).
pub(crate) const USAGE: u8 = 2;
/// Not signed in: no credentials, token refused (401), sign-in failed, refused, expired or revoked
/// (sign in again with `weather login`).
pub(crate) const AUTH: u8 = 3;
/// Signed in but missing a permission (403).
pub(crate) const PERMISSION: u8 = 4;
/// Not found (404), e.g. an unknown city.
pub(crate) const NOT_FOUND: u8 = 5;
/// The service refused the input (400, 413, 422).
pub(crate) const INVALID_INPUT: u8 = 6;
/// The service or its upstream failed (500, 502, 503, 504).
pub(crate) const SERVICE: u8 = 7;
/// The service or the identity provider could not be reached.
pub(crate) const UNREACHABLE: u8 = 8;

/// The exit code table, shown at the end of `weather --help`.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  unexpected failure
  2  bad command line or settings
  3  not signed in, or the sign-in was revoked or expired (sign in again: weather login),
     or the token was rejected (401)
  4  missing permission (403)
  5  not found (404), e.g. unknown city
  6  the service refused the input (400, 422)
  7  the service or OpenWeatherMap failed (500, 502, 503, 504)
  8  the service or the identity provider is unreachable";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_per_class() {
        let codes = [
            OTHER,
            USAGE,
            AUTH,
            PERMISSION,
            NOT_FOUND,
            INVALID_INPUT,
            SERVICE,
            UNREACHABLE,
        ];
        let mut sorted = codes.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), codes.len());
        for code in codes {
            assert!(EXIT_CODES_HELP.contains(&format!("  {code}  ")));
        }
    }
}
