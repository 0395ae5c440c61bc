use super::*;

#[test]
fn weights_stand_for_the_bytes_a_sample_represents() {
    assert!((999..=1001).contains(&weight_for(1, 1000.0)));
    let w = weight_for(1_000_000, 1000.0);
    assert!((1_000_000..1_000_010).contains(&w), "{w}");
}

#[test]
fn the_table_finds_what_it_holds_and_forgets_it() {
    // One block per page, as sampling leaves them (a bucket holds 8 of a page's).
    let addrs: Vec<usize> = (1..=200).map(|i| 0x7f00_0000_0000 + i * 4144).collect();
    for &a in &addrs {
        assert!(table_insert(a, a as u64, 7));
        assert!(maybe_live(a));
    }
    let mut n = 0;
    live(|h, w| {
        if addrs.contains(&(h as usize)) {
            assert_eq!(w, 7);
            n += 1;
        }
    });
    assert_eq!(n, 200);
    for &a in &addrs {
        assert!(maybe_live(a));
        table_remove(a);
    }
    let mut left = 0;
    live(|h, _| left += addrs.contains(&(h as usize)) as usize);
    assert_eq!(left, 0);
}

/// The filter never says no for a live sampled block, even when many share a count (a
/// saturated count stays), and says no for nearly every other page.
#[test]
fn the_filter_is_exact_for_live_blocks_and_rarely_wrong_for_others() {
    let base = 0x5a00_0000_0000usize;
    let live_blocks: Vec<usize> = (0..3000).map(|i| base + i * 4096 * 16).collect();
    for &a in &live_blocks {
        count_up(a);
    }
    // Many blocks hashed to one count: it saturates and stays set.
    let slot = |a: usize| count_of(a).map(|c| c as *const AtomicU8 as usize);
    let first = base + 0x10_0000_0000;
    let same: Vec<usize> = (0..4_000_000usize).map(|i| first + i * 16).filter(|&a| slot(a) == slot(first)).take(20).collect();
    assert_eq!(same.len(), 20);
    for &a in &same {
        count_up(a);
    }
    for &a in &same[1..] {
        count_down(a);
    }
    assert!(maybe_live(first), "a saturated count stays");
    assert!(live_blocks.iter().all(|&a| maybe_live(a)));
    let others = (0..100_000usize).filter(|i| maybe_live(0x3300_0000_0000 + i * 4096 + 16)).count();
    // 3000 live pages of 32768 counts: about 9% of other pages pass.
    assert!(others < 12_000, "{others}");
    for &a in &live_blocks {
        count_down(a);
    }
    let after = (0..100_000usize).filter(|i| maybe_live(0x3300_0000_0000 + i * 4096 + 16)).count();
    assert!(after < 2000, "counts back to 0 but the saturated ones: {after}");
}

#[test]
fn draws_average_the_mean() {
    let t = tls();
    let n = 20_000;
    let sum: u64 = (0..n).map(|_| draw_mean(t, 4096.0)).sum();
    let avg = sum / n;
    assert!((3700..4500).contains(&avg), "{avg}");
}

/// A thread's countdown samples about one allocation per mean bytes, and each sample carries
/// the mean it was drawn with.
#[test]
fn the_countdown_samples_once_per_mean_bytes() {
    std::thread::spawn(|| {
        rate::MEAN.store(64 << 10, Relaxed);
        ACTIVE.store(true, Relaxed);
        let mut sampled = 0;
        for _ in 0..100_000 {
            let m = countdown(1000);
            if m != 0 {
                assert_eq!(m, 64 << 10);
                sampled += 1;
            }
        }
        ACTIVE.store(false, Relaxed);
        // 100 MB at 64 KiB: ~1526 samples.
        assert!((1300..1750).contains(&sampled), "{sampled}");
    })
    .join()
    .unwrap();
}
