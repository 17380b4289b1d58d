//! Findings as a hierarchy compatible with torchxrayvision's COVID-19 dataset labels:
//! `No Finding`, `Pneumonia`, `Pneumonia/Viral/COVID-19`, `Pneumonia/Bacterial/Streptococcus`…
//! A parent is implied by its children, so `Pneumonia/Viral/COVID-19` is also `Pneumonia`.

/// A label as lunghub stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Finding {
    /// One of the hierarchy's paths.
    Known(&'static str),
    /// A string no rule recognises, kept verbatim (never guessed) and reported.
    Unknown(String),
}

/// Every known path, and the spellings that the public datasets use for it
/// (compared case-insensitively, after trimming).
const KNOWN: &[(&str, &[&str])] = &[
    (
        "No Finding",
        &["no finding", "normal", "healthy", "regular"],
    ),
    ("Pneumonia", &["pneumonia"]),
    ("Pneumonia/Viral", &["viral pneumonia", "viral"]),
    (
        "Pneumonia/Viral/COVID-19",
        &["covid-19", "covid19", "covid", "pneumonia/viral/covid-19"],
    ),
    ("Pneumonia/Viral/SARS", &["sars", "pneumonia/viral/sars"]),
    (
        "Pneumonia/Viral/MERS",
        &["mers", "mers-cov", "pneumonia/viral/mers-cov"],
    ),
    (
        "Pneumonia/Viral/Influenza",
        &["influenza", "pneumonia/viral/influenza"],
    ),
    (
        "Pneumonia/Bacterial",
        &["bacterial pneumonia", "bacterial", "pneumonia/bacterial"],
    ),
    (
        "Pneumonia/Bacterial/Streptococcus",
        &["streptococcus", "pneumonia/bacterial/streptococcus"],
    ),
    (
        "Pneumonia/Bacterial/Klebsiella",
        &["klebsiella", "pneumonia/bacterial/klebsiella"],
    ),
    (
        "Pneumonia/Bacterial/Legionella",
        &["legionella", "pneumonia/bacterial/legionella"],
    ),
    (
        "Pneumonia/Fungal/Pneumocystis",
        &["pneumocystis", "pneumonia/fungal/pneumocystis"],
    ),
    ("ARDS", &["ards"]),
];

impl Finding {
    /// Parses a finding as a dataset spells it.
    pub fn parse(raw: &str) -> Finding {
        let needle = raw.trim().to_ascii_lowercase();
        KNOWN
            .iter()
            .find(|(path, spellings)| {
                path.eq_ignore_ascii_case(&needle) || spellings.contains(&needle.as_str())
            })
            .map(|(path, _)| Finding::Known(path))
            .unwrap_or_else(|| Finding::Unknown(raw.trim().to_owned()))
    }

    /// The stored form: the hierarchy path, or the verbatim unknown string.
    pub fn as_str(&self) -> &str {
        match self {
            Finding::Known(p) => p,
            Finding::Unknown(s) => s,
        }
    }

    pub fn is_known(&self) -> bool {
        matches!(self, Finding::Known(_))
    }

    /// Every path of the hierarchy, parents before children: what a reviewer picks from.
    pub fn known_paths() -> impl Iterator<Item = &'static str> {
        KNOWN.iter().map(|(path, _)| *path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_spellings_map_to_one_path() {
        assert_eq!(
            Finding::parse(" Streptococcus "),
            Finding::Known("Pneumonia/Bacterial/Streptococcus")
        );
        assert_eq!(
            Finding::parse("Pneumocystis").as_str(),
            "Pneumonia/Fungal/Pneumocystis"
        );
        assert_eq!(Finding::parse("NO FINDING"), Finding::Known("No Finding"));
        assert!(!Finding::parse("Lipoid").is_known());
        assert_eq!(Finding::parse("Lipoid").as_str(), "Lipoid");
    }
}
