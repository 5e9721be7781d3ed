//! Grievances, IGM 1.0.0 (RETAIL-DIGEST.md §12): a buyer app's `issue` is stored against the
//! seller of its order and answered PROCESSING; `issue_status` gets the issue as it stands;
//! the seller resolves it (refund, replacement, cancel, no action) and the buyer app hears
//! of it by an unsolicited on_issue_status. The expected response and resolution times are
//! kept as deadlines the seller sees.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::record::Refusal;
use super::{read_order, Handled, Orders};
use crate::protocol::ack::{ErrorType, WireError};
use crate::protocol::callback::RequestContext;
use crate::protocol::json::At;
use crate::protocol::time::{format_timestamp, parse_duration_ms};
use crate::store::{now_ms, CommitResult, IssueWrite, NewCallback, OrderChange, StoreError};

/// What Haat keeps of a grievance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueRecord {
    pub id: String,
    pub context: Map<String, Value>,
    /// The issue as the buyer app last sent it.
    pub issue: Value,
    pub provider_id: String,
    pub order_id: Option<String>,
    pub status: String,
    pub respondent_actions: Vec<Value>,
    pub resolution: Option<Value>,
    pub resolution_provider: Option<Value>,
    pub created_at: String,
    pub updated_at: String,
    pub respond_by_ms: i64,
    pub resolve_by_ms: i64,
    pub responded_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub rating: Option<String>,
    pub last_message_ms: i64,
}

/// Resolution actions a seller may take (IGM 1.0.0 `action_triggered`).
pub const RESOLUTIONS: [&str; 4] = ["REFUND", "REPLACEMENT", "CANCEL", "NO-ACTION"];

impl IssueRecord {
    /// The `issue` object of on_issue / on_issue_status.
    pub fn to_ondc(&self) -> Value {
        let mut issue = json!({
            "id": self.id,
            "issue_actions": {"respondent_actions": self.respondent_actions},
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        });
        if let Some(resolution) = &self.resolution {
            issue["resolution"] = resolution.clone();
        }
        if let Some(provider) = &self.resolution_provider {
            issue["resolution_provider"] = provider.clone();
        }
        issue
    }
}

/// Reads a stored issue.
fn read_issue(doc: &str) -> Result<IssueRecord, StoreError> {
    serde_json::from_str(doc).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(
            format!("a stored issue is not readable: {e}").into(),
        ))
    })
}

fn write(record: &IssueRecord, expected_version: Option<i64>) -> IssueWrite {
    IssueWrite {
        id: record.id.clone(),
        transaction_id: record
            .context
            .get("transaction_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        order_id: record.order_id.clone(),
        provider_id: record.provider_id.clone(),
        bap_id: record
            .context
            .get("bap_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        status: record.status.clone(),
        doc: serde_json::to_string(record).expect("issues serialize"),
        respond_by: record.respond_by_ms,
        resolve_by: record.resolve_by_ms,
        expected_version,
    }
}

fn refused(id: &str, refusal: Refusal) -> Handled {
    Handled::answer(
        json!({"issue": {"id": id}}),
        Some(WireError::new(
            ErrorType::Domain,
            refusal.code,
            None,
            refusal.message.clone(),
        )),
        refusal.message,
    )
}

impl Orders {
    fn respondent(&self, record: &IssueRecord, action: &str, short_desc: &str, now: &str) -> Value {
        let domain = record
            .context
            .get("domain")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let support = &self.settings.support;
        json!({
            "respondent_action": action,
            "short_desc": short_desc,
            "updated_at": now,
            "updated_by": {
                "org": {"name": format!("{}::{domain}", self.settings.subscriber_id)},
                "contact": {"phone": support.phone, "email": support.email},
                "person": {"name": self.settings.catalog.np_name},
            },
            "cascaded_level": 1,
        })
    }

    fn issue_callback(&self, record: &mut IssueRecord, message: &Value) -> NewCallback {
        let context = record.context.clone();
        self.unsolicited_in(
            &context,
            &mut record.last_message_ms,
            "on_issue_status",
            message,
        )
    }
}

/// `issue`: a new grievance (answered PROCESSING), an escalation, or the buyer closing it.
pub async fn issue(
    orders: &Orders,
    body: &Value,
    context: &RequestContext,
) -> Result<Handled, StoreError> {
    let issue = body.at("/message/issue").cloned().unwrap_or_default();
    let id = issue["id"].as_str().unwrap_or_default().to_owned();
    if id.is_empty() {
        return Ok(refused("", Refusal::new("30000", "the issue has no id")));
    }
    let now_ms_value = now_ms();
    let now = format_timestamp(Utc::now());
    if let Some((doc, version)) = orders.store.load_issue(&id).await? {
        let mut record = read_issue(&doc)?;
        if record.context.get("bap_id").and_then(Value::as_str) != Some(context.bap_id.as_str()) {
            return Ok(refused(
                &id,
                Refusal::new("30000", format!("issue {id} belongs to another buyer app")),
            ));
        }
        record.issue = issue.clone();
        let mut handled;
        if issue["status"] == "CLOSED" {
            record.status = "CLOSED".into();
            record.rating = issue["rating"].as_str().map(str::to_owned);
            record.updated_at = now.clone();
            handled = Handled {
                answer: None,
                note: format!("issue {id} closed by the buyer app"),
                change: OrderChange::default(),
                follow_ups: Vec::new(),
                at: None,
            };
        } else {
            // An escalation or more information: still being processed.
            let last = issue
                .at("/issue_actions/complainant_actions")
                .and_then(Value::as_array)
                .and_then(|a| a.last())
                .and_then(|a| a["complainant_action"].as_str())
                .unwrap_or("OPEN")
                .to_owned();
            let action = orders.respondent(
                &record,
                "PROCESSING",
                &format!("Complaint is being processed ({})", last.to_lowercase()),
                &now,
            );
            record.respondent_actions.push(action);
            record.status = "PROCESSING".into();
            record.updated_at = now.clone();
            handled = Handled::answer(
                json!({"issue": record.to_ondc()}),
                None,
                format!("issue {id}: {last} acknowledged"),
            );
        }
        record.last_message_ms = record.last_message_ms.max(now_ms_value);
        handled.change.issue = Some(write(&record, Some(version)));
        return Ok(handled);
    }
    let order_id = issue
        .at("/order_details/id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let order = match &order_id {
        Some(order_id) => match orders.store.load_order(order_id).await? {
            Some(stored) => Some(read_order(&stored)?),
            None => None,
        },
        None => None,
    };
    let Some(order) = order.filter(|o| o.bap_id() == context.bap_id) else {
        return Ok(refused(
            &id,
            Refusal::new(
                "30018",
                format!(
                    "the issue names order {}, which this buyer app did not place here",
                    order_id.unwrap_or_default()
                ),
            ),
        ));
    };
    let duration = |pointer: &str, default_ms: i64| {
        issue
            .at(pointer)
            .and_then(Value::as_str)
            .and_then(parse_duration_ms)
            .unwrap_or(default_ms)
    };
    let created_at = issue["created_at"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| now.clone());
    let mut record = IssueRecord {
        id: id.clone(),
        context: context.raw.clone(),
        issue: issue.clone(),
        provider_id: order.provider_id.clone(),
        order_id: Some(order.id.clone()),
        status: "PROCESSING".into(),
        respondent_actions: Vec::new(),
        resolution: None,
        resolution_provider: None,
        created_at,
        updated_at: now.clone(),
        respond_by_ms: now_ms_value + duration("/expected_response_time/duration", 3_600_000),
        resolve_by_ms: now_ms_value + duration("/expected_resolution_time/duration", 86_400_000),
        responded_at_ms: Some(now_ms_value),
        resolved_at_ms: None,
        rating: None,
        last_message_ms: now_ms_value,
    };
    let action = orders.respondent(&record, "PROCESSING", "Complaint is being processed", &now);
    record.respondent_actions.push(action);
    let mut handled = Handled::answer(
        json!({"issue": record.to_ondc()}),
        None,
        format!("issue {id} about order {} is being processed", order.id),
    );
    handled.change.issue = Some(write(&record, None));
    handled.change.events.push((order.id.clone(), context.bap_id.clone(), "issue_raised".into(), json!({"issue_id": id, "category": issue["category"], "sub_category": issue["sub_category"]})));
    Ok(handled)
}

/// `issue_status`: the issue as it stands.
pub async fn issue_status(
    orders: &Orders,
    body: &Value,
    context: &RequestContext,
) -> Result<Handled, StoreError> {
    let id = body
        .at("/message/issue_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some((doc, _)) = orders.store.load_issue(&id).await? else {
        return Ok(refused(
            &id,
            Refusal::new("40000", format!("there is no issue {id}")),
        ));
    };
    let record = read_issue(&doc)?;
    if record.context.get("bap_id").and_then(Value::as_str) != Some(context.bap_id.as_str()) {
        return Ok(refused(
            &id,
            Refusal::new(
                "40000",
                format!("there is no issue {id} for this buyer app"),
            ),
        ));
    }
    Ok(Handled::answer(
        json!({"issue": record.to_ondc()}),
        None,
        format!("issue {id} is {}", record.status),
    ))
}

/// Why a seller could not resolve an issue.
#[derive(Debug)]
pub enum ResolveError {
    NotFound(String),
    Conflict(String),
    Invalid(String, String),
    Store(StoreError),
}

impl From<StoreError> for ResolveError {
    fn from(error: StoreError) -> Self {
        ResolveError::Store(error)
    }
}

/// What the seller decided.
#[derive(Debug, Clone, Deserialize)]
pub struct Resolution {
    pub action: String,
    pub short_desc: String,
    #[serde(default)]
    pub long_desc: Option<String>,
    #[serde(default)]
    pub refund_amount: Option<String>,
}

impl Orders {
    /// Resolves a grievance and tells the buyer app (unsolicited on_issue_status).
    pub async fn resolve_issue(
        &self,
        provider_id: &str,
        issue_id: &str,
        resolution: &Resolution,
    ) -> Result<IssueRecord, ResolveError> {
        if !RESOLUTIONS.contains(&resolution.action.as_str()) {
            return Err(ResolveError::Invalid(
                "action".into(),
                format!("use one of {}", RESOLUTIONS.join(", ")),
            ));
        }
        if resolution.short_desc.trim().is_empty() {
            return Err(ResolveError::Invalid(
                "short_desc".into(),
                "say in a few words how the issue was resolved".into(),
            ));
        }
        let refund = match (&resolution.action[..], &resolution.refund_amount) {
            ("REFUND", Some(amount)) => Some(
                super::money::parse(amount)
                    .filter(|v| *v > 0)
                    .ok_or_else(|| {
                        ResolveError::Invalid(
                            "refund_amount".into(),
                            "must be a positive amount such as 250.00".into(),
                        )
                    })?,
            ),
            ("REFUND", None) => {
                return Err(ResolveError::Invalid(
                    "refund_amount".into(),
                    "a refund needs its amount".into(),
                ))
            }
            _ => None,
        };
        for _ in 0..8 {
            let Some((doc, version)) = self.store.load_issue(issue_id).await? else {
                return Err(ResolveError::NotFound(format!(
                    "there is no issue {issue_id}"
                )));
            };
            let mut record = read_issue(&doc)?;
            if record.provider_id != provider_id {
                return Err(ResolveError::NotFound(format!(
                    "there is no issue {issue_id}"
                )));
            }
            if matches!(record.status.as_str(), "RESOLVED" | "CLOSED") {
                return Err(ResolveError::Conflict(format!(
                    "the issue is already {}",
                    record.status
                )));
            }
            if let (Some(amount), Some(order_id)) = (refund, &record.order_id) {
                if let Some(stored) = self.store.load_order(order_id).await? {
                    let total = read_order(&stored)?.total();
                    if amount > total {
                        return Err(ResolveError::Invalid(
                            "refund_amount".into(),
                            format!(
                                "the refund cannot exceed the order's {}",
                                super::money::format(total)
                            ),
                        ));
                    }
                }
            }
            let now = format_timestamp(Utc::now());
            let action = self.respondent(&record, "RESOLVED", &resolution.short_desc, &now);
            record.respondent_actions.push(action);
            let mut resolved = json!({
                "short_desc": resolution.short_desc,
                "long_desc": resolution.long_desc.clone().unwrap_or_else(|| resolution.short_desc.clone()),
                "action_triggered": resolution.action,
                "resolution_action": "RESOLVE",
            });
            if let Some(amount) = refund {
                resolved["refund_amount"] = json!(super::money::format(amount));
            }
            record.resolution = Some(resolved);
            let support = &self.settings.support;
            record.resolution_provider = Some(json!({"respondent_info": {
                "type": "TRANSACTION-COUNTERPARTY-NP",
                "organization": {
                    "org": {"name": format!("{}::{}", self.settings.subscriber_id, record.context.get("domain").and_then(Value::as_str).unwrap_or_default())},
                    "contact": {"phone": support.phone, "email": support.email},
                    "person": {"name": self.settings.catalog.np_name},
                },
                "resolution_support": {
                    "chat_link": support.uri,
                    "contact": {"phone": support.phone, "email": support.email},
                },
            }}));
            record.status = "RESOLVED".into();
            record.updated_at = now;
            record.resolved_at_ms = Some(now_ms());
            let message = json!({"issue": record.to_ondc()});
            let callback = self.issue_callback(&mut record, &message);
            let mut change = OrderChange {
                issue: Some(write(&record, Some(version))),
                callbacks: vec![callback],
                ..Default::default()
            };
            if let Some(order_id) = &record.order_id {
                change.events.push((
                    order_id.clone(),
                    "seller".into(),
                    "issue_resolved".into(),
                    json!({"issue_id": issue_id, "action": resolution.action}),
                ));
            }
            match self.store.commit_order_change(&change).await? {
                CommitResult::Done => return Ok(record),
                CommitResult::Conflict => continue,
                other => {
                    return Err(ResolveError::Conflict(format!(
                        "the resolution could not be written ({other:?})"
                    )))
                }
            }
        }
        Err(ResolveError::Conflict(
            "the issue kept changing; try again".into(),
        ))
    }
}
