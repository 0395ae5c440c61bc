use super::*;

#[test]
fn weights_stand_for_the_bytes_a_sample_represents() {
    assert!((999..=1001).contains(&weight_for(1, 1000.0)));
    let w = weight_for(1_000_000, 1000.0);
    assert!((1_000_000..1_000_010).contains(&w), "{w}");
}

#[test]
fn the_table_finds_what_it_holds_and_forgets_it() {
    let addrs: Vec<usize> = (1..=200).map(|i| 0x7f00_0000_0000 + i * 48).collect();
    for &a in &addrs {
        assert!(table_insert(a, a as u64, 7));
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
        table_remove(a);
    }
    let mut left = 0;
    live(|h, _| left += addrs.contains(&(h as usize)) as usize);
    assert_eq!(left, 0);
}

#[test]
fn draws_average_the_mean() {
    TLS.with(|t| {
        let n = 20_000;
        let sum: i64 = (0..n).map(|_| draw_mean(t, 4096.0)).sum();
        let avg = sum / n;
        assert!((3700..4500).contains(&avg), "{avg}");
    });
}
