//! Where a report comes from: host, main class or jar, JVM options (secret-looking `-D` values
//! masked), container id, Kubernetes pod and namespace. Read once, from this process's own
//! `/proc` files and environment, so a report found on a shared volume or in a fleet's bucket
//! still says which process wrote it.

use leakagent_report::model::Origin;
use std::io::Read;
use std::sync::OnceLock;

/// No file read here is expected to be large; the command line of a JVM with a long class path is
/// the biggest (Kafka: ~20 KiB).
const MAX_READ: u64 = 256 << 10;

/// The origin, read at the first call; `java_command` is the JVM's `sun.java.command`.
pub fn get(java_command: impl FnOnce() -> Option<String>) -> Origin {
    static ORIGIN: OnceLock<Origin> = OnceLock::new();
    ORIGIN.get_or_init(|| read(java_command())).clone()
}

fn read(java_command: Option<String>) -> Origin {
    let cmdline = read_small("/proc/self/cmdline").unwrap_or_default();
    let argv: Vec<String> = cmdline.split('\0').filter(|a| !a.is_empty()).map(str::to_string).collect();
    let (jvm_args, main_from_argv) = split_command_line(&argv);
    let main = java_command.and_then(|c| c.split_whitespace().next().map(str::to_string)).or(main_from_argv);
    let env = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let file = |p: &str| read_small(p).map(|v| v.trim().to_string()).filter(|v| !v.is_empty() && v.len() <= 253);
    let host = host().to_string();
    let in_kubernetes = env("KUBERNETES_SERVICE_HOST").is_some();
    let pod = env("POD_NAME").or_else(|| file("/etc/podinfo/name")).or_else(|| in_kubernetes.then(|| host.clone()));
    let namespace = env("POD_NAMESPACE")
        .or_else(|| file("/etc/podinfo/namespace"))
        .or_else(|| file("/var/run/secrets/kubernetes.io/serviceaccount/namespace"));
    let container_id = read_small("/proc/self/cgroup")
        .and_then(|c| container_id(&c))
        .or_else(|| read_small("/proc/self/mountinfo").and_then(|m| container_id_from_mounts(&m)));
    Origin { host, main, jvm_args, container_id, pod, namespace }
}

/// This machine's host name (the container's, in a container), read once: file names (`%h`) and
/// the textfile's labels ask for it at every sample.
pub fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        read_small("/proc/sys/kernel/hostname")
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty() && h.len() <= 253)
            .unwrap_or_default()
    })
}

fn read_small(path: &str) -> Option<String> {
    let mut s = String::new();
    std::fs::File::open(path).ok()?.take(MAX_READ).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Options that take their value as the next argument (java's launcher).
const WITH_VALUE: [&str; 14] = [
    "-cp",
    "-classpath",
    "--class-path",
    "-p",
    "--module-path",
    "--upgrade-module-path",
    "--add-modules",
    "--limit-modules",
    "--add-reads",
    "--add-exports",
    "--add-opens",
    "--patch-module",
    "--enable-native-access",
    "--source",
];

/// The JVM's options (what comes before the main class or jar) and the main class or jar. A
/// class path is shown by its size: it says little and can be kilobytes long.
fn split_command_line(argv: &[String]) -> (Vec<String>, Option<String>) {
    let mut opts = Vec::new();
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-jar" => return (opts, it.next().cloned()),
            "-m" | "--module" => return (opts, it.next().cloned()),
            "-cp" | "-classpath" | "--class-path" => {
                let entries = it.next().map_or(0, |v| v.split(':').filter(|e| !e.is_empty()).count());
                opts.push(format!("{a} <{entries} entries>"));
            }
            o if WITH_VALUE.contains(&o) => {
                opts.push(format!("{o} {}", it.next().map(String::as_str).unwrap_or("")));
            }
            o if o.starts_with('-') => opts.push(mask(o)),
            main => return (opts, Some(main.to_string())),
        }
    }
    (opts, None)
}

/// `-Dkey=value` with the value replaced by `***` when the key looks like it names a secret.
fn mask(arg: &str) -> String {
    const SECRET: [&str; 10] = ["pass", "pwd", "secret", "token", "key", "credential", "auth", "cookie", "session", "private"];
    if let Some((key, _)) = arg.strip_prefix("-D").and_then(|kv| kv.split_once('=')) {
        let k = key.to_ascii_lowercase();
        if SECRET.iter().any(|s| k.contains(s)) {
            return format!("-D{key}=***");
        }
    }
    arg.to_string()
}

/// A container runtime's id (64 hex digits) in this process's cgroup paths: Docker, containerd
/// and CRI-O name the cgroup after the container.
fn container_id(cgroup: &str) -> Option<String> {
    cgroup.lines().filter_map(|l| l.splitn(3, ':').nth(2)).find_map(hex64)
}

/// In a private cgroup namespace the cgroup path is `/`; Docker's bind mounts of `/etc/hostname`
/// and `/etc/hosts` still come from `.../containers/<id>/`.
fn container_id_from_mounts(mountinfo: &str) -> Option<String> {
    mountinfo
        .lines()
        .filter(|l| l.split_whitespace().nth(4).is_some_and(|mp| mp == "/etc/hostname" || mp == "/etc/hosts"))
        .find_map(|l| l.split_whitespace().nth(3).and_then(hex64))
}

/// The first run of exactly 64 hex digits in `s`.
fn hex64(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut start = None;
    for i in 0..=b.len() {
        let hex = i < b.len() && b[i].is_ascii_hexdigit();
        match (hex, start) {
            (true, None) => start = Some(i),
            (false, Some(st)) => {
                if i - st == 64 {
                    return Some(s[st..i].to_ascii_lowercase());
                }
                start = None;
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn options_main_and_secrets() {
        let (opts, main) = split_command_line(&argv(
            "/usr/bin/java -Xmx1g -Ddb.password=hunter2 -Dapp.name=shop -cp a.jar:b.jar:c.jar -XX:+UseG1GC com.shop.Main --port 8080",
        ));
        assert_eq!(opts, ["-Xmx1g", "-Ddb.password=***", "-Dapp.name=shop", "-cp <3 entries>", "-XX:+UseG1GC"]);
        assert_eq!(main.as_deref(), Some("com.shop.Main"));
        let (opts, main) = split_command_line(&argv("java -DAPI_TOKEN=x -jar /app/app.jar -Dnot.an.option=1"));
        assert_eq!(opts, ["-DAPI_TOKEN=***"]);
        assert_eq!(main.as_deref(), Some("/app/app.jar"));
        let (_, main) = split_command_line(&argv("java --add-opens java.base/java.lang=ALL-UNNAMED -m app/app.Main"));
        assert_eq!(main.as_deref(), Some("app/app.Main"));
    }

    #[test]
    fn container_ids() {
        let id = "3f1c0a2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
        assert_eq!(container_id(&format!("0::/system.slice/docker-{id}.scope\n")).as_deref(), Some(id));
        assert_eq!(container_id(&format!("12:memory:/kubepods/burstable/pod1234/{id}\n")).as_deref(), Some(id));
        assert_eq!(container_id("0::/user.slice/user-0.slice/session-3.scope\n"), None);
        let mounts = format!("612 590 254:1 /var/lib/docker/containers/{id}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n");
        assert_eq!(container_id_from_mounts(&mounts).as_deref(), Some(id));
        assert_eq!(hex64(&format!("{id}0")), None, "65 digits are not an id");
    }
}
