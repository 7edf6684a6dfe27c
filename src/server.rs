//! Wiring: the SFU, the signalling endpoint, the web client, health and metrics on one axum
//! router, started and stopped as one [`Server`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::{mpsc, watch};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use vardrum_sfu::{NamePolicy, RoomLifecycle, Sfu, SfuConfig};
use vardrum_signalling::{TokenIssuer, TokenVerifier};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{self, Db};
use crate::metrics::{self, SignallingStats};
use crate::portal::api::{self as portal_api, Portal, PortalError};
use crate::portal::notifications::{Notifier, Transports, transport::TransportError};
use crate::uploads::{self, Uploads, store::DirStore};
use crate::{secret, ws};

/// Largest HTTP request body accepted anywhere (the portal will raise it per route for uploads).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What request handlers share.
pub struct AppState {
    pub sfu: Sfu,
    pub verifier: TokenVerifier,
    /// Mints guest links for hosts (`invite_guest`).
    pub issuer: TokenIssuer,
    /// The URL people open, ending in `/` (join links start with it).
    pub base_url: String,
    /// How long a guest link a host asks for stays valid.
    pub guest_ttl_secs: u64,
    pub clock: Arc<dyn Clock>,
    pub signalling: SignallingStats,
    pub shutdown: watch::Receiver<bool>,
    pub db: Db,
    pub portal: Arc<Portal>,
    /// Files uploaded into calls' chats (`src/uploads/`).
    pub uploads: Arc<Uploads>,
    /// The notifications outbox's worker (`src/portal/notifications/`).
    pub notifier: Arc<Notifier>,
}

/// A running server.
pub struct Server {
    pub http_addr: SocketAddr,
    /// Where `/metrics` is served when not on `http_addr` (`http.metrics_listen`).
    pub metrics_addr: Option<SocketAddr>,
    /// The first media worker's address.
    pub media_addr: SocketAddr,
    /// Every media worker's address: the UDP ports media arrives on.
    pub media_addrs: Vec<SocketAddr>,
    /// The URL people open, ending in `/`.
    pub base_url: String,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    metrics_task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    recorder: tokio::task::JoinHandle<()>,
    /// The outbox's background worker, unless `notifications.poll_interval_secs` is 0.
    notifier_task: Option<tokio::task::JoinHandle<()>>,
    stop_recorder: tokio::sync::oneshot::Sender<()>,
    url_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Secret(#[from] secret::SecretError),
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("cannot listen for HTTP on {0}: {1}")]
    Http(SocketAddr, std::io::Error),
    #[error("cannot open the media port {0}: {1}")]
    Media(SocketAddr, std::io::Error),
    #[error(transparent)]
    Portal(#[from] PortalError),
    #[error("cannot open the upload store {0}: {1}")]
    Uploads(PathBuf, std::io::Error),
    #[error(transparent)]
    Notifications(#[from] TransportError),
}

impl Server {
    /// Starts a server with the system clock.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn start_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let secret = secret::load(&config)?;
        let url = config
            .database_url
            .clone()
            .unwrap_or_else(|| db::default_url(&config.data_dir));
        let db = Db::open(&url, &config.data_dir).await?;

        let listener = tokio::net::TcpListener::bind(config.http.listen)
            .await
            .map_err(|e| StartError::Http(config.http.listen, e))?;
        let http_addr = listener
            .local_addr()
            .map_err(|e| StartError::Http(config.http.listen, e))?;
        let (metrics_listener, metrics_addr) = match config.http.metrics_listen {
            Some(at) => {
                let l = tokio::net::TcpListener::bind(at)
                    .await
                    .map_err(|e| StartError::Http(at, e))?;
                let bound = l.local_addr().map_err(|e| StartError::Http(at, e))?;
                (Some(l), Some(bound))
            }
            None => (None, None),
        };
        let base_url = match &config.public_url {
            Some(url) => format!("{}/", url.trim_end_matches('/')),
            None => format!("http://{http_addr}/"),
        };

        let built = Portal::build(&config, &base_url, db.clone(), clock.clone(), &secret).await?;
        let video = built.portal.region.video;
        let (lifecycle_tx, lifecycle_rx) = mpsc::unbounded_channel();
        let sfu = Sfu::start(SfuConfig {
            udp_bind: config.media.udp_listen,
            workers: config.media_workers(),
            public_ip: config.media.public_ip,
            max_participants: config.rooms.max_participants,
            max_group_participants: config.rooms.max_group_participants,
            waiting_room_in_visits: video.waiting_room_in_visits,
            names: NamePolicy {
                staff_names_in_visits: video.patients_see_staff_names_in_visits,
                staff_names_in_groups: video.patients_see_staff_names_in_groups,
            },
            reconnect_grace: config.reconnect_grace(),
            ice_servers: config.ice_servers.clone(),
            lifecycle: Some(lifecycle_tx),
        })
        .await
        .map_err(|e| StartError::Media(config.media.udp_listen, e))?;
        let (stop_recorder, recorder_stop) = tokio::sync::oneshot::channel();
        let recorder = tokio::spawn(record_calls(
            db.clone(),
            clock.clone(),
            lifecycle_rx,
            recorder_stop,
        ));
        if built.test_idp.is_some() {
            tracing::warn!(
                "the built-in test identity provider is serving logins at /dev-idp/ \
                 (development mode only)"
            );
        }
        let upload_dir = config.data_dir.join("uploads");
        let store = DirStore::open(&upload_dir).map_err(|e| StartError::Uploads(upload_dir, e))?;
        let uploads = Arc::new(Uploads::new(
            db.clone(),
            Arc::new(store),
            clock.clone(),
            config.uploads.max_bytes,
        ));
        // The portal lists and serves a booking's files from the same store.
        let api = portal_api::router(&built, uploads.clone());
        // Files a crash left without their row (src/uploads/mod.rs says how that can happen).
        let sweeper = uploads.clone();
        tokio::spawn(async move {
            if let Err(e) = sweeper.sweep(uploads::ORPHAN_AGE_SECS).await {
                tracing::warn!(error = %e, "could not sweep the upload store for orphans");
            }
        });

        let notifier = Arc::new(Notifier::new(
            db.clone(),
            clock.clone(),
            &built.portal.region.service_name,
            built.portal.region.notifications,
            config.notifications.clone(),
            Transports::from_config(&config.notifications)?,
        ));

        let (shutdown, shutdown_rx) = watch::channel(false);
        let notifier_task = notifier.clone().spawn(shutdown_rx.clone());
        let state = Arc::new(AppState {
            sfu: sfu.clone(),
            verifier: TokenVerifier::new(&secret),
            issuer: TokenIssuer::new(&secret),
            base_url: base_url.clone(),
            guest_ttl_secs: config.tokens.default_ttl_minutes * 60,
            clock,
            signalling: SignallingStats::default(),
            shutdown: shutdown_rx.clone(),
            db,
            portal: built.portal.clone(),
            uploads,
            notifier,
        });
        let app = router(
            state.clone(),
            config.web_dir.clone(),
            api,
            metrics_listener.is_none(),
        );
        let task = tokio::spawn(serve_http(listener, app, shutdown_rx.clone()));
        let metrics_task = metrics_listener.map(|l| {
            let app = Router::new()
                .route("/metrics", get(metrics_text))
                .with_state(state.clone());
            tokio::spawn(serve_http(l, app, shutdown_rx.clone()))
        });

        // Lets `vardrum token` print links to this server without being told its address.
        let url_file = config.data_dir.join("server.url");
        if let Err(e) = std::fs::create_dir_all(&config.data_dir)
            .and_then(|_| std::fs::write(&url_file, &base_url))
        {
            tracing::warn!(error = %e, "could not write server.url; `vardrum token` needs --base-url");
        }

        Ok(Self {
            http_addr,
            metrics_addr,
            metrics_task,
            media_addr: sfu.media_addr(),
            media_addrs: sfu.media_addrs(),
            base_url,
            state,
            shutdown,
            task,
            recorder,
            notifier_task,
            stop_recorder,
            url_file,
        })
    }

    /// Starts draining: `/healthz` answers 503 (a load balancer sends new visits elsewhere), the
    /// open rooms go on and take joins, and a join that would open a room is told the server is
    /// shutting down. [`Server::drained`] resolves when the last room has closed.
    pub fn drain(&self) {
        self.state.sfu.drain();
    }

    /// Resolves once no room is open (at once if none is).
    pub async fn drained(&self) {
        self.state.sfu.rooms_closed().await;
    }

    /// Stops gracefully: every connected client is told (`bye` `server_shutdown`), rooms close,
    /// in-flight HTTP requests finish.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        self.state.sfu.shutdown().await;
        let _ = self.task.await;
        if let Some(task) = self.metrics_task {
            let _ = task.await;
        }
        // A send cut short here is retaken by the next start once its lease runs out.
        if let Some(task) = self.notifier_task {
            let _ = task.await;
        }
        // Every room has ended, so every lifecycle event is queued: record them, then stop.
        let _ = self.stop_recorder.send(());
        let _ = self.recorder.await;
        self.state.db.pool().close().await;
        let _ = std::fs::remove_file(&self.url_file);
    }
}

/// Writes when visits open and close, so that later retention and reports can use them.
async fn record_calls(
    db: Db,
    clock: Arc<dyn Clock>,
    mut rx: mpsc::UnboundedReceiver<RoomLifecycle>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let event = tokio::select! {
            event = rx.recv() => match event {
                Some(e) => e,
                None => return,
            },
            _ = &mut stop => {
                while let Ok(event) = rx.try_recv() {
                    record(&db, clock.as_ref(), event).await;
                }
                return;
            }
        };
        record(&db, clock.as_ref(), event).await;
    }
}

async fn record(db: &Db, clock: &dyn Clock, event: RoomLifecycle) {
    let result = match &event {
        RoomLifecycle::Opened { call_id, room } => {
            db.call_opened(call_id, room, clock.now_unix()).await
        }
        RoomLifecycle::Closed {
            call_id,
            peak_participants,
            ..
        } => {
            db.call_closed(call_id, clock.now_unix(), *peak_participants)
                .await
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "could not record a call session");
    }
}

/// Serves `app` on `listener` until `stop` turns true, letting requests in flight finish.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop.wait_for(|s| *s).await;
    })
    .await
}

/// The public router; `/metrics` is on it unless it has a listener of its own.
fn router(state: Arc<AppState>, web_dir: PathBuf, api: Router, with_metrics: bool) -> Router {
    let call_page = ServeFile::new(web_dir.join("call.html"));
    // Uploads read their (larger) bodies themselves, answering in the API's error shape.
    let uploads = uploads::http::router(state.clone());
    let mut routes = Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(healthz));
    if with_metrics {
        routes = routes.route("/metrics", get(metrics_text));
    }
    routes
        .route_service("/call/{room}", call_page)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // The API limits its bodies itself, answering in its own JSON error shape.
        .merge(api)
        .merge(uploads)
        .fallback_service(ServeDir::new(&web_dir).append_index_html_on_directories(true))
        // A response with a stricter policy of its own keeps it (a downloaded upload: `sandbox`).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                 media-src 'self' blob: mediastream:; object-src 'none'; base-uri 'none'; \
                 frame-ancestors 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(self), microphone=(self), geolocation=()"),
        ))
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    if *state.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    if state.sfu.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!(
            "{{\"status\":\"ok\",\"rooms\":{}}}\n",
            state.sfu.room_count()
        ),
    )
        .into_response()
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    let mut body = metrics::render(
        &state.sfu.stats().snapshot(),
        &state.sfu.worker_loads(),
        &state.signalling,
    );
    body.push_str(&state.notifier.render_metrics().await);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
