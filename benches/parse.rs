//! Parse throughput of `boxwright-dockerfile-parser` on a large generated Dockerfile.
//!
//! `cargo bench --bench parse`; the figure goes in the README's performance section.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A Dockerfile of about `target` bytes in the style of real ones: multi-stage builds, long
/// `&& \` RUN chains with comments inside, heredocs, JSON forms, flags and ENV lists.
fn generate(target: usize) -> String {
    let mut s = String::from("# syntax=docker/dockerfile:1.7\nARG BASE=debian:bookworm-slim\n");
    let mut i = 0usize;
    while s.len() < target {
        s.push_str(&format!(
            "FROM ${{BASE}} AS stage{i}\n\
             LABEL org.opencontainers.image.title=\"stage {i}\" version=\"1.{i}\"\n\
             ENV PATH=/usr/local/bin:$PATH HOME=/root LANG=C.UTF-8 STAGE={i}\n\
             WORKDIR /src/app{i}\n\
             COPY --chown=app:app --chmod=0644 package.json package-lock.json ./\n\
             RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\\n    \
                 apt-get update \\\n    \
                 # tools for the build\n    \
                 && apt-get install -y --no-install-recommends ca-certificates curl git \\\n    \
                 && rm -rf /var/lib/apt/lists/*\n\
             RUN <<EOF\nset -eux\necho building {i}\nmake -j2 all\nEOF\n\
             COPY --from=stage{i} /src/app{i}/dist /usr/share/nginx/html\n\
             EXPOSE 80/tcp 443 8000-8010/udp\n\
             HEALTHCHECK --interval=30s --timeout=3s CMD [\"curl\", \"-f\", \"http://localhost/\"]\n\
             USER app:app\n\
             ENTRYPOINT [\"/usr/local/bin/entrypoint.sh\"]\n\
             CMD [\"nginx\", \"-g\", \"daemon off;\"]\n\n"
        ));
        i += 1;
    }
    s
}

fn bench_parse(c: &mut Criterion) {
    let text = generate(4 << 20);
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    // Parsing and freeing the syntax tree, as a caller pays for both.
    group.bench_function("generated_4MiB", |b| {
        b.iter(|| boxwright_dockerfile_parser::parse(std::hint::black_box(&text)))
    });
    // Parsing alone: the tree is freed outside the timed part.
    group.bench_function("generated_4MiB_without_free", |b| {
        b.iter_with_large_drop(|| boxwright_dockerfile_parser::parse(std::hint::black_box(&text)))
    });
    group.finish();

    // A Dockerfile of the size people write (the README's sample, about 1.6 KB).
    let sample = include_str!("../examples/Dockerfile.sample");
    let mut group = c.benchmark_group("parse_sample");
    group.throughput(Throughput::Bytes(sample.len() as u64));
    group.bench_function("Dockerfile.sample", |b| {
        b.iter(|| boxwright_dockerfile_parser::parse(std::hint::black_box(sample)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench_parse
}
criterion_main!(benches);
