//! Names the samples taken before the jmethodID sweep (`ids.rs`). AsyncGetCallTrace gives a
//! frame whose method has no jmethodID as a null method with its bytecode index and nothing
//! else, so such a frame cannot be named later from what the hook recorded. But the same call
//! site, sampled again once the sweep gave its class ids, shows the same native frames (as the
//! site renders them: the libraries' frames; past them the return addresses differ between
//! interpreted and compiled callers), the same bytecode indexes and the same named frames
//! around it: an unnamed stack is given the site of the one named stack it matches that way. Two named stacks of different
//! sites that both match (the same caller reaching two classes' methods at one index) leave it
//! unnamed: a guess could put bytes on the wrong site.

use super::Stack;
use crate::ffi::jvmti::Frame;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// Stacks by their shape: native frames as rendered, frame count and bytecode indexes, methods
/// left out.
#[derive(Default)]
pub(super) struct Renamer {
    /// Stacks with every Java frame named.
    named: HashMap<u64, Vec<u64>>,
    /// Stacks with an unnamed frame that no named stack matched yet.
    waiting: HashMap<u64, Vec<u64>>,
}

fn shape(k: &Stack) -> u64 {
    let mut h = DefaultHasher::new();
    k.native_key.hash(&mut h);
    k.java.len().hash(&mut h);
    k.java.iter().for_each(|f| f.location.hash(&mut h));
    h.finish()
}

/// Whether `named` can be the stack `unnamed` was: every frame at the same index, every named
/// frame of `unnamed` the same method.
fn matches(unnamed: &Stack, named: &Stack) -> bool {
    unnamed.native_key == named.native_key
        && unnamed.java.len() == named.java.len()
        && unnamed.java.iter().zip(&named.java).all(|(u, n): (&Frame, &Frame)| u.location == n.location && (u.method == 0 || u.method == n.method))
}

impl Renamer {
    /// Files the stacks labelled this tick, then gives each waiting stack whose shape met a new
    /// named stack the site of its one match (`Stack::label`, `Stack::unnamed` cleared).
    pub(super) fn add(&mut self, stacks: &mut HashMap<u64, Stack>, new: &[u64]) {
        let mut touched = HashSet::new();
        for &h in new {
            let Some(k) = stacks.get(&h) else { continue };
            let s = shape(k);
            let list = if k.unnamed { &mut self.waiting } else { &mut self.named };
            list.entry(s).or_default().push(h);
            touched.insert(s);
        }
        for s in touched {
            let (Some(waiting), Some(named)) = (self.waiting.get_mut(&s), self.named.get(&s)) else { continue };
            waiting.retain(|u| {
                let Some(k) = stacks.get(u) else { return false };
                let sites: HashSet<usize> =
                    named.iter().filter_map(|n| stacks.get(n)).filter(|n| matches(k, n)).filter_map(|n| n.label).collect();
                match sites.len() {
                    0 => true,
                    1 => {
                        let site = sites.into_iter().next();
                        if let Some(k) = stacks.get_mut(u) {
                            k.label = site;
                            k.unnamed = false;
                        }
                        false
                    }
                    // Ambiguous for good: stays unnamed.
                    _ => false,
                }
            });
            if waiting.is_empty() {
                self.waiting.remove(&s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(java: &[(usize, i64)], label: usize) -> Stack {
        let java: Vec<Frame> = java.iter().map(|&(method, location)| Frame { method, location }).collect();
        Stack { unnamed: java.iter().any(|f| f.method == 0), java, native: vec![0x1000, 0x2000], samples: 3, allocated: 0, label: Some(label), native_key: 9 }
    }

    #[test]
    fn an_unnamed_stack_takes_the_site_of_the_named_stack_it_matches() {
        let mut stacks = HashMap::new();
        stacks.insert(1, stack(&[(0, -1), (0, 7), (50, 3)], 0));
        let mut r = Renamer::default();
        r.add(&mut stacks, &[1]);
        assert!(stacks[&1].unnamed, "nothing to match yet");
        // Another index in the unnamed frame, and another method where the unnamed stack has a
        // named one: no match.
        stacks.insert(2, stack(&[(10, -1), (11, 8), (50, 3)], 1));
        stacks.insert(3, stack(&[(10, -1), (11, 7), (51, 3)], 2));
        r.add(&mut stacks, &[2, 3]);
        assert!(stacks[&1].unnamed);
        stacks.insert(4, stack(&[(10, -1), (11, 7), (50, 3)], 3));
        r.add(&mut stacks, &[4]);
        assert!(!stacks[&1].unnamed);
        assert_eq!(stacks[&1].label, Some(3));
        assert!(r.waiting.is_empty());
    }

    #[test]
    fn a_stack_seen_named_before_names_a_later_unnamed_one() {
        let mut stacks = HashMap::new();
        stacks.insert(1, stack(&[(10, -1), (11, 7)], 4));
        let mut r = Renamer::default();
        r.add(&mut stacks, &[1]);
        stacks.insert(2, stack(&[(0, -1), (11, 7)], 0));
        r.add(&mut stacks, &[2]);
        assert_eq!(stacks[&2].label, Some(4));
    }

    #[test]
    fn two_sites_matching_leave_the_stack_unnamed() {
        let mut stacks = HashMap::new();
        stacks.insert(1, stack(&[(0, -1), (11, 7)], 0));
        stacks.insert(2, stack(&[(10, -1), (11, 7)], 1));
        stacks.insert(3, stack(&[(12, -1), (11, 7)], 2));
        let mut r = Renamer::default();
        r.add(&mut stacks, &[1, 2, 3]);
        assert!(stacks[&1].unnamed);
        assert_eq!(stacks[&1].label, Some(0));
        assert!(r.waiting.is_empty(), "ambiguous for good: not tried again");
        // Two named stacks of the same site (two loaders' copies of a class) are one answer.
        stacks.insert(4, stack(&[(0, -1), (11, 5)], 0));
        stacks.insert(5, stack(&[(20, -1), (11, 5)], 6));
        stacks.insert(6, stack(&[(21, -1), (11, 5)], 6));
        r.add(&mut stacks, &[4, 5, 6]);
        assert_eq!(stacks[&4].label, Some(6));
    }
}
