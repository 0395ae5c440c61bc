//! The `class_loaders` section: loaders, their generations and growth, leak suspects and the
//! reference chains that pin them.

use super::*;

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ClassLoaders {
    pub loaders: Vec<Loader>,
    /// ClassLoad events plus the classes found already loaded when the agent started.
    pub classes_loaded: u64,
    pub classes_prepared: u64,
    /// Classes whose `Class` object was freed (JVMTI ObjectFree on the tagged class).
    pub classes_unloaded: u64,
    /// HotSpot's own ClassUnload extension event count, when the JVM offers it.
    pub class_unload_events: Option<u64>,
    /// Classes alive at report time (GetLoadedClasses, array classes excluded).
    pub classes_live: u64,
    pub loaders_alive: u64,
    pub loaders_dead: u64,
    pub duplicate_classes: Vec<DuplicateClass>,
    pub generations: Vec<Generation>,
    pub leak_suspects: Vec<LeakSuspect>,
    /// Loaders that should be dead and are alive, but that no strong path from a GC root
    /// reaches: only weak or soft references hold them, and they go when the GC needs the
    /// memory. Not leaks.
    pub not_strongly_reachable: Vec<u32>,
    /// What finding the chains cost; null when no search ran.
    pub chain_search: Option<ChainSearch>,
    /// Whether a full GC (JVMTI ForceGarbageCollection) ran just before this report.
    pub gc_before_report: bool,
    /// Dead loaders beyond `max_dead_loaders`, no longer listed one by one, by class (they are
    /// counted in `loaders_dead`).
    #[serde(default)]
    pub dead_loaders_summarized: Vec<DeadLoaderGroup>,
    /// Why no GC ran before this report (`gc=off`, VM death under a concurrent collector, ...).
    #[serde(default)]
    pub gc_skipped: Option<String>,
    /// How long the GC took (it is a pause of the application).
    #[serde(default)]
    pub gc_ms: u64,
    /// Exit report only: loaders that are closed or stopped but were not yet at any earlier
    /// report, so most likely stopped by the JVM's own shutdown (hooks closing the application);
    /// not suspects.
    #[serde(default)]
    pub stopped_at_exit: Vec<u32>,
    /// Why `classes_unloaded` and `class_unload_events` differ, when they do.
    #[serde(default)]
    pub unload_note: Option<String>,
    /// Kinds of loader that keep being created and stay alive (see README, "Growth").
    #[serde(default)]
    pub growth: Vec<LoaderGrowth>,
    /// Where the loaders' `metaspace_bytes` come from and what reading them cost; null when
    /// not read (an older report, or no live phase).
    #[serde(default)]
    pub metaspace: Option<MetaspaceSource>,
}

impl ClassLoaders {
    /// Whether the loaders' metaspace sizes are JVMTI estimates rather than HotSpot's figures.
    pub fn metaspace_estimated(&self) -> bool {
        self.metaspace.as_ref().is_some_and(|m| m.method == "estimate")
    }
}

/// How per-loader metaspace was measured.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MetaspaceSource {
    /// `VM.classloader_stats` (HotSpot's own per-ClassLoaderData chunk and block sizes);
    /// `estimate` when that could not be read (`error` says why) and each live loader's size
    /// is estimated from its classes' constant pools through JVMTI (no `metaspace_used_bytes`);
    /// `none` when neither worked.
    pub method: String,
    /// Live loaders given a size, and live loaders the JVM's list did not let us match (their
    /// `metaspace_bytes` is null).
    pub loaders_matched: u32,
    pub loaders_unmatched: u32,
    /// Metaspace of all class loader data together (chunks), as the JVM listed it.
    pub total_bytes: u64,
    /// How long the diagnostic command took on the report thread; its VM operation (one
    /// safepoint pause) is part of it.
    pub ms: u64,
    /// Why the sizes are missing or partial, in plain words.
    pub error: Option<String>,
}

/// Loaders of one class, each defining generated classes of one shape (names that differ only in
/// their numbers, e.g. `Script12`, `Script13`): many alive after GC, more than at the previous
/// report. The alive ones are leak suspects (reason `growth`) when the chain search runs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct LoaderGrowth {
    pub loader_class: String,
    /// The shape of the classes they define: the first class name of each, digits as `#`.
    pub defines: String,
    /// One of those class names, as found.
    pub example: String,
    pub alive: u64,
    pub dead: u64,
    /// Distinct class names of this shape the agent has seen these loaders define.
    pub distinct_classes: u64,
    /// Alive loaders of this group at the previous report after a GC (null: first sighting).
    pub alive_at_previous_report: Option<u64>,
    /// When the oldest and the newest of them were first seen (ms after agent start).
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// A `leak_loaders=` value that names these loaders.
    pub leak_loaders: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ChainSearch {
    /// Loaders that should be dead (leak suspects plus those found not strongly reachable).
    pub suspects: u32,
    pub not_strongly_reachable: u32,
    pub chains_found: u32,
    /// Full heap traversals (one per hop of the longest chain found).
    pub passes: u32,
    /// References reported by the heap walks, over all passes.
    pub references_visited: u64,
    /// Objects tagged by the search (its frontier), and their memory: HotSpot's tag map entry
    /// plus the agent's node.
    pub objects_tagged: u64,
    pub memory_bytes_estimate: u64,
    pub time_ms: u64,
    /// Why the search stopped early, if it did, and what to do about it.
    pub limit_hit: Option<String>,
    /// How the chains were found: `walk` (live heap walks, one pause each), `dump` (one heap
    /// dump, searched while the application ran), `verified` (every chain of the previous
    /// report still holds, checked field by field without a pause), `none` (no search ran).
    #[serde(default)]
    pub method: String,
    /// Chains confirmed from the previous report without searching.
    #[serde(default)]
    pub verified: u32,
    /// Every safepoint pause the search caused, in order.
    #[serde(default)]
    pub pauses: Vec<Pause>,
    #[serde(default)]
    pub pause_ms: u64,
    #[serde(default)]
    pub max_pause_ms: u64,
    /// The temporary heap dump (`method` `dump`): its size and where it was written; it was
    /// deleted before the report was.
    #[serde(default)]
    pub dump_bytes: Option<u64>,
    #[serde(default)]
    pub dump_dir: Option<String>,
    /// The search's own memory at its largest (estimated), against `chain_memory`.
    #[serde(default)]
    pub memory_bytes: u64,
    /// Why the search did not run, or ran only in part (deadline, a dump that would pause too
    /// long, no room for a dump), in plain words.
    #[serde(default)]
    pub skipped: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct DeadLoaderGroup {
    pub class: String,
    pub loaders: u64,
    pub classes_defined: u64,
}

/// One safepoint pause: what caused it and how long the application stood still.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Pause {
    pub what: String,
    pub ms: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Loader {
    /// Agent-assigned id; 0 is the bootstrap loader.
    pub id: u32,
    /// The loader's class, e.g. `java.net.URLClassLoader`.
    pub class: String,
    /// `ClassLoader.getName()`, when set.
    pub name: Option<String>,
    pub role: LoaderRole,
    /// The parent loader's id (0: bootstrap), null for the bootstrap loader itself.
    pub parent: Option<u32>,
    /// Classes this loader defined that are alive now.
    pub classes: u64,
    /// Classes this loader defined since the agent started watching.
    pub classes_defined: u64,
    pub classes_unloaded: u64,
    pub alive: bool,
    /// Milliseconds after agent start when the agent first saw the loader.
    pub first_seen_ms: u64,
    pub died_ms: Option<u64>,
    /// The URLs of a URLClassLoader, space-separated.
    pub code_source: Option<String>,
    /// For a URLClassLoader: whether `close()` was called.
    pub closed: Option<bool>,
    /// A container's own lifecycle state for the loader (Tomcat's `WebappClassLoaderBase`).
    pub state: Option<String>,
    /// 1 for the oldest loader of its generation group, 2 for the next, ...
    pub generation: Option<u32>,
    /// The id of the loader that replaced this one: a newer loader of the same generation key
    /// that defines a class of the same name.
    pub superseded_by: Option<u32>,
    /// What a user knows the loader by, when the agent can tell: its name, a Tomcat context path
    /// (`/examples`), a JSP (`/examples/jsp/dates/date.jsp`), `Spring Boot DevTools restart`, ...
    pub label: Option<String>,
    /// The first (by name) class this loader defines, as seen alive at a report.
    pub sample_class: Option<String>,
    /// Metaspace this loader holds: the chunks HotSpot gave its ClassLoaderData (and those of
    /// the hidden classes it defined), all freed when the loader dies. Null for a dead loader or
    /// when not measured (`class_loaders.metaspace` says why).
    #[serde(default)]
    pub metaspace_bytes: Option<u64>,
    /// The part of `metaspace_bytes` in use by its classes' metadata (blocks).
    #[serde(default)]
    pub metaspace_used_bytes: Option<u64>,
}

/// What a class loader is to the JVM.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LoaderRole {
    Bootstrap,
    Platform,
    /// The system (application) class loader.
    Application,
    /// Any loader an application or container made: the ones that can leak.
    #[default]
    Other,
}

impl LoaderRole {
    pub fn as_str(self) -> &'static str {
        match self {
            LoaderRole::Bootstrap => "bootstrap",
            LoaderRole::Platform => "platform",
            LoaderRole::Application => "application",
            LoaderRole::Other => "other",
        }
    }
}

/// Loaders of the same class and code source (or name) created one after another.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Generation {
    /// What the loaders share: `class|code source` or `class|name stem`.
    pub key: String,
    pub loader_class: String,
    /// Loader ids, oldest first.
    pub loaders: Vec<u32>,
    /// The newest loader of the group.
    pub current: u32,
    pub alive: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct DuplicateClass {
    pub name: String,
    /// Ids of the live loaders that each define a class of this name.
    pub loaders: Vec<u32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct LeakSuspect {
    pub loader_id: u32,
    pub loader_class: String,
    pub loader_name: Option<String>,
    pub classes: u64,
    /// Why the loader should be dead.
    pub reasons: Vec<SuspectReason>,
    /// Hops from a GC root to the loader; empty when no chain was found (see chain_search).
    pub path: Vec<PathHop>,
    /// Index in `path` of the culprit hop: the first object outside the loader holding
    /// something the loader defined.
    pub culprit_hop: Option<usize>,
    /// The known culprit the chain matches (e.g. `jdk-logging-level`), or `generic`.
    pub culprit: Option<String>,
    /// Plain words: what holds the loader.
    pub explanation: String,
    pub fix: String,
    /// What a user knows the loader by (`Loader.label`).
    pub loader_label: Option<String>,
    /// For `superseded`: the loader that replaced it.
    pub superseded_by: Option<u32>,
    /// Index in `path` of the hop whose field owns what holds the loader: the culprit hop, or,
    /// when that is inside a collection (`HashMap$Node.value`, `Object[][3]`), the field that
    /// holds the collection.
    pub holder_hop: Option<usize>,
    /// The loader's `metaspace_bytes`: what its leak costs in metaspace.
    #[serde(default)]
    pub metaspace_bytes: Option<u64>,
    /// Heap only this loader keeps alive (its dominated set, as Eclipse MAT's "retained heap"),
    /// when the chain search read a heap dump; null otherwise (`retained_heap_note` says why).
    #[serde(default)]
    pub retained_heap_bytes: Option<u64>,
    /// Why `retained_heap_bytes` is null although a dump was read (a budget exceeded).
    #[serde(default)]
    pub retained_heap_note: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PathHop {
    pub from: String,
    /// Field name, `[index]` for array elements, or empty (roots, class and loader edges).
    pub field: String,
    /// The first hop names the root; later hops the edge.
    pub kind: HopKind,
    pub to: String,
    /// Loader id that defined `to` (or that `to` is), when the agent knows it.
    pub to_loader: Option<u32>,
}

/// Why a suspect loader should be dead; the JSON holds the snake_case name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SuspectReason {
    /// A newer loader of the same kind and name replaced it (`superseded_by`).
    Superseded,
    /// `URLClassLoader.close()` was called.
    Closed,
    /// Its Tomcat context is stopping, stopped or destroyed.
    ContainerStopped,
    /// Its class or name matches a `leak_patterns` glob.
    Pattern,
    /// One of a growing number of loaders of its kind.
    Growth,
}

/// What a chain's hop is: for the first hop, the GC root (`static_field` when a system class
/// root and its static field are merged); for later hops, the reference from one object to the
/// next. The JSON holds the snake_case name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum HopKind {
    SystemClass,
    Thread,
    StackLocal,
    JniLocal,
    JniGlobal,
    Monitor,
    #[default]
    Other,
    Field,
    StaticField,
    ArrayElement,
    Class,
    ClassLoader,
    ConstantPool,
    ProtectionDomain,
    Signers,
    Interface,
    Superclass,
}

json_names!(SuspectReason {
    Superseded => "superseded",
    Closed => "closed",
    ContainerStopped => "container_stopped",
    Pattern => "pattern",
    Growth => "growth",
});

json_names!(HopKind {
    SystemClass => "system_class",
    Thread => "thread",
    StackLocal => "stack_local",
    JniLocal => "jni_local",
    JniGlobal => "jni_global",
    Monitor => "monitor",
    Other => "other",
    Field => "field",
    StaticField => "static_field",
    ArrayElement => "array_element",
    Class => "class",
    ClassLoader => "class_loader",
    ConstantPool => "constant_pool",
    ProtectionDomain => "protection_domain",
    Signers => "signers",
    Interface => "interface",
    Superclass => "superclass",
});

impl HopKind {
    /// A root in a thread: the thread object, or a local variable of one of its frames.
    pub fn is_thread_root(self) -> bool {
        matches!(self, HopKind::Thread | HopKind::StackLocal | HopKind::JniLocal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str` is what serde writes: text and JSON name a kind alike.
    #[test]
    fn json_names_are_the_text_names() {
        for k in HopKind::ALL {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
            assert_eq!(serde_json::from_str::<HopKind>(&format!("\"{k}\"")).unwrap(), k);
        }
        for r in SuspectReason::ALL {
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert_eq!(HopKind::parse("class_loader"), Some(HopKind::ClassLoader));
    }
}
