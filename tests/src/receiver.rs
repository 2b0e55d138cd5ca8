//! A real HTTP receiver on a free loopback port: records every request (method, path, headers,
//! body) and answers as the test scripts it (status and delay per request number).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

type Script = Arc<dyn Fn(&Received, usize) -> (u16, Duration) + Send + Sync>;

#[derive(Clone)]
struct Shared {
    got: Arc<Mutex<Vec<Received>>>,
    script: Script,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    pub port: u16,
    ip: String,
    got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("port", &self.port).finish()
    }
}

impl Receiver {
    /// Answers 200 at once.
    pub async fn ok() -> Self {
        Self::scripted(|_, _| (200, Duration::ZERO)).await
    }

    /// Answers request `n` (0-based) with `script(request, n)`: a status after a delay.
    pub async fn scripted(script: impl Fn(&Received, usize) -> (u16, Duration) + Send + Sync + 'static) -> Self {
        Self::on_port(0, script).await
    }

    /// As [`Receiver::scripted`], on a given port (0: any free one).
    pub async fn on_port(
        port: u16,
        script: impl Fn(&Received, usize) -> (u16, Duration) + Send + Sync + 'static,
    ) -> Self {
        Self::on_addr("127.0.0.1", port, script).await
    }

    /// As [`Receiver::on_port`], on another loopback address (e.g. `127.0.0.2`).
    pub async fn on_addr(
        ip: &str,
        port: u16,
        script: impl Fn(&Received, usize) -> (u16, Duration) + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind((ip, port)).await.expect("bind the receiver");
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared { got: got.clone(), script: Arc::new(script) };
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { port, ip: ip.to_string(), got, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.ip, self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was received (60 s at most).
    pub async fn wait(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}: {} received", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(s): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let r = Received {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers: headers.iter().map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into())).collect(),
        body: String::from_utf8_lossy(&body).into(),
    };
    let n = {
        let mut got = s.got.lock().unwrap();
        got.push(r.clone());
        got.len() - 1
    };
    let (status, delay) = (s.script)(&r, n);
    tokio::time::sleep(delay).await;
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
