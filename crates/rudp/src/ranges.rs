//! A compact set of disjoint half-open `u64` ranges.
//!
//! One type serves four jobs: byte ranges a receiver holds (and a resuming receiver already
//! had), byte ranges a sender has seen acknowledged or must retransmit, and packet numbers a
//! peer has received (for ACK frames and replay protection). The set is a sorted `Vec` of
//! merged `(start, end)` pairs: lookups are binary searches, and because loss leaves few holes
//! in flight the vector stays short, so inserts allocate nothing once it has grown.

use std::ops::Range;

/// A set of `u64` values stored as sorted, disjoint, non-adjacent half-open ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// Sorted `(start, end)` pairs, `start < end`, with a gap between neighbours.
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    /// An empty set.
    pub const fn new() -> Self {
        Self { ranges: Vec::new() }
    }

    /// Builds a set from any ranges (overlapping or unordered ones are merged).
    pub fn from_ranges<I: IntoIterator<Item = Range<u64>>>(ranges: I) -> Self {
        let mut set = Self::new();
        for r in ranges {
            set.insert(r);
        }
        set
    }

    /// Number of disjoint ranges (not values).
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// `true` when the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Sum of the lengths of all ranges.
    pub fn total_len(&self) -> u64 {
        self.ranges.iter().map(|&(s, e)| e - s).sum()
    }

    /// The ranges in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Range<u64>> + ExactSizeIterator + '_ {
        self.ranges.iter().map(|&(s, e)| s..e)
    }

    /// Smallest value in the set.
    pub fn min(&self) -> Option<u64> {
        self.ranges.first().map(|r| r.0)
    }

    /// Largest value in the set.
    pub fn max(&self) -> Option<u64> {
        self.ranges.last().map(|r| r.1 - 1)
    }

    /// The lowest range.
    pub fn first(&self) -> Option<Range<u64>> {
        self.ranges.first().map(|&(s, e)| s..e)
    }

    /// `true` when `value` is in the set.
    pub fn contains(&self, value: u64) -> bool {
        let i = self.ranges.partition_point(|&(_, e)| e <= value);
        self.ranges.get(i).is_some_and(|&(s, _)| s <= value)
    }

    /// `true` when every value of `range` is in the set (an empty range is always covered).
    pub fn covers(&self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return true;
        }
        let i = self.ranges.partition_point(|&(_, e)| e <= range.start);
        self.ranges
            .get(i)
            .is_some_and(|&(s, e)| s <= range.start && range.end <= e)
    }

    /// The smallest value `>= from` that is *not* in the set, and the end of the gap it opens
    /// (`u64::MAX` when no range follows).
    pub fn gap_at_or_after(&self, from: u64) -> (u64, u64) {
        let i = self.ranges.partition_point(|&(_, e)| e <= from);
        match self.ranges.get(i) {
            Some(&(s, e)) if s <= from => {
                let next = self.ranges.get(i + 1).map_or(u64::MAX, |r| r.0);
                (e, next)
            }
            Some(&(s, _)) => (from, s),
            None => (from, u64::MAX),
        }
    }

    /// Adds `range`; returns `true` if any value was new.
    pub fn insert(&mut self, range: Range<u64>) -> bool {
        let mut any = false;
        self.insert_with(range, |_| any = true);
        any
    }

    /// Adds `range`, calling `new` for each sub-range that was not already in the set, in
    /// ascending order. This is how a receiver writes only fresh bytes and a sender learns
    /// which packet numbers an ACK newly acknowledges.
    pub fn insert_with(&mut self, range: Range<u64>, mut new: impl FnMut(Range<u64>)) {
        if range.is_empty() {
            return;
        }
        // First range that touches or follows `range` (adjacent ranges merge).
        let first = self.ranges.partition_point(|&(_, e)| e < range.start);
        let (mut start, mut end) = (range.start, range.end);
        let mut cursor = range.start;
        let mut last = first;
        while let Some(&(s, e)) = self.ranges.get(last) {
            if s > range.end {
                break;
            }
            if cursor < s {
                new(cursor..s);
            }
            cursor = cursor.max(e);
            start = start.min(s);
            end = end.max(e);
            last += 1;
        }
        if cursor < range.end {
            new(cursor..range.end);
        }
        if last == first {
            self.ranges.insert(first, (start, end));
        } else {
            self.ranges[first] = (start, end);
            self.ranges.drain(first + 1..last);
        }
    }

    /// Removes every value of `range` from the set.
    pub fn remove(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let first = self.ranges.partition_point(|&(_, e)| e <= range.start);
        let mut last = first;
        while self.ranges.get(last).is_some_and(|&(s, _)| s < range.end) {
            last += 1;
        }
        if last == first {
            return;
        }
        let (head_s, _) = self.ranges[first];
        let (_, tail_e) = self.ranges[last - 1];
        let head = (head_s < range.start).then_some((head_s, range.start));
        let tail = (tail_e > range.end).then_some((range.end, tail_e));
        match (head, tail) {
            (Some(h), Some(t)) => {
                self.ranges[first] = h;
                if last - first >= 2 {
                    self.ranges[first + 1] = t;
                    self.ranges.drain(first + 2..last);
                } else {
                    self.ranges.insert(first + 1, t);
                }
            }
            (Some(x), None) | (None, Some(x)) => {
                self.ranges[first] = x;
                self.ranges.drain(first + 1..last);
            }
            (None, None) => {
                self.ranges.drain(first..last);
            }
        }
    }

    /// Removes every value below `floor`.
    pub fn remove_below(&mut self, floor: u64) {
        self.remove(0..floor);
    }

    /// Removes and returns the lowest range.
    pub fn pop_first(&mut self) -> Option<Range<u64>> {
        if self.ranges.is_empty() {
            None
        } else {
            let (s, e) = self.ranges.remove(0);
            Some(s..e)
        }
    }

    /// Drops the lowest range (used to bound memory: the caller raises its floor).
    pub(crate) fn drop_lowest_range(&mut self) -> Option<Range<u64>> {
        self.pop_first()
    }

    /// Removes all values.
    pub fn clear(&mut self) {
        self.ranges.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn model(set: &RangeSet) -> BTreeSet<u64> {
        set.iter().flatten().collect()
    }

    proptest! {
        #[test]
        fn matches_a_btreeset(ops in proptest::collection::vec((any::<bool>(), 0u64..200, 0u64..30), 0..60)) {
            let mut set = RangeSet::new();
            let mut reference = BTreeSet::new();
            for (add, start, len) in ops {
                let r = start..start + len;
                if add {
                    let mut fresh = Vec::new();
                    set.insert_with(r.clone(), |n| fresh.extend(n));
                    let expect: Vec<u64> = r.clone().filter(|v| !reference.contains(v)).collect();
                    prop_assert_eq!(fresh, expect);
                    reference.extend(r);
                } else {
                    set.remove(r.clone());
                    for v in r { reference.remove(&v); }
                }
                prop_assert_eq!(model(&set), reference.clone());
                // Invariant: sorted, disjoint, non-adjacent, non-empty.
                for w in set.ranges.windows(2) { prop_assert!(w[0].1 < w[1].0); }
                for &(s, e) in &set.ranges { prop_assert!(s < e); }
                for v in 0..240 {
                    prop_assert_eq!(set.contains(v), reference.contains(&v));
                    let (gap, gap_end) = set.gap_at_or_after(v);
                    let expect = (v..).find(|x| !reference.contains(x)).unwrap();
                    prop_assert_eq!(gap, expect);
                    prop_assert!(gap_end > gap);
                }
            }
        }
    }
}
