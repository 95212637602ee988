//! Private networks: published TCP and UDP ports reached from the host, host port 0, a port in
//! use, and outbound access through slirp4netns. Traffic only on 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;

use boxwright_runtime::{Child, Container, Error, Network, PortMapping, Protocol};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::common::{
    busybox_rootfs, fixture, http_get, slirp4netns_installed, text, wait_until, PATIENCE,
};

const SIGKILL: i32 = 9;

/// Reads the container's stdout until a line equal to `want`.
async fn wait_for_line(child: &mut Child, want: &str) {
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let found = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line == want {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(found, "the container never printed {want:?}");
}

fn local(spec: &str) -> PortMapping {
    spec.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_client_reaches_httpd_in_the_container_through_a_published_port() {
    let root = busybox_rootfs();
    let mut child = Container::builder(root.path())
        .cmd([
            "sh",
            "-c",
            "mkdir -p /www && echo hello-from-box > /www/index.html && \
             httpd -p 80 -h /www && echo ready && exec sleep 600",
        ])
        .network(Network::Private)
        .publish_port(local("127.0.0.1:0:80"))
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let ports = child.published_ports().to_vec();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].protocol, Protocol::Tcp);
    assert_eq!(ports[0].container_port, 80);
    assert_eq!(ports[0].host.ip(), Ipv4Addr::LOCALHOST);
    assert_ne!(
        ports[0].host.port(),
        0,
        "port 0 must report the chosen port"
    );
    wait_for_line(&mut child, "ready").await;

    // Two requests, one after the other, each a new proxied connection.
    for _ in 0..2 {
        let mut conn = tokio::net::TcpStream::connect(ports[0].host).await.unwrap();
        conn.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
            .await
            .unwrap();
        let mut reply = Vec::new();
        tokio::time::timeout(PATIENCE, conn.read_to_end(&mut reply))
            .await
            .unwrap()
            .unwrap();
        let reply = text(&reply);
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(reply.ends_with("hello-from-box\n"), "{reply}");
    }

    child.kill(SIGKILL).unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), 137);
    // The proxy stopped with the container: nothing listens on the port any more.
    assert!(tokio::net::TcpStream::connect(ports[0].host).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_datagrams_reach_a_server_in_the_containers_network_namespace() {
    let root = busybox_rootfs();
    let child = Container::builder(root.path())
        .cmd(["sleep", "600"])
        .network(Network::Private)
        .publish_port(local("127.0.0.1:0:5353/udp"))
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let host = child.published_ports()[0].host;
    assert_ne!(host.port(), 0);

    // The server: a UDP echo socket bound on the container's own 127.0.0.1 (a thread of this
    // test joins its network namespace to bind it; busybox has no UDP server).
    let netns = std::fs::File::open(format!("/proc/{}/ns/net", child.pid())).unwrap();
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            netns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap();
        let s = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 5353)).unwrap();
        bound_tx.send(()).unwrap();
        let mut buf = [0u8; 512];
        for _ in 0..2 {
            let (n, peer) = s.recv_from(&mut buf).unwrap();
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            s.send_to(&reply, peer).unwrap();
        }
    });
    bound_rx.recv().unwrap();

    // Two clients: each gets its own session, and its own replies.
    for msg in ["ping-one", "ping-two"] {
        let c = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        c.send_to(msg.as_bytes(), host).await.unwrap();
        let mut buf = [0u8; 512];
        let (n, from) = tokio::time::timeout(PATIENCE, c.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(from, host);
        assert_eq!(text(&buf[..n]), format!("echo:{msg}"));
    }
    server.join().unwrap();
    drop(child);
}

#[tokio::test]
async fn a_host_port_in_use_is_a_clear_error_and_nothing_starts() {
    let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let root = busybox_rootfs();
    let marker = root.path().join("tmp/started");
    let c = Container::builder(root.path())
        .cmd(["touch", "/tmp/started"])
        .network(Network::Private)
        .publish_port(local(&format!("127.0.0.1:{port}:80")))
        .build()
        .unwrap();
    let err = c.spawn().await.unwrap_err();
    let want: SocketAddr = (Ipv4Addr::LOCALHOST, port).into();
    assert!(
        matches!(err, Error::PortAllocated { addr, protocol: Protocol::Tcp, .. } if addr == want),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!(
            "127.0.0.1:{port} failed: port is already allocated"
        )),
        "{err}"
    );
    assert!(!marker.exists(), "the container ran despite the error");
}

#[tokio::test]
async fn ports_need_a_private_network() {
    let root = busybox_rootfs();
    for net in [Network::None, Network::Host] {
        let r = Container::builder(root.path())
            .cmd(["true"])
            .network(net)
            .publish(0, 80)
            .build();
        assert!(matches!(r, Err(Error::Unsupported { .. })), "{net:?}");
    }
}

#[tokio::test]
async fn private_network_has_loopback_up_and_slirp4netns_when_installed() {
    let root = busybox_rootfs();
    let out = Container::builder(root.path())
        .cmd(["sh", "-c", "ip -o addr; ip route"])
        .network(Network::Private)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = text(&out.stdout);
    assert!(s.contains("lo    inet 127.0.0.1/8"), "{s}");
    if slirp4netns_installed() {
        assert!(s.contains("tap0    inet 10.0.2.100/24"), "{s}");
        assert!(s.contains("default via 10.0.2.2 dev tap0"), "{s}");
    } else {
        assert!(!s.contains("tap0"), "{s}");
    }
    // Without outbound access, and with Network::None: never slirp4netns.
    let out = Container::builder(root.path())
        .cmd(["ip", "-o", "addr"])
        .network(Network::Private)
        .outbound(false)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(!text(&out.stdout).contains("tap0"), "{out:?}");
    let out = Container::builder(root.path())
        .cmd(["ip", "-o", "addr"])
        .network(Network::None)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(!text(&out.stdout).contains("tap0"), "{out:?}");
}

/// A detached container's ports are forwarded by slirp4netns, which outlives this call and
/// stops with the container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detached_container_publishes_a_port_through_slirp4netns() {
    use boxwright_runtime::CreateOptions;
    let (root, _state, store) = fixture();
    let c = Container::builder(root.path())
        .cmd([
            "sh",
            "-c",
            "mkdir -p /www && echo hello-detached > /www/index.html && \
             exec httpd -f -p 80 -h /www",
        ])
        .network(Network::Private)
        .publish_port(local("127.0.0.1:0:80"))
        // httpd as PID 1 would ignore the SIGTERM of `stop`.
        .init(true)
        .build()
        .unwrap();
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    let info = store.inspect(&id).unwrap();
    assert_eq!(info.ports.len(), 1, "{info:?}");
    let port = info.ports[0];
    assert_eq!(port.container_port, 80);
    assert_eq!(port.protocol, Protocol::Tcp);
    assert_ne!(port.host.port(), 0);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port.host.port()));
    assert_eq!(store.list(false).unwrap()[0].ports, info.ports);

    // httpd may not listen yet: slirp4netns then closes the connection at once.
    let page = http_get(addr, "/index.html").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.ends_with("hello-detached\n"), "{page}");

    store.stop(&id, Some(PATIENCE)).await.unwrap();
    assert!(store.inspect(&id).unwrap().ports.is_empty());
    store.remove(&id, false).await.unwrap();
    // slirp4netns ends with the container's monitor: the port is released.
    wait_until("the port's release", async || {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    std::net::TcpListener::bind(addr).expect("the host port is free again");
}

/// `-p 0:80`: bound on every address (`0.0.0.0`) at a port the kernel chose; a client
/// connects to the published port's `connect_addr()` (`127.0.0.1`), not to `host`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_connects_to_the_connect_addr_of_a_port_bound_on_every_address() {
    use boxwright_runtime::CreateOptions;
    let (root, _state, store) = fixture();
    let c = Container::builder(root.path())
        .cmd([
            "sh",
            "-c",
            "mkdir -p /www && echo hello-any > /www/index.html && exec httpd -f -p 80 -h /www",
        ])
        .network(Network::Private)
        .publish_port(local("0:80"))
        .build()
        .unwrap();
    let id = store
        .run(&c, &CreateOptions::default().tied_to_caller())
        .await
        .unwrap();
    let port = store.inspect(&id).unwrap().ports[0];
    assert_eq!(port.host.ip(), Ipv4Addr::UNSPECIFIED);
    assert_ne!(port.host.port(), 0);
    let addr = port.connect_addr();
    assert_eq!(
        addr,
        SocketAddr::from((Ipv4Addr::LOCALHOST, port.host.port()))
    );

    let page = http_get(addr, "/index.html").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.ends_with("hello-any\n"), "{page}");
    store.remove(&id, true).await.unwrap();
}
