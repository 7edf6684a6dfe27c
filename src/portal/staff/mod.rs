//! Staff members: clinicians and administrators with their care units, who log in through the
//! hospital's own identity provider. An administrator provisions them; in development they come
//! from `config/dev/staff.json`.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;

/// What a staff member may do. Clinicians work with patients; administrators manage staff and
/// are deliberately not given patient data by their role alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Clinician,
    Administrator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clinician => "clinician",
            Role::Administrator => "administrator",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "clinician" => Some(Role::Clinician),
            "administrator" => Some(Role::Administrator),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffMember {
    pub id: String,
    /// The identity provider's subject (e.g. an HSA-id).
    pub subject: String,
    pub given_name: String,
    pub family_name: String,
    pub role: Role,
    pub care_units: Vec<String>,
}

impl StaffMember {
    /// Whether the member may work in `care_unit`: only in the units an administrator gave
    /// them, since the active care unit is what the access log records for every read.
    pub fn works_in(&self, care_unit: &str) -> bool {
        self.care_units.iter().any(|u| u == care_unit)
    }

    /// The care unit a fresh login starts in: the first one listed.
    pub fn first_care_unit(&self) -> Option<&str> {
        self.care_units.first().map(String::as_str)
    }
}

/// A new staff member, as an administrator enters it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    pub subject: String,
    pub given_name: String,
    pub family_name: String,
    pub role: Role,
    pub care_units: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// A field is refused; names the field.
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    #[error("a staff member with this subject exists")]
    AlreadyExists,
    #[error("stored staff member is corrupt: column {0}")]
    Corrupt(&'static str),
    #[error("staff: database: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum StaffFileError {
    #[error("cannot read staff file {0}: {1}")]
    Read(String, std::io::Error),
    #[error("staff file {0} is not valid: {1}")]
    Parse(String, String),
    #[error("staff file {0}: {1}")]
    Store(String, StaffError),
}

/// Longest name, subject or care unit accepted, in characters.
const MAX_TEXT: usize = 200;
/// Most care units one member can have.
const MAX_CARE_UNITS: usize = 50;

impl NewStaff {
    fn validate(&self) -> Result<(), StaffError> {
        for (field, value) in [
            ("subject", &self.subject),
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
        ] {
            check_text(field, value)?;
        }
        if self.care_units.is_empty() {
            return Err(StaffError::Invalid {
                field: "care_units",
                reason: "at least one care unit is needed",
            });
        }
        if self.care_units.len() > MAX_CARE_UNITS {
            return Err(StaffError::Invalid {
                field: "care_units",
                reason: "too many care units",
            });
        }
        for unit in &self.care_units {
            check_text("care_units", unit)?;
        }
        Ok(())
    }
}

fn check_text(field: &'static str, value: &str) -> Result<(), StaffError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(StaffError::Invalid {
            field,
            reason: "must not be empty",
        });
    }
    if trimmed.chars().count() > MAX_TEXT
        || trimmed
            .chars()
            .any(|c| c.is_control() || crate::portal::accounts::contact::is_invisible(c))
    {
        return Err(StaffError::Invalid {
            field,
            reason: "too long or contains control or invisible characters",
        });
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffFile {
    staff: Vec<NewStaff>,
}

/// The staff table.
#[derive(Clone)]
pub struct Staff {
    db: Db,
}

impl fmt::Debug for Staff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Staff").finish_non_exhaustive()
    }
}

impl Staff {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Adds a member. The subject is unique: one identity at the IdP is one member.
    pub async fn create(&self, new: &NewStaff, now: i64) -> Result<StaffMember, StaffError> {
        new.validate()?;
        if self.by_subject(&new.subject).await?.is_some() {
            return Err(StaffError::AlreadyExists);
        }
        let member = StaffMember {
            id: uuid::Uuid::new_v4().simple().to_string(),
            subject: new.subject.trim().to_owned(),
            given_name: new.given_name.trim().to_owned(),
            family_name: new.family_name.trim().to_owned(),
            role: new.role,
            care_units: new.care_units.iter().map(|u| u.trim().to_owned()).collect(),
        };
        let units = serde_json::to_string(&member.care_units).map_err(|_| StaffError::Invalid {
            field: "care_units",
            reason: "cannot be stored",
        })?;
        let inserted = sqlx::query(
            "INSERT INTO staff (id, subject, given_name, family_name, role, care_units, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&member.id)
        .bind(&member.subject)
        .bind(&member.given_name)
        .bind(&member.family_name)
        .bind(member.role.as_str())
        .bind(units)
        .bind(now)
        .execute(self.db.pool())
        .await;
        match inserted {
            Ok(_) => Ok(member),
            // Two administrators adding the same subject at once: the unique index decides.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StaffError::AlreadyExists)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn by_subject(&self, subject: &str) -> Result<Option<StaffMember>, StaffError> {
        let row = sqlx::query(concat!(
            "SELECT id, subject, given_name, family_name, role, care_units FROM staff ",
            "WHERE subject = $1"
        ))
        .bind(subject)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| member_from_row(&r)).transpose()
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<StaffMember>, StaffError> {
        let row = sqlx::query(concat!(
            "SELECT id, subject, given_name, family_name, role, care_units FROM staff ",
            "WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| member_from_row(&r)).transpose()
    }

    pub async fn list(&self) -> Result<Vec<StaffMember>, StaffError> {
        let rows = sqlx::query(concat!(
            "SELECT id, subject, given_name, family_name, role, care_units FROM staff ",
            "ORDER BY family_name, given_name, id"
        ))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(member_from_row).collect()
    }

    /// The care units where at least one clinician works, sorted: the units patients can book
    /// with and write to. (A region has tens of units and hundreds of staff: read in full.)
    pub async fn care_units_with_clinicians(&self) -> Result<Vec<String>, StaffError> {
        let mut units: Vec<String> = self
            .list()
            .await?
            .into_iter()
            .filter(|m| m.role == Role::Clinician)
            .flat_map(|m| m.care_units)
            .collect();
        units.sort();
        units.dedup();
        Ok(units)
    }

    /// The clinicians working in `care_unit`, by family and given name.
    pub async fn clinicians_of(&self, care_unit: &str) -> Result<Vec<StaffMember>, StaffError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .filter(|m| m.role == Role::Clinician && m.works_in(care_unit))
            .collect())
    }

    /// Adds the members of a staff file that are not there yet (development set-up).
    pub async fn seed_from_file(&self, path: &Path, now: i64) -> Result<usize, StaffFileError> {
        let name = path.display().to_string();
        let staff = read_staff_file(path)?;
        let mut added = 0;
        for new in &staff {
            match self.create(new, now).await {
                Ok(_) => added += 1,
                Err(StaffError::AlreadyExists) => {}
                Err(e) => return Err(StaffFileError::Store(name, e)),
            }
        }
        Ok(added)
    }
}

/// Reads a staff file without storing it: the built-in test IdP offers these people.
pub fn read_staff_file(path: &Path) -> Result<Vec<NewStaff>, StaffFileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| StaffFileError::Read(name.clone(), e))?;
    let file: StaffFile =
        serde_json::from_str(&text).map_err(|e| StaffFileError::Parse(name, e.to_string()))?;
    Ok(file.staff)
}

fn member_from_row(row: &AnyRow) -> Result<StaffMember, StaffError> {
    let role: String = row.try_get("role")?;
    let units: String = row.try_get("care_units")?;
    Ok(StaffMember {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        given_name: row.try_get("given_name")?,
        family_name: row.try_get("family_name")?,
        role: Role::parse(&role).ok_or(StaffError::Corrupt("role"))?,
        care_units: serde_json::from_str(&units).map_err(|_| StaffError::Corrupt("care_units"))?,
    })
}
