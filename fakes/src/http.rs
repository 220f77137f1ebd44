//! Shared HTTP plumbing for both fakes: a tiny_http server with worker threads, request/response
//! values, form/multipart/percent decoding, base64 and a "reset the connection" escape hatch.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the fakes see it: everything read up front so handlers are plain functions.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub method: String,
    /// Percent-decoded path, without the query.
    pub path: String,
    /// The path as sent (still percent-encoded).
    pub raw_path: String,
    /// Raw query string (after `?`), possibly empty.
    pub query: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `(media type lower-cased, charset parameter if any)` of the Content-Type header.
    pub fn content_type(&self) -> Option<(String, Option<String>)> {
        let raw = self.header("content-type")?;
        let mut parts = raw.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut charset = None;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("charset") {
                    charset = Some(v.trim().trim_matches('"').to_string());
                }
            }
        }
        Some((media, charset))
    }
}

/// What a handler wants sent back.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Close the TCP connection without writing a single byte of response.
    Reset,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Respond {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::new(status, "application/json; charset=utf-8", value.to_string())
    }

    pub fn empty(status: u16) -> Reply {
        Reply::Respond { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// HTTP status for the request log; 0 for a reset connection.
    pub fn status(&self) -> u16 {
        match self {
            Reply::Respond { status, .. } => *status,
            Reply::Reset => 0,
        }
    }
}

type Handler = dyn Fn(&Req) -> Reply + Send + Sync;

/// A running tiny_http server whose worker threads call `handler`; stops on Drop.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `127.0.0.1:port` (0 = any free port) and serves with `workers` threads.
    pub fn start(port: u16, workers: usize, handler: Arc<Handler>) -> std::io::Result<HttpServer> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        no_delay(&listener);
        let server = tiny_http::Server::from_listener(listener, None).map_err(std::io::Error::other)?;
        let addr = server.server_addr().to_ip().ok_or_else(|| std::io::Error::other("not an IP listener"))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..workers.max(1))
            .map(|i| {
                let server = Arc::clone(&server);
                let stop = Arc::clone(&stop);
                let handler = Arc::clone(&handler);
                std::thread::Builder::new()
                    .name(format!("fake-http-{}-{i}", addr.port()))
                    .spawn(move || worker(&server, &stop, &*handler, addr))
                    .expect("spawn fake server worker")
            })
            .collect();
        Ok(HttpServer { addr, stop, threads })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn worker(server: &tiny_http::Server, stop: &AtomicBool, handler: &Handler, local: SocketAddr) {
    while !stop.load(Ordering::SeqCst) {
        let mut request = match server.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(_) => continue,
        };
        let url = request.url().to_string();
        let (raw_path, query) = match url.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (url.clone(), String::new()),
        };
        let headers = request
            .headers()
            .iter()
            .map(|h| (h.field.as_str().as_str().to_ascii_lowercase(), h.value.as_str().to_string()))
            .collect();
        let mut body = Vec::new();
        let _ = request.as_reader().read_to_end(&mut body);
        let req = Req {
            method: request.method().as_str().to_ascii_uppercase(),
            path: percent_decode(&raw_path, false),
            raw_path,
            query,
            headers,
            body,
        };
        match handler(&req) {
            Reply::Respond { status, headers, body } => {
                let mut response = tiny_http::Response::from_data(body).with_status_code(status);
                for (k, v) in headers {
                    if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                        response.add_header(h);
                    }
                }
                let _ = request.respond(response);
            }
            Reply::Reset => {
                if let Some(peer) = request.remote_addr().copied() {
                    shutdown_socket(local, peer);
                }
                // Dropping the request makes tiny_http try to write a 500 on the dead socket.
                drop(request);
            }
        }
    }
}

/// Sets `TCP_NODELAY` on the listening socket, which the sockets it accepts inherit (Linux):
/// tiny_http writes a reply's headers and its body separately and does not expose its sockets, so
/// with Nagle's algorithm the body's last segment waits for the client's delayed ACK of the
/// headers, about 40 ms on every keep-alive reply after the first. That wait was most of the
/// benchmark's steady-state wall time, and real servers do not have it.
#[cfg(unix)]
fn no_delay(listener: &std::net::TcpListener) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option value of the size passed.
    unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(unix))]
fn no_delay(_listener: &std::net::TcpListener) {}

/// Shuts down the accepted socket `local <-> peer` so the client sees the connection closed
/// without any response. tiny_http does not expose its sockets, so find the descriptor via
/// `/proc/self/fd` (Linux); elsewhere this is a no-op and the client gets tiny_http's 500.
#[cfg(target_os = "linux")]
fn shutdown_socket(local: SocketAddr, peer: SocketAddr) {
    use std::mem::ManuallyDrop;
    use std::os::fd::FromRawFd;
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in dir.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .map(|t| t.to_string_lossy().starts_with("socket:"))
            .unwrap_or(false);
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is only borrowed (ManuallyDrop: never closed here) and only used
        // for getsockname/getpeername/shutdown; the socket we are after stays open while tiny_http
        // holds the request.
        let stream = ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
        if stream.local_addr().ok() == Some(local) && stream.peer_addr().ok() == Some(peer) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn shutdown_socket(_local: SocketAddr, _peer: SocketAddr) {}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`), lossily as UTF-8.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters (for building URLs in tests and tools).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses `a=1&b=2` form/query text into `(name, value)` pairs, in order.
pub(crate) fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
            None => (percent_decode(p, true), String::new()),
        })
        .collect()
}

/// Minimal `multipart/form-data` parser: text fields only (enough for SDK-style posts).
pub(crate) fn parse_multipart(body: &[u8], boundary: &str) -> Option<Vec<(String, String)>> {
    let text = String::from_utf8_lossy(body);
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    for part in text.split(delim.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let (head, value) = part.split_once("\r\n\r\n")?;
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let name = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .and_then(|l| l.split("name=\"").nth(1))
            .and_then(|r| r.split('"').next())?;
        out.push((name.to_string(), value.to_string()));
    }
    Some(out)
}

/// Boundary parameter of a multipart Content-Type header.
pub(crate) fn multipart_boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Merges query and form pairs into the map recorded for assertions (later values win).
pub(crate) fn merge_args(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict standard base64 decoding (padding required); `None` on any malformed input.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.is_empty() || s.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (ci, chunk) in s.chunks(4).enumerate() {
        let last = ci == s.len() / 4 - 1;
        let mut n = 0u32;
        let mut pad = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let v = if c == b'=' {
                if !last || i < 2 {
                    return None;
                }
                pad += 1;
                0
            } else {
                if pad > 0 {
                    return None;
                }
                B64.iter().position(|&x| x == c)? as u32
            };
            n = (n << 6) | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// A request id like Slack's `x-slack-req-id` (32 hex chars), unique per process.
pub(crate) fn req_id(seq: u64, salt: u64) -> String {
    let a = splitmix64(seq ^ salt);
    let b = splitmix64(a ^ 0x9e37_79b9_7f4a_7c15);
    format!("{a:016x}{b:016x}")
}

/// SplitMix64 step: a tiny deterministic mixer for ids, checksums and the member generator.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let e = base64_encode(s.as_bytes());
            if !s.is_empty() {
                assert_eq!(base64_decode(&e).unwrap(), s.as_bytes());
            }
        }
        assert_eq!(base64_encode(b"user:U061NFTT2"), "dXNlcjpVMDYxTkZUVDI=");
        assert!(base64_decode("dXNlcjpVMDYxTkZUVDI").is_none());
        assert!(base64_decode("dXNlcjpVMD YxTkZUVDI=").is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb+c%3D", true), "a+b c=");
        assert_eq!(percent_decode("a%2Bb+c", false), "a+b+c");
        assert_eq!(percent_decode("100%", true), "100%");
        assert_eq!(percent_decode("%E2%9C%93", false), "✓");
        assert_eq!(percent_decode(&percent_encode("a b/ü+="), false), "a b/ü+=");
    }

    #[test]
    fn multipart_fields() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"limit\"\r\n\r\n200\r\n--XX\r\nContent-Disposition: form-data; name=\"cursor\"\r\n\r\nab=\r\n--XX--\r\n";
        let f = parse_multipart(body.as_bytes(), "XX").unwrap();
        assert_eq!(f, vec![("limit".into(), "200".into()), ("cursor".into(), "ab=".into())]);
    }
}
