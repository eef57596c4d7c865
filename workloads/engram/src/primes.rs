//! Primality and Engram's prime table-size rule.
//!
//! Each (layer, order, head) gets its own prime-sized table. The reference allocates them
//! with one "already used" set shared across all layers and orders, so a prime is never
//! reused; the search for each order restarts at that order's base size.

use std::collections::BTreeSet;

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) % u128::from(m)) as u64
}

fn pow_mod(mut b: u64, mut e: u64, m: u64) -> u64 {
    let mut r = 1 % m;
    b %= m;
    while e > 0 {
        if e & 1 == 1 {
            r = mul_mod(r, b, m);
        }
        b = mul_mod(b, b, m);
        e >>= 1;
    }
    r
}

/// Deterministic Miller-Rabin, exact for every u64 (the first 12 primes as bases suffice
/// below 3.3e24), so table sizes agree with `sympy.isprime` for any config.
pub fn is_prime(n: u64) -> bool {
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for &p in &BASES {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let mut d = n - 1;
    let mut s = 0;
    while d.is_multiple_of(2) {
        d /= 2;
        s += 1;
    }
    'witness: for &a in &BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// The reference's prime allocation. `bases[i]` is the base table size of n-gram order
/// `i + 2`. Returns `primes[layer][order_index][head]`, allocated in (layer, order, head)
/// order: for each order the search starts at its base and takes the next primes not yet
/// used anywhere. `None` if a prime would overflow u64.
pub fn allocate_table_primes(
    n_layers: usize,
    bases: &[u64],
    heads: usize,
) -> Option<Vec<Vec<Vec<u64>>>> {
    let mut used = BTreeSet::new();
    let mut out = Vec::with_capacity(n_layers);
    for _ in 0..n_layers {
        let mut layer = Vec::with_capacity(bases.len());
        for &base in bases {
            let mut candidate = base;
            let mut order = Vec::with_capacity(heads);
            for _ in 0..heads {
                while !is_prime(candidate) || used.contains(&candidate) {
                    candidate = candidate.checked_add(1)?;
                }
                used.insert(candidate);
                order.push(candidate);
                candidate = candidate.checked_add(1)?;
            }
            layer.push(order);
        }
        out.push(layer);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_primes() {
        let ps: Vec<u64> = (0..60).filter(|&n| is_prime(n)).collect();
        assert_eq!(
            ps,
            vec![2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]
        );
        assert!(is_prime(18_446_744_073_709_551_557)); // largest u64 prime
        assert!(!is_prime(3_215_031_751)); // strong pseudoprime to bases 2,3,5,7
    }

    #[test]
    fn never_reused_and_ascending() {
        let p = allocate_table_primes(2, &[100, 100], 3).unwrap();
        let flat: Vec<u64> = p.iter().flatten().flatten().copied().collect();
        assert_eq!(
            flat,
            vec![101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157]
        );
    }
}
