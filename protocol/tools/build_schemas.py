#!/usr/bin/env python3
"""Turn the pinned ONDC retail 1.2.5 OpenAPI files into the JSON request schemas Haat validates against.

Run from the repository root:  python3 protocol/tools/build_schemas.py
Output: protocol/schemas/ret-1.2.5-<DOMAIN>.json, one document per domain:
  {"_about": ..., "components": {"schemas": {...}}, "requests": {"<action>": <schema>, ...}}
The Rust code compiles each request schema with the components beside it, so the
"#/components/schemas/..." references resolve inside the same document.

What is changed, and why (each change is also listed in the output's "_patches"):
  * Context.action gains the IGM actions (issue, on_issue, issue_status, on_issue_status), rating,
    support and catalog_rejection with their callbacks: the pinned files route /issue through the
    retail Context but their action enum lists only the retail order actions, so a correct
    IGM request would fail its own schema.
  * /rating, /support and /catalog_rejection (and on_rating, on_support) are not in the 1.2.5
    files. Their schemas are written here from the 1.2.0 bundle (ret-1.2.0-build.yaml: Rating,
    /support, /on_rating, /on_support) and from the catalog_rejection shape in RETAIL-DIGEST.md 2.1.
  * The finder fee type enum (Intent payment and order payment) accepts the lower-case
    "percent"/"amount" beside "Percent"/"Amount": ONDC's validators and every live log use
    lower case, and RETAIL-DIGEST.md section 5 says to compare case-insensitively.
  * The search Intent accepts the 1.2.0 "provider" filter ({id, descriptor.name}), which 1.2.5
    dropped; RETAIL-DIGEST.md section 5 says to support it leniently.
  * /update's fulfillment type accepts "Cancel" and "RTO" beside "Delivery"/"Return": the
    refund update of RETAIL-DIGEST.md section 9 points at the Cancel or RTO fulfillment.
  * Fulfillment type enums accept "Cancel", "Return" and "RTO": on_cancel, on_update and
    on_status carry those fulfillments (RETAIL-DIGEST.md sections 10, 11), which the
    OpenAPI enums never list.
  * Fulfillment type enums accept "Self-Pickup", "Buyer-Delivery" and "Delivery and
    Self-Pickup" beside the OpenAPI's "Pickup": the validators and the digest (sections 5,
    6.1) use those names.
Nothing else is touched: patterns, required lists and the other enums are ONDC's.
"""
import json
import pathlib
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "protocol" / "openapi"
OUT = ROOT / "protocol" / "schemas"

EXTRA_ACTIONS = [
    "issue", "on_issue", "issue_status", "on_issue_status",
    "rating", "on_rating", "support", "on_support", "catalog_rejection",
]

CONTEXT_REF = {"$ref": "#/components/schemas/Context"}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def envelope(message_schema, message_required=True):
    return {
        "type": "object",
        "properties": {"context": CONTEXT_REF, "message": message_schema, "error": ERROR_REF},
        "required": ["context", "message"] if message_required else ["context"],
    }


AUTHORED = {
    "rating": envelope({
        "type": "object",
        "properties": {
            "rating_category": {"type": "string"},
            "id": {"type": "string"},
            "value": {"type": "number", "minimum": 1, "maximum": 5},
            "feedback_form": {"type": "array"},
            "feedback_id": {"type": "string"},
        },
        "required": ["rating_category", "id", "value"],
    }),
    "on_rating": envelope({
        "type": "object",
        "properties": {
            "feedback_ack": {"type": "boolean"},
            "rating_ack": {"type": "boolean"},
        },
    }, message_required=False),
    "support": envelope({
        "type": "object",
        "properties": {"ref_id": {"type": "string"}},
        "required": ["ref_id"],
    }),
    "on_support": envelope({
        "type": "object",
        "properties": {
            "phone": {"type": "string"},
            "email": {"type": "string"},
            "uri": {"type": "string"},
        },
    }, message_required=False),
    "catalog_rejection": envelope({
        "type": "object",
        "properties": {
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "type": {"type": "string", "enum": [
                            "PROVIDER-ERROR", "ITEM-ERROR", "INTEGRATION-ERROR", "BPP-ERROR"]},
                        "path": {"type": "string"},
                        "message": {"type": "string"},
                    },
                    "required": ["code", "type"],
                },
            },
        },
        "required": ["errors"],
    }),
}


ENUM_WIDENINGS = {
    "Percent": ["percent", "amount"],
    "Pickup": ["Self-Pickup", "Buyer-Delivery", "Delivery and Self-Pickup"],
    # /update's fulfillment type: a buyer app's refund update names the Cancel (or RTO)
    # fulfillment whose money it settled (RETAIL-DIGEST.md section 9).
    "Return": ["Cancel", "RTO"],
    # The seller's callbacks carry Cancel, Return and RTO fulfillments beside the delivery
    # (RETAIL-DIGEST.md sections 10 and 11; every live on_cancel/on_update log has them).
    "Delivery": ["Cancel", "Return", "RTO"],
}


def widen_enums(node):
    if isinstance(node, dict):
        values = node.get("enum")
        if isinstance(values, list):
            for marker, extra in ENUM_WIDENINGS.items():
                if marker in values:
                    values.extend(v for v in extra if v not in values)
        for child in node.values():
            widen_enums(child)
    elif isinstance(node, list):
        for child in node:
            widen_enums(child)


def build(domain: str) -> dict:
    doc = yaml.safe_load((OPENAPI / f"ret-1.2.5-{domain}.openapi.yaml").read_text())
    schemas = doc["components"]["schemas"]
    action = schemas["Context"]["properties"]["action"]
    for extra in EXTRA_ACTIONS:
        if extra not in action["enum"]:
            action["enum"].append(extra)
    widen_enums(doc)
    schemas["Intent"]["properties"].setdefault("provider", {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "descriptor": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
    })
    requests = {}
    for path, item in doc["paths"].items():
        body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        requests[path.lstrip("/")] = body
    for name, schema in AUTHORED.items():
        requests.setdefault(name, schema)
    return {
        "_about": f"Request schemas for ONDC retail 1.2.5 {domain}, generated by protocol/tools/build_schemas.py "
                  f"from protocol/openapi/ret-1.2.5-{domain}.openapi.yaml. Do not edit by hand.",
        "_patches": [
            "Context.action enum extended with " + ", ".join(EXTRA_ACTIONS),
            "rating, on_rating, support, on_support, catalog_rejection authored from the 1.2.0 bundle and the digest",
            "finder fee type enums also accept percent/amount (validators and live logs use lower case)",
            "fulfillment type enums also accept Self-Pickup, Buyer-Delivery, Delivery and Self-Pickup (validators)",
            "update fulfillment type also accepts Cancel and RTO (refund updates, digest section 9)",
            "fulfillment type enums also accept Cancel, Return and RTO (seller callbacks, digest sections 10-11)",
            "search Intent also accepts the 1.2.0 provider filter (digest section 5: support it leniently)",
        ],
        "components": {"schemas": schemas},
        "requests": requests,
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for domain in ("RET10", "RET12", "RET16"):
        out = OUT / f"ret-1.2.5-{domain}.json"
        out.write_text(json.dumps(build(domain), ensure_ascii=False, sort_keys=False, default=str) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
