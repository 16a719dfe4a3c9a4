//! A small HTTP/1.1 file server on loopback (std only, one thread per connection) that serves
//! fixed bodies by request target (path and query), sends an ETag of each body, answers a
//! matching `If-None-Match` with 304, and counts what it answered.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What the server counts.
#[derive(Debug, Default)]
pub(crate) struct Hits {
    /// Every request.
    pub(crate) requests: AtomicU64,
    /// Requests answered with a whole body (200).
    pub(crate) bodies: AtomicU64,
    /// Requests answered with 304 Not Modified.
    pub(crate) not_modified: AtomicU64,
}

impl Hits {
    /// (requests, bodies, not modified).
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        let load = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        (load(&self.requests), load(&self.bodies), load(&self.not_modified))
    }
}

/// A running server; it stops with the test process.
pub(crate) struct HttpServer {
    /// `http://127.0.0.1:<port>`.
    pub(crate) address: String,
    /// Request target (`/path?query`) → body.
    pub(crate) files: Arc<Mutex<HashMap<String, String>>>,
    /// What it answered.
    pub(crate) hits: Arc<Hits>,
}

impl HttpServer {
    /// Starts a server on a free loopback port serving `files` (request target → body).
    pub(crate) fn start(files: &[(&str, &str)]) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let address = format!("http://{}", listener.local_addr().expect("local address"));
        let files: HashMap<String, String> = files.iter().map(|(t, b)| ((*t).to_owned(), (*b).to_owned())).collect();
        let files = Arc::new(Mutex::new(files));
        let hits = Arc::new(Hits::default());
        let (served, counter) = (Arc::clone(&files), Arc::clone(&hits));
        std::thread::spawn(move || {
            for socket in listener.incoming().flatten() {
                let (served, counter) = (Arc::clone(&served), Arc::clone(&counter));
                std::thread::spawn(move || answer(socket, &served, &counter));
            }
        });
        HttpServer { address, files, hits }
    }

    /// The URL of `target` on this server.
    pub(crate) fn url(&self, target: &str) -> String {
        format!("{}{target}", self.address)
    }
}

fn answer(socket: TcpStream, files: &Mutex<HashMap<String, String>>, hits: &Hits) {
    let Ok(mut writer) = socket.try_clone() else { return };
    let mut reader = BufReader::new(socket);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut if_none_match = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_or(true, |read| read == 0) || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("if-none-match")
        {
            if_none_match = Some(value.trim().to_owned());
        }
    }
    hits.requests.fetch_add(1, Ordering::SeqCst);
    let target = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let body = files.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&target).cloned();
    let response = match body {
        None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
        Some(body) => {
            let etag = format!("\"{}-{}\"", body.len(), body.bytes().map(u64::from).sum::<u64>());
            if if_none_match.as_deref() == Some(etag.as_str()) {
                hits.not_modified.fetch_add(1, Ordering::SeqCst);
                format!("HTTP/1.1 304 Not Modified\r\netag: {etag}\r\nconnection: close\r\n\r\n")
            } else {
                hits.bodies.fetch_add(1, Ordering::SeqCst);
                format!(
                    "HTTP/1.1 200 OK\r\netag: {etag}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            }
        }
    };
    let _ = writer.write_all(response.as_bytes());
}
