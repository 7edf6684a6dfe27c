//! The patient portal beside the media server, one folder per capability:
//!
//! ```text
//!   api/            the JSON API under /api/v1 (HTTP only: extractors, handlers, errors)
//!     │
//!     ├─▶ identity/   who someone is: OIDC login, the test IdP, personnummer, the population
//!     │               register, browser sessions, and what a login means (login.rs)
//!     ├─▶ accounts/   a patient's account, contact details, guardians acting for children,
//!     │               and the account's event history
//!     ├─▶ bookings/   slots care units publish, bookings, digital drop-in, and joining a
//!     │               digital booking's video room
//!     ├─▶ notifications/ SMS and e-mail notices through a durable outbox, to those who
//!     │               opted in (the worker, SMTP and the SMS gateway)
//!     ├─▶ messages/   conversations of a patient (or guardian) with a care unit: history,
//!     │               attachments, read marks per participant, the unit's inbox
//!     ├─▶ audit/      the PDL access log (staff and system reads of a patient's data)
//!     ├─▶ staff/      clinicians and administrators and their care units
//!     └─▶ region/     the region's policy file and decisions on its privacy policy
//!
//!   personal_data   the one list of every capability that keeps personal data, which
//!                   "export my data" and "delete my account" walk
//! ```
//!
//! Capabilities talk to each other through their public types; only `api/` knows HTTP, and
//! nothing here is imported by the `sfu` or `signalling` crates.

pub mod accounts;
pub mod api;
pub mod audit;
pub mod bookings;
pub mod care;
pub mod identity;
pub mod messages;
pub mod notifications;
pub mod personal_data;
pub mod region;
pub mod staff;
