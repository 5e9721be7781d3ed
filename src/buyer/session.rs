//! What `haat buyer` remembers between commands: the items of the last search, and the order
//! being placed or followed (its transaction, the seller node, the cart, the last on_select
//! and on_init, the order id and the order as last heard). Kept as JSON in one file, so a
//! person goes from search to a confirmed order in a few commands, each taking the previous
//! step's result.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::messages::{Buyer, FoundItem, Route};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Session {
    /// The items of the last search, numbered from 1 as they were shown.
    pub found: Vec<FoundItem>,
    pub order: Option<OrderFlow>,
}

/// One order, from select on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderFlow {
    pub route: Route,
    pub provider_id: String,
    pub location_id: String,
    pub items: Vec<(String, i64)>,
    pub buyer: Buyer,
    pub on_select: Option<Value>,
    pub on_init: Option<Value>,
    pub order_id: Option<String>,
    /// The order as the latest callback showed it.
    pub order: Option<Value>,
}

impl Session {
    /// The session in `path`, or an empty one when there is none yet.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!(
                    "the buyer session file {} is not readable; delete it to start afresh",
                    path.display()
                )
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The order being followed, or a message saying which step comes first.
    pub fn order(&mut self, needs: &str) -> anyhow::Result<&mut OrderFlow> {
        self.order.as_mut().with_context(|| {
            format!("there is no order in progress; {needs} (start with `haat buyer search TEXT` and `haat buyer select N`)")
        })
    }

    /// An item of the last search by its number (1, 2, …) or its id.
    pub fn found_item(&self, wanted: &str) -> anyhow::Result<&FoundItem> {
        if self.found.is_empty() {
            anyhow::bail!(
                "there are no search results to choose from; run `haat buyer search TEXT` first"
            );
        }
        let by_number = wanted
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.found.get(i));
        by_number
            .or_else(|| self.found.iter().find(|f| f.item_id == wanted))
            .with_context(|| {
                format!(
                    "\"{wanted}\" is neither a number from 1 to {} nor the id of an item the last search found",
                    self.found.len()
                )
            })
    }
}
