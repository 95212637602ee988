//! `hello`: the program packed into the image. It greets its arguments and says where it runs
//! (in a container it is PID 1 of its own PID namespace, with the container's hostname).

#![allow(clippy::print_stdout)]

fn main() {
    let who: Vec<String> = std::env::args().skip(1).collect();
    let who = if who.is_empty() {
        "nobody in particular".to_owned()
    } else {
        who.join(" and ")
    };
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    println!(
        "hello, {who}, from {} {} (PID {}, host {})",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        hostname.trim()
    );
}
