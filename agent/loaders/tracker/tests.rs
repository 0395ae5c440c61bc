//! The tracker's safety contract with ObjectFree, and its free queue.

use super::*;
use crate::loaders::tags::TAG_SEARCH;

/// ObjectFree may run inside a GC pause while an agent thread holding the tracker's locks
/// waits for that pause in a JNI call: it must return without any of them.
#[test]
fn object_free_returns_while_every_lock_is_held() {
    let t = std::sync::Arc::new(ClassTracker::new(1000));
    t.loaders.lock().insert(7, LoaderRec::default());
    let (done, finished) = std::sync::mpsc::channel();
    {
        let _held = (t.loaders.lock(), t.dropped.lock(), t.doomed.lock(), t.register.lock());
        let t2 = t.clone();
        std::thread::spawn(move || {
            let seen = (t2.on_object_free(class_tag(1, 7)), t2.on_object_free(TAG_LOADER | 7), t2.on_object_free(TAG_SEARCH));
            let _ = done.send(seen);
        });
        let seen = finished.recv_timeout(std::time::Duration::from_secs(30)).expect("ObjectFree waited for a lock");
        assert_eq!(seen, (true, true, false), "class and loader tags are ours, a search tag is not");
    }
    // The loader's death reaches the map at its next reader; a class's own death queues nothing.
    let map = t.lock_loaders();
    assert!(map[&7].died_ms.is_some());
    drop(map);
    assert_eq!(t.freed_queue.len(), 0);
}

/// A loader's classes are never tagged after the catch-up: its death alone says they died, once,
/// whether ObjectFree told it or its weak reference did.
#[test]
fn a_dead_loader_frees_its_untagged_classes_once() {
    let t = ClassTracker::new(1000);
    t.loaders.lock().insert(7, LoaderRec { counts: Arc::new(LoaderCounts { defined: AtomicU64::new(40), ..Default::default() }), ..LoaderRec::default() });
    t.loaders.lock().insert(8, LoaderRec { counts: Arc::new(LoaderCounts { defined: AtomicU64::new(5), ..Default::default() }), ..LoaderRec::default() });
    t.loaded.store(1000, Relaxed);
    assert!(t.on_object_free(TAG_LOADER | 7));
    assert!(t.on_object_free(TAG_LOADER | 7), "a second event for the same loader");
    assert_eq!(t.counts().1, 960, "its 40 classes are no longer live");
    {
        let mut map = t.lock_loaders();
        let rec = map.get_mut(&7).unwrap();
        t.mark_dead(rec, 99);
        assert_ne!(rec.died_ms, Some(99), "the first death stays");
    }
    assert_eq!(t.freed.load(Relaxed), 40);
    t.unload_events.store(50, Relaxed);
    assert_eq!(t.counts().1, 950, "more ClassUnload events (hidden classes) count");
}

/// A full queue loses no loader death: the next sample looks for dead loaders.
#[test]
fn a_full_free_queue_keeps_the_deaths() {
    let t = ClassTracker::new(1000);
    for _ in 0..FREED_QUEUE as u64 + 10 {
        assert!(t.on_object_free(class_tag(1, 0)), "class tags are ours");
    }
    assert!(!t.deaths_lost.load(Relaxed), "classes queue nothing");
    for _ in 0..FREED_QUEUE {
        assert!(t.on_object_free(TAG_LOADER | 3));
    }
    assert!(!t.deaths_lost.load(Relaxed));
    assert!(t.on_object_free(TAG_LOADER | 3));
    assert!(t.deaths_lost.load(Relaxed));
    drop(t.lock_loaders());
    assert!(t.on_object_free(TAG_LOADER | 3), "room again after the drain");
}

/// A frame for every loaded class is never larger than HotSpot grants: past 65536 PushLocalFrame
/// fails and GetLoadedClasses' references went to the enclosing frame (over 40,000 live classes).
#[test]
fn the_class_frame_stays_within_maxjnilocalcapacity() {
    let t = ClassTracker::new(1000);
    t.loaded.store(1_000, Relaxed);
    assert_eq!(t.local_capacity(), 1_500 + 4096);
    t.loaded.store(50_000, Relaxed);
    assert_eq!(t.local_capacity(), 65536);
}
