//! ONDC's category rules for items, read from `protocol/derived/item-attributes-by-category.json`
//! (compiled from log-validation-utility): the mandatory attribute tags per category, their
//! value constraints, and which statutory block each grocery category needs. Also the STD code
//! to pincode map the validators check store locations against.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

const ATTRIBUTES: &str = include_str!("../../protocol/derived/item-attributes-by-category.json");
const STD_CODES: &str = include_str!("../../protocol/derived/std-code-to-pincodes.json");

/// Which statutory block a category needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statutory {
    PackagedCommodities,
    PrepackagedFood,
}

/// A constraint on one attribute's value.
#[derive(Debug)]
pub enum Constraint {
    Pattern(Regex),
    OneOf(HashSet<String>),
}

/// What a category asks of an item's attributes.
#[derive(Debug, Default)]
pub struct CategoryRule {
    pub mandatory: Vec<String>,
    pub constraints: HashMap<String, Constraint>,
}

pub struct Rules {
    /// (domain, category_id) → rule
    categories: HashMap<(String, String), CategoryRule>,
    /// domain → its known categories (empty set: any category is accepted)
    known: HashMap<String, HashSet<String>>,
    statutory: HashMap<String, Statutory>,
    pincodes: HashMap<String, HashSet<u32>>,
}

pub fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(Rules::load)
}

fn regex_from(text: &str) -> Option<Regex> {
    let body = text.strip_prefix('/')?.rsplit_once('/')?.0;
    Regex::new(body).ok()
}

impl Rules {
    fn load() -> Self {
        let doc: Value =
            serde_json::from_str(ATTRIBUTES).expect("the pinned attribute rules are JSON");
        let mut categories = HashMap::new();
        let mut known: HashMap<String, HashSet<String>> = HashMap::new();
        for domain in ["ONDC:RET12", "ONDC:RET16"] {
            let block = &doc[domain];
            let enums = block.get("enums").and_then(Value::as_object);
            let sets = block["attribute_sets"].as_object().expect("attribute sets");
            for (category, set_name) in block["categories"].as_object().expect("categories") {
                known
                    .entry(domain.to_owned())
                    .or_default()
                    .insert(category.clone());
                let set = &sets[set_name.as_str().unwrap_or_default()];
                let mandatory: Vec<String> = set
                    .get("mandatory")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut constraints = HashMap::new();
                if let Some(map) = set.get("value_constraint").and_then(Value::as_object) {
                    for (attribute, constraint) in map {
                        let Some(text) = constraint.as_str() else {
                            continue;
                        };
                        if let Some(pattern) = regex_from(text) {
                            constraints.insert(attribute.clone(), Constraint::Pattern(pattern));
                        } else if let Some(values) =
                            enums.and_then(|e| e.get(text)).and_then(Value::as_array)
                        {
                            let values = values
                                .iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect();
                            constraints.insert(attribute.clone(), Constraint::OneOf(values));
                        }
                    }
                }
                categories.insert(
                    (domain.to_owned(), category.clone()),
                    CategoryRule {
                        mandatory,
                        constraints,
                    },
                );
            }
        }
        if let Some(set) = doc["ONDC:RET13"].get("attribute_set") {
            let mandatory = set["mandatory"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            categories.insert(
                ("ONDC:RET13".to_owned(), "*".to_owned()),
                CategoryRule {
                    mandatory,
                    constraints: HashMap::new(),
                },
            );
        }
        let mut statutory = HashMap::new();
        for (category, block) in doc["ONDC:RET10"]["statutory_by_category"]
            .as_object()
            .expect("statutory map")
        {
            known
                .entry("ONDC:RET10".to_owned())
                .or_default()
                .insert(category.clone());
            let kind = match block.as_str() {
                Some("@ondc/org/statutory_reqs_prepackaged_food") => {
                    Some(Statutory::PrepackagedFood)
                }
                Some("@ondc/org/statutory_reqs_packaged_commodities") => {
                    Some(Statutory::PackagedCommodities)
                }
                _ => None,
            };
            if let Some(kind) = kind {
                statutory.insert(category.clone(), kind);
            }
        }
        let std: Value = serde_json::from_str(STD_CODES).expect("the STD code map is JSON");
        let mut pincodes = HashMap::new();
        if let Some(map) = std.get("std_to_pincodes").and_then(Value::as_object) {
            for (code, list) in map {
                if code.starts_with('_') {
                    continue;
                }
                let set: HashSet<u32> = list
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|v| {
                                v.as_u64()
                                    .map(|n| n as u32)
                                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                pincodes.insert(code.trim_start_matches("std:").to_owned(), set);
            }
        }
        Self {
            categories,
            known,
            statutory,
            pincodes,
        }
    }

    /// The attribute rule for an item's category, if ONDC publishes one.
    pub fn category(&self, domain: &str, category_id: &str) -> Option<&CategoryRule> {
        self.categories
            .get(&(domain.to_owned(), category_id.to_owned()))
            .or_else(|| self.categories.get(&(domain.to_owned(), "*".to_owned())))
    }

    /// Is `category_id` a category of `domain`? Domains without a published list accept any.
    pub fn is_known_category(&self, domain: &str, category_id: &str) -> bool {
        match self.known.get(domain) {
            Some(list) => list.contains(category_id),
            None => !category_id.trim().is_empty(),
        }
    }

    pub fn categories_of(&self, domain: &str) -> Vec<&str> {
        let mut list: Vec<&str> = self
            .known
            .get(domain)
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default();
        list.sort_unstable();
        list
    }

    /// The statutory block a grocery category needs.
    pub fn statutory(&self, category_id: &str) -> Option<Statutory> {
        self.statutory.get(category_id).copied()
    }

    /// Is `std_code` a city code the network knows?
    pub fn is_city(&self, std_code: &str) -> bool {
        self.pincodes.contains_key(std_code)
    }

    /// The STD code (without `std:`) a pincode is served under, the smallest when it is listed
    /// under several.
    pub fn std_code_of(&self, pincode: &str) -> Option<&str> {
        let pin = pincode.parse::<u32>().ok()?;
        self.pincodes
            .iter()
            .filter(|(_, set)| set.contains(&pin))
            .map(|(code, _)| code.as_str())
            .min()
    }

    /// Does `pincode` belong to `std_code` in the validators' map?
    pub fn pincode_in_city(&self, std_code: &str, pincode: &str) -> bool {
        let Ok(pin) = pincode.parse::<u32>() else {
            return false;
        };
        self.pincodes
            .get(std_code)
            .is_some_and(|set| set.contains(&pin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_rules_know_sarees_and_home_decor() {
        let rules = rules();
        let sarees = rules.category("ONDC:RET12", "Sarees").unwrap();
        assert!(sarees.mandatory.contains(&"fabric".to_owned()));
        assert!(matches!(
            sarees.constraints.get("colour"),
            Some(Constraint::Pattern(_))
        ));
        let decor = rules.category("ONDC:RET16", "Home Decor").unwrap();
        assert_eq!(
            decor.mandatory,
            vec!["brand", "colour", "colour_name", "material"]
        );
        assert_eq!(
            rules.statutory("Masala & Seasoning"),
            Some(Statutory::PackagedCommodities)
        );
        assert!(rules.pincode_in_city("0542", "221001"));
        assert!(!rules.pincode_in_city("080", "221001"));
    }
}
