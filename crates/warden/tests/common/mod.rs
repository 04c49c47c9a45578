//! What the end-to-end tests share: `warden serve` as a process on free loopback ports, a raw
//! HTTP/1.1 client, a milter client.
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;
use warden_mail_serve::milter::{Command as Milter, Response};

pub fn example(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)).unwrap()
}

/// A `warden serve` on free loopback ports with its own data directory.
pub struct Server {
    pub child: Child,
    pub scan: String,
    pub controller: String,
    pub milter: String,
    pub token: String,
    /// What the server logged before it said it was listening.
    pub early: String,
    /// Kept open: the server logs to it until it stops.
    pub stderr: std::io::BufReader<ChildStderr>,
}

/// How to start a server beyond the defaults.
pub struct Launch<'a> {
    /// More arguments to `warden serve`.
    pub args: &'a [&'a str],
    /// More environment variables.
    pub env: &'a [(&'a str, &'a str)],
    /// The address of each listener (a free port on it).
    pub host: &'a str,
    /// The limit on open descriptors the server starts with: soft, hard.
    pub nofile: Option<(u64, u64)>,
}

impl Default for Launch<'_> {
    fn default() -> Self {
        Launch { args: &[], env: &[], host: "127.0.0.1", nofile: None }
    }
}

impl Server {
    pub fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::launch(data_dir, Launch { args, env, ..Launch::default() })
            .unwrap_or_else(|log| panic!("the server did not start:\n{log}"))
    }

    /// Starts a server; `Err` with what it printed when it exits instead of listening.
    pub fn launch(data_dir: &Path, l: Launch) -> Result<Server, String> {
        // The authentication checks ask a DNS server of the test's own (it knows no name),
        // never the system's resolver.
        let dns = warden_mail_serve::dns_fixture::DnsFixture::start(Default::default());
        let port0 = if l.host.contains(':') { format!("[{}]:0", l.host) } else { format!("{}:0", l.host) };
        let mut command = Command::new(env!("CARGO_BIN_EXE_warden"));
        command
            .env("WARDEN_MAIL_AUTH__NAMESERVERS", format!("[\"{}\"]", dns.addr))
            .args(["serve", "--listen", &port0, "--controller", &port0, "--milter", &port0])
            .args(["--threads", "2"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(l.args)
            .envs(l.env.iter().copied())
            .stderr(Stdio::piped());
        if let Some((soft, hard)) = l.nofile {
            use std::os::unix::process::CommandExt;
            let limit = rustix::process::Rlimit { current: Some(soft), maximum: Some(hard) };
            // SAFETY: between fork and exec, only the setrlimit system call runs.
            unsafe {
                command.pre_exec(move || {
                    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit)
                        .map_err(std::io::Error::from)
                });
            }
        }
        let mut child = command.spawn().expect("warden serve starts");
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let line = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.wait();
                return Err(seen);
            }
            if line.contains("warden: listening on") {
                break line;
            }
            seen.push_str(&line);
        };
        let addr = |after: &str| {
            line.split(after).nth(1).unwrap().split([' ', ')', ',', '\n']).next().unwrap().to_owned()
        };
        let (scan, controller, milter) = (addr("http://"), addr("controller http://"), addr("milter inet:"));
        let token = std::fs::read_to_string(data_dir.join("admin.token")).unwrap().trim().to_owned();
        Ok(Server { child, scan, controller, milter, token, stderr, early: seen })
    }

    /// Reads the log until a line contains `needle`; returns that line.
    pub fn wait_log(&mut self, needle: &str) -> String {
        read_until(&mut self.stderr, needle)
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// Stops the server with SIGTERM: its exit status and what it logged meanwhile.
    pub fn stop(mut self) -> (ExitStatus, String) {
        signal(&self.child, "TERM");
        let mut log = String::new();
        self.stderr.read_to_string(&mut log).unwrap();
        (self.child.wait().unwrap(), log)
    }

    /// SIGKILL: no shutdown, no last checkpoint.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    /// A test that failed midway does not leave its server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(child: &Child, name: &str) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args([&format!("-{name}"), &pid]).status().unwrap().success());
}

pub fn read_until(r: &mut impl BufRead, needle: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).unwrap();
        assert!(n > 0, "the server ended before logging {needle:?}:\n{seen}");
        if line.contains(needle) {
            return line;
        }
        seen.push_str(&line);
    }
}

/// One HTTP/1.1 request: the status code and the body, or an error when the connection fails.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let status = reply.split(' ').nth(1).and_then(|c| c.parse().ok());
    let status = status.ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {reply:?}")))?;
    Ok((status, reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}

/// Every entry of a paged listing (`field` of each page), following `next`.
pub fn every_page(addr: &str, path: &str, field: &str, headers: &[(&str, &str)]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut uri = format!("{path}?limit=1000");
    loop {
        let page = json(request(addr, "GET", &uri, headers, b"").unwrap());
        out.extend(page[field].as_array().unwrap().iter().cloned());
        match &page["next"] {
            Value::Null => return out,
            Value::String(n) => uri = format!("{path}?limit=1000&after={n}"),
            n => uri = format!("{path}?limit=1000&after={n}"),
        }
    }
}

pub fn json(reply: (u16, String)) -> Value {
    assert_eq!(reply.0, 200, "{}", reply.1);
    serde_json::from_str(&reply.1).unwrap()
}

/// Sends `bytes`, then reads until the server closes: what it answered.
pub fn raw_exchange(addr: &str, bytes: &[u8], close_write: bool) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(bytes).unwrap();
    if close_write {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

/// A milter client: sends commands, reads the responses the server sends back.
pub struct MilterClient {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl MilterClient {
    pub fn connect(addr: &str) -> MilterClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        MilterClient { stream, buf: Vec::new() }
    }

    pub fn send(&mut self, c: &Milter) {
        let mut out = Vec::new();
        c.encode(&mut out);
        self.stream.write_all(&out).unwrap();
    }

    /// Sends `c` and reads responses until a final one (anything but an added header).
    pub fn ask(&mut self, c: &Milter) -> Vec<Response> {
        self.send(c);
        let mut got = Vec::new();
        loop {
            while let Some(r) = Response::decode(&mut self.buf).unwrap() {
                let last = !matches!(r, Response::AddHeader { .. } | Response::Quarantine(_));
                got.push(r);
                if last {
                    return got;
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the server closed the connection after {got:?}");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// One message through the whole conversation: the responses to its end.
    pub fn message(&mut self, raw: &[u8]) -> Vec<Response> {
        let (head, body) = split_message(raw);
        assert!(matches!(self.ask(&Milter::Mail(vec!["<a@example.org>".into()]))[..], [Response::Continue]));
        self.ask(&Milter::Rcpt(vec!["<b@example.net>".into()]));
        for (name, value) in head {
            self.ask(&Milter::Header { name, value });
        }
        self.ask(&Milter::EndOfHeaders);
        self.ask(&Milter::Body(body));
        self.ask(&Milter::EndOfMessage(Vec::new()))
    }
}

/// A message's header fields (unfolded lines kept as they are) and body.
pub fn split_message(raw: &[u8]) -> (Vec<(String, Vec<u8>)>, Vec<u8>) {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            let last = fields.last_mut().unwrap();
            last.1.extend_from_slice(format!("\r\n{line}").as_bytes());
        } else if let Some((n, v)) = line.split_once(':') {
            fields.push((n.to_owned(), v.trim_start().as_bytes().to_vec()));
        }
    }
    (fields, body.replace('\n', "\r\n").into_bytes())
}
