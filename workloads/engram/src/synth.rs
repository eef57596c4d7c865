//! Seeded synthetic Engram traffic for what-ifs without text: requests are concatenations
//! of "phrases" (fixed short token sequences) drawn from a Zipf law over a phrase universe,
//! so n-gram frequencies, and therefore row popularity, are Zipfian like natural language.
//! Rows come from the real hash. Same spec and seed, same trace, byte for byte.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::{EngramError, Result};
use super::serving::RequestSource;

/// Parameters of the synthetic workload.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    pub seed: u64,
    /// Requests to generate.
    pub requests: u64,
    /// Tokens per request (prompt plus decode; see `ServingSchedule`).
    pub tokens_per_request: usize,
    /// Distinct phrases; phrase of rank r is drawn with probability proportional to r^-s.
    pub phrases: u64,
    /// Zipf exponent s (about 1.0 for natural language).
    pub zipf_exponent: f64,
    /// Phrases are 1..=max_phrase_len tokens long.
    pub max_phrase_len: u32,
    /// Compressed vocabulary size (token ids are drawn below it, above the 3 special ids).
    pub vocab: u32,
}

impl SyntheticSpec {
    /// A default spec for a compressed vocabulary.
    pub fn new(seed: u64, vocab: u32) -> Self {
        SyntheticSpec {
            seed,
            requests: 64,
            tokens_per_request: 1152,
            phrases: 1_000_000,
            zipf_exponent: 1.0,
            max_phrase_len: 6,
            vocab,
        }
    }
}

/// Zipf sampler over ranks 1..=n by rejection-inversion (Hörmann and Derflinger), O(1) memory.
#[derive(Debug, Clone, Copy)]
pub struct Zipf {
    n: f64,
    s: f64,
    t: f64,
}

impl Zipf {
    pub fn new(n: u64, s: f64) -> Result<Self> {
        if n == 0 || !(s.is_finite() && s >= 0.0) {
            return Err(EngramError::InvalidArgument(format!(
                "zipf needs n >= 1 and a finite exponent >= 0 (got n={n}, s={s})"
            )));
        }
        let nf = n as f64;
        let t = if s != 1.0 {
            (nf.powf(1.0 - s) - s) / (1.0 - s)
        } else {
            1.0 + nf.ln()
        };
        Ok(Zipf { n: nf, s, t })
    }

    fn inv_cdf(&self, p: f64) -> f64 {
        let pt = p * self.t;
        if pt <= 1.0 {
            pt
        } else if self.s == 1.0 {
            (pt - 1.0).exp()
        } else {
            ((pt - 1.0) * (1.0 - self.s) + 1.0).powf(1.0 / (1.0 - self.s))
        }
    }

    /// A rank in 1..=n.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> u64 {
        loop {
            let inv_b = self.inv_cdf(rng.gen::<f64>());
            let x = (inv_b + 1.0).floor();
            if x > self.n {
                continue;
            }
            let mut ratio = x.powf(-self.s);
            if x > 1.0 {
                ratio *= inv_b.powf(self.s);
            }
            if rng.gen::<f64>() < ratio {
                return x as u64;
            }
        }
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Request source of the synthetic workload.
#[derive(Debug, Clone)]
pub struct SyntheticSource {
    spec: SyntheticSpec,
    zipf: Zipf,
    rng: ChaCha8Rng,
    emitted: u64,
}

impl SyntheticSource {
    pub fn new(spec: SyntheticSpec) -> Result<Self> {
        if spec.vocab <= 3 || spec.max_phrase_len == 0 || spec.tokens_per_request == 0 {
            return Err(EngramError::InvalidArgument(format!(
                "synthetic spec needs vocab > 3, phrase length >= 1 and tokens per request >= 1: {spec:?}"
            )));
        }
        Ok(SyntheticSource {
            zipf: Zipf::new(spec.phrases, spec.zipf_exponent)?,
            rng: ChaCha8Rng::seed_from_u64(spec.seed),
            spec,
            emitted: 0,
        })
    }

    /// Appends the tokens of phrase `rank`; derived from (seed, rank) alone, so the phrase
    /// universe costs no memory.
    fn push_phrase(&self, rank: u64, out: &mut Vec<u32>) {
        let mut h = splitmix64(self.spec.seed ^ rank.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        let len = 1 + (h % u64::from(self.spec.max_phrase_len)) as usize;
        let span = u64::from(self.spec.vocab - 3);
        for _ in 0..len {
            h = splitmix64(h);
            out.push(3 + (h % span) as u32);
        }
    }
}

impl RequestSource for SyntheticSource {
    fn next_request(&mut self, tokens: &mut Vec<u32>) -> Result<bool> {
        tokens.clear();
        if self.emitted >= self.spec.requests {
            return Ok(false);
        }
        while tokens.len() < self.spec.tokens_per_request {
            let rank = self.zipf.sample(&mut self.rng);
            self.push_phrase(rank, tokens);
        }
        tokens.truncate(self.spec.tokens_per_request);
        self.emitted += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_is_skewed_and_in_range() {
        let z = Zipf::new(1000, 1.0).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = vec![0u32; 1001];
        for _ in 0..100_000 {
            let r = z.sample(&mut rng);
            assert!((1..=1000).contains(&r));
            counts[r as usize] += 1;
        }
        // P(1)/P(2) = 2 for s = 1.
        let ratio = f64::from(counts[1]) / f64::from(counts[2]);
        assert!((1.8..2.2).contains(&ratio), "{ratio}");
        assert!(counts[1] > 10 * counts[100]);
        assert!(Zipf::new(0, 1.0).is_err());
    }

    #[test]
    fn deterministic_by_seed() {
        let gen = |seed| {
            let mut s = SyntheticSource::new(SyntheticSpec {
                requests: 3,
                ..SyntheticSpec::new(seed, 99_092)
            })
            .unwrap();
            let mut all = Vec::new();
            let mut t = Vec::new();
            while s.next_request(&mut t).unwrap() {
                assert_eq!(t.len(), 1152);
                assert!(t.iter().all(|&x| (3..99_092).contains(&x)));
                all.extend_from_slice(&t);
            }
            all
        };
        assert_eq!(gen(7), gen(7));
        assert_ne!(gen(7), gen(8));
    }
}
