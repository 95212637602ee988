//! Classic BPF for seccomp: the instruction, the few opcodes the generator uses, and a builder
//! that lays a program out from its end to its start.
//!
//! Classic BPF only jumps forward, and a conditional jump reaches at most 255 instructions.
//! Building backwards makes every jump target known (already placed) when the jump is written,
//! so each offset is exact; a target out of reach gets a stepping stone right after the jump: a
//! copy of the target when it is a `RET` (one instruction either way), else a `JA`, whose
//! offset is 32 bits.

use std::collections::HashMap;

pub(crate) use crate::sys::caps::{Insn, Program};

/// `BPF_LD | BPF_W | BPF_ABS`: A = the 32-bit word at offset k of `struct seccomp_data`.
pub(crate) const LD_W_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`: A &= k.
pub(crate) const AND_K: u16 = 0x54;
/// `BPF_JMP | BPF_JA`: skip k instructions.
pub(crate) const JA: u16 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`: A == k.
pub(crate) const JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JGT | BPF_K`: A > k (unsigned).
pub(crate) const JGT_K: u16 = 0x25;
/// `BPF_JMP | BPF_JGE | BPF_K`: A >= k (unsigned).
pub(crate) const JGE_K: u16 = 0x35;
/// `BPF_JMP | BPF_JSET | BPF_K`: A & k != 0.
pub(crate) const JSET_K: u16 = 0x45;
/// `BPF_RET | BPF_K`: the filter's answer is k.
pub(crate) const RET_K: u16 = 0x06;

/// The longest program the kernel takes (`BPF_MAXINSNS`).
pub(crate) const MAX_INSNS: usize = 4096;

/// The farthest a conditional jump reaches.
const MAX_JUMP: usize = u8::MAX as usize;

/// A placed instruction: its distance from the end of the program (the last one is 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// Builds a program backwards: each call puts an instruction in front of those placed before.
#[derive(Default)]
pub(crate) struct Builder {
    /// The program, last instruction first.
    rev: Vec<Insn>,
    /// The nearest `RET` of each value, shared by the jumps that reach it.
    rets: HashMap<u32, Label>,
}

impl Builder {
    /// The number of instructions placed so far.
    pub(crate) fn len(&self) -> usize {
        self.rev.len()
    }

    fn push(&mut self, insn: Insn) -> Label {
        self.rev.push(insn);
        Label(self.rev.len())
    }

    fn at(&self, l: Label) -> Insn {
        self.rev[l.0 - 1]
    }

    /// How far a jump placed now would skip to reach `l`.
    fn distance(&self, l: Label) -> usize {
        self.rev.len() - l.0
    }

    /// A `RET k`: an existing one when there is one (jumps out of reach get a copy).
    pub(crate) fn ret(&mut self, k: u32) -> Label {
        if let Some(l) = self.rets.get(&k) {
            return *l;
        }
        let l = self.push(Insn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k,
        });
        self.rets.insert(k, l);
        l
    }

    /// A = the 32-bit word at `offset` of `struct seccomp_data`, then on to `next`.
    pub(crate) fn load(&mut self, offset: u32, next: Label) -> Label {
        self.goto(next);
        self.push(Insn {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: offset,
        })
    }

    /// A &= k, then on to `next`.
    pub(crate) fn and(&mut self, k: u32, next: Label) -> Label {
        self.goto(next);
        self.push(Insn {
            code: AND_K,
            jt: 0,
            jf: 0,
            k,
        })
    }

    /// Makes `l` the instruction an instruction placed now falls through to.
    fn goto(&mut self, l: Label) {
        self.within(l, 0);
    }

    /// A conditional jump (`JEQ_K`, `JGT_K`, `JGE_K`, `JSET_K`) to `yes` when A passes the test
    /// against `k`, else to `no`. No instruction when both go to the same place.
    pub(crate) fn jump(&mut self, code: u16, k: u32, yes: Label, no: Label) -> Label {
        if yes == no {
            return yes;
        }
        // A stepping stone for `no` first: it then sits one after the one for `yes`.
        let no = self.within(no, MAX_JUMP - 1);
        let yes = self.within(yes, MAX_JUMP);
        let jt = self.distance(yes);
        let jf = self.distance(no);
        self.push(Insn {
            code,
            jt: u8::try_from(jt).unwrap_or(u8::MAX),
            jf: u8::try_from(jf).unwrap_or(u8::MAX),
            k,
        })
    }

    /// `l` if a jump placed now reaches it within `limit` instructions, else a stepping stone
    /// to it, placed now.
    fn within(&mut self, l: Label, limit: usize) -> Label {
        if self.distance(l) <= limit {
            return l;
        }
        let target = self.at(l);
        if target.code == RET_K {
            let copy = self.push(target);
            self.rets.insert(target.k, copy);
            copy
        } else {
            let k = u32::try_from(self.distance(l)).unwrap_or(u32::MAX);
            self.push(Insn {
                code: JA,
                jt: 0,
                jf: 0,
                k,
            })
        }
    }

    /// The program, first instruction first.
    pub(crate) fn finish(mut self) -> Program {
        self.rev.reverse();
        self.rev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_targets_get_stepping_stones() {
        let mut b = Builder::default();
        let allow = b.ret(1);
        let mut next = b.load(0, allow);
        let body = next;
        for _ in 0..300 {
            next = b.load(4, next);
        }
        // Both 300 and more away: the RET is copied, the load is reached with a JA.
        let j = b.jump(JEQ_K, 7, allow, body);
        let p = b.finish();
        assert_eq!(p.len(), 305);
        assert_eq!(j, Label(305));
        assert_eq!((p[0].code, p[0].jt, p[0].jf), (JEQ_K, 0, 1));
        assert_eq!((p[1].code, p[1].k), (RET_K, 1));
        assert_eq!((p[2].code, p[2].k), (JA, 300));
        assert_eq!((p[3 + 300].code, p[3 + 300].k), (LD_W_ABS, 0));
        assert_eq!((p[304].code, p[304].k), (RET_K, 1));
    }

    #[test]
    fn same_targets_need_no_jump() {
        let mut b = Builder::default();
        let r = b.ret(1);
        assert_eq!(b.jump(JEQ_K, 7, r, r), r);
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn falling_through_elsewhere_takes_a_jump() {
        let mut b = Builder::default();
        let deny = b.ret(2);
        let allow = b.ret(1);
        let l = b.load(0, deny);
        b.load(4, allow);
        let a = b.and(3, l);
        let p = b.finish();
        let ops: Vec<(u16, u32)> = p.iter().map(|i| (i.code, i.k)).collect();
        // The RETs are copied where they are needed, the load is reached with a JA.
        assert_eq!(
            ops,
            [
                (AND_K, 3),
                (JA, 2),
                (LD_W_ABS, 4),
                (RET_K, 1),
                (LD_W_ABS, 0),
                (RET_K, 2),
                (RET_K, 1),
                (RET_K, 2)
            ]
        );
        assert_eq!(a, Label(8));
    }
}
