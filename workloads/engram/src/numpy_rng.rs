//! NumPy's `default_rng(seed).integers(low, high, size, dtype=int64)`, re-implemented
//! bit for bit: `SeedSequence` (pool of four 32-bit words), the `PCG64` bit generator
//! (128-bit LCG with the XSL-RR output) and NumPy's bounded-integer method (Lemire's
//! multiply-shift with rejection, 32-bit path for small ranges).
//!
//! Why: Engram's per-layer hash multipliers are *defined* as draws from this generator
//! (`default_rng(seed + 10007 * layer_id)`), so any other generator, or hard-coded values,
//! would silently break for a config that nobody tabulated.
//! The algorithm in words is Appendix A of the V4.1 row-id spec (engram_v41_spec.md §A,
//! summarised in docs/sources.md).

const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;
const POOL_SIZE: usize = 4;

/// NumPy's `SeedSequence` for a non-negative integer seed, with no spawn key.
#[derive(Debug, Clone)]
pub struct SeedSequence {
    pool: [u32; POOL_SIZE],
}

fn hashmix(value: u32, hash_const: &mut u32) -> u32 {
    let mut v = value ^ *hash_const;
    *hash_const = hash_const.wrapping_mul(MULT_A);
    v = v.wrapping_mul(*hash_const);
    v ^ (v >> XSHIFT)
}

fn mix(x: u32, y: u32) -> u32 {
    let r = MIX_MULT_L
        .wrapping_mul(x)
        .wrapping_sub(MIX_MULT_R.wrapping_mul(y));
    r ^ (r >> XSHIFT)
}

impl SeedSequence {
    /// Seeds from an integer entropy value, as `SeedSequence(seed)` does.
    pub fn new(seed: u128) -> Self {
        // Split into 32-bit words, least significant first, at least one word.
        let mut entropy = Vec::new();
        let mut s = seed;
        loop {
            entropy.push(s as u32);
            s >>= 32;
            if s == 0 {
                break;
            }
        }
        let mut hash_const = INIT_A;
        let mut pool = [0u32; POOL_SIZE];
        for (i, slot) in pool.iter_mut().enumerate() {
            let word = entropy.get(i).copied().unwrap_or(0);
            *slot = hashmix(word, &mut hash_const);
        }
        for i_src in 0..POOL_SIZE {
            for i_dst in 0..POOL_SIZE {
                if i_src != i_dst {
                    let h = hashmix(pool[i_src], &mut hash_const);
                    pool[i_dst] = mix(pool[i_dst], h);
                }
            }
        }
        for &word in entropy.iter().skip(POOL_SIZE) {
            for slot in pool.iter_mut() {
                let h = hashmix(word, &mut hash_const);
                *slot = mix(*slot, h);
            }
        }
        SeedSequence { pool }
    }

    /// `generate_state(n_words, uint32)`.
    pub fn generate_state_u32(&self, n_words: usize) -> Vec<u32> {
        let mut hash_const = INIT_B;
        (0..n_words)
            .map(|i| {
                let mut v = self.pool[i % POOL_SIZE] ^ hash_const;
                hash_const = hash_const.wrapping_mul(MULT_B);
                v = v.wrapping_mul(hash_const);
                v ^ (v >> XSHIFT)
            })
            .collect()
    }
}

const PCG_MULT: u128 = 0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645;

/// NumPy's `PCG64` bit generator (PCG XSL-RR 128/64), including its buffered 32-bit draw.
#[derive(Debug, Clone)]
pub struct Pcg64 {
    state: u128,
    inc: u128,
    buffered_u32: Option<u32>,
}

impl Pcg64 {
    /// `PCG64(SeedSequence(seed))`, which is what `np.random.default_rng(seed)` wraps.
    pub fn from_seed(seed: u128) -> Self {
        let words = SeedSequence::new(seed).generate_state_u32(8);
        let u = |j: usize| u64::from(words[2 * j]) | (u64::from(words[2 * j + 1]) << 32);
        let initstate = (u128::from(u(0)) << 64) | u128::from(u(1));
        let initseq = (u128::from(u(2)) << 64) | u128::from(u(3));
        let mut g = Pcg64 {
            state: 0,
            inc: (initseq << 1) | 1,
            buffered_u32: None,
        };
        g.step();
        g.state = g.state.wrapping_add(initstate);
        g.step();
        g
    }

    #[inline]
    fn step(&mut self) {
        self.state = self.state.wrapping_mul(PCG_MULT).wrapping_add(self.inc);
    }

    /// One 64-bit output.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let x = ((self.state >> 64) as u64) ^ (self.state as u64);
        x.rotate_right((self.state >> 122) as u32)
    }

    /// One 32-bit output: NumPy splits each 64-bit draw, low half first.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        if let Some(v) = self.buffered_u32.take() {
            return v;
        }
        let n = self.next_u64();
        self.buffered_u32 = Some((n >> 32) as u32);
        n as u32
    }

    /// `Generator.integers(low, high, dtype=int64)` for one value: uniform in `[low, high)`.
    /// Returns `None` when `high <= low` (NumPy raises).
    pub fn integers_i64(&mut self, low: i64, high: i64) -> Option<i64> {
        if high <= low {
            return None;
        }
        // rng = high - 1 - low, as an unsigned 64-bit range.
        let rng = (high as i128 - 1 - low as i128) as u64;
        let off = low as u64;
        let v = if rng == 0 {
            0
        } else if rng <= 0xFFFF_FFFF {
            if rng == 0xFFFF_FFFF {
                u64::from(self.next_u32())
            } else {
                u64::from(self.bounded_lemire_u32(rng as u32))
            }
        } else if rng == u64::MAX {
            self.next_u64()
        } else {
            self.bounded_lemire_u64(rng)
        };
        Some(off.wrapping_add(v) as i64)
    }

    fn bounded_lemire_u64(&mut self, rng: u64) -> u64 {
        let rng_excl = rng + 1;
        let mut m = u128::from(self.next_u64()) * u128::from(rng_excl);
        let mut leftover = m as u64;
        if leftover < rng_excl {
            let threshold = (u64::MAX - rng) % rng_excl;
            while leftover < threshold {
                m = u128::from(self.next_u64()) * u128::from(rng_excl);
                leftover = m as u64;
            }
        }
        (m >> 64) as u64
    }

    fn bounded_lemire_u32(&mut self, rng: u32) -> u32 {
        let rng_excl = rng + 1;
        let mut m = u64::from(self.next_u32()) * u64::from(rng_excl);
        let mut leftover = m as u32;
        if leftover < rng_excl {
            let threshold = (u32::MAX - rng) % rng_excl;
            while leftover < threshold {
                m = u64::from(self.next_u32()) * u64::from(rng_excl);
                leftover = m as u32;
            }
        }
        (m >> 32) as u32
    }
}

/// `np.random.default_rng(seed).integers(low, high, size=n, dtype=np.int64)`.
pub fn default_rng_integers_i64(seed: u128, low: i64, high: i64, n: usize) -> Option<Vec<i64>> {
    let mut g = Pcg64::from_seed(seed);
    (0..n).map(|_| g.integers_i64(low, high)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appendix A's worked example: seed 10007, bound 46,539,438,283,891.
    #[test]
    fn appendix_a_example() {
        let r = default_rng_integers_i64(10007, 0, 46_539_438_283_891, 4).unwrap();
        assert_eq!(
            r,
            vec![
                38_316_048_023_122,
                2_419_938_046_656,
                17_979_836_159_674,
                36_993_668_729_195
            ]
        );
    }

    /// Values printed by NumPy 2.4.6 `default_rng(seed).integers(lo, hi, size=n, dtype=int64)`,
    /// covering the 32-bit path, the full-32-bit path, negative `low`, multi-word seeds and
    /// the 64-bit path.
    #[test]
    fn matches_numpy_on_all_paths() {
        let cases: &[(u128, i64, i64, &[i64])] = &[
            (0, 0, 1000, &[850, 636, 511, 269, 307]),
            (
                12345,
                0,
                4_294_967_295,
                &[3003105692, 976400780, 3387213021],
            ),
            (7, -50, 50, &[44, 12, 18, 39]),
            (
                (1 << 40) + 3,
                0,
                46_758_859_322_775,
                &[36175276046063, 46565155146378, 22125306302468],
            ),
            (99, 0, 4_294_967_296, &[4115325593, 2173385197, 3254087975]),
            (5, 0, i64::MAX, &[7424841456459477715, 7451938487489940729]),
        ];
        for &(seed, lo, hi, want) in cases {
            let got = default_rng_integers_i64(seed, lo, hi, want.len()).unwrap();
            assert_eq!(got, want, "seed {seed} [{lo}, {hi})");
        }
    }

    #[test]
    fn empty_range_is_none() {
        assert!(default_rng_integers_i64(0, 5, 5, 1).is_none());
        assert_eq!(default_rng_integers_i64(0, 5, 6, 3).unwrap(), vec![5, 5, 5]);
    }
}
