//! Latency histograms and run statistics.

/// Sub-buckets per power of two: values are kept within 1/32 (about 3%).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets to cover every u64.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) << SUB_BITS;

/// A log-linear histogram of u64 values (nanoseconds here): exact below 32, then 32
/// buckets per power of two, so any percentile is within about 3% of the true value.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < SUB {
            v as usize
        } else {
            let exp = 63 - v.leading_zeros(); // >= SUB_BITS
            let shift = exp - SUB_BITS;
            let sub = (v >> shift) & (SUB - 1);
            ((((exp - SUB_BITS + 1) as u64) << SUB_BITS) | sub) as usize
        }
    }

    /// The middle of bucket `i`'s range.
    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            i
        } else {
            let group = i >> SUB_BITS; // >= 1
            let sub = i & (SUB - 1);
            let shift = group - 1;
            let low = (SUB | sub) << shift;
            low + ((1u64 << shift) >> 1)
        }
    }

    /// Counts one value.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    /// Values counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0.5 = median), within the bucket precision; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
}

/// The median of `values` (0 for none).
pub fn median(values: &[f64]) -> f64 {
    crate::median(values)
}

/// (max - min) / median of `values`, as a fraction (0 for fewer than two values).
pub fn spread(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = median(values);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m > 0.0 { (max - min) / m } else { 0.0 }
}

/// A ratio with its interval: `mid` the median, `lo..=hi` the interval around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The median.
    pub mid: f64,
    /// The interval's lower end.
    pub lo: f64,
    /// Its upper end.
    pub hi: f64,
}

/// What an interval of a ratio says against 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The whole interval is above 1.0 + [`LEVEL_BAND`].
    Better,
    /// The whole interval is below 1.0 - [`LEVEL_BAND`].
    Worse,
    /// The interval reaches into 1.0 ± [`LEVEL_BAND`]: no difference the runs can resolve.
    Level,
}

/// Ratios within 1.0 ± this are level whatever their interval: a 2-core VM's windows drift
/// by more than that from one run of the matrix to the next (5-15% run to run), so a verdict
/// on a smaller difference flips between runs. An interval must clear the band to decide.
pub const LEVEL_BAND: f64 = 0.03;

impl Verdict {
    /// `better`, `worse` or `level`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Level => "level",
        }
    }
}

impl Interval {
    /// Better or worse only when the interval excludes 1.0 and the band around it.
    pub fn verdict(&self) -> Verdict {
        if self.lo > 1.0 + LEVEL_BAND {
            Verdict::Better
        } else if self.hi < 1.0 - LEVEL_BAND {
            Verdict::Worse
        } else {
            Verdict::Level
        }
    }
}

/// The rank `k` of the distribution-free confidence interval at `level` (0.9) for the median
/// of `n` values: the `k`-th smallest to the `k`-th largest value, for the largest `k` at
/// which the median lies outside that range with probability at most `1 - level` whatever
/// the distribution (the sign test: the chance that `k` or fewer of `n` values fall on one
/// side of the true median is `P(Binomial(n, 1/2) <= k - 1)`). With 5 values that is the
/// range (93.8%); with 8, the 2nd to the 7th (93.0%); with 24, the 8th to the 17th (93.6%).
/// `None` when even the whole range is not that sure (fewer than 5 values at 0.9).
pub fn interval_rank(n: usize, level: f64) -> Option<usize> {
    // P(Binomial(n, 1/2) <= j) for j = 0, 1, ...: the one-sided chance of missing.
    let mut tail = 0.0;
    let mut choose = 1.0; // C(n, j)
    let half_n = 0.5f64.powi(i32::try_from(n).ok()?);
    let mut k = 0;
    for j in 0..n / 2 {
        if j > 0 {
            choose = choose * (n - j + 1) as f64 / j as f64;
        }
        tail += choose * half_n;
        if 2.0 * tail > 1.0 - level {
            break;
        }
        k = j + 1;
    }
    (k > 0).then_some(k)
}

/// The median of `values` with its distribution-free confidence interval at `level` (0.9):
/// the [`interval_rank`]-th smallest to largest value, so one stray round of eight, or seven
/// of twenty-four, cannot decide alone. `None` with fewer than 5 values at 0.9.
pub fn median_interval(values: &[f64], level: f64) -> Option<Interval> {
    let n = values.len();
    let k = interval_rank(n, level)?;
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Interval {
        mid: median(values),
        lo: sorted[k - 1],
        hi: sorted[n - k],
    })
}

/// The rank `k` of the distribution-free confidence interval at `level` (0.9) for the ratio
/// of two independent samples of `n` and `m` values (Mann-Whitney, as Hodges and Lehmann
/// invert it): of the `n * m` ratios of one value of each, the `k`-th smallest to the `k`-th
/// largest, for the largest `k` with `P(U <= k - 1) <= (1 - level) / 2`, `U` the
/// Mann-Whitney count of two samples from one distribution. Exact: the counts of `U` are the
/// coefficients of the Gaussian binomial `[n + m choose n]`. With 24 runs each that is the
/// 208th of 576 ratios. `None` when even the whole range is not that sure (3 values against
/// 3 at 0.9), or for samples over 200 values.
pub fn unpaired_interval_rank(n: usize, m: usize, level: f64) -> Option<usize> {
    if n == 0 || m == 0 || n > 200 || m > 200 {
        return None;
    }
    // counts[u]: arrangements with U = u, built as the product over i = 1..=n of
    // (1 - q^(m + i)) / (1 - q^i).
    let top = n * m;
    let mut counts = vec![0.0f64; top + 1];
    counts[0] = 1.0;
    for i in 1..=n {
        // Times (1 - q^(m + i)), from the top down so that each term uses the old value.
        for u in (m + i..=top).rev() {
            counts[u] -= counts[u - m - i];
        }
        // Divided by (1 - q^i): a running sum with stride i.
        for u in i..=top {
            counts[u] += counts[u - i];
        }
    }
    let total: f64 = counts.iter().sum();
    let mut tail = 0.0;
    let mut k = 0;
    for (u, c) in counts.iter().enumerate().take(top / 2) {
        tail += c / total;
        if 2.0 * tail > 1.0 - level {
            break;
        }
        k = u + 1;
    }
    (k > 0).then_some(k)
}

/// The distribution-free confidence interval at `level` for the ratio between the runs of `a`
/// and those of `b`, taken as two independent samples: the [`unpaired_interval_rank`]-th
/// smallest to largest of every ratio `a[i] / b[j]`. It holds without assuming that runs
/// side by side in time see the same machine. `None` when the samples are too small.
pub fn unpaired_ratio_interval(a: &[f64], b: &[f64], level: f64) -> Option<(f64, f64)> {
    let k = unpaired_interval_rank(a.len(), b.len(), level)?;
    let mut ratios: Vec<f64> = a
        .iter()
        .flat_map(|x| b.iter().map(move |y| x / y))
        .collect();
    ratios.sort_by(f64::total_cmp);
    Some((ratios[k - 1], ratios[ratios.len() - k]))
}

/// The interval of a ratio between two servers measured side by side in rounds: `pairs`
/// holds each round's ratio, `a` and `b` the two servers' runs. It spans two distribution-free
/// intervals at `level`: [`median_interval`] of the pairs, and [`unpaired_ratio_interval`]
/// of the runs. Pairing cancels drift slower than a round; it fails where the machine
/// changes speed *within* a round (a 2-vCPU VM does, at one connection: runs fall into two
/// groups about 5x apart, and a round that switched between its two runs gives a pair 5x
/// off), and the unpaired interval, which assumes nothing of the rounds, is then the wider.
/// `mid` is the median of the pairs. `None` with fewer than five pairs.
pub fn ratio_interval(pairs: &[f64], a: &[f64], b: &[f64], level: f64) -> Option<Interval> {
    let paired = median_interval(pairs, level)?;
    Some(match unpaired_ratio_interval(a, b, level) {
        Some((lo, hi)) => Interval {
            lo: paired.lo.min(lo),
            hi: paired.hi.max(hi),
            ..paired
        },
        None => paired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_interval_is_the_sign_test_range_and_decides_only_when_clear() {
        assert_eq!(median_interval(&[1.0, 2.0, 3.0, 4.0], 0.9), None);
        let tight = median_interval(&[1.10, 1.12, 1.11, 1.13, 1.09], 0.9).unwrap();
        assert!((tight.mid - 1.11).abs() < 1e-12);
        // Five values: the whole range.
        assert_eq!((tight.lo, tight.hi), (1.09, 1.13));
        assert_eq!(tight.verdict(), Verdict::Better);
        let wide = median_interval(&[0.90, 1.15, 1.02, 0.97, 1.08], 0.9).unwrap();
        assert_eq!(wide.verdict(), Verdict::Level);
        let worse = median_interval(&[0.80, 0.82, 0.79, 0.85, 0.81], 0.9).unwrap();
        assert_eq!(worse.verdict(), Verdict::Worse);
        // Eight values: the 2nd to the 7th, so one stray round does not decide.
        let stray = median_interval(&[1.2, 1.25, 0.9, 1.22, 1.3, 1.21, 1.24, 1.28], 0.9).unwrap();
        assert_eq!((stray.lo, stray.hi), (1.2, 1.28));
        assert_eq!(stray.verdict(), Verdict::Better);
        // A tight interval that excludes 1.0 by less than the band is level.
        let slight = median_interval(&[1.015, 1.02, 1.018, 1.022, 1.019], 0.9).unwrap();
        assert!(slight.lo > 1.0, "{slight:?}");
        assert_eq!(slight.verdict(), Verdict::Level);
        // The quick mode's 24 rounds: the 8th to the 17th (P(Bin(24, 1/2) <= 7) = 3.2%, and
        // <= 8 is 7.6%, past the 5% a side that 90% allows).
        assert_eq!(interval_rank(24, 0.9), Some(8));
        assert_eq!(interval_rank(4, 0.9), None);
    }

    #[test]
    fn unpaired_rank_is_the_exact_mann_whitney_quantile() {
        // Against the distribution of U counted by brute force over every way to split
        // n + m ranks (small sizes).
        for (n, m) in [(4, 4), (4, 6), (5, 5), (6, 6), (5, 7)] {
            let mut counts = vec![0u64; n * m + 1];
            for mask in 0u32..1 << (n + m) {
                if mask.count_ones() as usize != n {
                    continue;
                }
                // U: pairs (a of the first sample, b of the second) with a ranked above b.
                let u: usize = (0..n + m)
                    .filter(|&a| mask >> a & 1 == 1)
                    .map(|a| (0..a).filter(|&b| mask >> b & 1 == 0).count())
                    .sum();
                counts[u] += 1;
            }
            let total: u64 = counts.iter().sum();
            let mut tail = 0;
            let mut want = 0;
            for (u, c) in counts.iter().enumerate() {
                tail += c;
                if 20 * tail > total {
                    break;
                }
                want = u + 1;
            }
            let got = unpaired_interval_rank(n, m, 0.9).unwrap_or(0);
            assert_eq!(got, want, "n {n}, m {m}");
        }
        assert_eq!(unpaired_interval_rank(3, 3, 0.9), None);
        assert_eq!(unpaired_interval_rank(24, 24, 0.9), Some(208));
        assert_eq!(unpaired_interval_rank(0, 5, 0.9), None);
    }

    #[test]
    fn unpaired_interval_is_wide_where_the_runs_switch_between_two_speeds() {
        // Two level servers on a machine that runs some rounds at a fifth of the speed.
        let fast = [30.0, 31.0, 29.0, 30.5, 29.5, 30.2, 30.8, 29.8];
        let slow = [6.0, 6.2, 5.9, 6.1];
        let a: Vec<f64> = fast.iter().chain(&slow).copied().collect();
        let b: Vec<f64> = fast.iter().rev().chain(&slow).copied().collect();
        let (lo, hi) = unpaired_ratio_interval(&a, &b, 0.9).unwrap();
        assert!(lo < 1.0 && hi > 1.0, "{lo} {hi}");
        // A real difference stays clear of 1.0.
        let better: Vec<f64> = a.iter().map(|x| x * 1.5).collect();
        let (lo, _) = unpaired_ratio_interval(&better, &b, 0.9).unwrap();
        assert!(lo > 1.0 + LEVEL_BAND, "{lo}");
    }

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut last = 0;
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let i = Histogram::index(v);
            assert!(i >= last, "index goes back at {v}");
            assert!(i < BUCKETS);
            last = i;
        }
        assert_eq!(Histogram::index(31), 31);
        assert_eq!(Histogram::index(32), 32);
        assert_eq!(Histogram::index(64), 64);
    }

    #[test]
    fn quantiles_are_within_precision() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        for (q, want) in [
            (0.5, 5_000_000.0),
            (0.99, 9_900_000.0),
            (0.999, 9_990_000.0),
        ] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.035, "q{q}: {got} vs {want}");
        }
        let mut other = Histogram::new();
        other.record(7);
        h.merge(&other);
        assert_eq!(h.len(), 10_001);
        assert_eq!(h.quantile(0.0), 7);
    }

    #[test]
    fn spread_is_relative_to_the_median() {
        assert_eq!(spread(&[1.0]), 0.0);
        assert!((spread(&[90.0, 100.0, 110.0]) - 0.2).abs() < 1e-9);
    }
}
