//! A test-support emulator for what moto lacks: VPC Lattice (restJson1) and CloudWatch
//! (Smithy RPC v2 CBOR). See `/_emu/*` in `control` for the test-only control API.

pub mod cbor;
pub mod cloudwatch;
pub mod control;
pub mod cwproto;
pub mod dataplane;
pub mod ids;
pub mod lattice;
pub mod life;
pub mod smithy;
pub mod state;
pub mod validate;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use state::Options;
use state::{lock, Emu, Shared};

/// A server started in-process (for tests); it stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub shared: Shared,
    handle: JoinHandle<()>,
}

impl Running {
    /// `http://127.0.0.1:<port>`, for `endpoint_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn cloudwatch_op(
    State(s): State<Shared>,
    Path(op): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    hold(&s, &op).await;
    cloudwatch::handle(
        &mut lock(&s),
        cloudwatch::Protocol::Cbor,
        &op,
        &headers,
        &body,
    )
}

/// `POST /`: CloudWatch over awsJson1_0 (`X-Amz-Target`) or awsQuery (form `Action=`); anything
/// else is a Lattice request (and an unknown operation there).
async fn root_post(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match cloudwatch::root_operation(&headers, &body).filter(|_| method == Method::POST) {
        Some((proto, op)) => {
            hold(&s, &op).await;
            cloudwatch::handle(&mut lock(&s), proto, &op, &headers, &body)
        }
        None => lattice::handle(&mut lock(&s), &method, &uri, &headers, &body),
    }
}

/// Waits out a `/_emu/delay-next` for `op` (never while holding the lock), so a test can keep a
/// call in flight while something else happens.
async fn hold(s: &Shared, op: &str) {
    let delay = lock(s).take_delay(op);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
}

async fn lattice_op(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(op) = lattice::operation(&method, &uri) {
        hold(&s, op).await;
    }
    lattice::handle(&mut lock(&s), &method, &uri, &headers, &body)
}

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/_emu/reset", post(control::reset))
        .route("/_emu/state", get(control::state))
        .route("/_emu/calls", get(control::calls))
        .route(
            "/_emu/config",
            get(control::get_config).post(control::set_config),
        )
        .route("/_emu/force-status", post(control::force_status))
        .route("/_emu/fail-next", post(control::fail_next))
        .route("/_emu/delay-next", post(control::delay_next))
        .route("/_emu/dataplane", get(control::dataplane))
        .route("/_emu/dataplane/clients", post(control::dataplane_client))
        .route("/_emu/dataplane/hosts", post(control::dataplane_host))
        .route("/_emu/dataplane/network", post(control::dataplane_network))
        .route("/_emu/dataplane/sync", post(control::dataplane_sync))
        .route("/_emu/{*rest}", any(control::unknown))
        .route(
            "/service/GraniteServiceVersion20100801/operation/{op}",
            post(cloudwatch_op),
        )
        .route("/", any(root_post))
        .fallback(lattice_op)
        .with_state(shared)
}

pub fn new_state(opts: Options) -> Shared {
    Arc::new(Mutex::new(Emu::new(opts)))
}

/// Serves on `listener` until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, shared: Shared) -> std::io::Result<()> {
    axum::serve(listener, router(shared)).await
}

/// Binds `127.0.0.1:<port>` (0 = any free port) and serves on a spawned task.
pub async fn start(port: u16, opts: Options) -> std::io::Result<Running> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let shared = new_state(opts);
    let task_state = shared.clone();
    let handle = tokio::spawn(async move {
        let _ = serve(listener, task_state).await;
    });
    Ok(Running {
        addr,
        shared,
        handle,
    })
}
