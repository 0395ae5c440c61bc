//! `/proc/self/smaps`: every mapping of the process with its resident size and flags.
//! regions.rs classifies them into the parts of a JVM's memory.

pub const MIB: u64 = 1 << 20;

/// Reads a word of this process's memory through /proc/self/mem, which fails with EIO where a
/// plain read would fault (a mapping unmapped since smaps was read).
pub fn read_own_word(addr: u64) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    static MEM: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    let f = MEM.get_or_init(|| std::fs::File::open("/proc/self/mem").ok()).as_ref()?;
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, addr).ok()?;
    Some(u64::from_ne_bytes(b))
}

/// The resident and swapped bytes of this process's pages in `[start, end)`, from
/// /proc/self/pagemap (bit 63: present, bit 62: swapped; readable without privileges, the frame
/// numbers are only hidden). Reading it faults nothing in. Read 64 KiB at a time: a merged
/// mapping may span gigabytes, and this runs inside the application's process.
pub fn own_pages(start: u64, end: u64) -> Option<(u64, u64)> {
    use std::os::unix::fs::FileExt;
    const PAGE: u64 = 4096;
    const ENTRIES: u64 = 8192;
    static MAP: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    let f = MAP.get_or_init(|| std::fs::File::open("/proc/self/pagemap").ok()).as_ref()?;
    let first = start / PAGE;
    let last = first + end.checked_sub(start)? / PAGE;
    let mut b = vec![0u8; (ENTRIES.min(last - first) * 8) as usize];
    let (mut rss, mut swap) = (0, 0);
    let mut page = first;
    while page < last {
        let n = ENTRIES.min(last - page) as usize;
        f.read_exact_at(&mut b[..n * 8], page * 8).ok()?;
        for e in b[..n * 8].chunks_exact(8).map(|w| u64::from_ne_bytes(w.try_into().unwrap_or_default())) {
            rss += (e >> 63) * PAGE;
            swap += ((e >> 62) & 1) * PAGE;
        }
        page += n as u64;
    }
    Some((rss, swap))
}

/// One line group of smaps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// `rw-p`, `---p`, `r-xp`, ...
    pub perms: String,
    pub inode: u64,
    /// File path, `[heap]`, `[stack]`, `[anon:...]`, or empty.
    pub path: String,
    pub rss: u64,
    pub swap: u64,
    /// The two-letter VmFlags, e.g. `rd wr mr mw me nr`.
    pub flags: String,
}

impl Mapping {
    pub fn size(&self) -> u64 {
        self.end - self.start
    }
    pub fn anonymous(&self) -> bool {
        self.path.is_empty() || self.path.starts_with("[anon:")
    }
    pub fn prot_none(&self) -> bool {
        self.perms.starts_with("---")
    }
    pub fn read_write(&self) -> bool {
        self.perms.starts_with("rw")
    }
    pub fn executable(&self) -> bool {
        self.perms.as_bytes().get(2) == Some(&b'x')
    }
    pub fn flag(&self, f: &str) -> bool {
        self.flags.split_whitespace().any(|x| x == f)
    }
    pub fn file_backed(&self) -> bool {
        self.path.starts_with('/')
    }
}

/// Parses smaps text. Unknown lines are ignored; fields missing from a mapping stay 0.
pub fn parse(text: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.is_empty() {
            continue;
        }
        if let Some(field) = first.strip_suffix(':') {
            let Some(m) = out.last_mut() else { continue };
            let rest = line[first.len()..].trim();
            match field {
                "Rss" => m.rss = kb(rest),
                "Swap" => m.swap = kb(rest),
                "VmFlags" => m.flags = rest.to_string(),
                _ => {}
            }
            continue;
        }
        if let Some(m) = header(line) {
            out.push(m);
        }
    }
    out
}

fn kb(v: &str) -> u64 {
    v.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// `start-end perms offset dev inode [path]`; the path may contain spaces.
fn header(line: &str) -> Option<Mapping> {
    let mut rest = line;
    let mut fields = [""; 5];
    for f in fields.iter_mut() {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        *f = &rest[..end];
        rest = &rest[end..];
    }
    let (s, e) = fields[0].split_once('-')?;
    let start = u64::from_str_radix(s, 16).ok()?;
    let end = u64::from_str_radix(e, 16).ok()?;
    if end < start || fields[1].len() < 4 {
        return None;
    }
    Some(Mapping {
        start,
        end,
        perms: fields[1].to_string(),
        inode: fields[4].parse().ok()?,
        path: rest.trim().to_string(),
        ..Mapping::default()
    })
}

/// One mapping as /proc/self/smaps prints it, for the parser's and the classifier's tests.
#[cfg(test)]
pub(super) fn fixture(start: u64, size: u64, perms: &str, path: &str, rss: u64, flags: &str) -> String {
    format!(
        "{:x}-{:x} {perms} 00000000 00:00 0          {path}\nSize: {} kB\nRss:  {} kB\nSwap: 0 kB\nVmFlags: {flags}\n",
        start,
        start + size,
        size / 1024,
        rss / 1024
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u64 = 1024;

    #[test]
    fn parses_headers_fields_and_paths_with_spaces() {
        let text = "\
7f4f85400000-7f4f85670000 rwxp 00000000 00:00 0 
Size:               2496 kB
Rss:                 228 kB
Swap:                  4 kB
VmFlags: rd wr ex mr mw me ac
7f4fa45bb000-7f4fa45bd000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   4 kB
55d0a0000000-55d0a0001000 r--p 00001000 fd:01 1234567                    /tmp/a dir/lib x.so (deleted)
Rss: 4 kB
THPeligible:    0
";
        let m = parse(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].start, 0x7f4f85400000);
        assert_eq!(m[0].size(), 2496 * K);
        assert_eq!(m[0].rss, 228 * K);
        assert_eq!(m[0].swap, 4 * K);
        assert!(m[0].executable() && m[0].anonymous() && m[0].flag("ac") && !m[0].flag("nr"));
        assert_eq!(m[1].path, "[vdso]");
        assert_eq!(m[2].path, "/tmp/a dir/lib x.so (deleted)");
        assert_eq!(m[2].inode, 1234567);
        assert!(parse("garbage\nRss: 5 kB\n").is_empty());
    }

    /// This process's pages just written are resident by pagemap's count.
    #[test]
    fn own_pages_counts_written_pages() {
        let v = vec![1u8; 64 * 4096];
        let start = (v.as_ptr() as u64).div_ceil(4096) * 4096;
        let (rss, swap) = own_pages(start, start + 32 * 4096).expect("pagemap is readable");
        assert_eq!((rss, swap), (32 * 4096, 0));
        assert_eq!(own_pages(start, start), Some((0, 0)));
        // More pages than one read takes (8192).
        let big = vec![1u8; 41 << 20];
        let start = (big.as_ptr() as u64).div_ceil(4096) * 4096;
        assert_eq!(own_pages(start, start + (40 << 20)), Some((40 << 20, 0)));
    }
}
