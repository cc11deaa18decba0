//! Shared test support: an in-process emulator, real SDK clients against it, and a raw HTTP
//! helper for the control routes and for requests the SDK cannot express.
#![allow(dead_code)]

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_sdk_vpclattice::config::{Credentials, Region};
use lattice_emulator::{Options, Running};
use serde_json::Value;
use std::io::{Read, Write};

pub struct Emu {
    pub server: Running,
    pub lattice: aws_sdk_vpclattice::Client,
    pub cw: aws_sdk_cloudwatch::Client,
}

pub async fn start() -> Emu {
    start_with(2).await
}

pub async fn start_with(polls_to_active: u32) -> Emu {
    let server = lattice_emulator::start(0, Options { polls_to_active })
        .await
        .expect("start emulator");
    let lattice = lattice_client(&server.url(), "us-east-1", true);
    let cw = cloudwatch_client(&server.url(), true);
    Emu {
        server,
        lattice,
        cw,
    }
}

fn creds() -> Credentials {
    Credentials::new("AKIDEMULATORTEST", "secret", None, None, "static")
}

pub fn lattice_client(url: &str, region: &str, retries: bool) -> aws_sdk_vpclattice::Client {
    let mut b = aws_sdk_vpclattice::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(region.to_string()))
        .credentials_provider(creds());
    if !retries {
        b = b.retry_config(RetryConfig::disabled());
    }
    aws_sdk_vpclattice::Client::from_conf(b.build())
}

pub fn cloudwatch_client(url: &str, retries: bool) -> aws_sdk_cloudwatch::Client {
    let mut b = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_sdk_cloudwatch::config::Region::new("us-east-1"))
        .credentials_provider(creds());
    if !retries {
        b = b.retry_config(RetryConfig::disabled());
    }
    aws_sdk_cloudwatch::Client::from_conf(b.build())
}

pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl Emu {
    /// A minimal HTTP/1.1 exchange (Connection: close) on a blocking thread, so tests need no
    /// extra client crate or tokio feature.
    pub async fn raw(&self, method: &str, path: &str, body: Option<&str>) -> Raw {
        let body = body.unwrap_or("").as_bytes().to_vec();
        self.raw_with(method, path, &[("Content-Type", "application/json")], body)
            .await
    }

    /// [`Emu::raw`] with any headers and a binary body.
    pub async fn raw_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Raw {
        let addr = self.server.addr;
        let extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend(body);
        let buf = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).expect("connect");
            stream.write_all(&req).expect("write");
            let mut buf = Vec::new();
            stream.read_to_end(&mut buf).expect("read");
            buf
        })
        .await
        .expect("raw request");
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("header end");
        let head = String::from_utf8_lossy(&buf[..split]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Raw {
            status,
            headers,
            body: buf[split + 4..].to_vec(),
        }
    }

    pub async fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let text = body.to_string();
        let r = self
            .raw(method, path, (!body.is_null()).then_some(text.as_str()))
            .await;
        assert!(
            r.status < 300,
            "{method} {path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }

    pub async fn calls(&self) -> Vec<Value> {
        self.control("GET", "/_emu/calls", Value::Null)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn state(&self) -> Value {
        self.control("GET", "/_emu/state", Value::Null).await
    }
}

// ---- fixtures: the project's usual chain, via the SDK ----

use aws_sdk_vpclattice::types::{
    DnsResource, ProtocolType, ResourceConfigurationDefinition, ResourceConfigurationIpAddressType,
    ResourceConfigurationType,
};

pub const VPC: &str = "vpc-0db0000000000000a";
pub const CLIENT_VPC: &str = "vpc-0c10000000000000b";
pub const SUBNETS: [&str; 2] = ["subnet-0a00000000000000a", "subnet-0b00000000000000b"];
pub const SG: &str = "sg-0a1b2c3d4e5f60001";

pub async fn service_network(c: &aws_sdk_vpclattice::Client, name: &str) -> (String, String) {
    let o = c
        .create_service_network()
        .name(name)
        .send()
        .await
        .expect("create sn");
    (o.id().unwrap().to_string(), o.arn().unwrap().to_string())
}

pub async fn gateway(c: &aws_sdk_vpclattice::Client, name: &str) -> (String, String) {
    let o = c
        .create_resource_gateway()
        .name(name)
        .vpc_identifier(VPC)
        .set_subnet_ids(Some(SUBNETS.iter().map(|s| s.to_string()).collect()))
        .security_group_ids(SG)
        .send()
        .await
        .expect("create rgw");
    (o.id().unwrap().to_string(), o.arn().unwrap().to_string())
}

pub fn dns_definition(domain: &str) -> ResourceConfigurationDefinition {
    ResourceConfigurationDefinition::DnsResource(
        DnsResource::builder()
            .domain_name(domain)
            .ip_address_type(ResourceConfigurationIpAddressType::Ipv4)
            .build(),
    )
}

pub async fn config(c: &aws_sdk_vpclattice::Client, name: &str, rgw: &str) -> (String, String) {
    let o = c
        .create_resource_configuration()
        .name(name)
        .r#type(ResourceConfigurationType::Single)
        .resource_gateway_identifier(rgw)
        .port_ranges("3306")
        .protocol(ProtocolType::Tcp)
        .resource_configuration_definition(dns_definition(
            "orders-db.abc.us-east-1.rds.amazonaws.com",
        ))
        .send()
        .await
        .expect("create rcfg");
    (o.id().unwrap().to_string(), o.arn().unwrap().to_string())
}
