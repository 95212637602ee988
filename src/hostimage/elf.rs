//! What an ELF file asks of the dynamic loader: its interpreter (`PT_INTERP`), the libraries
//! it needs (`DT_NEEDED`) and where it says to look for them (`DT_RPATH`, `DT_RUNPATH`).

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::Endianness;

/// The dynamic-linking facts of one ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElfDeps {
    /// 64-bit (`ELFCLASS64`)?
    pub(crate) class64: bool,
    /// `e_machine` (a library must match its user's).
    pub(crate) machine: elf::Machine,
    /// `PT_INTERP`: the program interpreter (`/lib64/ld-linux-x86-64.so.2`); none for a
    /// library or a static program.
    pub(crate) interp: Option<String>,
    /// `DT_NEEDED`, in order.
    pub(crate) needed: Vec<String>,
    /// `DT_RPATH` entries (searched before the defaults, only when there is no `DT_RUNPATH`).
    pub(crate) rpath: Vec<String>,
    /// `DT_RUNPATH` entries.
    pub(crate) runpath: Vec<String>,
}

/// Reads `data`'s dynamic-linking facts: `Ok(None)` when it is not an ELF file (a script,
/// a text file), an error when it claims to be one but its headers do not parse.
pub(crate) fn parse(data: &[u8]) -> Result<Option<ElfDeps>, object::read::Error> {
    if data.len() < 5 || &data[..4] != b"\x7fELF" {
        return Ok(None);
    }
    // `EI_CLASS`: 1 is ELFCLASS32; anything else is left to the 64-bit parser, which
    // refuses what is not ELFCLASS64.
    if data[4] == 1 {
        parse_as::<elf::FileHeader32<Endianness>>(data).map(Some)
    } else {
        parse_as::<elf::FileHeader64<Endianness>>(data).map(Some)
    }
}

fn parse_as<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
) -> Result<ElfDeps, object::read::Error> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let mut deps = ElfDeps {
        class64: header.is_class_64(),
        machine: header.e_machine(endian),
        interp: None,
        needed: Vec::new(),
        rpath: Vec::new(),
        runpath: Vec::new(),
    };
    for segment in header.program_headers(endian, data)? {
        if let Some(interp) = segment.interpreter(endian, data)? {
            deps.interp = Some(String::from_utf8_lossy(interp).into_owned());
        }
    }
    let sections = header.sections(endian, data)?;
    let Some((dynamics, link)) = sections.dynamic(endian, data)? else {
        return Ok(deps);
    };
    let strings = sections.strings(endian, data, link)?;
    for d in dynamics {
        let tag = d.d_tag(endian);
        if tag == elf::DT_NULL {
            break;
        }
        let list = if tag == elf::DT_NEEDED {
            &mut deps.needed
        } else if tag == elf::DT_RPATH {
            &mut deps.rpath
        } else if tag == elf::DT_RUNPATH {
            &mut deps.runpath
        } else {
            continue;
        };
        let text = d.string(endian, strings)?;
        let text = String::from_utf8_lossy(text);
        if tag == elf::DT_NEEDED {
            list.push(text.into_owned());
        } else {
            list.extend(text.split(':').filter(|s| !s.is_empty()).map(str::to_owned));
        }
    }
    Ok(deps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_elf_is_none() {
        assert_eq!(parse(b"#!/bin/sh\necho hi\n").ok(), Some(None));
        assert_eq!(parse(b"").ok(), Some(None));
    }

    #[test]
    fn a_truncated_elf_is_an_error() {
        assert!(parse(b"\x7fELF\x02\x01\x01\0\0\0").is_err());
    }

    #[test]
    fn the_test_binary_itself() -> Result<(), Box<dyn std::error::Error>> {
        // This test program is a real ELF file that loads libc (a Rust binary on Linux).
        let data = std::fs::read(std::env::current_exe()?)?;
        let deps = parse(&data)?.ok_or("not ELF")?;
        assert!(
            deps.needed.iter().any(|n| n.starts_with("libc.so")),
            "{deps:?}"
        );
        assert!(deps.interp.is_some(), "{deps:?}");
        Ok(())
    }
}
