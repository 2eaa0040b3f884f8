//! Errors that point into the configuration file, and the checks of
//! single values every section shares (addresses, MACs, bounded integers,
//! interface names): used by `validate` and the sections it delegates to
//! (`bgp`, `qos`), which therefore do not depend on each other.

use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;

use toml::Spanned;

use super::ConfigError;
use crate::position::line_of;
use crate::wire::MacAddr;

/// Linux's IFNAMSIZ minus the terminating NUL.
const MAX_IFNAME: usize = 15;

/// Builds errors that point into one file.
pub(super) struct Ctx<'a> {
    pub text: &'a str,
    pub file: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: String,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: Some(line_of(self.text, span.start)),
            field: field.into(),
            message,
        }
    }

    pub(super) fn mac(
        &self,
        value: &Spanned<String>,
        field: String,
    ) -> Result<MacAddr, ConfigError> {
        let s = value.get_ref();
        let mac: MacAddr = s
            .parse()
            .map_err(|_| self.err(value.span(), &field, format!("{s:?} is not a MAC address")))?;
        if mac == MacAddr::ZERO {
            return Err(self.err(value.span(), field, format!("{mac} is the zero MAC")));
        }
        if mac.is_multicast() {
            return Err(self.err(
                value.span(),
                field,
                format!("{mac} is a group (multicast/broadcast) MAC; a unicast MAC is needed"),
            ));
        }
        Ok(mac)
    }

    pub(super) fn ip(&self, value: &Spanned<String>, field: String) -> Result<IpAddr, ConfigError> {
        let s = value.get_ref();
        s.parse()
            .map_err(|_| self.err(value.span(), field, format!("{s:?} is not an IP address")))
    }

    /// A prefix with its host bits clear.
    pub(super) fn prefix(
        &self,
        value: &Spanned<String>,
        field: String,
    ) -> Result<IpNet, ConfigError> {
        let s = value.get_ref();
        let prefix: IpNet = s.parse().map_err(|_| {
            self.err(
                value.span(),
                &field,
                format!("{s:?} is not a prefix (like 198.51.100.0/24 or 2001:db8:100::/48)"),
            )
        })?;
        if prefix.trunc() != prefix {
            return Err(self.err(
                value.span(),
                field,
                format!(
                    "{prefix} has host bits set (did you mean {}?)",
                    prefix.trunc()
                ),
            ));
        }
        Ok(prefix)
    }

    pub(super) fn bounded(
        &self,
        value: &Spanned<i64>,
        field: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ConfigError> {
        let v = *value.get_ref();
        if !range.contains(&v) {
            return Err(self.err(
                value.span(),
                field,
                format!("{v} is out of range ({}..={})", range.start(), range.end()),
            ));
        }
        Ok(v)
    }

    pub(super) fn interface_name(
        &self,
        value: &Spanned<String>,
        field: String,
    ) -> Result<(), ConfigError> {
        let s = value.get_ref();
        let bad = s.is_empty()
            || s.len() > MAX_IFNAME
            || s == "."
            || s == ".."
            || s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace());
        if bad {
            return Err(self.err(
                value.span(),
                field,
                format!(
                    "{s:?} is not a valid interface name (1 to {MAX_IFNAME} characters, \
                     no '/', ':' or spaces)"
                ),
            ));
        }
        Ok(())
    }
}
