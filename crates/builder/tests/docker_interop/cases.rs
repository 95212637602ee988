//! The Dockerfiles both builders build, and the context they build from.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{chmod, run_ok};

/// One Dockerfile built by both: boxwright's text, Docker's (the same unless a feature is
/// missing from Docker 20.10), build args, and whether the history text is compared.
pub(crate) struct Case {
    /// The tag both images get (a later case may start `FROM` it).
    pub(crate) name: &'static str,
    pub(crate) ours: &'static str,
    pub(crate) docker: &'static str,
    pub(crate) args: &'static [(&'static str, &'static str)],
    pub(crate) history: bool,
}

const COPY: &str = r#"FROM busybox:test
WORKDIR /app
WORKDIR /tmp
WORKDIR sub/dir
COPY src/ /app/src/
COPY src /app/src2
COPY --chown=1000:1000 src/a.txt /app/own-num
COPY --chown=nobody:nogroup docs /app/docs
COPY --chown=nobody src/b.txt /app/own-user
COPY --chown=1000 src/b.txt rel-dest
COPY --chmod=0640 run.sh /app/
COPY --chmod=755 docs/readme.md /app/exec.md
COPY src/*.txt /app/glob/
COPY sr?/[ab].txt src/sub/*.md /app/glob2/
COPY . /app/all/
COPY private/ /app/private/
COPY emptydir /app/emptydir
COPY src/link /app/link-copied
ADD arch.tar /app/tar/
ADD --chown=7:8 arch.tar /app/tar-owned/
ADD arch.tar.gz /app/targz
ADD src/b.txt /app/addb
COPY arch.tar /app/not-extracted.tar
"#;

const CONFIG: &str = r#"FROM busybox:test
ARG VERSION=1.0
ARG UNUSED
ENV APP_HOME=/app LANG=C.UTF-8
ENV ONE two
LABEL org.example.version=$VERSION maintainer="me" "multi word"="x y"
EXPOSE 80 443/udp 8080/tcp
VOLUME /data
VOLUME ["/logs", "/cache"]
USER nobody:nogroup
WORKDIR $APP_HOME
SHELL ["/bin/sh", "-ec"]
RUN echo $VERSION > /tmp/v
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=2 CMD wget -q localhost || exit 1
ONBUILD RUN echo onbuild > /tmp/onbuild
ONBUILD COPY src/a.txt /tmp/
ENTRYPOINT echo entry
CMD echo hello
"#;

const EXEC: &str = r#"FROM busybox:test
ENTRYPOINT ["/bin/echo", "a b"]
CMD ["c", "d"]
HEALTHCHECK NONE
USER 1000:1000
RUN ["/bin/sh", "-c", "id -u > /tmp/uid"]
STOPSIGNAL 9
"#;

const ONBUILD_CHILD: &str = r#"FROM config-image
USER root
RUN cat /tmp/onbuild /tmp/a.txt > /tmp/both
"#;

const MULTI: &str = r#"FROM busybox:test AS build
RUN mkdir -p /out/dir && echo built > /out/bin && echo gone > /out/tmp && ln -s bin /out/ln
RUN rm /out/tmp
FROM busybox:test AS other
COPY src/a.txt /a
FROM busybox:test
COPY --from=build /out /app/out
COPY --from=build /out/bin /app/bin-only
COPY --from=other --chown=5:5 /a /app/a
COPY --from=busybox:test /etc/passwd /app/passwd
RUN echo x > /etc/created && rm /bin/vi && rm -r /root && mkdir -p /var/x && touch /var/x/y
RUN rm -r /var/x && mkdir /var/x && echo new > /var/x/z
RUN chmod 700 /tmp && chown 5:6 /etc/passwd && ln -sf /etc/created /etc/ln && mkfifo /fifo
"#;

const HEREDOC: &str = "FROM busybox:test
RUN <<EOF
echo hi > /hd
mkdir /hdd
EOF
COPY <<EOT /greet
hello
EOT
";

/// [`HEREDOC`] without heredocs, for Docker 20.10's frontend.
const HEREDOC_DOCKER: &str = "FROM busybox:test
RUN echo hi > /hd && mkdir /hdd
RUN printf 'hello\\n' > /greet
";

/// The cases, in order (the ONBUILD child starts `FROM` the config case's image).
pub(crate) const CASES: &[Case] = &[
    Case {
        name: "copy-image",
        ours: COPY,
        docker: COPY,
        args: &[],
        history: true,
    },
    Case {
        name: "config-image",
        ours: CONFIG,
        docker: CONFIG,
        args: &[("VERSION", "2.0")],
        history: true,
    },
    Case {
        name: "exec-image",
        ours: EXEC,
        docker: EXEC,
        args: &[],
        history: true,
    },
    Case {
        name: "onbuild-image",
        ours: ONBUILD_CHILD,
        docker: ONBUILD_CHILD,
        args: &[],
        history: true,
    },
    Case {
        name: "multi-image",
        ours: MULTI,
        docker: MULTI,
        args: &[],
        history: true,
    },
    Case {
        name: "heredoc-image",
        ours: HEREDOC,
        docker: HEREDOC_DOCKER,
        args: &[],
        history: false,
    },
];

fn write(root: &Path, path: &str, content: &str, mode: u32) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    chmod(&p, mode);
}

/// The context every case builds from: files of several modes, a private directory, links
/// (one dangling), an empty directory, ignored files, and tar archives (plain and gzip).
pub(crate) fn context(dir: &Path) -> PathBuf {
    let ctx = dir.join("ctx");
    write(&ctx, "src/a.txt", "a\n", 0o644);
    write(&ctx, "src/b.txt", "bee\n", 0o664);
    write(&ctx, "src/exec.sh", "#!/bin/sh\necho exec\n", 0o755);
    write(&ctx, "src/sub/c.md", "c\n", 0o600);
    write(&ctx, "src/sub/deeper/d.txt", "d\n", 0o644);
    write(&ctx, "src/skip.tmp", "tmp\n", 0o644);
    write(&ctx, "src/keep.tmp", "keep\n", 0o644);
    std::os::unix::fs::symlink("a.txt", ctx.join("src/link")).unwrap();
    std::os::unix::fs::symlink("../nowhere", ctx.join("src/dangling")).unwrap();
    write(&ctx, "docs/readme.md", "docs\n", 0o644);
    write(&ctx, "private/key", "k\n", 0o600);
    chmod(&ctx.join("private"), 0o700);
    std::fs::create_dir_all(ctx.join("emptydir")).unwrap();
    write(&ctx, "run.sh", "#!/bin/sh\necho run\n", 0o755);
    write(&ctx, "secret.key", "secret\n", 0o600);
    write(&ctx, "debug.log", "log\n", 0o644);
    write(&ctx, "src/sub/trace.log", "log\n", 0o644);
    write(
        &ctx,
        ".dockerignore",
        "*.log\nsecret.key\n**/*.tmp\n!src/keep.tmp\n",
        0o644,
    );
    let t = dir.join("tarsrc");
    write(&t, "t/f", "in tar\n", 0o640);
    write(&t, "t/d/g", "deep\n", 0o755);
    chmod(&t.join("t/d"), 0o750);
    std::os::unix::fs::symlink("f", t.join("t/l")).unwrap();
    for (name, flag) in [("arch.tar", "-cf"), ("arch.tar.gz", "-czf")] {
        run_ok(
            Command::new("tar")
                .args(["--numeric-owner", "--owner=5", "--group=6", "-C"])
                .arg(&t)
                .arg(flag)
                .arg(ctx.join(name))
                .arg("t"),
        );
    }
    ctx
}
