//! A counter-based SplitMix64: draw number `n` for a seed, without state.
//!
//! The constants are Steele, Lea and Flood's (and Vigna's `splitmix64.c`). Drawing by index
//! instead of from a stateful stream keeps a plan a pure function of the run number. The
//! output for a seed is part of the replay contract: changing it breaks recorded seeds.

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Draw number `index` of the stream for `seed`.
///
/// The seed is mixed first, so that nearby seeds (`s` and `s + GAMMA`) do not give shifted
/// copies of the same stream.
pub(crate) fn draw(seed: u64, index: u64) -> u64 {
    mix(mix(seed).wrapping_add(index.wrapping_add(1).wrapping_mul(GAMMA)))
}

/// A draw mapped to `[0, 1)` with 53 bits of precision.
pub(crate) fn unit(x: u64) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (x >> 11) as f64 * SCALE
}

/// A draw mapped to `[0, bound)` by multiply-shift (Lemire), for `bound > 0`.
pub(crate) fn below(x: u64, bound: u64) -> u64 {
    ((u128::from(x) * u128::from(bound)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_splitmix64() {
        // splitmix64.c seeded with 0 yields these first outputs.
        let mut state: u64 = 0;
        let mut next = || {
            state = state.wrapping_add(GAMMA);
            mix(state)
        };
        assert_eq!(next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(next(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn unit_and_below_stay_in_range() {
        assert_eq!(unit(0), 0.0);
        assert!(unit(u64::MAX) < 1.0);
        assert_eq!(below(u64::MAX, 10), 9);
        assert_eq!(below(0, 10), 0);
    }
}
