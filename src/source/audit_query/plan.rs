//! Where a range over its record limit is cut.
//!
//! A query over its limit still returns `recordCountLimit` of its records
//! (`security-auditlogquery`: `isRecordCountLimitExceeded`, `approximateReturnedRecordCount`).
//! Which ones is not documented; read as a sample of the range, their times show where its
//! records are dense. The planner cuts the range at the sample's time quantiles into as many
//! parts as the count says, each expected to hold at most `FILL` of the limit, so that one
//! more round usually suffices. Nothing depends on the sample being fair: a part still over
//! the limit is split again with its own sample, and a range at its narrowest (`min_split`)
//! over the limit fails naming it.

use chrono::{DateTime, TimeDelta, Utc};

/// How a range over its record limit is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitStrategy {
    /// In halves at the midpoint, without reading the query's records (before issue 29).
    Halve,
    /// At the time quantiles of the records the query returned, into as many parts as its
    /// count says.
    Planned,
}

/// The share of the record limit a planned part is expected to hold: the safety margin
/// against a sample that is not quite fair and a count that is approximate.
pub const FILL: f64 = 0.6;

/// What the planner knows of a range over its limit.
#[derive(Debug, Clone)]
pub struct OverLimit {
    /// The times of the records the query returned, in any order.
    pub sample: Vec<DateTime<Utc>>,
    /// `approximateReturnedRecordCount`.
    pub expected: Option<u64>,
    /// `recordCountLimit`.
    pub limit: Option<u64>,
}

/// A range `[start, end)`.
pub type Range = (DateTime<Utc>, DateTime<Utc>);

/// The range `[start, end)` cannot be split: it is at its narrowest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrowest;

/// The parts of `[start, end)`, in time order, that together cover it exactly.
pub fn split(
    strategy: SplitStrategy,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    over: &OverLimit,
    min_split: TimeDelta,
) -> Result<Vec<Range>, Narrowest> {
    let middle = start + (end - start) / 2;
    if end - start <= min_split || middle <= start {
        return Err(Narrowest);
    }
    let halves = vec![(start, middle), (middle, end)];
    if strategy == SplitStrategy::Halve {
        return Ok(halves);
    }
    let mut sample: Vec<DateTime<Utc>> = over
        .sample
        .iter()
        .copied()
        .filter(|t| *t >= start && *t < end)
        .collect();
    sample.sort_unstable();
    let limit = over
        .limit
        .filter(|&limit| limit > 0)
        .unwrap_or(sample.len() as u64);
    if sample.is_empty() || limit == 0 {
        return Ok(halves);
    }
    let count = over.expected.unwrap_or(0).max(sample.len() as u64 + 1);
    let parts = ((count as f64) / (limit as f64 * FILL)).ceil().max(2.0) as usize;
    let mut cuts: Vec<DateTime<Utc>> = (1..parts)
        .map(|i| sample[i * sample.len() / parts])
        .collect();
    cuts.dedup();
    // Every sample record at one instant, or quantiles that fall on one: that instant is
    // where the records are, so it is set apart (it fails at its narrowest if it alone is
    // over the limit).
    if cuts.len() < parts - 1 {
        let dense = sample[sample.len() / 2];
        cuts.extend([dense, dense + min_split]);
        cuts.sort_unstable();
        cuts.dedup();
    }
    cuts.retain(|t| *t > start && *t < end);
    if cuts.is_empty() {
        return Ok(halves);
    }
    let bounds: Vec<DateTime<Utc>> = std::iter::once(start)
        .chain(cuts)
        .chain(std::iter::once(end))
        .collect();
    Ok(bounds.windows(2).map(|w| (w[0], w[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_500_000_000 + seconds, 0).unwrap()
    }

    fn over(sample: Vec<DateTime<Utc>>, expected: u64, limit: u64) -> OverLimit {
        OverLimit {
            sample,
            expected: Some(expected),
            limit: Some(limit),
        }
    }

    fn covers(parts: &[Range], start: DateTime<Utc>, end: DateTime<Utc>) {
        assert_eq!(parts.first().unwrap().0, start);
        assert_eq!(parts.last().unwrap().1, end);
        assert!(parts.windows(2).all(|w| w[0].1 == w[1].0));
        assert!(parts.iter().all(|(a, b)| a < b), "{parts:?}");
    }

    #[test]
    fn halving_cuts_at_the_midpoint_whatever_the_sample() {
        let sample = (0..25).map(at).collect();
        let parts = split(
            SplitStrategy::Halve,
            at(0),
            at(1000),
            &over(sample, 128, 25),
            TimeDelta::seconds(1),
        )
        .unwrap();
        assert_eq!(parts, vec![(at(0), at(500)), (at(500), at(1000))]);
    }

    #[test]
    fn a_planned_split_cuts_at_the_samples_quantiles_into_enough_parts() {
        // 128 records over 1,000 s, a fair sample of 25: ceil(128 / 15) = 9 parts.
        let sample: Vec<_> = (0..25).map(|i| at(i * 40)).collect();
        let parts = split(
            SplitStrategy::Planned,
            at(0),
            at(1000),
            &over(sample, 128, 25),
            TimeDelta::seconds(1),
        )
        .unwrap();
        assert_eq!(parts.len(), 9, "{parts:?}");
        covers(&parts, at(0), at(1000));
    }

    #[test]
    fn dense_records_get_narrow_parts_and_sparse_ones_wide() {
        // Most of the sample in the first tenth of the range.
        let mut sample: Vec<_> = (0..20).map(|i| at(i * 5)).collect();
        sample.extend((0..5).map(|i| at(100 + i * 180)));
        let parts = split(
            SplitStrategy::Planned,
            at(0),
            at(1000),
            &over(sample, 100, 25),
            TimeDelta::seconds(1),
        )
        .unwrap();
        covers(&parts, at(0), at(1000));
        let in_head = parts.iter().filter(|(_, end)| *end <= at(100)).count();
        assert!(in_head >= parts.len() / 2, "{parts:?}");
    }

    #[test]
    fn a_sample_at_one_instant_sets_that_instant_apart() {
        let sample = vec![at(300); 25];
        let parts = split(
            SplitStrategy::Planned,
            at(0),
            at(1000),
            &over(sample, 60, 25),
            TimeDelta::seconds(1),
        )
        .unwrap();
        assert_eq!(
            parts,
            vec![(at(0), at(300)), (at(300), at(301)), (at(301), at(1000))]
        );
        // That instant alone over the limit is at its narrowest.
        let again = split(
            SplitStrategy::Planned,
            at(300),
            at(301),
            &over(vec![at(300); 25], 60, 25),
            TimeDelta::seconds(1),
        );
        assert_eq!(again, Err(Narrowest));
    }

    #[test]
    fn without_a_sample_or_a_limit_a_planned_split_halves() {
        let parts = split(
            SplitStrategy::Planned,
            at(0),
            at(1000),
            &OverLimit {
                sample: vec![],
                expected: None,
                limit: None,
            },
            TimeDelta::seconds(1),
        )
        .unwrap();
        assert_eq!(parts, vec![(at(0), at(500)), (at(500), at(1000))]);
    }
}
