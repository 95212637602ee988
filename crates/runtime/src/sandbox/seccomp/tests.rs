//! The generator against the programs seccompiler builds for the same profiles (the plain
//! scheme: one filter per action, linear chains), both run by a classic BPF interpreter and
//! combined as the kernel combines filters.

use oci_spec::runtime::Arch;
use proptest::prelude::*;

use super::bpf::{Insn, AND_K, JA, JEQ_K, JGE_K, JGT_K, JSET_K, LD_W_ABS, MAX_INSNS, RET_K};
use super::*;

#[cfg(target_arch = "x86_64")]
const COMPAT: Option<u32> = Some(AUDIT_ARCH_I386);
#[cfg(not(target_arch = "x86_64"))]
const COMPAT: Option<u32> = None;

/// An architecture no program is made for.
const OTHER_ARCH: u32 = 0x4000_0028; // AUDIT_ARCH_ARM

fn native() -> u32 {
    native_arch().unwrap()
}

/// `struct seccomp_data` for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Data {
    nr: u32,
    arch: u32,
    args: [u64; 6],
}

impl Data {
    fn new(arch: u32, nr: u32, args: [u64; 6]) -> Self {
        Data { nr, arch, args }
    }

    fn bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        b[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        b[8..16].copy_from_slice(&0x1234_5678_9abc_def0u64.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        b
    }
}

/// What the kernel checks of a filter (`bpf_check_classic` and `seccomp_check_filter`), for
/// the instructions our programs use.
fn check(prog: &[Insn]) {
    assert!(
        !prog.is_empty() && prog.len() <= MAX_INSNS,
        "{} insns",
        prog.len()
    );
    assert_eq!(prog[prog.len() - 1].code, RET_K, "must end with RET");
    for (pc, i) in prog.iter().enumerate() {
        let rest = prog.len() - pc - 1;
        match i.code {
            LD_W_ABS => assert!(i.k.is_multiple_of(4) && i.k < 64, "load at {}", i.k),
            AND_K | RET_K => {}
            JA => assert!((i.k as usize) < rest, "JA out of the program at {pc}"),
            JEQ_K | JGT_K | JGE_K | JSET_K => {
                assert!(
                    (i.jt as usize) < rest && (i.jf as usize) < rest,
                    "jump out of the program at {pc}"
                )
            }
            other => panic!("opcode {other:#x} at {pc}"),
        }
    }
}

/// Runs one filter: its answer and the number of instructions it ran.
fn run(prog: &[Insn], d: &Data) -> (u32, usize) {
    let bytes = d.bytes();
    let mut a = 0u32;
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        let i = prog[pc];
        pc += 1;
        steps += 1;
        let jump = |t: bool| usize::from(if t { i.jt } else { i.jf });
        match i.code {
            LD_W_ABS => {
                let k = i.k as usize;
                a = u32::from_ne_bytes(bytes[k..k + 4].try_into().unwrap());
            }
            AND_K => a &= i.k,
            JA => pc += i.k as usize,
            JEQ_K => pc += jump(a == i.k),
            JGT_K => pc += jump(a > i.k),
            JGE_K => pc += jump(a >= i.k),
            JSET_K => pc += jump(a & i.k != 0),
            RET_K => return (i.k, steps),
            other => panic!("opcode {other:#x}"),
        }
    }
}

/// The kernel's answer with several filters installed in order: the strictest, and between
/// equally strict ones the newest filter's (`seccomp_run_filters`).
fn run_all(progs: &[Program], d: &Data) -> u32 {
    let action_only = |r: u32| (r & libc::SECCOMP_RET_ACTION_FULL) as i32;
    let mut ret = libc::SECCOMP_RET_ALLOW;
    for p in progs.iter().rev() {
        let cur = run(p, d).0;
        if action_only(cur) < action_only(ret) {
            ret = cur;
        }
    }
    ret
}

/// The kernel's action-cache emulation (`seccomp_is_const_allow`): whether a filter allows a
/// syscall whatever its arguments, seen without running on them.
fn const_allow(prog: &[Insn], arch: u32, nr: u32) -> bool {
    let mut a = 0u32;
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        pc += 1;
        let jump = |t: bool| usize::from(if t { i.jt } else { i.jf });
        match i.code {
            LD_W_ABS if i.k == 0 => a = nr,
            LD_W_ABS if i.k == 4 => a = arch,
            LD_W_ABS => return false,
            AND_K => a &= i.k,
            JA => pc += i.k as usize,
            JEQ_K => pc += jump(a == i.k),
            JGT_K => pc += jump(a > i.k),
            JGE_K => pc += jump(a >= i.k),
            JSET_K => pc += jump(a & i.k != 0),
            RET_K => return i.k == libc::SECCOMP_RET_ALLOW,
            _ => return false,
        }
    }
}

/// The compiler this generator replaces (seccompiler, one filter per action, each with the
/// architecture check rewritten to let the other architecture through), kept as the reference.
mod reference {
    use std::collections::BTreeMap;

    use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg};
    use oci_spec::runtime::{LinuxSeccompOperator, LinuxSyscall};
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };

    use super::super::{syscall_number, Program};
    use super::Insn;

    type Error = String;

    fn action(
        a: LinuxSeccompAction,
        errno: Option<u32>,
        default_errno: u32,
    ) -> Result<SeccompAction, Error> {
        Ok(match a {
            LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
            LinuxSeccompAction::ScmpActErrno => {
                SeccompAction::Errno(errno.unwrap_or(default_errno))
            }
            LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
                SeccompAction::KillThread
            }
            LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
            LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
            LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
            other => return Err(format!("{other:?}")),
        })
    }

    fn condition(a: &LinuxSeccompArg) -> Result<SeccompCondition, Error> {
        let op = match a.op() {
            LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
            LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
            LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
            LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
            LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
            LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
            LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(a.value()),
        };
        let value = match a.op() {
            LinuxSeccompOperator::ScmpCmpMaskedEq => a.value_two().unwrap_or(0),
            _ => a.value(),
        };
        let index = u8::try_from(a.index()).map_err(|e| e.to_string())?;
        SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).map_err(|e| e.to_string())
    }

    type Rules = BTreeMap<i64, Option<Vec<SeccompRule>>>;

    fn add(rules: &mut Rules, nr: i64, rule: Option<SeccompRule>) {
        let slot = rules.entry(nr).or_insert_with(|| Some(Vec::new()));
        match (slot.as_mut(), rule) {
            (Some(list), Some(rule)) => list.push(rule),
            (Some(_), None) => *slot = None,
            (None, _) => {}
        }
    }

    fn filter(
        rules: Rules,
        mismatch: SeccompAction,
        matched: SeccompAction,
        arch: TargetArch,
    ) -> Result<BpfProgram, Error> {
        let rules = rules
            .into_iter()
            .map(|(nr, r)| (nr, r.unwrap_or_default()))
            .collect();
        SeccompFilter::new(rules, mismatch, matched, arch)
            .and_then(BpfProgram::try_from)
            .map_err(|e| e.to_string())
    }

    fn programs(
        profile: &LinuxSeccomp,
        syscall_number: fn(&str) -> Option<i64>,
    ) -> Result<Vec<BpfProgram>, Error> {
        let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
        let default_errno = profile.default_errno_ret().unwrap_or(libc::EPERM as u32);
        let default = action(profile.default_action(), None, default_errno)?;
        let mut listed = Rules::new();
        let mut groups: Vec<(SeccompAction, Rules)> = Vec::new();
        for entry in profile.syscalls().iter().flatten() {
            let act = action(entry.action(), entry.errno_ret(), default_errno)?;
            let rule = match entry.args() {
                Some(args) if !args.is_empty() => Some(
                    SeccompRule::new(args.iter().map(condition).collect::<Result<_, _>>()?)
                        .map_err(|e| e.to_string())?,
                ),
                _ => None,
            };
            for name in entry.names() {
                let Some(nr) = syscall_number(name) else {
                    continue;
                };
                add(&mut listed, nr, rule.clone());
                if act != SeccompAction::Allow {
                    let i = match groups.iter().position(|(a, _)| *a == act) {
                        Some(i) => i,
                        None => {
                            groups.push((act.clone(), Rules::new()));
                            groups.len() - 1
                        }
                    };
                    add(&mut groups[i].1, nr, rule.clone());
                }
            }
        }
        let mut progs = Vec::new();
        if default != SeccompAction::Allow {
            progs.push(filter(listed, default, SeccompAction::Allow, arch)?);
        }
        for (act, rules) in groups {
            progs.push(filter(rules, SeccompAction::Allow, act, arch)?);
        }
        Ok(progs)
    }

    fn admit_other_arch(prog: &mut Program, own: u32, other: u32) {
        let insn = |code, jt, jf, k| Insn { code, jt, jf, k };
        assert_eq!((prog[0].code, prog[0].k), (super::LD_W_ABS, 4));
        assert_eq!((prog[1].code, prog[1].jt, prog[1].jf), (super::JEQ_K, 1, 0));
        let prologue = [
            insn(super::LD_W_ABS, 0, 0, 4),
            insn(super::JEQ_K, 3, 0, own),
            insn(super::JEQ_K, 0, 1, other),
            insn(super::RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
            insn(super::RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        ];
        prog.splice(0..3, prologue);
    }

    fn convert(p: BpfProgram) -> Program {
        p.into_iter()
            .map(|i| Insn {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect()
    }

    /// The programs the runtime installed before this generator.
    pub(super) fn compile(profile: &LinuxSeccomp) -> Result<Vec<Program>, Error> {
        if profile.flags().as_ref().is_some_and(|f| !f.is_empty())
            || profile.listener_path().is_some()
        {
            return Err("flags".into());
        }
        let mut progs: Vec<Program> = programs(profile, syscall_number)?
            .into_iter()
            .map(convert)
            .collect();
        #[cfg(target_arch = "x86_64")]
        if profile
            .architectures()
            .iter()
            .flatten()
            .any(|a| *a == oci_spec::runtime::Arch::ScmpArchX86)
        {
            let compat: Vec<Program> = programs(profile, super::super::i386_number)?
                .into_iter()
                .map(convert)
                .collect();
            let (native, i386) = (super::native(), super::AUDIT_ARCH_I386);
            for p in &mut progs {
                admit_other_arch(p, native, i386);
            }
            for mut p in compat {
                admit_other_arch(&mut p, i386, native);
                progs.push(p);
            }
        }
        Ok(progs)
    }

    /// An entry of a profile.
    pub(super) fn syscall(
        names: &[&str],
        action: LinuxSeccompAction,
        errno: Option<u32>,
        args: Vec<LinuxSeccompArg>,
    ) -> LinuxSyscall {
        let mut s = LinuxSyscall::default();
        s.set_names(names.iter().map(|n| (*n).to_owned()).collect());
        s.set_action(action);
        s.set_errno_ret(errno);
        s.set_args((!args.is_empty()).then_some(args));
        s
    }
}

use reference::syscall;

fn arg(index: usize, op: LinuxSeccompOperator, value: u64, value_two: u64) -> LinuxSeccompArg {
    LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value)
        .value_two(value_two)
        .build()
        .unwrap()
}

fn profile(
    default: LinuxSeccompAction,
    syscalls: Vec<LinuxSyscall>,
    arches: Option<Vec<Arch>>,
) -> LinuxSeccomp {
    let mut p = LinuxSeccomp::default();
    p.set_default_action(default);
    p.set_syscalls(Some(syscalls));
    p.set_architectures(arches);
    p
}

fn both_arches() -> Option<Vec<Arch>> {
    Some(vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86])
}

/// Argument values worth trying against a profile: its constants, their neighbours, the same
/// on the other half, and the extremes.
fn interesting(p: &LinuxSeccomp) -> Vec<u64> {
    let mut v = vec![
        0,
        1,
        u64::from(u32::MAX),
        1 << 32,
        u64::MAX,
        0x8000_0000,
        0x8000_0000_0000_0000,
    ];
    for a in p
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|s| s.args().iter().flatten())
    {
        for x in [a.value(), a.value_two().unwrap_or(0)] {
            v.extend([
                x,
                x.wrapping_add(1),
                x.wrapping_sub(1),
                x ^ (1 << 32),
                x.rotate_left(32),
                !x,
                x & a.value(),
                x | !a.value(),
                x.wrapping_add(1 << 32),
                x.wrapping_sub(1 << 32),
            ]);
            // Each bit of a mask alone.
            if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq {
                v.extend((0..64).map(|b| 1u64 << b).filter(|b| a.value() & b != 0));
            }
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// A small deterministic generator for argument mixes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Argument vectors: none set, each interesting value in each argument, and mixes.
fn arg_vectors(values: &[u64], mixes: usize, seed: u64) -> Vec<[u64; 6]> {
    let mut out = vec![[0; 6], [u64::MAX; 6]];
    for x in values {
        for i in 0..6 {
            let mut a = [0; 6];
            a[i] = *x;
            out.push(a);
        }
    }
    let mut rng = XorShift(seed | 1);
    for _ in 0..mixes {
        let mut a = [0; 6];
        for x in &mut a {
            let r = rng.next();
            *x = if r.is_multiple_of(4) || values.is_empty() {
                rng.next()
            } else {
                values[(r >> 8) as usize % values.len()]
            };
        }
        out.push(a);
    }
    out
}

/// The syscall numbers a profile names with argument conditions, on the architecture of
/// `number` (all those given).
fn conditional_numbers(p: &LinuxSeccomp, numbers: &[fn(&str) -> Option<i64>]) -> Vec<u32> {
    let mut out = Vec::new();
    for s in p.syscalls().iter().flatten() {
        if s.args().as_ref().is_some_and(|a| !a.is_empty()) {
            for n in s.names() {
                out.extend(numbers.iter().filter_map(|f| f(n)).map(|nr| nr as u32));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Asserts that the generated programs mean what the reference's mean on every input given,
/// and returns how many inputs were compared.
fn assert_same(p: &LinuxSeccomp, inputs: impl IntoIterator<Item = Data>) -> usize {
    let ours = compile(p).unwrap();
    let theirs = reference::compile(p).unwrap();
    assert!(ours.len() <= 1, "{} programs", ours.len());
    ours.iter().for_each(|p| check(p));
    theirs.iter().for_each(|p| check(p));
    let mut n = 0;
    for d in inputs {
        let (a, b) = (run_all(&ours, &d), run_all(&theirs, &d));
        assert_eq!(a, b, "{d:x?}: ours {a:#x}, reference {b:#x}");
        n += 1;
    }
    n
}

/// Inputs: every architecture; the numbers up to 1100 (both syscall tables and beyond), x32
/// numbers, huge and negative ones; many argument vectors for the syscalls that have conditions.
fn inputs(p: &LinuxSeccomp, all_numbers: bool, mixes: usize) -> Vec<Data> {
    let values = interesting(p);
    let full = arg_vectors(&values, mixes, 0x9e37_79b9_7f4a_7c15);
    let light = arg_vectors(&[], 2, 7);
    let conditional = conditional_numbers(p, &number_tables());
    let mut numbers: Vec<u32> = if all_numbers {
        (0..1100).collect()
    } else {
        conditional
            .iter()
            .flat_map(|n| [n.saturating_sub(1), *n, n + 1])
            .chain(0..8)
            .collect()
    };
    numbers.extend([
        0x3fff_ffff,
        0x7fff_ffff,
        0x8000_0000,
        u32::MAX,
        u32::MAX - 1,
    ]);
    numbers.extend(
        (0..600)
            .step_by(if all_numbers { 1 } else { 37 })
            .map(|n| 0x4000_0000 | n),
    );
    let mut out = Vec::new();
    for arch in [Some(native()), COMPAT, Some(OTHER_ARCH), Some(0)]
        .into_iter()
        .flatten()
    {
        for &nr in &numbers {
            let own = arch == native() || Some(arch) == COMPAT;
            let args = if own && conditional.contains(&(nr & !0x4000_0000)) {
                &full
            } else {
                &light
            };
            out.extend(args.iter().map(|a| Data::new(arch, nr, *a)));
        }
    }
    out
}

/// The syscall tables of the architectures filtered: native first.
fn number_tables() -> Vec<fn(&str) -> Option<i64>> {
    #[cfg(target_arch = "x86_64")]
    return vec![syscall_number, i386_number];
    #[cfg(not(target_arch = "x86_64"))]
    return vec![syscall_number];
}

#[test]
fn names_resolve() {
    assert_eq!(syscall_number("read"), Some(libc::SYS_read));
    assert_eq!(syscall_number("unshare"), Some(libc::SYS_unshare));
    assert_eq!(syscall_number("chown32"), None);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn i386_names_resolve() {
    assert_eq!(i386_number("chown32"), Some(212));
    assert_eq!(i386_number("socketcall"), Some(102));
    assert_eq!(i386_number("clone3"), Some(435));
    assert_eq!(i386_number("arch_prctl"), Some(384));
    // Every name of Docker's list is known on one of the two architectures, but for those of
    // other architectures.
    let unknown: Vec<&str> = DOCKER_ALLOWED
        .iter()
        .copied()
        .filter(|n| syscall_number(n).is_none() && i386_number(n).is_none())
        .collect();
    assert_eq!(unknown, ["recv", "send"], "of other architectures only");
}

#[test]
fn docker_profile_is_one_small_program_and_cached() {
    let progs = compile(&docker_default()).unwrap();
    assert_eq!(progs.len(), 1);
    check(&progs[0]);
    // The reference needs four programs of about a thousand instructions each on x86_64.
    assert!(progs[0].len() < 600, "{} instructions", progs[0].len());
    assert_eq!(compile(&docker_default()).unwrap(), progs);
    // A profile that does not list SCMP_ARCH_X86 kills 32-bit x86 calls.
    let mut native_only = docker_default();
    native_only.set_architectures(None);
    let progs = compile(&native_only).unwrap();
    if let Some(compat) = COMPAT {
        let d = Data::new(compat, 3, [0; 6]);
        assert_eq!(run_all(&progs, &d), libc::SECCOMP_RET_KILL_PROCESS);
    }
}

#[test]
fn docker_profile_means_what_the_reference_means() {
    let p = docker_default();
    let n = assert_same(&p, inputs(&p, true, 64));
    assert!(n > 10_000, "{n} inputs");
    // Spot checks of the meaning itself.
    let progs = compile(&p).unwrap();
    let ask = |nr: i64, args: [u64; 6]| run_all(&progs, &Data::new(native(), nr as u32, args));
    let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    assert_eq!(ask(libc::SYS_read, [0; 6]), libc::SECCOMP_RET_ALLOW);
    assert_eq!(ask(libc::SYS_unshare, [0; 6]), eperm);
    assert_eq!(
        ask(libc::SYS_clone3, [0; 6]),
        libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
    );
    let ns = libc::CLONE_NEWNS as u64;
    assert_eq!(ask(libc::SYS_clone, [ns, 0, 0, 0, 0, 0]), eperm);
    assert_eq!(
        ask(libc::SYS_clone, [0x11, 0, 0, 0, 0, 0]),
        libc::SECCOMP_RET_ALLOW
    );
    assert_eq!(ask(libc::SYS_socket, [40, 0, 0, 0, 0, 0]), eperm);
    assert_eq!(
        ask(libc::SYS_socket, [40 | 1 << 32, 0, 0, 0, 0, 0]),
        libc::SECCOMP_RET_ALLOW
    );
    assert_eq!(
        ask(libc::SYS_personality, [8, 0, 0, 0, 0, 0]),
        libc::SECCOMP_RET_ALLOW
    );
    assert_eq!(ask(libc::SYS_personality, [0x40000, 0, 0, 0, 0, 0]), eperm);
    assert_eq!(ask(0x4000_0000 | libc::SYS_read, [0; 6]), eperm, "x32");
    assert_eq!(ask(-1, [0; 6]), eperm);
}

#[test]
fn docker_profile_decides_in_few_instructions_and_is_cacheable() {
    let progs = compile(&docker_default()).unwrap();
    let prog = &progs[0];
    let arches = [Some(native()), COMPAT].into_iter().flatten();
    for (arch, number) in arches.zip(number_tables()) {
        let conditional = conditional_numbers(&docker_default(), &[number]);
        let mut longest = 0;
        for nr in (0..1100).chain([0x4000_0001, u32::MAX]) {
            let (ret, steps) = run(prog, &Data::new(arch, nr, [0; 6]));
            if !conditional.contains(&nr) {
                longest = longest.max(steps);
                // The kernel's action cache sees every always-allowed syscall (x32 numbers are
                // never cached).
                if nr < 0x4000_0000 {
                    assert_eq!(const_allow(prog, arch, nr), ret == libc::SECCOMP_RET_ALLOW);
                }
            } else {
                assert!(!const_allow(prog, arch, nr));
            }
        }
        // Load and check the architecture (2-4, a JA to i386's search), load the number, the
        // search (62 ranges on x86_64, 117 on i386: 6-7 levels, a JA or two), return: 10 and 12.
        assert!(longest <= 12, "{longest} instructions for arch {arch:#x}");
    }
}

#[test]
fn empty_syscall_list() {
    for arches in [None, both_arches()] {
        let p = profile(LinuxSeccompAction::ScmpActErrno, Vec::new(), arches);
        assert_same(&p, inputs(&p, false, 4));
        let progs = compile(&p).unwrap();
        // Load the arch, check it (twice with i386), kill; load the number, answer.
        assert!(progs[0].len() <= 8, "{:?}", progs[0]);
        let d = Data::new(native(), 0, [0; 6]);
        assert_eq!(
            run_all(&progs, &d),
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32
        );
    }
}

#[test]
fn all_allowed_default() {
    let allow = LinuxSeccompAction::ScmpActAllow;
    // Nothing to filter: no program at all, as before.
    assert!(compile(&profile(allow, Vec::new(), both_arches()))
        .unwrap()
        .is_empty());
    let only_allows = vec![syscall(&["read"], allow, None, Vec::new())];
    assert!(compile(&profile(allow, only_allows, both_arches()))
        .unwrap()
        .is_empty());
    // One denial: a program, which also kills other architectures.
    let deny = vec![syscall(
        &["epoll_ctl_old", "chown32"],
        LinuxSeccompAction::ScmpActErrno,
        Some(1),
        Vec::new(),
    )];
    for arches in [None, both_arches()] {
        let p = profile(allow, deny.clone(), arches);
        assert_eq!(compile(&p).unwrap().len(), 1);
        assert_same(&p, inputs(&p, true, 0));
    }
}

#[test]
fn arguments_compared_on_both_halves() {
    use LinuxSeccompOperator::*;
    let v = 0x0000_0001_0000_0005;
    let mut syscalls = Vec::new();
    for (name, op) in [
        ("read", ScmpCmpEq),
        ("write", ScmpCmpNe),
        ("open", ScmpCmpLt),
        ("close", ScmpCmpLe),
        ("stat", ScmpCmpGt),
        ("fstat", ScmpCmpGe),
    ] {
        syscalls.push(syscall(
            &[name],
            LinuxSeccompAction::ScmpActAllow,
            None,
            vec![arg(2, op, v, 0)],
        ));
    }
    let p = profile(LinuxSeccompAction::ScmpActErrno, syscalls, both_arches());
    assert_same(&p, inputs(&p, false, 256));
    let progs = compile(&p).unwrap();
    let ask = |nr: i64, x: u64| {
        run_all(&progs, &Data::new(native(), nr as u32, [0, 0, x, 0, 0, 0]))
            == libc::SECCOMP_RET_ALLOW
    };
    assert!(ask(libc::SYS_read, v));
    assert!(!ask(libc::SYS_read, 5), "the high half counts");
    assert!(!ask(libc::SYS_read, 1 << 32));
    assert!(ask(libc::SYS_write, 5) && !ask(libc::SYS_write, v));
    assert!(ask(libc::SYS_open, 0xffff_ffff) && !ask(libc::SYS_open, v));
    assert!(ask(libc::SYS_close, v) && !ask(libc::SYS_close, v + 1));
    assert!(ask(libc::SYS_stat, 2 << 32) && !ask(libc::SYS_stat, v));
    assert!(ask(libc::SYS_fstat, v) && !ask(libc::SYS_fstat, 0xffff_ffff));
}

#[test]
fn masked_equality() {
    use LinuxSeccompOperator::ScmpCmpMaskedEq;
    let mask = 0xff00_0000_0000_00ff;
    let cases = [
        ("read", mask, 0x1200_0000_0000_0034),
        ("write", mask, 0),
        ("open", mask, mask),
        // Bits of the value outside the mask do not count.
        ("close", 0xff, 0xffff_1234),
        // A zero mask always matches.
        ("stat", 0, 7),
        ("fstat", 0xffff_ffff_0000_0000, 0x8000_0000_0000_0000),
    ];
    let syscalls = cases
        .iter()
        .map(|(name, m, v)| {
            syscall(
                &[name],
                LinuxSeccompAction::ScmpActAllow,
                None,
                vec![arg(1, ScmpCmpMaskedEq, *m, *v)],
            )
        })
        .collect();
    let p = profile(
        LinuxSeccompAction::ScmpActKillProcess,
        syscalls,
        both_arches(),
    );
    assert_same(&p, inputs(&p, false, 256));
    let progs = compile(&p).unwrap();
    let ask = |nr: i64, x: u64| {
        run_all(&progs, &Data::new(native(), nr as u32, [0, x, 0, 0, 0, 0]))
            == libc::SECCOMP_RET_ALLOW
    };
    assert!(ask(libc::SYS_read, 0x1277_0000_0000_5534));
    assert!(!ask(libc::SYS_read, 0x1300_0000_0000_0034));
    assert!(ask(libc::SYS_write, 0x00ff_ffff_ffff_ff00) && !ask(libc::SYS_write, 1));
    assert!(ask(libc::SYS_open, u64::MAX) && !ask(libc::SYS_open, mask - 1));
    assert!(ask(libc::SYS_close, 0x34) && !ask(libc::SYS_close, 0x33));
    assert!(ask(libc::SYS_stat, 12345));
    assert!(ask(libc::SYS_fstat, 0x8000_0000_ffff_ffff) && !ask(libc::SYS_fstat, 0));
}

#[test]
fn huge_numbers_get_the_default() {
    let p = profile(
        LinuxSeccompAction::ScmpActTrap,
        vec![syscall(
            &["read", "exit_group"],
            LinuxSeccompAction::ScmpActAllow,
            None,
            Vec::new(),
        )],
        both_arches(),
    );
    assert_same(&p, inputs(&p, true, 0));
    let progs = compile(&p).unwrap();
    for nr in [
        0x4000_0000,
        0x4000_0000 | 231,
        0x7fff_ffff,
        0x8000_0000,
        u32::MAX,
    ] {
        let d = Data::new(native(), nr, [0; 6]);
        assert_eq!(run_all(&progs, &d), libc::SECCOMP_RET_TRAP, "{nr:#x}");
    }
}

#[test]
fn duplicate_names_and_overlapping_entries() {
    use LinuxSeccompAction::*;
    use LinuxSeccompOperator::*;
    let syscalls = vec![
        syscall(&["read", "read", "write"], ScmpActAllow, None, Vec::new()),
        syscall(
            &["write"],
            ScmpActErrno,
            Some(5),
            vec![arg(0, ScmpCmpEq, 2, 0)],
        ),
        syscall(
            &["write", "write"],
            ScmpActErrno,
            Some(7),
            vec![arg(0, ScmpCmpGe, 2, 0)],
        ),
        // Same errno as the first ERRNO, another spelling of it (65536 + 5): another filter.
        syscall(
            &["write"],
            ScmpActErrno,
            Some(65541),
            vec![arg(1, ScmpCmpEq, 9, 0)],
        ),
        syscall(&["read"], ScmpActLog, None, vec![arg(0, ScmpCmpEq, 0, 0)]),
        syscall(&["read"], ScmpActTrap, None, vec![arg(0, ScmpCmpEq, 0, 0)]),
        syscall(&["close"], ScmpActKill, None, Vec::new()),
        syscall(&["close"], ScmpActAllow, None, Vec::new()),
    ];
    let p = profile(ScmpActErrno, syscalls, both_arches());
    assert_same(&p, inputs(&p, false, 256));
    let progs = compile(&p).unwrap();
    let ask = |nr: i64, a0: u64, a1: u64| {
        run_all(
            &progs,
            &Data::new(native(), nr as u32, [a0, a1, 0, 0, 0, 0]),
        )
    };
    let errno = |e: u32| libc::SECCOMP_RET_ERRNO | e;
    // The later of two ERRNOs wins.
    assert_eq!(ask(libc::SYS_write, 2, 0), errno(7));
    assert_eq!(ask(libc::SYS_write, 3, 0), errno(7));
    assert_eq!(ask(libc::SYS_write, 2, 9), errno(5));
    assert_eq!(ask(libc::SYS_write, 1, 0), libc::SECCOMP_RET_ALLOW);
    // TRAP is stricter than LOG.
    assert_eq!(ask(libc::SYS_read, 0, 0), libc::SECCOMP_RET_TRAP);
    assert_eq!(ask(libc::SYS_read, 1, 0), libc::SECCOMP_RET_ALLOW);
    assert_eq!(ask(libc::SYS_close, 0, 0), libc::SECCOMP_RET_KILL_THREAD);
}

#[test]
fn refused_profiles() {
    use LinuxSeccompAction::*;
    let bad_index = vec![syscall(
        &["read"],
        ScmpActAllow,
        None,
        vec![arg(6, LinuxSeccompOperator::ScmpCmpEq, 0, 0)],
    )];
    let e = compile(&profile(ScmpActErrno, bad_index, None)).unwrap_err();
    assert!(matches!(e, Error::Seccomp { .. }), "{e}");
    let trace = vec![syscall(&["read"], ScmpActTrace, None, Vec::new())];
    let e = compile(&profile(ScmpActErrno, trace, None)).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    // Far more conditions than a program holds.
    let huge: Vec<LinuxSyscall> = (0..1500)
        .map(|i| {
            syscall(
                &["ioctl"],
                ScmpActAllow,
                None,
                vec![arg(1, LinuxSeccompOperator::ScmpCmpEq, i, 0)],
            )
        })
        .collect();
    let e = compile(&profile(ScmpActErrno, huge, None)).unwrap_err();
    assert!(e.to_string().contains("more than the kernel takes"), "{e}");
}

#[test]
fn far_jumps_in_large_programs() {
    use LinuxSeccompOperator::*;
    // Every syscall with its own conditions: a program of some thousand instructions, most
    // targets out of reach of an 8-bit jump.
    let mut syscalls = Vec::new();
    let mut inputs = Vec::new();
    let arches: Vec<u32> = [Some(native()), COMPAT].into_iter().flatten().collect();
    for (i, (name, _)) in COMMON.iter().chain(ARCH).enumerate().step_by(2) {
        let name = name.trim_start_matches("SYS_");
        let op = [ScmpCmpEq, ScmpCmpNe, ScmpCmpGt, ScmpCmpMaskedEq][i % 4];
        let v = i as u64 * 0x1_0000_0001;
        syscalls.push(syscall(
            &[name],
            LinuxSeccompAction::ScmpActAllow,
            None,
            vec![arg(i % 6, op, v, i as u64)],
        ));
        // Its own values in its argument, on both architectures.
        for (arch, number) in arches.iter().zip(number_tables()) {
            let Some(nr) = number(name) else { continue };
            for x in [v, v + 1, v.wrapping_sub(1), v ^ 1 << 32, i as u64, u64::MAX] {
                let mut args = [0; 6];
                args[i % 6] = x;
                inputs.push(Data::new(*arch, nr as u32, args));
            }
        }
    }
    for arch in arches.iter().chain([&OTHER_ARCH]) {
        inputs.extend((0..1100).map(|nr| Data::new(*arch, nr, [0; 6])));
    }
    let p = profile(LinuxSeccompAction::ScmpActErrno, syscalls, both_arches());
    let progs = compile(&p).unwrap();
    assert!(progs[0].len() > 1000, "{}", progs[0].len());
    assert!(progs[0].iter().any(|i| i.code == JA));
    let n = assert_same(&p, inputs);
    assert!(n > 5000, "{n} inputs");
}

// Random profiles.

const NAMES: &[&str] = &[
    "read",
    "write",
    "open",
    "close",
    "stat",
    "fstat",
    "lstat",
    "poll",
    "exit",
    "restart_syscall",
    "waitpid",
    "personality",
    "socket",
    "clone",
    "clone3",
    "chown32",
    "socketcall",
    "mmap2",
    "_llseek",
    "epoll_ctl_old",
    "arch_prctl",
    "recv",
    "no_such_call",
    "unshare",
];

const VALUES: &[u64] = &[
    0,
    1,
    2,
    40,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0001,
    0x7e02_0000,
    0xffff_ffff_0000_0000,
    0x8000_0000_0000_0000,
    u64::MAX - 1,
    u64::MAX,
];

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![3 => proptest::sample::select(VALUES), 1 => any::<u64>()]
}

fn action() -> impl Strategy<Value = (LinuxSeccompAction, Option<u32>)> {
    use LinuxSeccompAction::*;
    let errno = proptest::option::of(proptest::sample::select(vec![0u32, 1, 38, 65537, 70000]));
    prop_oneof![
        4 => Just((ScmpActAllow, None)),
        4 => errno.prop_map(|e| (ScmpActErrno, e)),
        1 => Just((ScmpActKill, None)),
        1 => Just((ScmpActKillThread, None)),
        1 => Just((ScmpActKillProcess, None)),
        1 => Just((ScmpActTrap, None)),
        1 => Just((ScmpActLog, None)),
    ]
}

fn condition() -> impl Strategy<Value = LinuxSeccompArg> {
    use LinuxSeccompOperator::*;
    let op = proptest::sample::select(vec![
        ScmpCmpNe,
        ScmpCmpLt,
        ScmpCmpLe,
        ScmpCmpEq,
        ScmpCmpGe,
        ScmpCmpGt,
        ScmpCmpMaskedEq,
    ]);
    let index = prop_oneof![20 => 0..3usize, 1 => 0..8usize];
    (index, op, value(), value()).prop_map(|(i, op, v, v2)| arg(i, op, v, v2))
}

fn entry() -> impl Strategy<Value = LinuxSyscall> {
    (
        proptest::collection::vec(proptest::sample::select(NAMES), 0..4),
        action(),
        proptest::collection::vec(condition(), 0..3),
    )
        .prop_map(|(names, (action, errno), args)| syscall(&names, action, errno, args))
}

fn random_profile() -> impl Strategy<Value = LinuxSeccomp> {
    let arches = proptest::sample::select(vec![
        None,
        Some(vec![Arch::ScmpArchX86_64]),
        Some(vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86]),
        Some(vec![Arch::ScmpArchX86, Arch::ScmpArchX32]),
    ]);
    (
        action(),
        proptest::option::of(proptest::sample::select(vec![1u32, 13, 65538])),
        proptest::collection::vec(entry(), 0..8),
        arches,
    )
        .prop_map(|((default, _), default_errno, syscalls, arches)| {
            let mut p = profile(default, syscalls, arches);
            p.set_default_errno_ret(default_errno);
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_profiles_mean_what_the_reference_means(p in random_profile()) {
        match (compile(&p), reference::compile(&p)) {
            (Ok(_), Ok(_)) => {
                assert_same(&p, inputs(&p, false, 24));
            }
            (Err(_), Err(_)) => {}
            (ours, theirs) => {
                prop_assert!(false, "ours {:?}, reference {:?}", ours.err(), theirs.err());
            }
        }
    }
}
