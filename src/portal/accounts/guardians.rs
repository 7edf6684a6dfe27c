//! Guardians acting for their children: who may act for whom, until when, and the
//! [`ActingAs`] value that records both identities for every action taken.
//!
//! The population register says who is legal guardian (vårdnadshavare) of whom; nothing about
//! it is stored here, so a change of custody takes effect at the next check. The rules, all of
//! which must hold ([`act_for`]):
//!
//! 1. the register lists the child among the guardian's children;
//! 2. neither the guardian nor the child has protected identity (in every region: a proxy would
//!    expose one to the other's use of the service);
//! 3. the child's birth date is known (a samordningsnummer can have day or month 00) and the
//!    child has not reached the region's proxy age limit (13) on the injected date: age is
//!    computed from the personnummer, and an unknown age fails closed.
//!
//! **Refusals never reveal existence.** An identity number that is not the guardian's child,
//! that the register does not know, or whose holder has protected identity all give the same
//! [`ProxyError::NotPermitted`]. Only once the register has confirmed the child is the
//! guardian's own do the other reasons (age, unknown birth date) get their own error, since
//! they tell the guardian nothing they do not already know about their child. The child's
//! protected identity is not among them: it is the child's to keep, also from a guardian, and
//! such a child is simply not offered ([`children`]).

use serde::Serialize;

use crate::portal::identity::personnummer::{Date, Personnummer};
use crate::portal::identity::register::{PopulationRegister, RegisterError, RegisterPerson};
use crate::portal::region::RegionConfig;

/// Who is acting, and for whom: the same person when acting for oneself, a guardian and a child
/// under proxy. Every action taken under proxy records both (`actor` did it, on `subject`'s
/// data). `Debug` shows neither number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActingAs {
    actor: Personnummer,
    subject: Personnummer,
}

impl ActingAs {
    /// A logged-in person acting for themselves. `person` comes from their session, never from
    /// a request.
    pub fn myself(person: Personnummer) -> Self {
        Self {
            actor: person,
            subject: person,
        }
    }

    /// The logged-in person who does the action.
    pub fn actor(&self) -> &Personnummer {
        &self.actor
    }

    /// Whose data the action is on.
    pub fn subject(&self) -> &Personnummer {
        &self.subject
    }

    pub fn is_proxy(&self) -> bool {
        self.actor != self.subject
    }
}

/// A child the guardian can act for, to pick from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChildChoice {
    pub personnummer: Personnummer,
    pub given_name: String,
    pub family_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// Not the guardian's child, unknown to the register, or protected: deliberately one error.
    #[error("you cannot act for this person")]
    NotPermitted,
    /// The guardian's own identity is protected: no proxy access in any region.
    #[error("acting for a child is not available to a person with protected identity")]
    GuardianProtected,
    #[error("acting for a child ends when the child turns {limit}")]
    AgeLimitReached { limit: u8 },
    #[error("the child's date of birth is not known, so acting for the child is not possible")]
    BirthDateUnknown,
    #[error(transparent)]
    Register(#[from] RegisterError),
}

/// Checks every rule and returns the guardian acting for the child, or why not.
pub async fn act_for(
    register: &dyn PopulationRegister,
    region: &RegionConfig,
    today: Date,
    guardian: &Personnummer,
    child: &Personnummer,
) -> Result<ActingAs, ProxyError> {
    let guardian_record = register
        .lookup(guardian)
        .await?
        .ok_or(ProxyError::NotPermitted)?;
    if guardian_record.protected_identity {
        return Err(ProxyError::GuardianProtected);
    }
    // Checked before the child is looked up, so a stranger's number costs no lookup and
    // cannot be told apart by timing from a number nobody has.
    if !guardian_record.children.contains(child) {
        return Err(ProxyError::NotPermitted);
    }
    let child_record = register.lookup(child).await?;
    check_child(
        region.identity.proxy_age_limit,
        today,
        child,
        child_record.as_ref(),
    )?;
    Ok(ActingAs {
        actor: *guardian,
        subject: *child,
    })
}

/// The children the guardian can act for today, in the register's order. Children the rules
/// exclude are left out without saying why.
pub async fn children(
    register: &dyn PopulationRegister,
    region: &RegionConfig,
    today: Date,
    guardian: &Personnummer,
) -> Result<Vec<ChildChoice>, ProxyError> {
    let Some(guardian_record) = register.lookup(guardian).await? else {
        return Ok(Vec::new());
    };
    if guardian_record.protected_identity {
        return Err(ProxyError::GuardianProtected);
    }
    let mut out = Vec::new();
    for child in &guardian_record.children {
        let record = register.lookup(child).await?;
        if check_child(
            region.identity.proxy_age_limit,
            today,
            child,
            record.as_ref(),
        )
        .is_ok()
            && let Some(r) = record
        {
            out.push(ChildChoice {
                personnummer: r.personnummer,
                given_name: r.given_name,
                family_name: r.family_name,
            });
        }
    }
    Ok(out)
}

/// The rules about the child, once the register has said it is the guardian's.
fn check_child(
    age_limit: u8,
    today: Date,
    child: &Personnummer,
    record: Option<&RegisterPerson>,
) -> Result<(), ProxyError> {
    let record = record.ok_or(ProxyError::NotPermitted)?;
    if record.protected_identity {
        return Err(ProxyError::NotPermitted);
    }
    let age = child.age_on(today).ok_or(ProxyError::BirthDateUnknown)?;
    if age >= u32::from(age_limit) {
        return Err(ProxyError::AgeLimitReached { limit: age_limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pnr(s: &str) -> Personnummer {
        Personnummer::from_canonical(s).expect("Skatteverket test number")
    }

    fn d(y: i32, m: u8, day: u8) -> Date {
        Date::new(y, m, day).expect("date")
    }

    fn record(n: &str, protected_identity: bool) -> RegisterPerson {
        RegisterPerson {
            personnummer: pnr(n),
            given_name: "Test".into(),
            family_name: "Testsson".into(),
            mobile: None,
            email: None,
            protected_identity,
            children: Vec::new(),
        }
    }

    #[test]
    fn proxy_ends_on_the_day_the_child_reaches_the_limit() {
        let child = pnr("201801012392"); // born 2018-01-01
        let r = record("201801012392", false);
        assert_eq!(check_child(13, d(2030, 12, 31), &child, Some(&r)), Ok(()));
        assert_eq!(
            check_child(13, d(2031, 1, 1), &child, Some(&r)),
            Err(ProxyError::AgeLimitReached { limit: 13 })
        );
    }

    #[test]
    fn an_unknown_birth_date_fails_closed() {
        // A samordningsnummer with day 00 (written 60): no age can be computed.
        let child = pnr("198000602394");
        let r = record("198000602394", false);
        assert_eq!(
            check_child(13, d(1985, 1, 1), &child, Some(&r)),
            Err(ProxyError::BirthDateUnknown)
        );
    }

    #[test]
    fn a_protected_or_unknown_child_is_refused_like_a_stranger() {
        let child = pnr("201801012392");
        assert_eq!(
            check_child(
                13,
                d(2020, 1, 1),
                &child,
                Some(&record("201801012392", true))
            ),
            Err(ProxyError::NotPermitted)
        );
        assert_eq!(
            check_child(13, d(2020, 1, 1), &child, None),
            Err(ProxyError::NotPermitted)
        );
    }

    #[test]
    fn acting_as_oneself_is_not_a_proxy_and_debug_hides_both() {
        let me = ActingAs::myself(pnr("199006022397"));
        assert!(!me.is_proxy());
        assert_eq!(me.actor(), me.subject());
        let shown = format!("{me:?}");
        assert!(!shown.contains("2397"), "{shown}");
    }
}
