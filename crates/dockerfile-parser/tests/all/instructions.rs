//! One test per instruction and flag: what BuildKit accepts parses to the expected typed
//! instruction, and what it refuses fails with BuildKit's message at the right line.

use std::time::Duration;

use boxwright_dockerfile_parser::{
    parse, ArgDecl, Command, ErrorKind, Healthcheck, Instruction, InstructionKind, KeyValue,
    Keyword, Layer, MountType, Network, Security, Sharing,
};

use crate::common::print_and_reparse;

/// Parses `FROM base` followed by `body`, returning the instructions after the FROM.
fn after_from(body: &str) -> Vec<Instruction> {
    let file = parse(&format!("FROM base\n{body}")).unwrap_or_else(|e| panic!("{body:?}: {e}"));
    file.instructions.into_iter().skip(1).collect()
}

fn one(body: &str) -> InstructionKind {
    let mut v = after_from(body);
    assert_eq!(v.len(), 1, "{body:?}");
    v.remove(0).kind
}

/// The error of `FROM base` followed by `body`.
fn fails(body: &str) -> (String, usize) {
    let e = parse(&format!("FROM base\n{body}")).expect_err(body);
    (e.kind().to_string(), e.line())
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn from_image_platform_alias() {
    let f = parse("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\n").unwrap();
    assert_eq!(
        f.instructions[0].kind,
        InstructionKind::From {
            image: s("golang:1.22"),
            platform: Some(s("$BUILDPLATFORM")),
            alias: Some(s("build")),
        }
    );
    let f = parse("from scratch as final.stage-1_x\n").unwrap();
    assert!(
        matches!(&f.instructions[0].kind, InstructionKind::From { alias: Some(a), .. } if a == "final.stage-1_x")
    );
    for (text, msg) in [
        ("FROM a b\n", "FROM requires either one or three arguments"),
        ("FROM a AS\n", "FROM requires either one or three arguments"),
        ("FROM a IS b\n", "FROM requires either one or three arguments"),
        ("FROM\n", "FROM requires either one or three arguments"),
        ("FROM a AS 1st\n", "invalid name for build stage: \"1st\", name can't start with a number or contain symbols"),
        ("FROM a AS b$c\n", "invalid name for build stage: \"b$c\", name can't start with a number or contain symbols"),
        ("FROM --platform a\n", "missing a value on flag: --platform"),
        ("FROM --plaform=x a\n", "unknown flag: --plaform (did you mean platform?)"),
    ] {
        assert_eq!(parse(text).unwrap_err().kind().to_string(), msg, "{text:?}");
    }
}

#[test]
fn run_shell_exec_and_flags() {
    assert_eq!(
        one("RUN apt-get update && apt-get install -y curl\n"),
        InstructionKind::Run {
            command: Command::Shell(s("apt-get update && apt-get install -y curl")),
            mounts: vec![],
            network: None,
            security: None,
            devices: vec![],
            heredocs: vec![],
        }
    );
    let InstructionKind::Run {
        command,
        network,
        security,
        devices,
        ..
    } = one("RUN --network=none --security=insecure --device=/dev/fuse [\"make\", \"-j2\"]\n")
    else {
        panic!()
    };
    assert_eq!(command, Command::Exec(vec![s("make"), s("-j2")]));
    assert_eq!(network, Some(Network::None));
    assert_eq!(security, Some(Security::Insecure));
    assert_eq!(devices, vec![s("/dev/fuse")]);
    assert!(matches!(
        one("RUN --network=host x\n"),
        InstructionKind::Run {
            network: Some(Network::Host),
            ..
        }
    ));
    assert!(matches!(
        one("RUN --network=default x\n"),
        InstructionKind::Run {
            network: Some(Network::Default),
            ..
        }
    ));
    assert!(matches!(
        one("RUN --security=sandbox x\n"),
        InstructionKind::Run {
            security: Some(Security::Sandbox),
            ..
        }
    ));
    // An empty RUN passes the instruction layer, as in BuildKit.
    assert!(
        matches!(one("RUN\n"), InstructionKind::Run { command: Command::Shell(c), .. } if c.is_empty())
    );
    // `#` after text is argument text; `--x` after the first argument is argument text.
    assert!(
        matches!(one("RUN echo hi # not a comment --x\n"), InstructionKind::Run { command: Command::Shell(c), .. } if c == "echo hi # not a comment --x")
    );
    assert_eq!(
        fails("RUN --network=bridge x\n").0,
        "invalid network mode \"bridge\""
    );
    assert_eq!(
        fails("RUN --security=relaxed x\n").0,
        "security \"relaxed\" is not valid"
    );
    assert_eq!(
        fails("RUN --network=none --network=host x\n").0,
        "duplicate flag specified: --network"
    );
    assert_eq!(
        fails("RUN --mnt=type=bind x\n").0,
        "unknown flag: --mnt (did you mean mount?)"
    );
    assert_eq!(
        fails("RUN [\"a\", 1]\n"),
        (
            s("when using JSON array syntax, arrays must be comprised of strings only"),
            2
        )
    );
}

#[test]
fn run_mounts_of_every_type() {
    let InstructionKind::Run { mounts, .. } = one(
        "RUN --mount=type=bind,source=.,target=/src,rw \
         --mount=type=cache,id=cargo,target=/root/.cargo,sharing=locked,mode=0755,uid=1000,gid=1000 \
         --mount=type=tmpfs,target=/tmp,size=64m \
         --mount=type=secret,id=npmrc,target=/root/.npmrc,required \
         --mount=type=secret,id=token,env=TOKEN \
         --mount=type=ssh,id=default,required=false \
         --mount=target=/ctx,from=builder \
         make\n",
    ) else {
        panic!()
    };
    assert_eq!(mounts.len(), 7);
    assert_eq!(
        (mounts[0].kind, mounts[0].is_readonly()),
        (MountType::Bind, false)
    );
    assert_eq!(mounts[1].kind, MountType::Cache);
    assert_eq!(mounts[1].sharing, Some(Sharing::Locked));
    assert_eq!(
        (mounts[1].mode, mounts[1].uid, mounts[1].gid),
        (Some(0o755), Some(1000), Some(1000))
    );
    assert_eq!(
        (mounts[2].kind, mounts[2].size.as_deref()),
        (MountType::Tmpfs, Some("64m"))
    );
    assert_eq!(
        (mounts[3].kind, mounts[3].required, mounts[3].is_readonly()),
        (MountType::Secret, Some(true), true)
    );
    assert_eq!(mounts[4].env.as_deref(), Some("TOKEN"));
    assert_eq!(
        (mounts[5].kind, mounts[5].required),
        (MountType::Ssh, Some(false))
    );
    assert_eq!(
        (mounts[6].kind, mounts[6].from.as_deref()),
        (MountType::Bind, Some("builder"))
    );
    // Variables are checked after expansion, except `from`.
    assert!(matches!(
        one("RUN --mount=type=cache,target=${DIR} x\n"),
        InstructionKind::Run { .. }
    ));
    assert_eq!(
        fails("RUN --mount=from=$STAGE,target=/x x\n").0,
        "invalid mount \"from=$STAGE,target=/x\": 'from' doesn't support variable expansion, define alias stage instead"
    );
    assert!(fails("RUN --mount=type=volume,target=/x x\n")
        .0
        .contains("unsupported mount type \"volume\""));
    assert!(
        fails("RUN --mount=type=cache,target=/x,sharing=sometimes x\n")
            .0
            .contains("unsupported sharing value")
    );
    assert!(fails("RUN --mount=type=bind,target x\n")
        .0
        .contains("invalid field 'target' must be a key=value pair"));
}

#[test]
fn cmd_and_entrypoint() {
    assert_eq!(
        one("CMD [\"nginx\", \"-g\", \"daemon off;\"]\n"),
        InstructionKind::Cmd {
            command: Command::Exec(vec![s("nginx"), s("-g"), s("daemon off;")])
        }
    );
    assert_eq!(
        one("CMD echo $HOME\n"),
        InstructionKind::Cmd {
            command: Command::Shell(s("echo $HOME"))
        }
    );
    assert_eq!(
        one("ENTRYPOINT [\"/bin/tini\", \"--\"]\n"),
        InstructionKind::Entrypoint {
            command: Command::Exec(vec![s("/bin/tini"), s("--")])
        }
    );
    assert_eq!(
        one("CMD []\n"),
        InstructionKind::Cmd {
            command: Command::Exec(vec![])
        }
    );
    // Not a JSON array of strings: shell form, as BuildKit falls back.
    for text in [
        "['a']",
        "[\"a\",]",
        "[\"a\"",
        "[\"a\"] && b",
        "[\"c:\\windows\"]",
        "{}",
    ] {
        assert_eq!(
            one(&format!("CMD {text}\n")),
            InstructionKind::Cmd {
                command: Command::Shell(s(text))
            },
            "{text}"
        );
    }
    assert_eq!(
        one("ENTRYPOINT [\"a\\u0041\\\"\"]\n"),
        InstructionKind::Entrypoint {
            command: Command::Exec(vec![s("aA\"")])
        }
    );
    assert_eq!(
        fails("CMD [\"a\", null]\n").0,
        "when using JSON array syntax, arrays must be comprised of strings only"
    );
    assert_eq!(fails("ENTRYPOINT --foo x\n").0, "unknown flag: --foo");
}

#[test]
fn copy_and_add_flags() {
    assert_eq!(
        one("COPY --from=build --chown=app:app --chmod=0755 --link --parents --exclude=*.md --exclude=tests/ a b /dst/\n"),
        InstructionKind::Copy {
            sources: vec![s("a"), s("b")],
            dest: s("/dst/"),
            from: Some(s("build")),
            chown: Some(s("app:app")),
            chmod: Some(s("0755")),
            link: true,
            parents: true,
            exclude: vec![s("*.md"), s("tests/")],
            heredocs: vec![],
        }
    );
    assert!(matches!(
        one("COPY --link=false a b\n"),
        InstructionKind::Copy { link: false, .. }
    ));
    assert!(matches!(
        one("COPY --link=TRUE a b\n"),
        InstructionKind::Copy { link: true, .. }
    ));
    assert!(
        matches!(one("COPY [\"a b\", \"/c d/\"]\n"), InstructionKind::Copy { sources, dest, .. } if sources == vec![s("a b")] && dest == "/c d/")
    );
    // Quotes do not group words outside JSON.
    assert!(
        matches!(one("COPY \"a b\" /d\n"), InstructionKind::Copy { sources, .. } if sources == vec![s("\"a"), s("b\"")])
    );
    assert_eq!(
        one("ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d --chmod=644 https://example.com/a.tar.gz /opt/\n"),
        InstructionKind::Add {
            sources: vec![s("https://example.com/a.tar.gz")],
            dest: s("/opt/"),
            chown: None,
            chmod: Some(s("644")),
            link: false,
            keep_git_dir: false,
            checksum: Some(s("sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d")),
            unpack: None,
            exclude: vec![],
            heredocs: vec![],
        }
    );
    assert!(matches!(
        one("ADD --keep-git-dir=true --unpack=false git@github.com:a/b.git /src\n"),
        InstructionKind::Add {
            keep_git_dir: true,
            unpack: Some(false),
            ..
        }
    ));
    let msg = "COPY requires at least two arguments, but only one was provided. Destination could not be determined";
    assert_eq!(fails("COPY a\n").0, msg);
    assert_eq!(fails("COPY\n").0, msg);
    assert_eq!(
        fails("COPY --from a b\n").0,
        "missing a value on flag: --from"
    );
    assert_eq!(
        fails("COPY --link=maybe a b\n").0,
        "expecting boolean value for flag --link, not: maybe"
    );
    assert_eq!(
        fails("COPY --link= a b\n").0,
        "missing a value on flag: --link"
    );
    assert_eq!(
        fails("COPY --from=a --from=b a b\n").0,
        "duplicate flag specified: --from"
    );
    assert_eq!(fails("ADD --from=a a b\n").0, "unknown flag: --from");
    assert_eq!(
        fails("COPY --checksum=x a b\n").0,
        "unknown flag: --checksum"
    );
    assert_eq!(
        fails("COPY a <<EOF\nx\nEOF\n").0,
        "COPY cannot accept a heredoc as a destination"
    );
}

#[test]
fn env_label_forms() {
    assert_eq!(
        one("ENV A=1 B=\"two words\" C=three\\ four D=\n"),
        InstructionKind::Env {
            pairs: vec![
                KeyValue {
                    key: s("A"),
                    value: s("1")
                },
                KeyValue {
                    key: s("B"),
                    value: s("\"two words\"")
                },
                KeyValue {
                    key: s("C"),
                    value: s("three\\ four")
                },
                KeyValue {
                    key: s("D"),
                    value: s("")
                },
            ],
            legacy: false,
        }
    );
    assert_eq!(
        one("ENV A B= C=d\n"),
        InstructionKind::Env {
            pairs: vec![KeyValue {
                key: s("A"),
                value: s("B= C=d")
            }],
            legacy: true
        }
    );
    assert_eq!(
        one("LABEL a=b 'c d'=e\n"),
        InstructionKind::Label {
            pairs: vec![
                KeyValue {
                    key: s("a"),
                    value: s("b")
                },
                KeyValue {
                    key: s("'c d'"),
                    value: s("e")
                }
            ],
            legacy: false
        }
    );
    // A no-break space separates k=v words (Go's unicode.IsSpace).
    assert!(
        matches!(one("ENV a=1\u{a0}b=2\n"), InstructionKind::Env { pairs, .. } if pairs.len() == 2)
    );
    assert_eq!(fails("ENV K\n"), (s("ENV must have two arguments"), 2));
    assert_eq!(fails("LABEL K\n").0, "LABEL must have two arguments");
    assert_eq!(
        fails("ENV a=1 b\n").0,
        "Syntax error - can't find = in \"b\". Must be of the form: name=value"
    );
    assert_eq!(fails("ENV\n").0, "ENV requires at least one argument");
    assert_eq!(fails("ENV =x\n").0, "ENV names can not be blank");
    assert_eq!(fails("LABEL a=b =x\n").0, "LABEL names can not be blank");
    assert_eq!(fails("ENV --x a=b\n").0, "unknown flag: --x");
    let e = parse("FROM a\nENV K\n").unwrap_err();
    assert_eq!(e.layer(), Layer::Parse);
}

#[test]
fn arg_forms_and_meta_args() {
    let f =
        parse("ARG VERSION=1.2\nARG BASE\nFROM img:$VERSION\nARG VERSION\nARG A=1 B\n").unwrap();
    assert_eq!(
        f.instructions[0].kind,
        InstructionKind::Arg {
            args: vec![ArgDecl {
                name: s("VERSION"),
                default: Some(s("1.2"))
            }]
        }
    );
    assert_eq!(
        f.instructions[4].kind,
        InstructionKind::Arg {
            args: vec![
                ArgDecl {
                    name: s("A"),
                    default: Some(s("1"))
                },
                ArgDecl {
                    name: s("B"),
                    default: None
                }
            ]
        }
    );
    assert_eq!(
        one("ARG X=\"a b\"\n"),
        InstructionKind::Arg {
            args: vec![ArgDecl {
                name: s("X"),
                default: Some(s("\"a b\""))
            }]
        }
    );
    // ARG never checks its flags (BuildKit).
    assert!(matches!(
        one("ARG --anything=1 X\n"),
        InstructionKind::Arg { .. }
    ));
    assert_eq!(fails("ARG =x\n").0, "ARG names can not be blank");
    assert_eq!(fails("ARG\n").0, "ARG requires at least one argument");
}

#[test]
fn single_argument_instructions() {
    assert_eq!(
        one("WORKDIR /a b\n"),
        InstructionKind::Workdir { path: s("/a b") }
    );
    assert_eq!(
        one("USER app:app\n"),
        InstructionKind::User { user: s("app:app") }
    );
    assert_eq!(
        one("STOPSIGNAL SIGRTMIN+3\n"),
        InstructionKind::Stopsignal {
            signal: s("SIGRTMIN+3")
        }
    );
    assert!(matches!(
        one("STOPSIGNAL --whatever 9\n"),
        InstructionKind::Stopsignal { .. }
    ));
    assert_eq!(
        one("MAINTAINER Jane Doe <jane@example.com>\n"),
        InstructionKind::Maintainer {
            name: s("Jane Doe <jane@example.com>")
        }
    );
    for kw in ["WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER"] {
        assert_eq!(
            fails(&format!("{kw}\n")).0,
            format!("{kw} requires exactly one argument")
        );
    }
    assert_eq!(fails("WORKDIR --x /a\n").0, "unknown flag: --x");
    let f = parse("FROM a\nMAINTAINER me\n").unwrap();
    assert!(f
        .warnings
        .iter()
        .any(|w| w.rule == "MaintainerDeprecated" && w.line == 2));
}

#[test]
fn expose_volume_shell() {
    assert_eq!(
        one("EXPOSE 80 443/tcp 8000-8010/udp ${PORT}\n"),
        InstructionKind::Expose {
            ports: vec![s("80"), s("443/tcp"), s("8000-8010/udp"), s("${PORT}")]
        }
    );
    assert_eq!(
        one("VOLUME /data /logs\n"),
        InstructionKind::Volume {
            paths: vec![s("/data"), s("/logs")]
        }
    );
    assert_eq!(
        one("VOLUME [\"/var/lib/my data\"]\n"),
        InstructionKind::Volume {
            paths: vec![s("/var/lib/my data")]
        }
    );
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n"),
        InstructionKind::Shell {
            shell: vec![s("/bin/bash"), s("-o"), s("pipefail"), s("-c")]
        }
    );
    assert_eq!(fails("EXPOSE\n").0, "EXPOSE requires at least one argument");
    assert_eq!(fails("VOLUME\n").0, "VOLUME requires at least one argument");
    assert_eq!(
        fails("VOLUME [\"\"]\n").0,
        "VOLUME specified can not be an empty string"
    );
    assert_eq!(
        fails("SHELL /bin/sh -c\n").0,
        "SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(
        fails("SHELL []\n").0,
        "SHELL requires at least one argument"
    );
}

#[test]
fn healthcheck_none_and_cmd() {
    assert_eq!(
        one("HEALTHCHECK NONE\n"),
        InstructionKind::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        one("HEALTHCHECK --interval=5s NONE\n"),
        InstructionKind::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        one("HEALTHCHECK --interval=1m30s --timeout=3s --start-period=40s --start-interval=500ms --retries=5 CMD curl -f http://localhost/ || exit 1\n"),
        InstructionKind::Healthcheck(Healthcheck::Cmd {
            command: Command::Shell(s("curl -f http://localhost/ || exit 1")),
            interval: Some(Duration::from_secs(90)),
            timeout: Some(Duration::from_secs(3)),
            start_period: Some(Duration::from_secs(40)),
            start_interval: Some(Duration::from_millis(500)),
            retries: Some(5),
        })
    );
    assert!(matches!(
        one("healthcheck --interval=0 cmd [\"true\"]\n"),
        InstructionKind::Healthcheck(Healthcheck::Cmd {
            command: Command::Exec(_),
            interval: None,
            ..
        })
    ));
    assert_eq!(
        fails("HEALTHCHECK NONE x\n").0,
        "HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(
        fails("HEALTHCHECK RUN x\n").0,
        "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"
    );
    assert_eq!(
        fails("HEALTHCHECK CMD\n").0,
        "Missing command after HEALTHCHECK CMD"
    );
    assert_eq!(
        fails("HEALTHCHECK\n").0,
        "HEALTHCHECK requires at least one argument"
    );
    assert_eq!(
        fails("HEALTHCHECK --interval=10 CMD x\n").0,
        "time: missing unit in duration \"10\""
    );
    assert_eq!(
        fails("HEALTHCHECK --timeout=500us CMD x\n").0,
        "Interval \"timeout\" cannot be less than 1ms"
    );
    assert_eq!(
        fails("HEALTHCHECK --retries=-1 CMD x\n").0,
        "invalid value \"-1\" for --retries: expected a non-negative integer"
    );
    assert_eq!(
        fails("HEALTHCHECK --intreval=1s CMD x\n").0,
        "unknown flag: --intreval (did you mean interval?)"
    );
}

#[test]
fn onbuild_triggers() {
    let InstructionKind::Onbuild {
        expression,
        trigger,
    } = one("ONBUILD COPY --chown=app . /app\n")
    else {
        panic!()
    };
    assert_eq!(expression, "COPY --chown=app . /app");
    let trigger = trigger.unwrap();
    assert_eq!(trigger.keyword, Keyword::Copy);
    assert!(matches!(trigger.kind, InstructionKind::Copy { chown: Some(c), .. } if c == "app"));
    // An unknown trigger is stored as text; only a downstream build rejects it.
    let f = parse("FROM a\nONBUILD FROBNICATE x\n").unwrap();
    assert!(
        matches!(&f.instructions[1].kind, InstructionKind::Onbuild { trigger: None, expression } if expression == "FROBNICATE x")
    );
    assert!(f.warnings.iter().any(|w| w.rule == "OnbuildTrigger"));
    let InstructionKind::Onbuild { trigger, .. } = one("ONBUILD RUN <<EOF\necho hi\nEOF\n") else {
        panic!()
    };
    assert!(
        matches!(trigger.unwrap().kind, InstructionKind::Run { heredocs, .. } if heredocs[0].content == "echo hi\n")
    );
    assert_eq!(
        fails("ONBUILD ONBUILD RUN x\n").0,
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        fails("ONBUILD FROM x\n").0,
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        fails("ONBUILD maintainer x\n").0,
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        fails("ONBUILD\n").0,
        "ONBUILD requires at least one argument"
    );
}

#[test]
fn heredocs() {
    let InstructionKind::Run {
        heredocs, command, ..
    } = one("RUN <<EOF\nset -e\necho $HOME\nEOF\n")
    else {
        panic!()
    };
    assert_eq!(command, Command::Shell(s("<<EOF")));
    assert_eq!(
        (
            heredocs[0].name.as_str(),
            heredocs[0].content.as_str(),
            heredocs[0].expand
        ),
        ("EOF", "set -e\necho $HOME\n", true)
    );
    let v = after_from("RUN <<A cat && 3<<-'B' cat >&3\na\nA\n\tb\n\tB\nUSER x\n");
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].span.end_line, 6);
    let h = &v[0].heredocs;
    assert_eq!((h[0].name.as_str(), h[0].fd), ("A", None));
    assert_eq!(
        (h[1].name.as_str(), h[1].chomp, h[1].expand, h[1].fd),
        ("B", true, false, Some(3))
    );
    assert_eq!(h[1].text(), "b\n");
    // `cat << EOF` (a blank after <<) is a heredoc; `<<- EOF` is not; nor a quoted `'<<EOF'`.
    assert_eq!(after_from("RUN cat << EOF\nx\nEOF\n")[0].heredocs.len(), 1);
    assert_eq!(after_from("RUN cat <<- EOF\n")[0].heredocs.len(), 0);
    assert_eq!(after_from("RUN echo '<<EOF'\n")[0].heredocs.len(), 0);
    assert_eq!(after_from("RUN a<<b\n")[0].heredocs.len(), 0);
    assert_eq!(after_from("RUN cat <<<EOF\n")[0].heredocs.len(), 0);
    assert_eq!(
        after_from("RUN [\"cat\", \"<<EOF\"]\n")[0].heredocs.len(),
        0
    );
    assert_eq!(after_from("CMD cat <<EOF\n")[0].heredocs.len(), 0);
    // CRLF kept in bodies; the terminator compared exactly.
    let v = after_from("RUN <<EOF\r\nx\r\n EOF\r\nEOF\r\n");
    assert_eq!(v[0].heredocs[0].content, "x\r\n EOF\r\n");
    let InstructionKind::Copy {
        heredocs, sources, ..
    } = one("COPY <<one.txt <<\"two.txt\" /dst/\n1\none.txt\n$2\ntwo.txt\n")
    else {
        panic!()
    };
    assert!(sources.is_empty());
    assert_eq!(
        (heredocs[0].name.as_str(), heredocs[0].expand),
        ("one.txt", true)
    );
    assert_eq!(
        (
            heredocs[1].name.as_str(),
            heredocs[1].expand,
            heredocs[1].content.as_str()
        ),
        ("two.txt", false, "$2\n")
    );
    assert_eq!(
        fails("RUN <<EOF\nx\neof\n"),
        (s("unterminated heredoc \"EOF\""), 2)
    );
}

#[test]
fn directives_comments_continuations() {
    let f = parse("# Syntax = docker/dockerfile:1\n#escape=`\n# check=skip=all\nFROM a\nRUN dir c:\\ `\n  # comment\n\n  && echo ok\n").unwrap();
    assert_eq!(f.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(f.directives.escape, Some('`'));
    assert_eq!(f.directives.check.as_deref(), Some("skip=all"));
    assert_eq!(f.instructions[1].args, vec![s("dir c:\\   && echo ok")]);
    assert_eq!(
        (
            f.instructions[1].span.start_line,
            f.instructions[1].span.end_line
        ),
        (5, 8)
    );
    assert!(f
        .warnings
        .iter()
        .any(|w| w.rule == "NoEmptyContinuation" && w.line == 5));
    // A directive after a comment, a blank line or an instruction is a comment.
    for text in [
        "# c\n# escape=`\nFROM a\n",
        "\n# escape=`\nFROM a\n",
        "#!/bin/x\n# escape=`\nFROM a\n",
        "FROM a\n# escape=`\n",
    ] {
        assert_eq!(parse(text).unwrap().directives.escape, None, "{text:?}");
    }
    assert_eq!(
        parse("# escape=x\nFROM a\n").unwrap_err().to_string(),
        "line 1: invalid escape token 'x' does not match ` or \\"
    );
    assert_eq!(
        parse("# escape=`\n# escape=`\nFROM a\n")
            .unwrap_err()
            .to_string(),
        "line 2: only one escape parser directive can be used"
    );
    // BOM, CRLF, leading blanks, lower-case keywords.
    let f = parse("\u{feff}from a\r\n  run echo \\\r\n   hi\r\n").unwrap();
    assert_eq!(f.instructions[1].args, vec![s("echo    hi")]);
    assert_eq!(f.instructions[1].keyword_text(), "run");
    // `\\` at the end does not continue; a comment ending in `\` continues nothing.
    let f = parse("FROM a\nRUN a \\\\\nRUN b\n# c \\\nRUN d\n").unwrap();
    assert_eq!(f.instructions.len(), 4);
    // A continuation open at EOF is fine.
    assert_eq!(
        parse("FROM a\nRUN x \\").unwrap().instructions[1].args,
        vec![s("x")]
    );
    // Comments directly above an instruction are kept; an empty `#` resets them.
    let f = parse("# one\n#\n# two\n# three\nFROM a\n").unwrap();
    assert_eq!(f.instructions[0].comments, vec![s("two"), s("three")]);
}

#[test]
fn file_level_errors() {
    assert_eq!(parse("").unwrap_err().kind(), &ErrorKind::NoInstructions);
    assert_eq!(
        parse("# only\n\n# comments\n").unwrap_err().kind(),
        &ErrorKind::NoInstructions
    );
    assert_eq!(
        parse("# syntax=x\n").unwrap_err().kind(),
        &ErrorKind::NoInstructions
    );
    let e = parse("ARG A\nRUN x\n").unwrap_err();
    assert_eq!(
        (e.line(), e.kind().to_string()),
        (
            2,
            s("no build stage in current context (RUN before the first FROM)")
        )
    );
    let e = parse("FROM a\n\n\n  COPPY . /app\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 4, column 3: unknown instruction \"COPPY\" (did you mean COPY?)"
    );
    assert_eq!(
        (e.line(), e.column(), e.layer()),
        (4, 3, Layer::Instructions)
    );
    // Parse-layer errors anywhere come before instruction-layer errors.
    let e = parse("FROM a\nFOO x\nRUN <<EOF\n").unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::UnterminatedHeredoc(s("EOF")));
    let long = format!("FROM a\nRUN {}\n", "x".repeat(70_000));
    assert_eq!(
        parse(&long).unwrap_err().to_string(),
        "line 2: dockerfile line greater than max allowed size of 65535"
    );
    assert_eq!(
        boxwright_dockerfile_parser::parse_bytes(b"FROM a\nRUN \xff\n")
            .unwrap_err()
            .to_string(),
        "line 2, column 5: the Dockerfile is not valid UTF-8"
    );
    // Flag errors point at the flag.
    let e = parse("FROM a\nCOPY --chown=a \\\n     --bogus=1 a b\n").unwrap_err();
    assert_eq!((e.line(), e.column()), (3, 6));
}

#[test]
fn spans_and_text() {
    let src = "FROM a\n\nRUN one \\\n  two\nCMD x\n";
    let f = parse(src).unwrap();
    let run = &f.instructions[1];
    assert_eq!((run.span.start_line, run.span.end_line), (3, 4));
    assert_eq!(&src[run.span.bytes.clone()], "RUN one \\\n  two");
    assert_eq!(run.text, "RUN one \\\n  two");
    assert_eq!(f.instructions[2].span.start_line, 5);
}

#[test]
fn printing_round_trips() {
    let src = "# escape=`\nFROM --platform=linux/arm64 a AS b\nRUN --mount=type=secret,id=\"a b\" echo `\n  hi\nCOPY --chown=\"x y\" [\"a b\", \"/c\"]\nENV A=\"1 2\" B=3\nENV L legacy value\nHEALTHCHECK --retries=2 CMD [\"true\"]\nONBUILD RUN -- --x\nRUN <<EOF\nbody\nEOF\n";
    let f = parse(src).unwrap();
    let printed = print_and_reparse(&f).unwrap_or_else(|e| panic!("{e}"));
    assert!(printed.starts_with("# escape=`\nFROM --platform=linux/arm64 a AS b\n"));
}
