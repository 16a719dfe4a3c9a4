//! A real S3 server inside the test process: `s3s` + `s3s-fs` on 127.0.0.1, which checks
//! SigV4 signatures and conditional writes. It can be stopped and restarted on the same port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use scythe::{Store, StoreLocation};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Access key the server accepts.
pub(crate) const ACCESS_KEY: &str = "scythe-test";
/// Secret key the server accepts.
pub(crate) const SECRET_KEY: &str = "scythe-test-secret-0123456789";

/// A running (or stopped) in-process S3 server.
pub(crate) struct S3Server {
    root: PathBuf,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server storing buckets as folders of `root`, on a free port.
    pub(crate) async fn start(root: &Path) -> S3Server {
        std::fs::create_dir_all(root).expect("create the server root");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut server = S3Server { root: root.to_path_buf(), addr, task: None };
        server.serve(listener);
        server
    }

    /// Creates a bucket (a folder of the root).
    pub(crate) fn create_bucket(&self, name: &str) {
        std::fs::create_dir_all(self.root.join(name)).expect("create bucket");
    }

    /// The endpoint URL.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops answering (connections are refused) until [`S3Server::restart`].
    pub(crate) fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Serves again on the same port.
    pub(crate) async fn restart(&mut self) {
        self.stop();
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let fs = s3s_fs::FileSystem::new(&self.root).expect("s3s-fs root");
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        self.task = Some(tokio::spawn(async move {
            let mut connections = Vec::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let service = service.clone();
                connections.push(AbortOnDrop(tokio::spawn(async move {
                    let _ =
                        ConnBuilder::new(TokioExecutor::new()).serve_connection(TokioIo::new(socket), service).await;
                })));
                connections.retain(|c| !c.0.is_finished());
            }
        }));
    }

    /// A store on `bucket` with `prefix`, signed with `secret`.
    pub(crate) fn store_with_secret(&self, bucket: &str, prefix: &str, secret: &str) -> Store {
        Store::open_with_options(
            StoreLocation::S3 { bucket: bucket.to_owned() },
            prefix,
            [
                ("aws_endpoint", self.endpoint()),
                ("aws_access_key_id", ACCESS_KEY.to_owned()),
                ("aws_secret_access_key", secret.to_owned()),
                ("aws_region", "us-east-1".to_owned()),
                ("aws_allow_http", "true".to_owned()),
            ],
        )
        .expect("open S3 store")
    }

    /// A store on `bucket` with `prefix` and the right credentials.
    pub(crate) fn store(&self, bucket: &str, prefix: &str) -> Store {
        self.store_with_secret(bucket, prefix, SECRET_KEY)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Aborts a connection task when the server task that owns it is aborted.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
