//! The HTTP endpoints of `--metrics ADDR`: `/metrics` for a scraper, `/healthz`
//! and `/readyz` for probes. HTTP/1.1 over plain TCP, GET and HEAD only; every
//! answer is computed from what the process already knows, so a scrape or a probe
//! never touches the catalog or the inputs.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::Telemetry;

/// The metrics address could not be listened on.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {source}")]
pub struct ServeError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

impl ServeError {
    /// An address in use may be freed by a process that is stopping (a restart):
    /// worth a retry (75). One that is not this host's, or a port this user may
    /// not open, stays so: the configuration must change (78).
    pub fn exit_code(&self) -> crate::error::ExitCode {
        match self.source.kind() {
            std::io::ErrorKind::AddrInUse => crate::error::ExitCode::RetryLater,
            _ => crate::error::ExitCode::Config,
        }
    }
}

/// Listens on `addr` (port 0: any free port) and serves the endpoints on the
/// current runtime until the process ends; gives the address bound.
pub async fn serve(addr: SocketAddr, telemetry: Arc<Telemetry>) -> Result<SocketAddr, ServeError> {
    let fail = |source| ServeError { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(fail)?;
    let bound = listener.local_addr().map_err(fail)?;
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(error = %e, "metrics: cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let telemetry = Arc::clone(&telemetry);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let response = respond(&telemetry, &request);
                    async move { Ok::<_, Infallible>(response) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "metrics: connection ended");
                }
            });
        }
    });
    Ok(bound)
}

/// The answer to one request.
fn respond(telemetry: &Telemetry, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only\n".into());
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, telemetry.metrics.encode());
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(prometheus::TEXT_FORMAT),
            );
            response
        }
        "/healthz" => probe(telemetry.health.live()),
        "/readyz" => probe(telemetry.health.ready()),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: /metrics, /healthz and /readyz are served\n".into(),
        ),
    }
}

/// 200 `ok`, or 503 with the reason on one line.
fn probe(state: Result<(), String>) -> Response<Full<Bytes>> {
    match state {
        Ok(()) => text(StatusCode::OK, "ok\n".into()),
        Err(reason) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
