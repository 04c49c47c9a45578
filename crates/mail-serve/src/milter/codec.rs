//! The milter wire protocol (Sendmail's libmilter protocol, version 6, as Postfix speaks it).
//!
//! Written here rather than taken from a crate: the permissively licensed one (miltr) wraps
//! the protocol in its own async traits, and the codec is small enough to own, bound and fuzz.
//! A packet is a 4-byte big-endian length, then a command byte, then `length - 1` bytes of
//! data. Every decoding error is a [`MilterError`]; nothing here panics on any input
//! (`fuzz/fuzz_targets/milter.rs`).

use std::net::IpAddr;

/// The largest packet accepted. Postfix sends body chunks of at most 64 KiB and header
/// fields of at most its `header_size_limit` (100 KiB by default).
pub const MAX_PACKET: usize = 1 << 20;

/// Protocol version spoken.
pub const VERSION: u32 = 6;

/// Actions the filter may take (`SMFIF_*`).
pub mod actions {
    /// Add header fields.
    pub const ADD_HEADERS: u32 = 0x01;
    /// Quarantine the message.
    pub const QUARANTINE: u32 = 0x20;
}

/// Steps the MTA may leave out (`SMFIP_*`).
pub mod steps {
    /// Do not send unknown SMTP commands.
    pub const NO_UNKNOWN: u32 = 0x100;
    /// Do not send the DATA command.
    pub const NO_DATA: u32 = 0x200;
}

/// Why a byte stream is not a milter conversation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MilterError {
    /// A packet announced a length of 0 or above [`MAX_PACKET`].
    #[error("packet length {0} is outside 1..={MAX_PACKET}")]
    Length(u32),
    /// A command byte that is not in the protocol.
    #[error("unknown milter command {0:?}")]
    UnknownCommand(char),
    /// A command whose data is too short or badly formed.
    #[error("malformed {command} packet: {what}")]
    Malformed {
        /// The command's name.
        command: &'static str,
        /// What is wrong.
        what: &'static str,
    },
}

/// A command from the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `O`: option negotiation.
    OptNeg {
        /// Protocol version.
        version: u32,
        /// Actions the MTA allows.
        actions: u32,
        /// Steps the MTA can leave out.
        protocol: u32,
    },
    /// `D`: macros for the next command.
    Macros {
        /// The command they are for.
        for_command: u8,
        /// Name and value pairs.
        pairs: Vec<(String, String)>,
    },
    /// `C`: a client connected.
    Connect {
        /// Its host name (or `[address]`).
        hostname: String,
        /// Its address, when it is an IPv4 or IPv6 one.
        address: Option<IpAddr>,
    },
    /// `H`: HELO/EHLO.
    Helo(String),
    /// `M`: MAIL FROM, then its ESMTP arguments.
    Mail(Vec<String>),
    /// `R`: RCPT TO, then its ESMTP arguments.
    Rcpt(Vec<String>),
    /// `T`: DATA.
    Data,
    /// `L`: one header field.
    Header {
        /// Field name.
        name: String,
        /// Field value, as the MTA gives it.
        value: Vec<u8>,
    },
    /// `N`: end of the header.
    EndOfHeaders,
    /// `B`: a chunk of the body.
    Body(Vec<u8>),
    /// `E`: end of the message, with a last body chunk (usually empty): the filter gives its
    /// verdict.
    EndOfMessage(Vec<u8>),
    /// `A`: the current message is abandoned.
    Abort,
    /// `Q`: the connection is closing.
    Quit,
    /// `K`: the connection is closing and a new one follows on the same socket.
    QuitNewConnection,
    /// `U`: an SMTP command the MTA did not know.
    Unknown(Vec<u8>),
}

/// A response to the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `O`: the filter's side of the negotiation.
    OptNeg {
        /// Protocol version.
        version: u32,
        /// Actions the filter will take.
        actions: u32,
        /// Steps the filter does not need.
        protocol: u32,
    },
    /// `c`: go on.
    Continue,
    /// `a`: accept the message without further filtering.
    Accept,
    /// `t`: temporary failure.
    Tempfail,
    /// `y`: an SMTP reply, such as `550 5.7.1 …`.
    ReplyCode(String),
    /// `h`: add a header field.
    AddHeader {
        /// Field name.
        name: String,
        /// Field value.
        value: String,
    },
    /// `q`: quarantine the message, with a reason.
    Quarantine(String),
}

/// Reads NUL-terminated strings.
struct Fields<'a> {
    data: &'a [u8],
    command: &'static str,
}

impl<'a> Fields<'a> {
    fn cstr(&mut self) -> Result<&'a [u8], MilterError> {
        let end = self.data.iter().position(|&b| b == 0).ok_or(MilterError::Malformed {
            command: self.command,
            what: "a string without its terminating NUL",
        })?;
        let (s, rest) = self.data.split_at(end);
        self.data = &rest[1..];
        Ok(s)
    }

    fn string(&mut self) -> Result<String, MilterError> {
        Ok(String::from_utf8_lossy(self.cstr()?).into_owned())
    }

    fn u32(&mut self) -> Result<u32, MilterError> {
        let (head, rest) = self
            .data
            .split_first_chunk::<4>()
            .ok_or(MilterError::Malformed { command: self.command, what: "shorter than its fixed fields" })?;
        self.data = rest;
        Ok(u32::from_be_bytes(*head))
    }

    /// Every remaining NUL-terminated string (a last one without NUL is taken as it is).
    fn all(mut self) -> Vec<String> {
        let mut out = Vec::new();
        while !self.data.is_empty() {
            match self.cstr() {
                Ok(s) => out.push(String::from_utf8_lossy(s).into_owned()),
                Err(_) => {
                    out.push(String::from_utf8_lossy(self.data).into_owned());
                    break;
                }
            }
        }
        out
    }
}

/// Takes one whole packet off the front of `buf` and reads it with `read(code, data)`;
/// `Ok(None)` when more bytes are needed.
fn take_packet<T>(
    buf: &mut Vec<u8>,
    read: impl FnOnce(u8, &[u8]) -> Result<T, MilterError>,
) -> Result<Option<T>, MilterError> {
    let Some(head) = buf.first_chunk::<4>() else { return Ok(None) };
    let len = u32::from_be_bytes(*head);
    if len == 0 || len as usize > MAX_PACKET {
        return Err(MilterError::Length(len));
    }
    let total = 4 + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let value = read(buf[4], &buf[5..total]);
    buf.drain(..total);
    value.map(Some)
}

impl Command {
    /// Takes one command off the front of `buf` when a whole packet is there; `Ok(None)` when
    /// more bytes are needed.
    pub fn decode(buf: &mut Vec<u8>) -> Result<Option<Command>, MilterError> {
        take_packet(buf, Command::parse)
    }

    fn parse(code: u8, data: &[u8]) -> Result<Command, MilterError> {
        let fields = |command| Fields { data, command };
        Ok(match code {
            b'O' => {
                let mut f = fields("option negotiation");
                Command::OptNeg { version: f.u32()?, actions: f.u32()?, protocol: f.u32()? }
            }
            b'D' => {
                let (&for_command, rest) =
                    data.split_first().ok_or(MilterError::Malformed { command: "macro", what: "empty" })?;
                let all = Fields { data: rest, command: "macro" }.all();
                let pairs =
                    all.chunks(2).map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default())).collect();
                Command::Macros { for_command, pairs }
            }
            b'C' => {
                let mut f = fields("connect");
                let hostname = f.string()?;
                let family = f.data.first().copied();
                let address = match family {
                    Some(b'4' | b'6') if f.data.len() >= 3 => {
                        f.data = &f.data[3..]; // family, then the port
                        f.string()?.trim_start_matches("IPv6:").parse().ok()
                    }
                    _ => None,
                };
                Command::Connect { hostname, address }
            }
            b'H' => Command::Helo(fields("helo").all().into_iter().next().unwrap_or_default()),
            b'M' => Command::Mail(fields("mail").all()),
            b'R' => Command::Rcpt(fields("rcpt").all()),
            b'T' => Command::Data,
            b'L' => {
                let mut f = fields("header");
                let name = f.string()?;
                let value = f.cstr()?.to_vec();
                Command::Header { name, value }
            }
            b'N' => Command::EndOfHeaders,
            b'B' => Command::Body(data.to_vec()),
            b'E' => Command::EndOfMessage(data.to_vec()),
            b'A' => Command::Abort,
            b'Q' => Command::Quit,
            b'K' => Command::QuitNewConnection,
            b'U' => Command::Unknown(data.to_vec()),
            other => return Err(MilterError::UnknownCommand(other as char)),
        })
    }

    /// The packet of this command (the MTA's side: for tests and the fuzzer's seeds).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut data = Vec::new();
        let cstr = |d: &mut Vec<u8>, s: &[u8]| {
            d.extend_from_slice(s);
            d.push(0);
        };
        let code = match self {
            Command::OptNeg { version, actions, protocol } => {
                for v in [version, actions, protocol] {
                    data.extend_from_slice(&v.to_be_bytes());
                }
                b'O'
            }
            Command::Macros { for_command, pairs } => {
                data.push(*for_command);
                for (k, v) in pairs {
                    cstr(&mut data, k.as_bytes());
                    cstr(&mut data, v.as_bytes());
                }
                b'D'
            }
            Command::Connect { hostname, address } => {
                cstr(&mut data, hostname.as_bytes());
                match address {
                    Some(a) => {
                        data.push(if a.is_ipv4() { b'4' } else { b'6' });
                        data.extend_from_slice(&25u16.to_be_bytes());
                        cstr(&mut data, a.to_string().as_bytes());
                    }
                    None => data.push(b'U'),
                }
                b'C'
            }
            Command::Helo(h) => {
                cstr(&mut data, h.as_bytes());
                b'H'
            }
            Command::Mail(args) | Command::Rcpt(args) => {
                for a in args {
                    cstr(&mut data, a.as_bytes());
                }
                if matches!(self, Command::Mail(_)) { b'M' } else { b'R' }
            }
            Command::Data => b'T',
            Command::Header { name, value } => {
                cstr(&mut data, name.as_bytes());
                cstr(&mut data, value);
                b'L'
            }
            Command::EndOfHeaders => b'N',
            Command::Body(b) => {
                data.extend_from_slice(b);
                b'B'
            }
            Command::EndOfMessage(b) => {
                data.extend_from_slice(b);
                b'E'
            }
            Command::Abort => b'A',
            Command::Quit => b'Q',
            Command::QuitNewConnection => b'K',
            Command::Unknown(b) => {
                data.extend_from_slice(b);
                b'U'
            }
        };
        packet(out, code, &data);
    }
}

fn packet(out: &mut Vec<u8>, code: u8, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32 + 1).to_be_bytes());
    out.push(code);
    out.extend_from_slice(data);
}

/// A string as a milter field: no NUL inside (it would end the field early).
fn field(s: &str) -> Vec<u8> {
    let mut v: Vec<u8> = s.bytes().filter(|&b| b != 0).collect();
    v.push(0);
    v
}

impl Response {
    /// Appends this response's packet to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Response::OptNeg { version, actions, protocol } => {
                let mut data = Vec::with_capacity(12);
                for v in [version, actions, protocol] {
                    data.extend_from_slice(&v.to_be_bytes());
                }
                packet(out, b'O', &data);
            }
            Response::Continue => packet(out, b'c', &[]),
            Response::Accept => packet(out, b'a', &[]),
            Response::Tempfail => packet(out, b't', &[]),
            Response::ReplyCode(text) => packet(out, b'y', &field(text)),
            Response::AddHeader { name, value } => {
                let mut data = field(name);
                data.extend_from_slice(&field(value));
                packet(out, b'h', &data);
            }
            Response::Quarantine(reason) => packet(out, b'q', &field(reason)),
        }
    }

    /// Reads a response packet (the MTA's side: for tests).
    pub fn decode(buf: &mut Vec<u8>) -> Result<Option<Response>, MilterError> {
        take_packet(buf, |code, data| {
            let mut f = Fields { data, command: "response" };
            Ok(match code {
                b'O' => Response::OptNeg { version: f.u32()?, actions: f.u32()?, protocol: f.u32()? },
                b'c' => Response::Continue,
                b'a' => Response::Accept,
                b't' => Response::Tempfail,
                b'y' => Response::ReplyCode(f.string()?),
                b'h' => Response::AddHeader { name: f.string()?, value: f.string()? },
                b'q' => Response::Quarantine(f.string()?),
                other => return Err(MilterError::UnknownCommand(other as char)),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_commands() -> Vec<Command> {
        vec![
            Command::OptNeg { version: 6, actions: 0x1ff, protocol: 0x1fffff },
            Command::Macros {
                for_command: b'C',
                pairs: vec![("j".into(), "mx.example".into()), ("{daemon_name}".into(), "smtpd".into())],
            },
            Command::Connect {
                hostname: "client.example".into(),
                address: Some("192.0.2.7".parse().unwrap()),
            },
            Command::Connect { hostname: "v6.example".into(), address: Some("2001:db8::1".parse().unwrap()) },
            Command::Connect { hostname: "localhost".into(), address: None },
            Command::Helo("client.example".into()),
            Command::Mail(vec!["<a@example.org>".into(), "SIZE=100".into()]),
            Command::Rcpt(vec!["<b@example.net>".into()]),
            Command::Data,
            Command::Header { name: "Subject".into(), value: b"hello\r\n\tworld".to_vec() },
            Command::EndOfHeaders,
            Command::Body(b"line one\r\nline two\r\n".to_vec()),
            Command::EndOfMessage(Vec::new()),
            Command::EndOfMessage(b"last chunk".to_vec()),
            Command::Abort,
            Command::Unknown(b"XFOO".to_vec()),
            Command::QuitNewConnection,
            Command::Quit,
        ]
    }

    #[test]
    fn commands_read_back_as_written_even_a_byte_at_a_time() {
        let mut wire = Vec::new();
        for c in all_commands() {
            c.encode(&mut wire);
        }
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for &b in &wire {
            buf.push(b);
            while let Some(c) = Command::decode(&mut buf).unwrap() {
                got.push(c);
            }
        }
        assert_eq!(got, all_commands());
        assert!(buf.is_empty());
    }

    #[test]
    fn responses_read_back_as_written() {
        let all = vec![
            Response::OptNeg { version: 6, actions: 0x21, protocol: 0x300 },
            Response::Continue,
            Response::Accept,
            Response::Tempfail,
            Response::ReplyCode("550 5.7.1 spam".into()),
            Response::AddHeader { name: "X-Spam-Score".into(), value: "3.2".into() },
            Response::Quarantine("held".into()),
        ];
        let mut wire = Vec::new();
        for r in &all {
            r.encode(&mut wire);
        }
        let mut got = Vec::new();
        while let Some(r) = Response::decode(&mut wire).unwrap() {
            got.push(r);
        }
        assert_eq!(got, all);
    }

    #[test]
    fn bad_packets_are_errors() {
        let mut zero = vec![0, 0, 0, 0, b'c'];
        assert_eq!(Command::decode(&mut zero), Err(MilterError::Length(0)));
        let mut huge = vec![0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(Command::decode(&mut huge), Err(MilterError::Length(_))));
        let mut unknown = vec![0, 0, 0, 1, b'Z'];
        assert_eq!(Command::decode(&mut unknown), Err(MilterError::UnknownCommand('Z')));
        let mut short_optneg = vec![0, 0, 0, 5, b'O', 0, 0, 0, 6];
        assert!(matches!(Command::decode(&mut short_optneg), Err(MilterError::Malformed { .. })));
        let mut no_nul = vec![0, 0, 0, 4, b'L', b'a', b'b', b'c'];
        assert!(matches!(Command::decode(&mut no_nul), Err(MilterError::Malformed { .. })));
        let mut partial = vec![0, 0, 0, 9, b'B', b'x'];
        assert_eq!(Command::decode(&mut partial), Ok(None), "waits for the rest");
    }
}
