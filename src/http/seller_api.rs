//! The seller's JSON API under `/api/v1/`, described by `/api/v1/openapi.json`. Each seller
//! authenticates with its own bearer token (`haat sellers token PROVIDER_ID`) and sees and
//! acts on only its own orders, grievances and catalogue. Actions the network must hear about
//! go out through the outbox; an action the order's state does not allow is answered 409
//! with the reason, a bad body 400 naming the field.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use blake2::{Blake2b512, Digest};
use serde_json::{json, Value};

use crate::orders::igm::{IssueRecord, Resolution, ResolveError};
use crate::orders::seller::SellerError;
use crate::orders::{money, read_order, Orders};
use crate::startup::AppState;
use crate::store::StoreError;

const OPENAPI: &str = include_str!("seller_openapi.json");

/// The stored form of a token: BLAKE2b-512 in hex, so a leaked database reveals no token.
pub fn token_hash(token: &str) -> String {
    let digest = Blake2b512::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token: "haat_" and 43 URL-safe characters (256 bits).
pub fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "haat_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/api/v1")
            .service(endpoint("/openapi.json", "GET").route(web::get().to(openapi)))
            .service(endpoint("/orders", "GET").route(web::get().to(list_orders)))
            .service(endpoint("/orders/{order_id}", "GET").route(web::get().to(get_order)))
            .service(endpoint("/orders/{order_id}/accept", "POST").route(web::post().to(accept)))
            .service(endpoint("/orders/{order_id}/state", "POST").route(web::post().to(set_state)))
            .service(endpoint("/orders/{order_id}/cancel", "POST").route(web::post().to(cancel)))
            .service(
                endpoint("/orders/{order_id}/returns/{return_id}/approve", "POST")
                    .route(web::post().to(approve_return)),
            )
            .service(
                endpoint("/orders/{order_id}/returns/{return_id}/reject", "POST")
                    .route(web::post().to(reject_return)),
            )
            .service(
                endpoint("/orders/{order_id}/returns/{return_id}/state", "POST")
                    .route(web::post().to(return_state)),
            )
            .service(endpoint("/issues", "GET").route(web::get().to(list_issues)))
            .service(endpoint("/issues/{issue_id}", "GET").route(web::get().to(get_issue)))
            .service(
                endpoint("/issues/{issue_id}/resolve", "POST").route(web::post().to(resolve_issue)),
            )
            .service(endpoint("/catalog/items", "GET").route(web::get().to(list_items)))
            .service(
                endpoint("/catalog/items/{item_id}", "PATCH").route(web::patch().to(change_item)),
            )
            .default_service(web::to(|| async {
                Answer::Err(not_found(
                    "there is no such seller API endpoint; see /api/v1/openapi.json",
                ))
            })),
    );
}

/// An endpoint of the API, which answers any method but `allow` with 405 and an `Allow`
/// header (instead of the scope's 404, which would say the path does not exist).
fn endpoint(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Answer::Err(ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            field: None,
            message: format!("this endpoint only answers {allow}; see /api/v1/openapi.json"),
            allow: Some(allow),
        })
    }))
}

/// An answer that is not a success: the status, a short code, the field at fault, and words.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    field: Option<String>,
    message: String,
    /// The methods a 405's endpoint answers.
    allow: Option<&'static str>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = &self.field {
            error["field"] = json!(field);
        }
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header(("WWW-Authenticate", "Bearer realm=\"haat seller API\""));
        }
        if let Some(allow) = self.allow {
            response.insert_header(("Allow", allow));
        }
        response.json(json!({"error": error}))
    }
}

type Answer = Result<HttpResponse, ApiError>;

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        field: None,
        message: message.into(),
        allow: None,
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        field: None,
        message: message.into(),
        allow: None,
    }
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        code: "not_allowed_now",
        field: None,
        message: message.into(),
        allow: None,
    }
}

/// 400, naming the field at fault (None: the body as a whole).
fn invalid(field: Option<&str>, message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_body",
        field: field.map(str::to_owned),
        message: message.into(),
        allow: None,
    }
}

/// 400 for the query string, naming the parameter at fault.
fn bad_parameter(parameter: Option<&str>, message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_parameter",
        field: parameter.map(str::to_owned),
        message: message.into(),
        allow: None,
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::warn!(error = %error, "seller API request failed on the store");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "store_unavailable",
            field: None,
            message: "the store could not be reached; try again shortly".into(),
            allow: None,
        }
    }
}

impl From<SellerError> for ApiError {
    fn from(error: SellerError) -> Self {
        match error {
            SellerError::NotFound(message) => not_found(message),
            SellerError::Conflict(message) => conflict(message),
            SellerError::Invalid(field, message) => invalid(Some(&field), message),
            SellerError::Store(error) => error.into(),
        }
    }
}

impl From<ResolveError> for ApiError {
    fn from(error: ResolveError) -> Self {
        match error {
            ResolveError::NotFound(message) => not_found(message),
            ResolveError::Conflict(message) => conflict(message),
            ResolveError::Invalid(field, message) => invalid(Some(&field), message),
            ResolveError::Store(error) => error.into(),
        }
    }
}

/// The provider the request's bearer token belongs to.
async fn seller(request: &HttpRequest, state: &AppState) -> Result<String, ApiError> {
    let header = request
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(token) = header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(unauthorized(
            "send your seller token as 'Authorization: Bearer <token>' (issue one with `haat sellers token PROVIDER_ID`)",
        ));
    };
    state
        .store
        .token_provider(&token_hash(token))
        .await?
        .ok_or_else(|| unauthorized("this token is not valid (unknown or revoked)"))
}

/// Reads a JSON object body; an empty body is `{}`.
fn body_object(body: &web::Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid(None, "the body must be a JSON object")),
        Err(error) => Err(invalid(
            None,
            format!("the body is not valid JSON: {error}"),
        )),
    }
}

fn optional_text(
    body: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid(
            Some(field),
            format!("\"{field}\" must be a string"),
        )),
    }
}

fn required_text(body: &serde_json::Map<String, Value>, field: &str) -> Result<String, ApiError> {
    optional_text(body, field)?
        .ok_or_else(|| invalid(Some(field), format!("\"{field}\" is required")))
}

fn orders(state: &AppState) -> Orders {
    Orders::new(state.store.clone(), state.settings.clone())
}

fn order_view(order: &crate::orders::record::Order) -> Value {
    json!({
        "id": order.id,
        "state": order.state,
        "fulfillment_state": order.forward.state,
        "total": money::format(order.total()),
        "order": order.to_ondc(),
    })
}

/// A changed order, after waking the outbox for the callback it queued.
fn changed(state: &AppState, order: &crate::orders::record::Order) -> Answer {
    state.outbox_wakeup.notify_one();
    Ok(HttpResponse::Ok().json(order_view(order)))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

/// What a list endpoint's query string asks for: one filter and how many rows.
#[derive(Debug, PartialEq)]
struct ListQuery {
    filter: Option<String>,
    limit: i64,
}

/// The order states, and the delivery fulfilment states, `GET /orders?state=` filters on.
static ORDER_FILTERS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut filters = vec![
        "Created",
        "Accepted",
        "In-progress",
        "Completed",
        "Cancelled",
    ];
    filters.extend(
        crate::orders::lifecycle::FORWARD_STATES
            .iter()
            .filter(|state| **state != "Cancelled"),
    );
    filters
});

/// The grievance statuses `GET /issues?status=` filters on.
const ISSUE_FILTERS: [&str; 3] = ["PROCESSING", "RESOLVED", "CLOSED"];

/// Reads `limit` (1 to 1000, 100 if absent) and the one filter parameter `name`, whose value
/// must be one of `values`. A parameter the endpoint does not know, a second copy of one, or a
/// value out of range is a 400 naming the parameter, rather than a list that silently ignores
/// what the seller asked for.
fn list_query(query: &str, name: &str, values: &[&str]) -> Result<ListQuery, ApiError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|e| bad_parameter(None, format!("the query string cannot be read: {e}")))?
        .into_inner();
    let mut read = ListQuery {
        filter: None,
        limit: 100,
    };
    let mut seen = Vec::new();
    for (key, value) in pairs {
        if seen.contains(&key) {
            return Err(bad_parameter(
                Some(&key),
                format!("\"{key}\" is given more than once"),
            ));
        }
        if key == "limit" {
            read.limit = value
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    bad_parameter(
                        Some("limit"),
                        format!("\"limit\" must be a whole number from 1 to 1000, not {value:?}"),
                    )
                })?;
        } else if key == name {
            if !values.contains(&value.as_str()) {
                return Err(bad_parameter(
                    Some(name),
                    format!(
                        "{value:?} is not a {name} to filter on; use one of {}",
                        values.join(", ")
                    ),
                ));
            }
            read.filter = Some(value);
        } else {
            return Err(bad_parameter(
                Some(&key),
                format!("this list has no parameter \"{key}\"; it takes \"{name}\" and \"limit\""),
            ));
        }
        seen.push(key);
    }
    Ok(read)
}

async fn list_orders(request: HttpRequest, state: web::Data<AppState>) -> Answer {
    let provider = seller(&request, &state).await?;
    let query = list_query(request.query_string(), "state", &ORDER_FILTERS)?;
    let rows = state
        .store
        .list_orders(&provider, query.filter.as_deref(), query.limit)
        .await?;
    Ok(HttpResponse::Ok().json(json!({"orders": rows})))
}

async fn get_order(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Answer {
    let provider = seller(&request, &state).await?;
    let order_id = path.into_inner();
    let missing = || not_found(format!("there is no order {order_id}"));
    let stored = state
        .store
        .load_order(&order_id)
        .await?
        .ok_or_else(missing)?;
    let order = read_order(&stored)?;
    if order.provider_id != provider {
        return Err(missing());
    }
    let history = state.store.order_events(&order_id).await?;
    let messages: Vec<Value> = state
        .store
        .transaction_messages(order.transaction_id())
        .await?
        .into_iter()
        .map(|(at, direction, action, message_id, state)| {
            json!({"at": at, "direction": direction, "action": action, "message_id": message_id, "state": state})
        })
        .collect();
    let mut view = order_view(&order);
    view["history"] = json!(history);
    view["messages"] = json!(messages);
    Ok(HttpResponse::Ok().json(view))
}

async fn accept(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Answer {
    let provider = seller(&request, &state).await?;
    let order = orders(&state)
        .seller_accept(&provider, &path.into_inner())
        .await?;
    changed(&state, &order)
}

async fn set_state(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Answer {
    let provider = seller(&request, &state).await?;
    let fields = body_object(&body)?;
    let to = required_text(&fields, "state")?;
    let reason = optional_text(&fields, "reason_code")?;
    let order = orders(&state)
        .seller_set_state(&provider, &path.into_inner(), &to, reason.as_deref())
        .await?;
    changed(&state, &order)
}

async fn cancel(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Answer {
    let provider = seller(&request, &state).await?;
    let fields = body_object(&body)?;
    let reason = required_text(&fields, "reason_code")?;
    let items: Option<Vec<String>> = match fields.get("item_ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => Some(
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        Some(_) => {
            return Err(invalid(
                Some("item_ids"),
                "\"item_ids\" must be a list of item ids",
            ))
        }
    };
    let order = orders(&state)
        .seller_cancel(&provider, &path.into_inner(), &reason, items.as_deref())
        .await?;
    changed(&state, &order)
}

async fn move_return(
    request: HttpRequest,
    state: web::Data<AppState>,
    (order_id, return_id): (String, String),
    to: &str,
    reason: Option<String>,
) -> Answer {
    let provider = seller(&request, &state).await?;
    let order = orders(&state)
        .seller_return(&provider, &order_id, &return_id, to, reason.as_deref())
        .await?;
    changed(&state, &order)
}

async fn approve_return(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Answer {
    move_return(request, state, path.into_inner(), "Return_Approved", None).await
}

async fn reject_return(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Answer {
    let fields = body_object(&body)?;
    let reason = required_text(&fields, "reason")?;
    move_return(
        request,
        state,
        path.into_inner(),
        "Return_Rejected",
        Some(reason),
    )
    .await
}

async fn return_state(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Answer {
    let fields = body_object(&body)?;
    let to = required_text(&fields, "state")?;
    let reason = optional_text(&fields, "reason")?;
    move_return(request, state, path.into_inner(), &to, reason).await
}

fn issue_view(record: &IssueRecord) -> Value {
    let now = crate::store::now_ms();
    json!({
        "id": record.id,
        "order_id": record.order_id,
        "status": record.status,
        "category": record.issue["category"],
        "sub_category": record.issue["sub_category"],
        "description": record.issue["description"],
        "respond_by": record.respond_by_ms,
        "resolve_by": record.resolve_by_ms,
        "responded_at": record.responded_at_ms,
        "resolved_at": record.resolved_at_ms,
        "overdue": record.resolved_at_ms.is_none() && record.status != "CLOSED" && now > record.resolve_by_ms,
        "rating": record.rating,
        "issue": record.to_ondc(),
    })
}

async fn list_issues(request: HttpRequest, state: web::Data<AppState>) -> Answer {
    let provider = seller(&request, &state).await?;
    let query = list_query(request.query_string(), "status", &ISSUE_FILTERS)?;
    let rows = state
        .store
        .list_issues(&provider, query.filter.as_deref(), query.limit)
        .await?;
    let issues: Vec<Value> = rows
        .iter()
        .filter_map(|(doc, ..)| serde_json::from_str::<IssueRecord>(doc).ok())
        .map(|r| issue_view(&r))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"issues": issues})))
}

async fn get_issue(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Answer {
    let provider = seller(&request, &state).await?;
    let issue_id = path.into_inner();
    let record = state
        .store
        .load_issue(&issue_id)
        .await?
        .and_then(|(doc, _)| serde_json::from_str::<IssueRecord>(&doc).ok())
        .filter(|record| record.provider_id == provider)
        .ok_or_else(|| not_found(format!("there is no issue {issue_id}")))?;
    Ok(HttpResponse::Ok().json(issue_view(&record)))
}

async fn resolve_issue(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Answer {
    let provider = seller(&request, &state).await?;
    let fields = body_object(&body)?;
    let resolution = Resolution {
        action: required_text(&fields, "action")?,
        short_desc: required_text(&fields, "short_desc")?,
        long_desc: optional_text(&fields, "long_desc")?,
        refund_amount: optional_text(&fields, "refund_amount")?,
    };
    let record = orders(&state)
        .resolve_issue(&provider, &path.into_inner(), &resolution)
        .await?;
    state.outbox_wakeup.notify_one();
    Ok(HttpResponse::Ok().json(issue_view(&record)))
}

async fn list_items(request: HttpRequest, state: web::Data<AppState>) -> Answer {
    let provider = seller(&request, &state).await?;
    let items: Vec<Value> = state
        .store
        .provider_items(&provider)
        .await?
        .into_iter()
        .map(|(doc, stock, enabled)| {
            let item: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
            json!({"id": item["id"], "name": item["name"], "domain": item["domain"], "price": item["price"],
                "mrp": item["mrp"], "stock": stock, "enabled": enabled})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}

async fn change_item(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Answer {
    let provider = seller(&request, &state).await?;
    let fields = body_object(&body)?;
    let item_id = path.into_inner();
    let missing = || not_found(format!("you have no item {item_id}"));
    let (doc, _) = state
        .store
        .item_doc(&provider, &item_id)
        .await?
        .ok_or_else(missing)?;
    let stock = match fields.get("stock") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
            invalid(Some("stock"), "\"stock\" must be a whole number, 0 or more")
        })?),
    };
    let price = optional_text(&fields, "price")?;
    if stock.is_none() && price.is_none() {
        return Err(invalid(None, "send \"stock\", \"price\" or both"));
    }
    if let Some(price) = &price {
        let mut item: crate::catalog::model::Item =
            serde_json::from_str(&doc).map_err(|_| ApiError::from(StoreError::WriterGone))?;
        let new = money::parse(price)
            .filter(|p| *p > 0)
            .ok_or_else(|| invalid(Some("price"), "\"price\" must be an amount such as 450.00"))?;
        if money::parse(&item.mrp).is_some_and(|mrp| new > mrp) {
            return Err(invalid(
                Some("price"),
                format!("the price cannot be above the MRP of {}", item.mrp),
            ));
        }
        item.price = money::format(new);
        let doc = serde_json::to_string(&item).expect("items serialize");
        state.store.set_item_doc(&provider, &item_id, &doc).await?;
    }
    if let Some(stock) = stock {
        state
            .store
            .set_item_stock(&provider, &item_id, stock)
            .await?;
    }
    let (doc, stock) = state
        .store
        .item_doc(&provider, &item_id)
        .await?
        .ok_or_else(missing)?;
    let item: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
    Ok(HttpResponse::Ok()
        .json(json!({"id": item_id, "price": item["price"], "mrp": item["mrp"], "stock": stock})))
}
