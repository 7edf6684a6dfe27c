//! The population register: who a person is, how to reach them, whether their identity is
//! protected, and which children they are the legal guardian of.
//!
//! Both regions' services are connected to Inera's Personuppgiftstjänsten, which answers these
//! questions from the national population register. vardrum asks through the
//! [`PopulationRegister`] trait, so that the national service is one adapter (HTTP, later) and
//! [`FileRegister`], a JSON file of test persons, is another for development and tests.
//!
//! ```text
//!   accounts (registration prefill, protected identity) ──┐
//!   guardians (who may act for which child) ──────────────┴─▶ dyn PopulationRegister
//!                                                               ├─ FileRegister (JSON, dev/tests)
//!                                                               └─ national service (HTTP, later)
//! ```
//!
//! The trait is dyn-compatible (methods return a boxed future) so the server can hold an
//! `Arc<dyn PopulationRegister>` chosen at start-up, without an extra crate for async traits.
//! Errors are typed so callers can tell "try again later" ([`RegisterError::Unavailable`]) from
//! "the register answered nonsense" ([`RegisterError::InvalidResponse`]); "no such person" is not
//! an error but `Ok(None)`.
//!
//! Personal data from the register is what it is: [`RegisterPerson`]'s `Debug` masks every
//! personal field, and no error carries an identity number.
//!
//! **The development register**, `config/dev/population-register.json`, holds only
//! Skatteverket's test identity numbers (never issued to anyone), mobile numbers from PTS's
//! series reserved for fiction (070-174 06 05 ... 99) and addresses on `example.org`. Its
//! persons cover every path: Elsa Testsson (19900602-2397), guardian of Leo (born 2016-02-29),
//! Maja (2018), Noah (2019) and Vera (2017, protected identity, so never offered); Erik
//! Testsson, a second guardian of Maja and Noah; Ingrid Testdotter (protected identity: refused
//! in Västerbotten, marked in Jönköping); Karl Testberg (protected identity, guardian of Alva:
//! no proxy); Johan Testlund (no contact details); Amir Testsamordning (a samordningsnummer);
//! Greta Testström (born 1890). `tests/accounts.rs` checks the file loads and holds test numbers
//! only.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use serde::Deserialize;

use crate::portal::identity::personnummer::Personnummer;

/// What a register lookup returns, boxed so that the trait can be used as `dyn`.
pub type RegisterFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, RegisterError>> + Send + 'a>>;

/// A source of population register data. Implementations must be cheap to share (`Send +
/// Sync`): one instance serves every request.
pub trait PopulationRegister: Send + Sync {
    /// The person with this identity number, or `None` when the register has no such person.
    fn lookup<'a>(
        &'a self,
        personnummer: &'a Personnummer,
    ) -> RegisterFuture<'a, Option<RegisterPerson>>;
}

/// A person as the register describes them.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterPerson {
    pub personnummer: Personnummer,
    pub given_name: String,
    pub family_name: String,
    /// As the register holds it; validated only when it is used to prefill an account.
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Skyddade personuppgifter (sekretessmarkering, skyddad folkbokföring or fingerade
    /// personuppgifter): the region's rule decides what the portal does.
    #[serde(default)]
    pub protected_identity: bool,
    /// The children this person is legal guardian (vårdnadshavare) of.
    #[serde(default)]
    pub children: Vec<Personnummer>,
}

impl fmt::Debug for RegisterPerson {
    /// Only what is not personal: whether the fields are there, and how many children.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterPerson")
            .field("personnummer", &self.personnummer)
            .field("has_mobile", &self.mobile.is_some())
            .field("has_email", &self.email.is_some())
            .field("protected_identity", &self.protected_identity)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

/// Why the register could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Not reachable or not answering in time; worth trying again later. The text says what
    /// happened (timeout, status code), never whom it was about.
    #[error("the population register is unavailable: {0}")]
    Unavailable(String),
    /// The register answered, but not with anything usable.
    #[error("the population register's answer cannot be used: {0}")]
    InvalidResponse(String),
}

/// Why a register file cannot be loaded. Positions, never values: the file holds personal data.
#[derive(Debug, thiserror::Error)]
pub enum FileRegisterError {
    #[error("cannot read population register file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// serde_json's own message can quote the offending value, so only its position is given.
    #[error("population register file {path}: invalid {category} at line {line}, column {column}")]
    Parse {
        path: PathBuf,
        category: &'static str,
        line: usize,
        column: usize,
    },
    #[error("population register file {path}: person #{index} appears twice")]
    Duplicate { path: PathBuf, index: usize },
    #[error(
        "population register file {path}: person #{index} is guardian of a child who is not in \
         the file"
    )]
    UnknownChild { path: PathBuf, index: usize },
    #[error("population register file {path}: person #{index} is listed as their own child")]
    OwnChild { path: PathBuf, index: usize },
}

/// The file's shape: `{ "persons": [ { "personnummer": "YYYYMMDDNNNC", ... }, ... ] }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterFile {
    persons: Vec<RegisterPerson>,
}

/// A population register read from a JSON file, for development and tests. Holds only test
/// persons (Skatteverket's test identity numbers); see `config/dev/population-register.json`.
#[derive(Debug, Clone, Default)]
pub struct FileRegister {
    persons: HashMap<Personnummer, RegisterPerson>,
}

impl FileRegister {
    pub fn load(path: &Path) -> Result<FileRegister, FileRegisterError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileRegisterError::Read {
            path: path.to_owned(),
            source,
        })?;
        FileRegister::from_json_named(&text, path)
    }

    /// Parses register JSON that did not come from a file (tests).
    pub fn from_json(text: &str) -> Result<FileRegister, FileRegisterError> {
        FileRegister::from_json_named(text, Path::new("(inline JSON)"))
    }

    fn from_json_named(text: &str, path: &Path) -> Result<FileRegister, FileRegisterError> {
        let file: RegisterFile =
            serde_json::from_str(text).map_err(|e| FileRegisterError::Parse {
                path: path.to_owned(),
                category: match e.classify() {
                    serde_json::error::Category::Io => "input",
                    serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                        "JSON"
                    }
                    serde_json::error::Category::Data => "data",
                },
                line: e.line(),
                column: e.column(),
            })?;
        FileRegister::from_persons_named(file.persons, path)
    }

    /// A register of exactly these persons, checked like a file would be.
    pub fn from_persons(persons: Vec<RegisterPerson>) -> Result<FileRegister, FileRegisterError> {
        FileRegister::from_persons_named(persons, Path::new("(inline persons)"))
    }

    fn from_persons_named(
        persons: Vec<RegisterPerson>,
        path: &Path,
    ) -> Result<FileRegister, FileRegisterError> {
        let known: HashSet<Personnummer> = persons.iter().map(|p| p.personnummer).collect();
        let mut by_number = HashMap::with_capacity(persons.len());
        for (i, person) in persons.into_iter().enumerate() {
            // Counting from 1, as a person reading the file would.
            let index = i + 1;
            if person.children.contains(&person.personnummer) {
                return Err(FileRegisterError::OwnChild {
                    path: path.to_owned(),
                    index,
                });
            }
            // A child missing from the file would make every proxy attempt for it look like
            // someone else's child: refuse the file instead of puzzling its author.
            if person.children.iter().any(|c| !known.contains(c)) {
                return Err(FileRegisterError::UnknownChild {
                    path: path.to_owned(),
                    index,
                });
            }
            if by_number.insert(person.personnummer, person).is_some() {
                return Err(FileRegisterError::Duplicate {
                    path: path.to_owned(),
                    index,
                });
            }
        }
        Ok(FileRegister { persons: by_number })
    }

    /// Every identity number in the register (tests check the shipped file holds test numbers
    /// only).
    pub fn personnummer(&self) -> impl Iterator<Item = &Personnummer> {
        self.persons.keys()
    }

    /// Every person, by family and given name (the built-in test IdP offers them to pick from).
    pub fn persons(&self) -> Vec<&RegisterPerson> {
        let mut persons: Vec<&RegisterPerson> = self.persons.values().collect();
        persons.sort_by(|a, b| {
            (&a.family_name, &a.given_name, a.personnummer.as_str()).cmp(&(
                &b.family_name,
                &b.given_name,
                b.personnummer.as_str(),
            ))
        });
        persons
    }
}

impl PopulationRegister for FileRegister {
    fn lookup<'a>(
        &'a self,
        personnummer: &'a Personnummer,
    ) -> RegisterFuture<'a, Option<RegisterPerson>> {
        Box::pin(async move { Ok(self.persons.get(personnummer).cloned()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skatteverket test numbers.
    const PARENT: &str = "199006022397";
    const CHILD: &str = "201602292383";

    fn json(persons: &str) -> String {
        format!("{{\"persons\": [{persons}]}}")
    }

    fn person(pnr: &str, children: &[&str]) -> String {
        let children: Vec<String> = children.iter().map(|c| format!("\"{c}\"")).collect();
        format!(
            "{{\"personnummer\": \"{pnr}\", \"given_name\": \"Test\", \"family_name\": \
             \"Testsson\", \"children\": [{}]}}",
            children.join(", ")
        )
    }

    fn pnr(s: &str) -> Personnummer {
        Personnummer::from_canonical(s).expect("test number")
    }

    #[tokio::test]
    async fn looks_people_up_and_answers_none_for_strangers() {
        let reg = FileRegister::from_json(&json(&format!(
            "{}, {}",
            person(PARENT, &[CHILD]),
            person(CHILD, &[])
        )))
        .expect("valid register");
        let parent = reg.lookup(&pnr(PARENT)).await.unwrap().expect("parent");
        assert_eq!(parent.children, vec![pnr(CHILD)]);
        assert!(!parent.protected_identity, "defaults to not protected");
        assert_eq!(parent.mobile, None);
        assert_eq!(reg.lookup(&pnr("199908072391")).await.unwrap(), None);
    }

    #[test]
    fn a_broken_file_is_refused_without_quoting_it() {
        let cases = [
            json(&format!("{}, {}", person(PARENT, &[]), person(PARENT, &[]))),
            json(&person(PARENT, &[CHILD])),
            json(&person(PARENT, &[PARENT])),
            // A number where a string belongs: serde would quote it in its message.
            json("{\"personnummer\": 199006022397, \"given_name\": \"A\", \"family_name\": \"B\"}"),
            json(&person("199006022398", &[])), // check digit
            json(&person(PARENT, &[]).replace("\"children\"", "\"kids\"")),
        ];
        for text in &cases {
            let err = FileRegister::from_json(text).expect_err(text).to_string();
            assert!(!err.contains("2397") && !err.contains("2398"), "{err}");
        }
        assert!(matches!(
            FileRegister::from_json(&cases[0]),
            Err(FileRegisterError::Duplicate { index: 2, .. })
        ));
        assert!(matches!(
            FileRegister::from_json(&cases[1]),
            Err(FileRegisterError::UnknownChild { index: 1, .. })
        ));
        assert!(matches!(
            FileRegister::from_json(&cases[2]),
            Err(FileRegisterError::OwnChild { index: 1, .. })
        ));
    }

    #[test]
    fn debug_shows_no_personal_data() {
        let reg = FileRegister::from_json(&json(&person(PARENT, &[]).replace(
            "\"children\"",
            "\"mobile\": \"070-1740605\", \"email\": \"t@example.org\", \"children\"",
        )))
        .unwrap();
        let shown = format!("{reg:?}");
        for secret in ["2397", "Testsson", "1740605", "example.org"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
