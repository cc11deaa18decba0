//! Test-only control routes under `/_emu/` (never under an AWS path).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::lattice::json_response;
use crate::state::{lock, Injected, Shared};

fn ok(v: Value) -> Response {
    json_response(200, Some(v))
}

fn bad(status: u16, message: impl Into<String>) -> Response {
    json_response(status, Some(json!({"error": message.into()})))
}

/// The request body as a JSON object (empty = `{}`); None if it is anything else.
fn object(body: &Bytes) -> Option<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// The `count` member of an injection (default 1; 0 clears it); `None` when it is not a
/// non-negative integer.
fn count(m: &Map<String, Value>) -> Option<u32> {
    match m.get("count") {
        None => Some(1),
        Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()),
    }
}

pub async fn reset(State(s): State<Shared>) -> Response {
    lock(&s).reset();
    ok(json!({"reset": true}))
}

pub async fn state(State(s): State<Shared>) -> Response {
    let emu = lock(&s);
    let mut v = emu.lattice.dump();
    if let (Value::Object(out), Value::Object(cw)) = (&mut v, emu.cloudwatch.dump()) {
        out.extend(cw);
        out.insert(
            "config".into(),
            json!({"pollsToActive": emu.polls_to_active}),
        );
        out.insert("failNext".into(), emu.pending_injections());
    }
    ok(v)
}

pub async fn calls(State(s): State<Shared>) -> Response {
    ok(Value::Array(lock(&s).calls().to_vec()))
}

pub async fn get_config(State(s): State<Shared>) -> Response {
    ok(json!({"pollsToActive": lock(&s).polls_to_active}))
}

pub async fn set_config(State(s): State<Shared>, body: Bytes) -> Response {
    let Some(m) = object(&body) else {
        return bad(400, "body must be a JSON object");
    };
    let mut emu = lock(&s);
    if let Some(v) = m.get("pollsToActive") {
        match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => emu.polls_to_active = n,
            None => return bad(400, "pollsToActive must be a non-negative integer"),
        }
    }
    ok(json!({"pollsToActive": emu.polls_to_active}))
}

/// `{"id": <id or ARN>, "status", "failureReason"?, "failureCode"?}`. An `*_IN_PROGRESS` status
/// then settles through the normal lifecycle; any other status sticks until the next change.
pub async fn force_status(State(s): State<Shared>, body: Bytes) -> Response {
    let Some(m) = object(&body) else {
        return bad(400, "body must be a JSON object");
    };
    let (Some(id), Some(status)) = (
        m.get("id").and_then(Value::as_str),
        m.get("status").and_then(Value::as_str),
    ) else {
        return bad(400, "id and status are required");
    };
    let prefix = id
        .rsplit('/')
        .next()
        .unwrap_or(id)
        .split('-')
        .next()
        .unwrap_or_default();
    let mut allowed = vec![
        "ACTIVE",
        "CREATE_IN_PROGRESS",
        "DELETE_IN_PROGRESS",
        "CREATE_FAILED",
        "DELETE_FAILED",
    ];
    match prefix {
        "snra" => allowed.push("PARTIAL"),
        "snva" | "rgw" | "rcfg" => allowed.extend(["UPDATE_IN_PROGRESS", "UPDATE_FAILED"]),
        _ => {
            return bad(
                400,
                format!("{id} has no status (only snva, rgw, rcfg and snra do)"),
            )
        }
    }
    if !allowed.contains(&status) {
        return bad(400, format!("status must be one of {allowed:?}"));
    }
    let mut emu = lock(&s);
    let polls = emu.polls_to_active;
    let Some(life) = emu.lattice.life_by_any(id) else {
        return bad(404, format!("{id} not found"));
    };
    life.set(status, polls);
    life.failure_reason = m
        .get("failureReason")
        .and_then(Value::as_str)
        .map(str::to_string);
    life.failure_code = m
        .get("failureCode")
        .and_then(Value::as_str)
        .map(str::to_string);
    if life.failure_reason.is_some() && life.failure_code.is_none() && status.ends_with("_FAILED") {
        life.failure_code = Some("InternalError".into());
    }
    ok(json!({"id": id, "state": life.state_json()}))
}

/// `{"op", "error", "count"?, "httpStatus"?, "message"?}`: the next `count` (default 1) calls of
/// `op` fail with `error`; `count: 0` clears it.
pub async fn fail_next(State(s): State<Shared>, body: Bytes) -> Response {
    let Some(m) = object(&body) else {
        return bad(400, "body must be a JSON object");
    };
    let (Some(op), Some(error)) = (
        m.get("op").and_then(Value::as_str),
        m.get("error").and_then(Value::as_str),
    ) else {
        return bad(400, "op and error are required");
    };
    let default_status = match error {
        "ThrottlingException" => 429,
        "InternalServerException" => 500,
        "ConflictException" => 409,
        "ResourceNotFoundException" => 404,
        "AccessDeniedException" => 403,
        "ServiceQuotaExceededException" => 402,
        _ => 400,
    };
    let status = match m.get("httpStatus") {
        None => default_status,
        Some(v) => match v.as_u64().filter(|n| (400..600).contains(n)) {
            Some(n) => n as u16,
            None => return bad(400, "httpStatus must be 400-599"),
        },
    };
    let Some(count) = count(&m) else {
        return bad(400, "count must be a non-negative integer");
    };
    let message = m
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("Injected {error} for {op}"));
    let mut emu = lock(&s);
    emu.inject(
        op,
        Injected {
            error: error.to_string(),
            status,
            message,
            count,
        },
    );
    ok(json!({"op": op, "error": error, "httpStatus": status, "count": count}))
}

/// `{"op", "ms", "count"?}`: the next `count` (default 1) calls of `op` are held `ms` (at most
/// 60 000) before they are served; `count: 0` clears it.
pub async fn delay_next(State(s): State<Shared>, body: Bytes) -> Response {
    let Some(m) = object(&body) else {
        return bad(400, "body must be a JSON object");
    };
    let Some(op) = m.get("op").and_then(Value::as_str) else {
        return bad(400, "op is required");
    };
    let Some(ms) = m
        .get("ms")
        .and_then(Value::as_u64)
        .filter(|ms| *ms <= 60_000)
    else {
        return bad(400, "ms must be an integer from 0 to 60000");
    };
    let Some(count) = count(&m) else {
        return bad(400, "count must be a non-negative integer");
    };
    lock(&s).delay(op, ms, count);
    ok(json!({"op": op, "ms": ms, "count": count}))
}

pub async fn unknown() -> Response {
    bad(404, "unknown control route")
}

// ---- the data plane (src/dataplane): what the local stack tells it ----

pub async fn dataplane(State(s): State<Shared>) -> Response {
    ok(lock(&s).dataplane.dump())
}

/// `{"networkInterfaceId"}`: a client host, identified by its ENI in moto (its VPC, IP and
/// security groups are read from there at each refresh).
pub async fn dataplane_client(State(s): State<Shared>, body: Bytes) -> Response {
    let Some(m) = object(&body) else {
        return bad(400, "body must be a JSON object");
    };
    let Some(eni) = m
        .get("networkInterfaceId")
        .and_then(Value::as_str)
        .filter(|e| e.starts_with("eni-"))
    else {
        return bad(400, "networkInterfaceId (eni-…) is required");
    };
    let mut emu = lock(&s);
    if !emu.dataplane.clients.iter().any(|c| c == eni) {
        emu.dataplane.clients.push(eni.to_string());
    }
    ok(json!({"networkInterfaceId": eni}))
}

/// `{"name", "ip"}`: what a DNS name resolves to now (`ip: null` removes it).
pub async fn dataplane_host(State(s): State<Shared>, body: Bytes) -> Response {
    let Some(m) = object(&body) else {
        return bad(400, "body must be a JSON object");
    };
    let Some(name) = m
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return bad(400, "name is required");
    };
    let name = name.to_ascii_lowercase();
    let mut emu = lock(&s);
    match m.get("ip") {
        None | Some(Value::Null) => {
            emu.dataplane.hosts.remove(&name);
        }
        Some(v) => match v.as_str().and_then(|ip| ip.parse().ok()) {
            Some(ip) => {
                emu.dataplane.hosts.insert(name.clone(), ip);
            }
            None => return bad(400, "ip must be an IPv4 address or null"),
        },
    }
    ok(json!({"name": name, "ip": emu.dataplane.hosts.get(&name).map(|ip| ip.to_string())}))
}

/// `{"ip", "port", "address", "dbInstanceIdentifier"}`: the local server that stands in for the
/// database at that VPC address (`address: null` removes it).
pub async fn dataplane_network(State(s): State<Shared>, body: Bytes) -> Response {
    let Some(m) = object(&body) else {
        return bad(400, "body must be a JSON object");
    };
    let ip = m
        .get("ip")
        .and_then(Value::as_str)
        .and_then(|ip| ip.parse().ok());
    let port = m
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok());
    let (Some(ip), Some(port)) = (ip, port) else {
        return bad(400, "ip (IPv4) and port are required");
    };
    let mut emu = lock(&s);
    match m.get("address") {
        None | Some(Value::Null) => {
            emu.dataplane.network.remove(&(ip, port));
        }
        Some(v) => {
            let address = v.as_str().and_then(|a| a.parse().ok());
            let db = m.get("dbInstanceIdentifier").and_then(Value::as_str);
            let (Some(address), Some(db)) = (address, db) else {
                return bad(
                    400,
                    "address (host:port) and dbInstanceIdentifier are required",
                );
            };
            emu.dataplane.network.insert(
                (ip, port),
                crate::dataplane::Backend {
                    address,
                    db_instance: db.to_string(),
                },
            );
        }
    }
    ok(json!({"ip": ip.to_string(), "port": port}))
}

/// Re-reads EC2/RDS and the Lattice state and applies it now; answers with the data plane's state.
pub async fn dataplane_sync(State(s): State<Shared>) -> Response {
    let Some(tx) = lock(&s).dataplane.sync.clone() else {
        return bad(
            409,
            "the data plane is off: start the emulator with --moto <url>",
        );
    };
    let (done, wait) = tokio::sync::oneshot::channel();
    if tx.send(done).is_err() || wait.await.is_err() {
        return bad(500, "the data plane's loop has stopped");
    }
    ok(lock(&s).dataplane.dump())
}
