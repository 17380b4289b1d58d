//! De-identification profiles: which PS3.15 options apply, which private attributes are
//! safe, which pixels get blanked. A profile is a small TOML file; the default one is
//! embedded and documented in `profiles/default.toml`.

use serde::Deserialize;

/// The default profile, as shipped.
pub const DEFAULT_PROFILE_TOML: &str = include_str!("../profiles/default.toml");

/// The PS3.15 options that change Table E.1-1's actions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    #[serde(default)]
    pub retain_modified_dates: bool,
    #[serde(default)]
    pub retain_full_dates: bool,
    #[serde(default)]
    pub retain_patient_characteristics: bool,
    #[serde(default)]
    pub retain_device_identity: bool,
    #[serde(default)]
    pub retain_institution_identity: bool,
    #[serde(default)]
    pub retain_uids: bool,
    #[serde(default)]
    pub retain_safe_private: bool,
    #[serde(default)]
    pub clean_descriptors: bool,
    #[serde(default)]
    pub clean_graphics: bool,
    #[serde(default)]
    pub clean_structured_content: bool,
}

impl Options {
    /// The Basic Profile with no option at all.
    pub fn basic() -> Self {
        Options {
            retain_modified_dates: false,
            retain_full_dates: false,
            retain_patient_characteristics: false,
            retain_device_identity: false,
            retain_institution_identity: false,
            retain_uids: false,
            retain_safe_private: false,
            clean_descriptors: false,
            clean_graphics: false,
            clean_structured_content: false,
        }
    }

    /// CID 7050 codes and meanings of the options in force, in code order, after the Basic
    /// Profile's own code (113100).
    pub fn method_codes(&self, pixels_cleaned: bool) -> Vec<(&'static str, &'static str)> {
        let mut codes = vec![("113100", "Basic Application Confidentiality Profile")];
        let flags = [
            (pixels_cleaned, "113101", "Clean Pixel Data Option"),
            (self.clean_graphics, "113103", "Clean Graphics Option"),
            (
                self.clean_structured_content,
                "113104",
                "Clean Structured Content Option",
            ),
            (self.clean_descriptors, "113105", "Clean Descriptors Option"),
            (
                self.retain_full_dates && !self.retain_modified_dates,
                "113106",
                "Retain Longitudinal Temporal Information Full Dates Option",
            ),
            (
                self.retain_modified_dates,
                "113107",
                "Retain Longitudinal Temporal Information Modified Dates Option",
            ),
            (
                self.retain_patient_characteristics,
                "113108",
                "Retain Patient Characteristics Option",
            ),
            (
                self.retain_device_identity,
                "113109",
                "Retain Device Identity Option",
            ),
            (self.retain_uids, "113110", "Retain UIDs Option"),
            (
                self.retain_safe_private,
                "113111",
                "Retain Safe Private Option",
            ),
            (
                self.retain_institution_identity,
                "113112",
                "Retain Institution Identity Option",
            ),
        ];
        codes.extend(flags.iter().filter(|f| f.0).map(|f| (f.1, f.2)));
        codes
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateRules {
    /// Dates move back by 1..=max_shift_days days, fixed per patient by the site key.
    pub max_shift_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnedInRules {
    /// Modalities whose images often carry on-screen text: without an explicit
    /// BurnedInAnnotation = NO they are quarantined.
    pub suspect_modalities: Vec<String>,
    /// SOP Class UID prefixes treated the same way, whatever their Modality says.
    #[serde(default)]
    pub suspect_sop_classes: Vec<String>,
}

/// A private attribute known to carry no identity, kept under "Retain Safe Private".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafePrivate {
    /// Private Creator value, compared after trimming padding.
    pub creator: String,
    /// The element's low byte within the creator's block (0x00..=0xFF).
    pub element: u8,
}

/// Blank rectangles on images from one device model, so that burned-in text goes away.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelCleaning {
    pub manufacturer: String,
    pub model: String,
    pub rows: u16,
    pub columns: u16,
    /// `[x, y, width, height]` in pixels.
    pub rectangles: Vec<[u16; 4]>,
}

/// A whole de-identification profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub options: Options,
    pub dates: DateRules,
    pub burned_in: BurnedInRules,
    #[serde(default)]
    pub safe_private: Vec<SafePrivate>,
    #[serde(default)]
    pub pixel_cleaning: Vec<PixelCleaning>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("invalid profile: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("invalid profile: dates.max_shift_days must be between 1 and 36500, not {0}")]
    ShiftRange(u32),
    #[error("invalid profile: a pixel_cleaning rectangle {0:?} lies outside {1}x{2}")]
    Rectangle([u16; 4], u16, u16),
}

impl Profile {
    /// Parses and checks a profile.
    pub fn from_toml(text: &str) -> Result<Self, ProfileError> {
        let profile: Profile = toml::from_str(text)?;
        if !(1..=36_500).contains(&profile.dates.max_shift_days) {
            return Err(ProfileError::ShiftRange(profile.dates.max_shift_days));
        }
        for rule in &profile.pixel_cleaning {
            for r in &rule.rectangles {
                let fits = u32::from(r[0]) + u32::from(r[2]) <= u32::from(rule.columns)
                    && u32::from(r[1]) + u32::from(r[3]) <= u32::from(rule.rows);
                if !fits {
                    return Err(ProfileError::Rectangle(*r, rule.columns, rule.rows));
                }
            }
        }
        Ok(profile)
    }

    /// lunghub's default: Basic + Modified Dates + Patient Characteristics.
    pub fn lunghub_default() -> Self {
        // The embedded file is checked by a unit test, so this cannot fail in a release.
        Self::from_toml(DEFAULT_PROFILE_TOML).unwrap_or_else(|e| panic!("default profile: {e}"))
    }

    /// A short, stable description for DeidentificationMethod (0012,0063).
    pub fn method_description(&self, pixels_cleaned: bool) -> String {
        let names: Vec<&str> = self
            .options
            .method_codes(pixels_cleaned)
            .iter()
            .map(|(_, meaning)| *meaning)
            .collect();
        format!(
            "lunghub {}: {}",
            env!("CARGO_PKG_VERSION"),
            names.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_profile_is_basic_with_modified_dates_and_characteristics() {
        let p = Profile::lunghub_default();
        let mut expected = Options::basic();
        expected.retain_modified_dates = true;
        expected.retain_patient_characteristics = true;
        assert_eq!(p.options, expected);
        let codes: Vec<_> = p.options.method_codes(false).iter().map(|c| c.0).collect();
        assert_eq!(codes, ["113100", "113107", "113108"]);
    }

    #[test]
    fn profiles_reject_unknown_keys_and_bad_rectangles() {
        let bad = DEFAULT_PROFILE_TOML.replace("clean_graphics", "clean_grafics");
        assert!(matches!(
            Profile::from_toml(&bad),
            Err(ProfileError::Toml(_))
        ));
        let rect = format!(
            "{DEFAULT_PROFILE_TOML}\n[[pixel_cleaning]]\nmanufacturer = \"A\"\nmodel = \"B\"\n\
             rows = 10\ncolumns = 10\nrectangles = [[5, 5, 6, 1]]\n"
        );
        assert!(matches!(
            Profile::from_toml(&rect),
            Err(ProfileError::Rectangle(..))
        ));
    }
}
