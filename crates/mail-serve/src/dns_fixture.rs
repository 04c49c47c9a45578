//! A DNS server for tests, on a loopback UDP port: it answers TXT queries from a fixed
//! table and NXDOMAIN to everything else, or (`silent`) never answers at all. Tests of the
//! authentication checks point `[mail_auth] nameservers` at it, so that no test ever asks a
//! resolver outside the machine.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};

use mail_auth::hickory_resolver::proto::op::{Message, ResponseCode};
use mail_auth::hickory_resolver::proto::rr::rdata::TXT;
use mail_auth::hickory_resolver::proto::rr::{RData, Record, RecordType};

/// A running fixture server; it stops with the test process.
#[derive(Debug)]
pub struct DnsFixture {
    /// Where it listens (UDP).
    pub addr: SocketAddr,
}

impl DnsFixture {
    /// Serves `txt` (name, without the final dot → TXT values) until the process ends.
    pub fn start(txt: HashMap<String, Vec<String>>) -> DnsFixture {
        Self::spawn(Some(txt))
    }

    /// A server that receives queries and never answers: every lookup times out.
    pub fn silent() -> DnsFixture {
        Self::spawn(None)
    }

    fn spawn(txt: Option<HashMap<String, Vec<String>>>) -> DnsFixture {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP port");
        let addr = socket.local_addr().expect("bound");
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                let Some(txt) = &txt else { continue };
                let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
                if let Ok(bytes) = answer(&query, txt).to_vec() {
                    let _ = socket.send_to(&bytes, peer);
                }
            }
        });
        DnsFixture { addr }
    }
}

fn answer(query: &Message, txt: &HashMap<String, Vec<String>>) -> Message {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    reply.queries = query.queries.clone();
    for q in &query.queries {
        let name = q.name().to_string().trim_end_matches('.').to_ascii_lowercase();
        match txt.get(&name) {
            Some(values) if q.query_type() == RecordType::TXT => {
                for v in values {
                    // A TXT record is a list of strings of at most 255 bytes.
                    let parts =
                        v.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
                    reply.answers.push(Record::from_rdata(q.name().clone(), 60, RData::TXT(TXT::new(parts))));
                }
            }
            Some(_) => {}
            None => reply.metadata.response_code = ResponseCode::NXDomain,
        }
    }
    reply
}
