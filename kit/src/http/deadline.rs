//! Slow clients (API.md "Hostile input"): a request head must be complete within the
//! header deadline on **every** request of a keep-alive connection, and a body within
//! the body deadline of its head.
//!
//! actix arms its own head timer (`client_request_timeout`) for a connection's first
//! request only: after one response, a client could trickle the next head forever.
//! So the kit wraps each accepted socket in [`Deadlined`], which knows the
//! connection's [`ConnPhase`]: waiting for a head (with a deadline) or serving a
//! request. The request middleware ([`crate::http::middleware::deadline`]) moves the
//! phase: a head has arrived (serving), its response is finished (idle again). When a
//! head is overdue the wrapper writes a bare `408` itself and ends the stream, which
//! closes the connection; an idle keep-alive connection that sent nothing is closed
//! quietly after the keep-alive time.
//!
//! The body deadline needs no socket: the middleware wraps the request's payload.

use actix_http::body::MessageBody;
use actix_http::{HttpService, Protocol, Request, Response};
use actix_service::{
    fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt,
};
use actix_web::dev::{AppConfig, Extensions};
use std::cell::Cell;
use std::future::{ready, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// What a slow client is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientDeadlines {
    /// From a head's first byte (a connection's first request: from the accept) to its end.
    pub header: Duration,
    /// From a head's end to the end of its body.
    pub body: Duration,
    /// How long a keep-alive connection may sit idle between requests.
    pub keep_alive: Duration,
}

/// The bare answer to an overdue head (the HTTP layer's, before routing: no JSON body).
const HEAD_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a head until `deadline`; `started`: a byte of it has arrived (or this
    /// is the connection's first request), so missing it is a 408, not an idle close.
    Head { deadline: Instant, started: bool },
    /// A request is being served: its head is in, no header deadline.
    Serving,
}

/// A connection's phase, shared by its socket wrapper and the requests on it (every
/// request carries it in its connection data).
#[derive(Debug, Clone)]
pub struct ConnPhase(Rc<PhaseState>);

#[derive(Debug)]
struct PhaseState {
    phase: Cell<Phase>,
    deadlines: ClientDeadlines,
}

impl ConnPhase {
    /// A connection accepted now: its first head is due within the header deadline.
    fn accepted(deadlines: ClientDeadlines) -> Self {
        Self(Rc::new(PhaseState {
            phase: Cell::new(Phase::Head {
                deadline: Instant::now() + deadlines.header,
                started: true,
            }),
            deadlines,
        }))
    }

    /// A request's head has arrived: no header deadline while it is served.
    pub fn serving(&self) {
        self.0.phase.set(Phase::Serving);
    }

    /// The request's response is finished (or abandoned): the connection waits for
    /// the next head, idle for at most the keep-alive time.
    pub fn idle(&self) {
        self.0.phase.set(Phase::Head {
            deadline: Instant::now() + self.0.deadlines.keep_alive,
            started: false,
        });
    }

    /// The body deadline of this connection's requests.
    pub fn body_deadline(&self) -> Duration {
        self.0.deadlines.body
    }

    /// Bytes arrived: on an idle connection they start a head, due within the header deadline.
    fn bytes_arrived(&self) {
        if let Phase::Head { started: false, .. } = self.0.phase.get() {
            self.0.phase.set(Phase::Head {
                deadline: Instant::now() + self.0.deadlines.header,
                started: true,
            });
        }
    }

    fn head_deadline(&self) -> Option<(Instant, bool)> {
        match self.0.phase.get() {
            Phase::Head { deadline, started } => Some((deadline, started)),
            Phase::Serving => None,
        }
    }
}

/// An accepted socket under the header deadline (see the module doc).
pub struct Deadlined<T> {
    io: T,
    phase: ConnPhase,
    timer: Pin<Box<Sleep>>,
    /// The head deadline passed: reads see the end of the stream.
    expired: bool,
    /// The last write could not complete: the dispatcher still has bytes to send, so
    /// nothing may be written around it.
    write_blocked: bool,
}

impl<T> Deadlined<T> {
    /// Wraps a socket accepted now.
    pub fn new(io: T, deadlines: ClientDeadlines) -> Self {
        let phase = ConnPhase::accepted(deadlines);
        let (deadline, _) = phase.head_deadline().unwrap_or((Instant::now(), false));
        Self {
            io,
            phase,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            expired: false,
            write_blocked: false,
        }
    }

    /// The connection's phase, for its requests.
    pub fn phase(&self) -> ConnPhase {
        self.phase.clone()
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Deadlined<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.phase.bytes_arrived();
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
        let Some((deadline, started)) = this.phase.head_deadline() else {
            return Poll::Pending;
        };
        // Every request moves the deadline later; re-arming the timer each time costs a
        // timer-wheel update per request. So an earlier deadline re-arms it at once, a
        // later one only when the old one fires (once per deadline period at most).
        if deadline < this.timer.deadline() {
            this.timer.as_mut().reset(deadline);
        }
        loop {
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= deadline {
                break;
            }
            this.timer.as_mut().reset(deadline);
        }
        this.expired = true;
        if started && !this.write_blocked {
            // A few bytes into an idle socket's buffer: written at once or not at all.
            let _ = Pin::new(&mut this.io).poll_write(cx, HEAD_TIMEOUT);
        }
        // The end of the stream: the dispatcher closes the connection.
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Deadlined<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.write_blocked = polled.is_pending();
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.write_blocked = polled.is_pending();
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// HTTP/1 over accepted TCP sockets for one listener: each socket wrapped in
/// [`Deadlined`], its [`ConnPhase`] in every request's connection data, actix's own
/// first-request head timer off (the wrapper covers every request), and `app` (an
/// actix-web `App`) serving the requests. `shutdown` resolves when the server starts
/// a graceful stop (idle keep-alive connections then close).
pub fn http1<F, S, B, Fut>(
    app: F,
    deadlines: ClientDeadlines,
    local_addr: SocketAddr,
    shutdown: impl Fn() -> Fut + 'static,
) -> impl ServiceFactory<
    TcpStream,
    Config = (),
    Response = (),
    Error = actix_http::error::DispatchError,
    InitError = (),
>
where
    F: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as actix_service::Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let factory = app
        .into_factory()
        .map_err(|e| Into::<actix_web::Error>::into(e).error_response());
    let http = HttpService::build()
        .keep_alive(deadlines.keep_alive)
        .client_request_timeout(Duration::ZERO)
        .client_disconnect_timeout(Duration::from_secs(1))
        .local_addr(local_addr)
        .graceful_shutdown_signal(shutdown)
        .on_connect_ext(|io: &Deadlined<TcpStream>, ext: &mut Extensions| {
            ext.insert(io.phase());
        })
        .finish(map_config(factory, |_| AppConfig::default()));
    fn_service(move |io: TcpStream| {
        let peer = io.peer_addr().ok();
        ready(Ok::<_, actix_http::error::DispatchError>((
            Deadlined::new(io, deadlines),
            Protocol::Http1,
            peer,
        )))
    })
    .and_then(http)
}
