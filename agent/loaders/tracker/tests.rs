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
    // The events reach the map at its next reader.
    let map = t.lock_loaders();
    assert_eq!(map[&7].freed, 1);
    assert!(map[&7].died_ms.is_some());
    drop(map);
    assert_eq!(t.freed.load(Relaxed), 1);
}

/// A full queue loses no count: classes are counted globally, and a loader death that did
/// not fit makes the next sample look for dead loaders.
#[test]
fn a_full_free_queue_keeps_the_counts() {
    let t = ClassTracker::new(1000);
    for i in 0..FREED_QUEUE as u64 + 10 {
        assert!(t.on_object_free(class_tag(i, 0)));
    }
    assert!(!t.deaths_lost.load(Relaxed), "only classes overflowed");
    assert!(t.on_object_free(TAG_LOADER | 3));
    assert!(t.deaths_lost.load(Relaxed));
    assert_eq!(t.freed.load(Relaxed), FREED_QUEUE as u64 + 10);
    assert_eq!(t.lock_loaders()[&BOOTSTRAP].freed, FREED_QUEUE as u64, "the queued ones, drained");
    assert!(t.on_object_free(class_tag(1, 0)), "room again after the drain");
    assert_eq!(t.lock_loaders()[&BOOTSTRAP].freed, FREED_QUEUE as u64 + 1);
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
