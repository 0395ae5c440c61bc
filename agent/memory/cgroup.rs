//! The process's memory cgroup: its limit and what the kernel charges against it, read from the
//! cgroup file system (v1 `memory.limit_in_bytes`/`memory.usage_in_bytes`/`memory.stat`, v2
//! `memory.max`/`memory.current`/`memory.stat`). In a container the OOM killer acts on these
//! numbers, not on RSS: the kernel also charges page cache and kernel memory, and Kubernetes and
//! Docker call `usage - inactive_file` the working set.
//!
//! The cgroup is located once at start-up (/proc/self/cgroup and /proc/self/mountinfo); the
//! sampler then reads two small files per sample, the report the whole set.

use leakagent_report::model::Cgroup;
use std::path::{Path, PathBuf};

/// v1 writes "no limit" as the largest page-aligned i64 (9223372036854771712); anything from
/// here up is unlimited.
const UNLIMITED_V1: u64 = 1 << 62;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub version: u32,
    pub dir: PathBuf,
    /// The smallest limit among the ancestors (v2) or v1's `hierarchical_memory_limit`, read at
    /// start-up: an orchestrator sets the pod's limit on a parent directory.
    pub ancestor_limit: Option<u64>,
}

/// What the sampler reads each period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quick {
    pub usage: u64,
    pub limit: Option<u64>,
}

/// The memory cgroup of this process, or None outside one (or when it cannot be read).
pub fn locate() -> Option<Location> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let (version, dir, mount) = locate_in(&cgroup, &mountinfo)?;
    // Without a cgroup namespace the path can name a directory this mount does not show; the
    // mount point is then the process's own cgroup (Docker's default).
    let dir = if dir.join(usage_file(version)).exists() { dir } else { mount.clone() };
    if !dir.join(usage_file(version)).exists() {
        return None;
    }
    let ancestor_limit = ancestor_limit(version, &dir, &mount);
    Some(Location { version, dir, ancestor_limit })
}

/// The cgroup's version, directory and mount point from the texts of /proc/self/cgroup and
/// /proc/self/mountinfo. A v1 memory controller wins over v2 (hybrid hosts mount v2 without
/// the memory controller).
pub fn locate_in(proc_cgroup: &str, mountinfo: &str) -> Option<(u32, PathBuf, PathBuf)> {
    let mut v1 = None;
    let mut v2 = None;
    for line in proc_cgroup.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (it.next(), it.next(), it.next()) else { continue };
        if controllers.split(',').any(|c| c == "memory") {
            v1 = Some(path.to_string());
        } else if controllers.is_empty() {
            v2 = Some(path.to_string());
        }
    }
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        let (root, mount) = (l[3], l[4]);
        let version = match (r[0], &v1, &v2) {
            ("cgroup", Some(_), _) if r[2].split(',').any(|o| o == "memory") => 1,
            ("cgroup2", None, Some(_)) => 2,
            _ => continue,
        };
        let path = if version == 1 { v1.as_deref() } else { v2.as_deref() }.unwrap_or("/");
        let rel = path.strip_prefix(root).unwrap_or(path).trim_start_matches('/');
        let mount = PathBuf::from(mount);
        return Some((version, if rel.is_empty() { mount.clone() } else { mount.join(rel) }, mount));
    }
    None
}

fn usage_file(version: u32) -> &'static str {
    if version == 1 {
        "memory.usage_in_bytes"
    } else {
        "memory.current"
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A limit file's value: None for `max` (v2) or v1's "unlimited".
fn read_limit(path: &Path) -> Option<u64> {
    read_u64(path).filter(|&n| n < UNLIMITED_V1)
}

fn limit_file(version: u32) -> &'static str {
    if version == 1 {
        "memory.limit_in_bytes"
    } else {
        "memory.max"
    }
}

fn ancestor_limit(version: u32, dir: &Path, mount: &Path) -> Option<u64> {
    if version == 1 {
        let stat = std::fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
        return stat_value(&stat, "hierarchical_memory_limit").filter(|&n| n < UNLIMITED_V1);
    }
    let mut min: Option<u64> = None;
    let mut at = dir.parent();
    while let Some(d) = at.filter(|d| d.starts_with(mount)) {
        if let Some(l) = read_limit(&d.join("memory.max")) {
            min = Some(min.map_or(l, |m| m.min(l)));
        }
        at = d.parent();
    }
    min
}

/// `key value` lines (memory.stat, memory.events, memory.oom_control).
fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

impl Location {
    fn limit(&self) -> Option<u64> {
        let own = read_limit(&self.dir.join(limit_file(self.version)));
        match (own, self.ancestor_limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Usage and limit: two small reads, for every sample.
    pub fn quick(&self) -> Option<Quick> {
        Some(Quick { usage: read_u64(&self.dir.join(usage_file(self.version)))?, limit: self.limit() })
    }

    /// `usage - inactive_file` (reads memory.stat too; only when `usage_limit` is set).
    pub fn working_set(&self) -> Option<u64> {
        let (usage, stat) = self.usage_and_stat()?;
        Some(usage.saturating_sub(self.inactive_file(&stat?).unwrap_or(0)))
    }

    /// The usage and the text of memory.stat (None when it cannot be read).
    fn usage_and_stat(&self) -> Option<(u64, Option<String>)> {
        let usage = read_u64(&self.dir.join(usage_file(self.version)))?;
        Some((usage, std::fs::read_to_string(self.dir.join("memory.stat")).ok()))
    }

    fn inactive_file(&self, stat: &str) -> Option<u64> {
        if self.version == 1 {
            stat_value(stat, "total_inactive_file").or_else(|| stat_value(stat, "inactive_file"))
        } else {
            stat_value(stat, "inactive_file")
        }
    }

    /// Everything the report shows.
    pub fn read(&self) -> Option<Cgroup> {
        let (usage, stat) = self.usage_and_stat()?;
        let stat = stat.unwrap_or_default();
        let limit = self.limit();
        let inactive_file = self.inactive_file(&stat);
        let working_set = usage.saturating_sub(inactive_file.unwrap_or(0));
        let v = |k: &str| stat_value(&stat, k);
        let (page_cache, anon, kernel, limit_hits, oom_kills) = if self.version == 1 {
            let oom = std::fs::read_to_string(self.dir.join("memory.oom_control")).unwrap_or_default();
            (
                v("total_cache").or_else(|| v("cache")),
                v("total_rss").or_else(|| v("rss")),
                read_u64(&self.dir.join("memory.kmem.usage_in_bytes")),
                read_u64(&self.dir.join("memory.failcnt")),
                stat_value(&oom, "oom_kill"),
            )
        } else {
            let events = std::fs::read_to_string(self.dir.join("memory.events")).unwrap_or_default();
            let parts = ["kernel_stack", "slab", "pagetables", "sock", "percpu"];
            let kernel = v("kernel").or_else(|| {
                let found: Vec<u64> = parts.iter().filter_map(|k| v(k)).collect();
                (!found.is_empty()).then(|| found.iter().sum())
            });
            (v("file"), v("anon"), kernel, stat_value(&events, "max"), stat_value(&events, "oom_kill"))
        };
        Some(Cgroup {
            version: self.version,
            path: self.dir.display().to_string(),
            limit,
            usage,
            working_set,
            page_cache,
            inactive_file,
            kernel,
            anon,
            headroom: limit.map(|l| l.saturating_sub(working_set)),
            percent_of_limit: limit.map(|l| (working_set as f64 * 1000.0 / l.max(1) as f64).round() / 10.0),
            limit_hits,
            oom_kills,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 24 0:21 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate
30 24 0:26 / /sys/fs/cgroup/memory rw,nosuid shared:9 - cgroup cgroup rw,memory
31 24 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct
";

    #[test]
    fn v1_memory_controller_wins_on_hybrid_hosts() {
        let cg = "12:cpu,cpuacct:/user.slice\n4:memory:/user.slice/app\n0::/user.slice/app\n";
        let (v, dir, mount) = locate_in(cg, MOUNTINFO).unwrap();
        assert_eq!((v, dir.to_str().unwrap(), mount.to_str().unwrap()), (1, "/sys/fs/cgroup/memory/user.slice/app", "/sys/fs/cgroup/memory"));
    }

    #[test]
    fn v2_only_and_namespaced_roots() {
        let mi = "25 24 0:21 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let (v, dir, _) = locate_in("0::/kubepods/pod1/c1\n", mi).unwrap();
        assert_eq!((v, dir.to_str().unwrap()), (2, "/sys/fs/cgroup/kubepods/pod1/c1"));
        // Inside a container without a cgroup namespace: the mount's root is the cgroup itself.
        let mi = "25 24 0:21 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n";
        let (_, dir, _) = locate_in("0::/docker/abc\n", mi).unwrap();
        assert_eq!(dir.to_str().unwrap(), "/sys/fs/cgroup");
        assert_eq!(locate_in("0::/\n", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"), None);
    }

    fn fixture(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("leakagent-cgroup-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("pod/c1")).unwrap();
        for (f, text) in files {
            std::fs::write(dir.join(f), text).unwrap();
        }
        dir
    }

    #[test]
    fn v2_from_fixture_files() {
        let root = fixture(
            "v2",
            &[
                ("pod/memory.max", "536870912\n"),
                ("pod/c1/memory.max", "max\n"),
                ("pod/c1/memory.current", "400000000\n"),
                (
                    "pod/c1/memory.stat",
                    "anon 300000000\nfile 90000000\nkernel 10000000\nkernel_stack 1000\ninactive_file 60000000\nactive_file 30000000\n",
                ),
                ("pod/c1/memory.events", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n"),
            ],
        );
        let dir = root.join("pod/c1");
        let loc = Location { version: 2, ancestor_limit: ancestor_limit(2, &dir, &root), dir };
        assert_eq!(loc.ancestor_limit, Some(512 << 20), "the pod's limit on the parent counts");
        assert_eq!(loc.quick(), Some(Quick { usage: 400_000_000, limit: Some(512 << 20) }));
        assert_eq!(loc.working_set(), Some(340_000_000));
        let c = loc.read().unwrap();
        assert_eq!((c.version, c.usage, c.working_set, c.limit), (2, 400_000_000, 340_000_000, Some(536_870_912)));
        assert_eq!((c.page_cache, c.kernel, c.anon, c.inactive_file), (Some(90_000_000), Some(10_000_000), Some(300_000_000), Some(60_000_000)));
        assert_eq!(c.headroom, Some(536_870_912 - 340_000_000));
        assert_eq!((c.limit_hits, c.oom_kills), (Some(7), Some(1)));
        assert_eq!(c.percent_of_limit, Some(63.3));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn v2_kernel_from_parts_and_unlimited() {
        let root = fixture(
            "v2parts",
            &[
                ("pod/c1/memory.max", "max\n"),
                ("pod/c1/memory.current", "1000\n"),
                ("pod/c1/memory.stat", "anon 500\nfile 400\nslab 30\nkernel_stack 20\ninactive_file 100\n"),
            ],
        );
        let dir = root.join("pod/c1");
        let loc = Location { version: 2, ancestor_limit: ancestor_limit(2, &dir, &root), dir };
        let c = loc.read().unwrap();
        assert_eq!((c.limit, c.headroom, c.kernel, c.working_set), (None, None, Some(50), 900));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn v1_from_fixture_files() {
        let root = fixture(
            "v1",
            &[
                ("pod/c1/memory.limit_in_bytes", "9223372036854771712\n"),
                ("pod/c1/memory.usage_in_bytes", "2000000\n"),
                (
                    "pod/c1/memory.stat",
                    "cache 100\nrss 200\nhierarchical_memory_limit 4194304\ntotal_cache 500000\ntotal_rss 1400000\ntotal_inactive_file 300000\n",
                ),
                ("pod/c1/memory.kmem.usage_in_bytes", "90000\n"),
                ("pod/c1/memory.failcnt", "3\n"),
                ("pod/c1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            ],
        );
        let dir = root.join("pod/c1");
        let loc = Location { version: 1, ancestor_limit: ancestor_limit(1, &dir, &root), dir };
        let c = loc.read().unwrap();
        assert_eq!((c.limit, c.usage, c.working_set), (Some(4 << 20), 2_000_000, 1_700_000));
        assert_eq!((c.page_cache, c.anon, c.kernel), (Some(500_000), Some(1_400_000), Some(90_000)));
        assert_eq!((c.limit_hits, c.oom_kills, c.headroom), (Some(3), Some(2), Some((4 << 20) - 1_700_000)));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn this_process() {
        // The test host has v1 mounted; whatever it has, locating never panics and a found
        // cgroup reads.
        if let Some(l) = locate() {
            assert!(l.read().is_some() && l.quick().is_some(), "{l:?}");
        }
    }
}
