//! What the zlib and direct ledgers share: a site table, the section's tracking status, the
//! growth since the previous report, and the snapshot's shape (sites worst first, cut to
//! `REPORT_SITES`, their stacks rendered, the `top_by_*` lists). Each ledger adds its own
//! counters, rows, totals and ages: zlib keeps its streams by address (`ledger.rs`), direct its
//! blocks' records in their headers (`ffi/blocks.rs`).

use crate::core::options::NativeOptions;
use crate::ffi::os;
use crate::native::methods::render_site;
use crate::native::sites::{SiteCounters, SiteInfo, SiteTable, Stripe};
use crate::native::templates;
use leakagent_report::model::{StackSettings, Tracking};
use parking_lot::Mutex;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

/// Sites listed in a report; the rest are summed in the totals only.
const REPORT_SITES: usize = 500;
/// Sites listed in a section's `top_by_*` lists.
const TOP: usize = 10;

/// A section's row for one site, as the ledger fills it from a [`SiteView`].
pub trait Row {
    fn id(&self) -> u32;
    /// What growth is measured on (live streams, live bytes), kept for the next report.
    fn growth_base(&self) -> i64;
    /// Change of `growth_base` since the previous report.
    fn growth(&self) -> i64;
    fn live_bytes(&self) -> u64;
    fn set_stack(&mut self, stack: Vec<String>, app_frame: Option<String>);
}

/// One site as a ledger's snapshot sees it.
pub struct SiteView<'a, C> {
    pub id: u32,
    pub info: &'a SiteInfo,
    pub counters: &'a [Stripe<C>],
    /// The site's `growth_base` at the previous report (0 before its first).
    pub growth_before: i64,
}

/// The shared part of a section's snapshot.
pub struct Listing<S> {
    pub tracking: Tracking,
    pub reason: Option<String>,
    pub settings: StackSettings,
    /// Worst first, at most `REPORT_SITES`, stacks rendered.
    pub sites: Vec<S>,
    pub top_by_live_bytes: Vec<u32>,
    pub top_by_growth: Vec<u32>,
    /// Milliseconds covered by the growth numbers.
    pub growth_window_ms: u64,
}

struct Growth {
    at_ms: u64,
    base: HashMap<u32, i64>,
}

pub struct Section<C> {
    pub sites: SiteTable<C>,
    settings: StackSettings,
    epoch_ms: u64,
    growth: Mutex<Growth>,
    /// (tracking, reason) for the report.
    status: Mutex<(Tracking, Option<String>)>,
}

impl<C: SiteCounters> Section<C> {
    /// A section with one overflow site per kind tag in `kinds`, tracking unless `option` is
    /// off.
    pub fn new(o: &NativeOptions, kinds: &[u8], option: &str, on: bool) -> Section<C> {
        let overflow = format!("<other sites: more than {} distinct stacks (max_sites)>", o.max_sites);
        let overflow: Vec<(u8, String)> = kinds.iter().map(|&k| (k, overflow.clone())).collect();
        Section {
            sites: SiteTable::new(o.max_sites, &overflow),
            settings: settings(o),
            epoch_ms: os::coarse_monotonic_ms(),
            growth: Mutex::new(Growth { at_ms: 0, base: HashMap::new() }),
            status: Mutex::new(if on { (Tracking::Full, None) } else { (Tracking::Off, Some(format!("option {option}=off"))) }),
        }
    }

    pub fn set_status(&self, tracking: Tracking, reason: Option<String>) {
        *self.status.lock() = (tracking, reason);
    }

    pub fn tracking(&self) -> Tracking {
        self.status.lock().0
    }

    /// Milliseconds since the section was made, as the ledgers date their blocks.
    pub fn now_ms(&self) -> u32 {
        os::coarse_monotonic_ms().saturating_sub(self.epoch_ms).min(u32::MAX as u64) as u32
    }

    /// The snapshot of every site `row` makes a row of (it sees every site, so it may also sum
    /// totals), sorted by `order`, worst first. Runs on the report thread.
    pub fn snapshot<S: Row>(
        &self,
        mut row: impl FnMut(SiteView<'_, C>) -> Option<S>,
        mut order: impl FnMut(&S, &S) -> Ordering,
    ) -> Listing<S> {
        let now = self.now_ms() as u64;
        let mut growth = self.growth.lock();
        let growth_window_ms = now.saturating_sub(growth.at_ms);
        let mut sites: Vec<(S, Arc<SiteInfo>)> = Vec::new();
        for (id, info, counters) in self.sites.iter() {
            let view = SiteView {
                id,
                info: &info,
                counters,
                growth_before: growth.base.get(&id).copied().unwrap_or(0),
            };
            if let Some(s) = row(view) {
                sites.push((s, info));
            }
        }
        *growth = Growth { at_ms: now, base: sites.iter().map(|(s, _)| (s.id(), s.growth_base())).collect() };
        drop(growth);

        sites.sort_by(|(a, _), (b, _)| order(a, b));
        sites.truncate(REPORT_SITES);
        // Names are resolved only for the sites the report lists.
        let sites: Vec<S> = sites
            .into_iter()
            .map(|(mut s, info)| {
                let (stack, app_frame) = render_site(&info);
                s.set_stack(stack, app_frame);
                s
            })
            .collect();
        let (tracking, reason) = self.status.lock().clone();
        Listing {
            tracking,
            reason,
            settings: templates::settings(&self.settings),
            top_by_live_bytes: top(&sites, |s| s.live_bytes() as i64, |s| s.id()),
            top_by_growth: top(&sites, |s| s.growth(), |s| s.id()),
            sites,
            growth_window_ms,
        }
    }
}

/// The `settings` of a ledger's report section.
fn settings(o: &NativeOptions) -> StackSettings {
    StackSettings {
        stack_depth: o.stack_depth,
        key_depth: o.key_depth,
        hot_sample: 1,
        max_sites: o.max_sites,
        max_tracked: o.max_tracked,
        ..StackSettings::default()
    }
}

/// Ids of the `TOP` items with the largest positive score.
fn top<T>(items: &[T], score: impl Fn(&T) -> i64, id: impl Fn(&T) -> u32) -> Vec<u32> {
    let mut v: Vec<(i64, u32)> = items.iter().map(|s| (score(s), id(s))).filter(|&(x, _)| x > 0).collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    v.into_iter().take(TOP).map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_keeps_positive_scores_largest_first() {
        let items = [(1u32, 5i64), (2, -3), (3, 9), (4, 0), (5, 9)];
        assert_eq!(top(&items, |x| x.1, |x| x.0), vec![3, 5, 1]);
    }
}
