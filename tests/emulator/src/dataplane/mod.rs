//! The VPC Lattice data plane, locally: for each ACTIVE service-network resource association and
//! each registered client, a TCP listener on a loopback address of its own (127.<octet>.x.y) (the association's DNS
//! name "resolves" there for that client). Each connection is checked against the security groups
//! on every hop, read from moto, and forwarded to what the resource configuration names *at
//! connection time*, through the stack's resolver map (`hosts`: DNS name → IP) and network map
//! (`network`: IP and port → the local server standing in for the database there).
//!
//! What differs from AWS, on purpose or by lack of knowledge, is listed in tests/emulator/README.md.

pub mod policy;
pub mod view;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::lattice::Store;
use crate::state::{lock, Shared};
use policy::{check, Direction, Peer};
use view::{Cidr, Moto, View};

/// How often the data plane re-reads EC2/RDS and the Lattice state while it has clients. Rule
/// changes take effect within this (AWS applies them within seconds, too); `/_emu/dataplane/sync`
/// applies them at once.
pub const REFRESH: Duration = Duration::from_millis(250);
/// Ports listened on per resource configuration, at most (a configuration may name a range).
const MAX_PORTS: usize = 16;
/// Decisions kept for `/_emu/dataplane`.
const LOG_KEEP: usize = 500;
/// The range VPC Lattice gives a resource's address in a client VPC (in the managed prefix list).
const LATTICE_RANGE: [u8; 2] = [129, 224];

/// Where the database at one VPC address listens locally.
#[derive(Clone, Debug)]
pub struct Backend {
    pub address: SocketAddr,
    pub db_instance: String,
}

/// One (client, association) listener set.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub client: String,
    pub association: String,
    pub dns_name: String,
    pub address: Ipv4Addr,
    /// The association's address as the client's VPC sees it (in 129.224.0.0/17).
    pub lattice_ip: Ipv4Addr,
    pub ports: Vec<u16>,
}

#[derive(Default)]
pub struct Registry {
    /// Registered clients: ENI ids.
    pub clients: Vec<String>,
    pub hosts: BTreeMap<String, Ipv4Addr>,
    pub network: BTreeMap<(Ipv4Addr, u16), Backend>,
    addresses: BTreeMap<(String, String), u32>,
    next: u32,
    pub view: Option<Arc<View>>,
    pub endpoints: Vec<Endpoint>,
    pub log: Vec<Value>,
    /// Set when the data plane runs (the emulator was started with `--moto`).
    pub sync: Option<mpsc::UnboundedSender<oneshot::Sender<()>>>,
    pub view_error: Option<String>,
    /// The second octet of this emulator's listener addresses (127.<octet>.x.y), drawn at start so
    /// that two local stacks on one machine do not collide.
    pub octet: u8,
    /// Bumped by every reset, so a read that straddles one is dropped.
    pub generation: u64,
}

impl Registry {
    /// Back to empty, keeping the running loop.
    pub fn reset(&mut self) {
        let (sync, octet, generation) = (self.sync.take(), self.octet, self.generation + 1);
        *self = Registry {
            sync,
            octet,
            generation,
            ..Registry::default()
        };
    }

    fn slot(&mut self, client: &str, association: &str) -> u32 {
        let key = (client.to_string(), association.to_string());
        if let Some(n) = self.addresses.get(&key) {
            return *n;
        }
        self.next += 1;
        self.addresses.insert(key, self.next);
        self.next
    }

    fn record(&mut self, entry: Value) {
        eprintln!("dataplane: {entry}");
        self.log.push(entry);
        if self.log.len() > LOG_KEEP {
            self.log.remove(0);
        }
    }

    pub fn dump(&self) -> Value {
        json!({
            "enabled": self.sync.is_some(),
            "clients": self.clients,
            "hosts": self.hosts.iter().map(|(k, v)| (k.clone(), v.to_string())).collect::<BTreeMap<_, _>>(),
            "network": self.network.iter().map(|((ip, port), b)| json!({
                "ip": ip.to_string(), "port": port, "address": b.address.to_string(),
                "dbInstanceIdentifier": b.db_instance,
            })).collect::<Vec<_>>(),
            "endpoints": self.endpoints.iter().map(|e| json!({
                "client": e.client, "associationId": e.association, "dnsName": e.dns_name,
                "address": e.address.to_string(), "latticeAddress": e.lattice_ip.to_string(),
                "ports": e.ports,
            })).collect::<Vec<_>>(),
            "viewReadAt": self.view.as_ref().map(|v| v.read_at),
            "viewError": self.view_error,
            "log": self.log,
        })
    }
}

fn slot_address(prefix: [u8; 2], n: u32) -> Ipv4Addr {
    Ipv4Addr::new(prefix[0], prefix[1], (n >> 8) as u8, (n & 0xff) as u8)
}

/// The ports a configuration serves: its port ranges, or for an `arn` one the database's port.
fn ports(store: &Store, region: &str, rcfg_id: &str, view: Option<&View>) -> Vec<u16> {
    let Some(c) = store.rcfg(region, rcfg_id) else {
        return vec![];
    };
    let mut out = Vec::new();
    for r in c.port_ranges.iter().flatten() {
        let (lo, hi) = r.split_once('-').unwrap_or((r, r));
        if let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) {
            out.extend((lo..=hi).take(MAX_PORTS));
        }
    }
    if out.is_empty() {
        if let Some(arn) = arn_of(c.definition.as_ref()) {
            out.extend(view.and_then(|v| arn_target(v, arn)).and_then(|(_, p)| p));
        }
    }
    out.truncate(MAX_PORTS);
    out
}

fn arn_of(definition: Option<&Value>) -> Option<&str> {
    definition?.pointer("/arnResource/arn")?.as_str()
}

/// An RDS instance's or cluster's endpoint and port, by ARN.
fn arn_target<'a>(view: &'a View, arn: &str) -> Option<(&'a str, Option<u16>)> {
    if let Some(d) = view.database_by_arn(arn) {
        return Some((d.endpoint.as_deref()?, d.port));
    }
    view.clusters.get(arn).map(|(e, p)| (e.as_str(), *p))
}

/// Listeners that should exist now.
fn desired(store: &Store, reg: &mut Registry) -> Vec<Endpoint> {
    let view = reg.view.clone();
    let mut out = Vec::new();
    for a in store.snras.iter().filter(|a| a.life.status == "ACTIVE") {
        let ports = ports(store, &a.meta.region, &a.rcfg_id, view.as_deref());
        if ports.is_empty() {
            continue;
        }
        for client in reg.clients.clone() {
            let n = reg.slot(&client, &a.meta.id);
            out.push(Endpoint {
                client,
                association: a.meta.id.clone(),
                dns_name: store.snra_dns_name(a),
                address: slot_address([127, reg.octet], n),
                lattice_ip: slot_address(LATTICE_RANGE, n),
                ports: ports.clone(),
            });
        }
    }
    out
}

/// Where one connection goes.
#[derive(Debug)]
pub struct Route {
    pub backend: SocketAddr,
    pub ip: Ipv4Addr,
    pub database: String,
}

/// Every check AWS makes on the way for a connection to `ep` on `port`, in order; the first
/// failure is the refusal's reason.
pub fn decide(store: &Store, reg: &Registry, ep: &Endpoint, port: u16) -> Result<Route, String> {
    let view = reg
        .view
        .as_deref()
        .ok_or("no EC2 state read from moto yet")?;
    let a = store
        .snras
        .iter()
        .find(|a| a.meta.id == ep.association)
        .ok_or_else(|| format!("association {} is gone", ep.association))?;
    if a.life.status != "ACTIVE" {
        return Err(format!("association {} is {}", a.meta.id, a.life.status));
    }
    let region = &a.meta.region;
    let c = store
        .rcfg(region, &a.rcfg_id)
        .ok_or_else(|| format!("resource configuration {} is gone", a.rcfg_id))?;
    if !matches!(c.life.status.as_str(), "ACTIVE" | "UPDATE_IN_PROGRESS") {
        return Err(format!(
            "resource configuration {} is {}",
            a.rcfg_id, c.life.status
        ));
    }
    let client = view
        .interfaces
        .get(&ep.client)
        .ok_or_else(|| format!("the client's network interface {} is gone", ep.client))?;
    // The client's VPC must reach the service network (a VPC association, ACTIVE).
    let vpc_assoc = store
        .snvas
        .iter()
        .find(|v| v.vpc_id == client.vpc_id && v.sn_id == a.sn_id && v.life.status == "ACTIVE")
        .ok_or_else(|| {
            format!(
                "VPC {} has no ACTIVE association with service network {}",
                client.vpc_id, a.sn_id
            )
        })?;
    let lattice = Peer {
        cidrs: vec![Cidr {
            base: ep.lattice_ip,
            len: 32,
        }],
        groups: vec![],
        lattice: true,
    };
    check(
        view,
        "the client",
        &client.groups,
        Direction::Egress,
        port,
        &lattice,
    )?;
    // Without security groups on the VPC association, Lattice does not filter there. (What AWS
    // does then is our reading of its docs; see the README.)
    if let Some(groups) = vpc_assoc
        .security_group_ids
        .as_ref()
        .filter(|g| !g.is_empty())
    {
        let from_client = Peer::host(client.ip, &client.groups);
        check(
            view,
            "the service network VPC association",
            groups,
            Direction::Ingress,
            port,
            &from_client,
        )?;
    }
    let gateway_id = c.gateway_id.as_deref().ok_or_else(|| {
        format!(
            "resource configuration {} has no resource gateway",
            c.meta.id
        )
    })?;
    let gateway = store
        .rgw(region, gateway_id)
        .ok_or_else(|| format!("resource gateway {gateway_id} is gone"))?;
    if gateway.life.status != "ACTIVE" {
        return Err(format!(
            "resource gateway {gateway_id} is {}",
            gateway.life.status
        ));
    }
    let target_ip = match c.definition.as_ref() {
        Some(d) if d.get("dnsResource").is_some() => {
            let name = d
                .pointer("/dnsResource/domainName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            resolve(reg, name)?
        }
        Some(d) if d.get("ipResource").is_some() => d
            .pointer("/ipResource/ipAddress")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or("the configuration's ipResource is not an IPv4 address")?,
        other => {
            let arn = arn_of(other).ok_or("the configuration names no resource")?;
            let (endpoint, _) = arn_target(view, arn)
                .ok_or_else(|| format!("{arn} names no RDS database with an endpoint"))?;
            resolve(reg, endpoint)?
        }
    };
    let backend = reg
        .network
        .get(&(target_ip, port))
        .ok_or_else(|| format!("nothing listens at {target_ip}:{port} in the database VPC"))?;
    let db = view
        .databases
        .get(&backend.db_instance)
        .ok_or_else(|| format!("DB instance {} is gone", backend.db_instance))?;
    let gateway_groups = match gateway
        .security_group_ids
        .as_ref()
        .filter(|g| !g.is_empty())
    {
        Some(g) => g.clone(),
        // Assumed: like an ENI created without groups, the gateway gets its VPC's default group.
        None => view
            .default_group(&gateway.vpc_id)
            .map(|g| vec![g.id.clone()])
            .unwrap_or_default(),
    };
    let to_db = Peer::host(target_ip, &db.groups);
    check(
        view,
        "the resource gateway",
        &gateway_groups,
        Direction::Egress,
        port,
        &to_db,
    )?;
    let from_gateway = Peer {
        cidrs: gateway
            .subnet_ids
            .iter()
            .filter_map(|s| view.subnets.get(s).copied())
            .collect(),
        groups: gateway_groups,
        lattice: false,
    };
    check(
        view,
        &format!("the database {}", db.identifier),
        &db.groups,
        Direction::Ingress,
        port,
        &from_gateway,
    )?;
    Ok(Route {
        backend: backend.address,
        ip: target_ip,
        database: db.identifier.clone(),
    })
}

fn resolve(reg: &Registry, name: &str) -> Result<Ipv4Addr, String> {
    reg.hosts
        .get(&name.to_ascii_lowercase())
        .copied()
        .ok_or_else(|| format!("{name} does not resolve (not in the stack's resolver map)"))
}

/// Starts the data plane's loop; it reads moto at `moto_url`.
pub fn start(shared: Shared, moto_url: String, region: String) -> JoinHandle<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
    {
        let mut emu = lock(&shared);
        emu.dataplane.sync = Some(tx);
        emu.dataplane.octet = fastrand::u8(64..=191);
    }
    tokio::spawn(async move {
        let moto = Moto::new(&moto_url, &region).await;
        let mut listeners: HashMap<SocketAddrV4, JoinHandle<()>> = HashMap::new();
        loop {
            let waiter = tokio::select! {
                _ = tokio::time::sleep(REFRESH) => None,
                w = rx.recv() => w,
            };
            refresh(&shared, &moto, &mut listeners).await;
            if let Some(w) = waiter {
                let _ = w.send(());
            }
        }
    })
}

async fn refresh(
    shared: &Shared,
    moto: &Moto,
    listeners: &mut HashMap<SocketAddrV4, JoinHandle<()>>,
) {
    let (clients, active, generation) = {
        let emu = lock(shared);
        let reg = &emu.dataplane;
        (
            reg.clients.clone(),
            emu.lattice.snras.iter().any(|a| a.life.status == "ACTIVE"),
            reg.generation,
        )
    };
    // Idle (no client or no association): no reads, so other tests do not pay for it.
    if !clients.is_empty() && active {
        let read = moto.read(&clients).await;
        let mut emu = lock(shared);
        if emu.dataplane.generation != generation {
            // A reset came while moto was read (and moto was likely reset too): the view is of a
            // world that is gone, down to the prefix list's id.
            return;
        }
        match read {
            Ok(v) => {
                emu.dataplane.view = Some(Arc::new(v));
                emu.dataplane.view_error = None;
            }
            Err(e) => {
                if emu.dataplane.view_error.as_ref() != Some(&e) {
                    eprintln!("dataplane: {e}");
                }
                emu.dataplane.view_error = Some(e);
            }
        }
    }
    let want: Vec<SocketAddrV4> = {
        let mut emu = lock(shared);
        let emu = &mut *emu;
        let endpoints = if clients.is_empty() {
            vec![]
        } else {
            desired(&emu.lattice, &mut emu.dataplane)
        };
        let want = endpoints
            .iter()
            .flat_map(|e| e.ports.iter().map(|p| SocketAddrV4::new(e.address, *p)))
            .collect();
        emu.dataplane.endpoints = endpoints;
        want
    };
    listeners.retain(|addr, task| {
        let keep = want.contains(addr);
        if !keep {
            // Closes the listener: new connections are refused; open ones carry on.
            task.abort();
        }
        keep
    });
    for addr in want {
        if listeners.contains_key(&addr) {
            continue;
        }
        match TcpListener::bind(addr).await {
            Ok(l) => {
                listeners.insert(addr, tokio::spawn(accept(shared.clone(), l, addr)));
            }
            Err(e) => eprintln!("dataplane: cannot listen on {addr}: {e}"),
        }
    }
}

async fn accept(shared: Shared, listener: TcpListener, local: SocketAddrV4) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(shared.clone(), stream, local));
            }
            Err(e) => {
                eprintln!("dataplane: accept on {local}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn refuse(stream: TcpStream) {
    // A reset, not a FIN: the client fails at once (in AWS a blocked SYN times out instead).
    let _ = stream.set_zero_linger();
}

/// Carries the bytes on two plain threads with blocking reads: on the 2-core machine this costs less
/// CPU per message than the async runtime's wake-ups (BENCHMARKS.md "The local data path" has both;
/// spinning before blocking, and a BPF sockmap, were worse still).
fn forward_on_threads(client: TcpStream, server: TcpStream) {
    let (Ok(client), Ok(server)) = (client.into_std(), server.into_std()) else {
        return;
    };
    let pipe = |from: std::net::TcpStream, to: std::net::TcpStream| {
        move || {
            let _ = to.set_nonblocking(false);
            let _ = from.set_nonblocking(false);
            let (mut r, mut w) = (&from, &to);
            let _ = std::io::copy(&mut r, &mut w);
            // EOF (or an error) one way: pass the half-close on, as a TCP proxy does.
            let _ = to.shutdown(std::net::Shutdown::Write);
            let _ = from.shutdown(std::net::Shutdown::Read);
        }
    };
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(pipe(client, server));
    std::thread::spawn(pipe(server2, client2));
}

async fn connection(shared: Shared, client: TcpStream, local: SocketAddrV4) {
    let started = Instant::now();
    let peer = client
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (decision, dns, eni) = {
        let emu = lock(&shared);
        let reg = &emu.dataplane;
        match reg
            .endpoints
            .iter()
            .find(|e| e.address == *local.ip() && e.ports.contains(&local.port()))
        {
            Some(ep) => (
                decide(&emu.lattice, reg, ep, local.port()),
                ep.dns_name.clone(),
                ep.client.clone(),
            ),
            None => (
                Err("no association listens here any more".to_string()),
                String::new(),
                String::new(),
            ),
        }
    };
    let base = json!({"endpoint": local.to_string(), "dnsName": dns, "client": eni, "from": peer});
    let with = |mut v: Value, extra: Value| {
        if let (Value::Object(m), Value::Object(x)) = (&mut v, extra) {
            m.extend(x);
        }
        v
    };
    match decision {
        Err(reason) => {
            lock(&shared)
                .dataplane
                .record(with(base, json!({"outcome": "refused", "reason": reason})));
            refuse(client);
        }
        Ok(route) => {
            let server =
                tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(route.backend))
                    .await;
            match server {
                Ok(Ok(server)) => {
                    let _ = server.set_nodelay(true);
                    let _ = client.set_nodelay(true);
                    let setup_us = started.elapsed().as_micros() as u64;
                    lock(&shared).dataplane.record(with(base, json!({
                        "outcome": "forwarded", "target": format!("{}:{}", route.ip, local.port()),
                        "database": route.database, "setupMicros": setup_us,
                    })));
                    forward_on_threads(client, server);
                }
                _ => {
                    let reason = format!(
                        "the database at {}:{} ({}) does not accept connections",
                        route.ip,
                        local.port(),
                        route.database
                    );
                    lock(&shared)
                        .dataplane
                        .record(with(base, json!({"outcome": "refused", "reason": reason})));
                    refuse(client);
                }
            }
        }
    }
}
