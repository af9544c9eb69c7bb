//! `kubernetes` feeds the cost loop only: without `cost` the server starts without calling the
//! Kubernetes API (no kubeconfig, no service account token needed), so the Helm chart grants
//! no RBAC and mounts no token unless cost tracking is on.

use prescale_server::server::{Server, ServerOptions};

fn loopback() -> ServerOptions {
    ServerOptions {
        grpc_addr: "127.0.0.1:0".parse().expect("address"),
        http_addr: "127.0.0.1:0".parse().expect("address"),
        kubernetes: true,
        ..ServerOptions::default()
    }
}

/// Whether this process could reach a Kubernetes API (a kubeconfig or in-cluster settings);
/// the test needs one that cannot.
fn kubernetes_reachable() -> bool {
    std::env::var_os("KUBECONFIG").is_some()
        || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        || std::env::var_os("HOME")
            .is_some_and(|h| std::path::Path::new(&h).join(".kube/config").exists())
}

#[tokio::test]
async fn kubernetes_without_cost_starts_without_the_api() {
    if kubernetes_reachable() {
        eprintln!("skipping: a kubeconfig or in-cluster settings are present");
        return;
    }
    let server = Server::bind(loopback(), None)
        .await
        .unwrap_or_else(|e| panic!("kubernetes without cost must not need the API: {e}"));
    assert!(server.http_addr().is_some());

    // With cost, the API is read, and here there is none: the start fails, naming it.
    let mut options = loopback();
    options.cost = Some(
        prescale_server::config::ServerConfig::parse(
            "cost: {defaults: {price_per_hour: 3.0}}\n",
            "serve.yaml",
        )
        .expect("config")
        .cost
        .expect("cost"),
    );
    let Err(err) = Server::bind(options, None).await else {
        panic!("no Kubernetes API here, yet the server started with cost and kubernetes");
    };
    assert!(err.to_string().contains("kubernetes"), "{err}");
}
