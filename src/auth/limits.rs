//! Sign-in rate limits: how many `login` and `register` attempts a client
//! address may make, and how many `login` attempts one account may receive,
//! before further ones are refused with 429 `RATE_LIMITED` and a
//! `Retry-After`. The limiters are `governor`'s keyed GCRA limiters, held in
//! memory by each replica.
//!
//! A limit is one or more *rates* `N/WINDOW` (`30/1m`, `20/1h`): a burst of
//! `N` attempts, after which one more is allowed every `WINDOW / N`. Several
//! rates apply together, so `5/1m,20/1h` lets five attempts through at once,
//! then one every 12 s, and after twenty within the hour one every 3 min: a
//! delay that grows with the attacker's persistence, while the real user
//! waits at most one interval once the attack stops (never a lockout).
//!
//! Every attempt from an address counts against the address (each one costs
//! an argon2 hash, so this bounds the hashing an address can make us do).
//! Every login attempt on an account counts against the account, whoever
//! makes it; it is checked before the password is, so a refused attempt
//! costs no hashing and reveals nothing about the password.

use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::error::Error;

/// One rate: `count` attempts per `window` (a burst of `count`, then one
/// every `window / count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Attempts allowed at once, and per window.
    pub count: NonZeroU32,
    /// The window over which `count` attempts replenish.
    pub window: Duration,
}

impl Rate {
    fn quota(self) -> Quota {
        let period = self.window / self.count.get();
        Quota::with_period(period.max(Duration::from_nanos(1)))
            .expect("the period is not zero")
            .allow_burst(self.count)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.window.as_secs();
        let window = if self.window.subsec_nanos() != 0 {
            format!("{}ms", self.window.as_millis())
        } else if secs.is_multiple_of(3600) {
            format!("{}h", secs / 3600)
        } else if secs.is_multiple_of(60) {
            format!("{}m", secs / 60)
        } else {
            format!("{secs}s")
        };
        write!(f, "{}/{window}", self.count)
    }
}

impl FromStr for Rate {
    type Err = String;

    /// `N/WINDOW`: `N` a positive integer, `WINDOW` a positive number
    /// followed by `ms`, `s`, `m` or `h` (`30/1m`, `20/1h`, `3/2s`); a bare
    /// unit means one of it (`30/m`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("'{s}' is not a rate: expected N/WINDOW such as 30/1m, 20/1h or 5/10s");
        let (count, window) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| bad())?;
        let window = window.trim();
        let split = window.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (amount, unit) = window.split_at(split);
        let amount: u64 = if amount.is_empty() {
            1
        } else {
            amount.parse().map_err(|_| bad())?
        };
        let unit = match unit {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let window = u32::try_from(amount)
            .ok()
            .and_then(|a| unit.checked_mul(a))
            .filter(|w| !w.is_zero() && *w <= Duration::from_secs(7 * 24 * 3600))
            .ok_or_else(|| format!("'{s}': the window must be between 1ms and 7 days"))?;
        Ok(Self { count, window })
    }
}

/// The configured sign-in limits (`ATS_SIGN_IN_RATE_PER_IP`,
/// `ATS_SIGN_IN_RATE_PER_ACCOUNT`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignInRates {
    /// Login and register attempts per client address.
    pub per_ip: Vec<Rate>,
    /// Login attempts per account.
    pub per_account: Vec<Rate>,
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// One limiter per rate, all keyed alike.
struct Tiers<K: Hash + Eq + Clone> {
    limiters: Vec<Keyed<K>>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> Tiers<K> {
    fn new(rates: &[Rate]) -> Self {
        Self {
            limiters: rates
                .iter()
                .map(|r| RateLimiter::keyed(r.quota()))
                .collect(),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one attempt from every tier, or answers how long to wait. Tiers
    /// are checked in order and the first refusal stops: a refused attempt
    /// does not count against the later tiers.
    fn check(&self, key: &K) -> Result<(), Duration> {
        for limiter in &self.limiters {
            if let Err(not_until) = limiter.check_key(key) {
                return Err(not_until.wait_time_from(self.clock.now()));
            }
        }
        Ok(())
    }

    fn sweep(&self) -> usize {
        self.limiters
            .iter()
            .map(|l| {
                l.retain_recent();
                l.shrink_to_fit();
                l.len()
            })
            .sum()
    }
}

/// Who an account-level limit applies to: the identity when the login names
/// one, otherwise the name it was tried under (so that unknown and known
/// accounts are limited alike, and nothing tells them apart).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum AccountKey {
    /// An existing identity, however it was named (email or actor id).
    Identity(i64),
    /// A name that matches no identity with a password, by its SHA-256
    /// digest (a fixed size whatever was sent, and no names kept in memory).
    Unknown([u8; 32]),
}

impl AccountKey {
    /// The key of a name that matches no identity.
    pub fn unknown(name: &str) -> Self {
        use sha2::{Digest, Sha256};
        Self::Unknown(Sha256::digest(name.as_bytes()).into())
    }
}

/// Labels of the refused sign-ins counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: String,
}

/// Why a sign-in was refused, as `/metrics` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Over a sign-in rate limit (429 `RATE_LIMITED`).
    RateLimited,
    /// A wrong email, actor id or password (a login, or the current
    /// password of a password change).
    BadCredentials,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::BadCredentials => "bad_credentials",
        }
    }
}

/// `ats_sign_in_refused_total{reason}`: sign-ins refused, by reason. Clones
/// share their counts.
#[derive(Clone, Debug, Default)]
pub struct SignInRefusals(Family<RefusalLabels, Counter>);

impl SignInRefusals {
    /// Registers the counter (both reasons, from zero) in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        for r in [Refusal::RateLimited, Refusal::BadCredentials] {
            self.counter(r);
        }
        registry.register(
            "sign_in_refused",
            "Sign-ins refused (login, register, password change and reset, REST and GraphQL): rate_limited by the sign-in limits, bad_credentials for a wrong email, actor id or password",
            self.0.clone(),
        );
    }

    /// Counts one refusal.
    pub fn count(&self, reason: Refusal) {
        self.counter(reason).inc();
    }

    fn counter(&self, reason: Refusal) -> Counter {
        self.0
            .get_or_create(&RefusalLabels {
                reason: reason.label().to_owned(),
            })
            .clone()
    }
}

/// The sign-in limiters of one replica.
pub struct SignInLimits {
    per_ip: Tiers<IpAddr>,
    per_account: Tiers<AccountKey>,
    refusals: SignInRefusals,
}

impl SignInLimits {
    /// Limiters for `rates`, counting their refusals in `refusals`.
    pub fn new(rates: &SignInRates, refusals: SignInRefusals) -> Self {
        Self {
            per_ip: Tiers::new(&rates.per_ip),
            per_account: Tiers::new(&rates.per_account),
            refusals,
        }
    }

    /// Counts a refusal for another reason than the limits (a wrong password).
    pub fn refused(&self, reason: Refusal) {
        self.refusals.count(reason);
    }

    /// Counts a sign-in attempt (login or register) from `client`.
    pub fn check_ip(&self, client: IpAddr) -> Result<(), Error> {
        self.per_ip.check(&ip_key(client)).map_err(|wait| {
            self.refusals.count(Refusal::RateLimited);
            tracing::warn!(client_ip = %client, retry_after_s = seconds(wait), "sign-in attempts from this address over the limit");
            Error::rate_limited(
                "too many sign-in attempts from this address: try again later",
                wait,
            )
        })
    }

    /// Counts a login attempt on `account`.
    pub fn check_account(&self, account: &AccountKey, client: IpAddr) -> Result<(), Error> {
        self.per_account.check(account).map_err(|wait| {
            self.refusals.count(Refusal::RateLimited);
            tracing::warn!(client_ip = %client, retry_after_s = seconds(wait), "login attempts on one account over the limit");
            Error::rate_limited(
                "too many login attempts for this account: try again later",
                wait,
            )
        })
    }

    /// Forgets the keys whose limits have fully replenished (they behave as
    /// new ones), so that the limiters hold only recent clients; returns how
    /// many keys remain.
    pub fn sweep(&self) -> usize {
        self.per_ip.sweep() + self.per_account.sweep()
    }
}

/// Whole seconds to wait, rounded up, at least 1 (`Retry-After`).
pub fn seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

/// The key of an address: IPv4 as is (and IPv4-mapped IPv6 as IPv4); IPv6
/// by its /64, since one host usually holds a whole /64.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print() {
        let r: Rate = "30/1m".parse().unwrap();
        assert_eq!((r.count.get(), r.window), (30, Duration::from_secs(60)));
        assert_eq!(r.to_string(), "30/1m");
        assert_eq!("20/h".parse::<Rate>().unwrap().to_string(), "20/1h");
        assert_eq!(" 3 / 2s ".parse::<Rate>().unwrap().to_string(), "3/2s");
        assert_eq!("5/500ms".parse::<Rate>().unwrap().to_string(), "5/500ms");
        for bad in [
            "", "30", "0/1m", "-1/1m", "x/1m", "30/", "30/1", "30/1d", "30/0s", "30/1.5m",
            "30/8000h",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tiers_refuse_past_the_burst_and_say_how_long_to_wait() {
        let tiers = Tiers::<u8>::new(&["2/1m".parse().unwrap(), "3/1h".parse().unwrap()]);
        assert!(tiers.check(&1).is_ok());
        assert!(tiers.check(&1).is_ok());
        let wait = tiers.check(&1).unwrap_err();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
        assert!(tiers.check(&2).is_ok(), "other keys are not affected");
        assert_eq!(seconds(Duration::from_millis(1)), 1);
        assert_eq!(seconds(Duration::from_millis(29_001)), 30);
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ip_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
