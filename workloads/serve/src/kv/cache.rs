//! One replica's prefix cache over the KV tiers: blocks named by their chained hash
//! ([`super::content`]), each resident in HBM, pinned host DRAM and/or local NVMe.
//!
//! HBM holds the blocks running requests reference (never evicted) and, in the free
//! blocks, unreferenced cached ones, evicted least recently used first when allocations
//! need the space (vLLM V1's free-block queue; SGLang's radix-tree eviction). An evicted
//! block is written back to host DRAM (unless write-through already put it there), and
//! a block evicted from host DRAM is written to NVMe when there is one. A hit in a lower
//! tier is a reload into HBM. Prefix-aware eviction frees a chain's tail before its head
//! (a block is only reachable through its parents, so evicting a head strands its tail);
//! plain LRU frees them in the order they were last used.

use std::collections::{BTreeMap, HashMap};

/// The tiers, in order of distance from the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Hbm = 0,
    Host = 1,
    Nvme = 2,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// Resident in HBM, host DRAM, NVMe (indexed by [`Tier`]).
    at: [bool; 3],
    /// Running requests holding the block (HBM only).
    refs: u32,
    /// Its key in each tier's LRU (0: not listed there).
    stamp: [u64; 3],
}

/// Blocks moved between tiers, in blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moves {
    /// HBM to host DRAM (write-back on eviction, or write-through on compute).
    pub offload: u64,
    /// Host DRAM to NVMe (eviction from host DRAM).
    pub to_nvme: u64,
}

/// Hits of one lookup, in blocks, by the tier they were found in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hits {
    pub hbm: u64,
    pub host: u64,
    pub nvme: u64,
}

impl Hits {
    pub fn total(&self) -> u64 {
        self.hbm + self.host + self.nvme
    }
}

/// One replica's prefix cache.
#[derive(Debug)]
pub struct PrefixCache {
    map: HashMap<u64, Entry>,
    /// Per tier: stamp -> block hash, oldest first (HBM lists only unreferenced blocks).
    lru: [BTreeMap<u64, u64>; 3],
    /// Capacity in blocks of each tier (HBM's is set every step: the free blocks).
    cap: [u64; 3],
    clock: u64,
    write_through: bool,
    prefix_aware: bool,
    /// Traffic the cache asked for since the last [`PrefixCache::take_moves`].
    moves: Moves,
}

impl PrefixCache {
    pub fn new(host: u64, nvme: u64, write_through: bool, prefix_aware: bool) -> Self {
        PrefixCache {
            map: HashMap::new(),
            lru: Default::default(),
            cap: [0, host, nvme],
            clock: 0,
            write_through: write_through && host > 0,
            prefix_aware,
            moves: Moves::default(),
        }
    }

    /// Blocks resident in `t` (HBM: referenced and cached).
    pub fn resident(&self, t: Tier) -> u64 {
        match t {
            Tier::Hbm => self.map.values().filter(|e| e.at[0]).count() as u64,
            _ => self.lru[t as usize].len() as u64,
        }
    }

    /// Unreferenced blocks cached in HBM.
    pub fn hbm_cached(&self) -> u64 {
        self.lru[0].len() as u64
    }

    pub fn take_moves(&mut self) -> Moves {
        std::mem::take(&mut self.moves)
    }

    fn list(&mut self, t: Tier, h: u64) {
        let e = self.map.entry(h).or_default();
        let t = t as usize;
        if e.stamp[t] != 0 {
            self.lru[t].remove(&e.stamp[t]);
        }
        self.clock += 1;
        e.stamp[t] = self.clock;
        self.lru[t].insert(self.clock, h);
    }

    fn unlist(&mut self, t: Tier, h: u64) {
        if let Some(e) = self.map.get_mut(&h) {
            let t = t as usize;
            if e.stamp[t] != 0 {
                self.lru[t].remove(&e.stamp[t]);
                e.stamp[t] = 0;
            }
        }
    }

    /// Marks `chain` used now in tier `t` (its listed blocks), in eviction order: under
    /// prefix-aware eviction the tail gets the oldest stamp, so it goes first.
    fn touch(&mut self, t: Tier, chain: &[u64]) {
        let listed = |s: &Self, h: &u64| s.map.get(h).is_some_and(|e| e.stamp[t as usize] != 0);
        let order: Vec<u64> = if self.prefix_aware {
            chain.iter().rev().copied().collect()
        } else {
            chain.to_vec()
        };
        for h in order {
            if listed(self, &h) {
                self.list(t, h);
            }
        }
    }

    /// A running request takes `h`: it leaves HBM's free list; a new block is computed
    /// into HBM (and written through to host DRAM when asked).
    fn take(&mut self, h: u64) {
        let e = self.map.entry(h).or_default();
        e.refs += 1;
        e.at[0] = true;
        if e.refs == 1 {
            self.unlist(Tier::Hbm, h);
        }
        let e = self.map[&h];
        if self.write_through && !e.at[1] {
            self.map.get_mut(&h).expect("entry").at[1] = true;
            self.list(Tier::Host, h);
            self.moves.offload += 1;
        }
    }

    /// The longest cached prefix of `chain` (a running request's new blocks), taken; how
    /// many blocks were found where (lower tiers' are reloaded into HBM by the caller).
    pub fn lookup(&mut self, chain: &[u64]) -> Hits {
        let mut hits = Hits::default();
        let mut n = 0;
        for &h in chain {
            let Some(e) = self.map.get(&h) else {
                break;
            };
            match (e.at[0], e.at[1], e.at[2]) {
                (true, _, _) => hits.hbm += 1,
                (_, true, _) => hits.host += 1,
                (_, _, true) => hits.nvme += 1,
                _ => break,
            }
            n += 1;
        }
        for &h in &chain[..n] {
            self.take(h);
        }
        self.touch(Tier::Host, &chain[..n]);
        self.touch(Tier::Nvme, &chain[..n]);
        hits
    }

    /// Free HBM blocks holding nothing cached (as of the last trim, less prefetches).
    pub fn room(&self) -> u64 {
        self.cap[0].saturating_sub(self.lru[0].len() as u64)
    }

    /// Brings the cached prefix of `chain` (a waiting request's) into HBM ahead of its
    /// admission, unreferenced, as far as [`PrefixCache::room`] allows (a prefetch
    /// never evicts); the blocks that had to be reloaded, by source tier.
    pub fn prefetch(&mut self, chain: &[u64]) -> Hits {
        let mut hits = Hits::default();
        let mut n = 0;
        for &h in chain {
            let room = self.room();
            let Some(e) = self.map.get_mut(&h) else {
                break;
            };
            if !e.at[0] && room == 0 {
                break;
            }
            match (e.at[0], e.at[1], e.at[2]) {
                (true, _, _) => {}
                (_, true, _) => hits.host += 1,
                (_, _, true) => hits.nvme += 1,
                _ => break,
            }
            if !e.at[0] {
                e.at[0] = true;
                self.list(Tier::Hbm, h);
            }
            n += 1;
        }
        self.touch(Tier::Hbm, &chain[..n]);
        hits
    }

    /// A request computed the blocks of `chain` (new to it): they are its own now.
    pub fn insert(&mut self, chain: &[u64]) {
        for &h in chain {
            self.take(h);
        }
    }

    /// A request finished or was preempted: its blocks become free cached blocks.
    pub fn release(&mut self, chain: &[u64]) {
        for &h in chain {
            if let Some(e) = self.map.get_mut(&h) {
                e.refs = e.refs.saturating_sub(1);
                if e.refs == 0 {
                    self.list(Tier::Hbm, h);
                }
            }
        }
        self.touch(Tier::Hbm, chain);
    }

    /// Evicts down to `hbm_free` cached blocks in HBM, then to each lower tier's
    /// capacity, writing evicted blocks one tier down where there is one.
    pub fn trim(&mut self, hbm_free: u64) {
        self.cap[0] = hbm_free;
        while self.lru[0].len() as u64 > self.cap[0] {
            let (_, h) = self.lru[0].pop_first().expect("over capacity");
            let e = self.map.get_mut(&h).expect("listed");
            e.stamp[0] = 0;
            e.at[0] = false;
            if !e.at[1] && self.cap[1] > 0 {
                e.at[1] = true;
                self.list(Tier::Host, h);
                self.moves.offload += 1;
            }
            self.forget_if_gone(h);
        }
        while self.lru[1].len() as u64 > self.cap[1] {
            let (_, h) = self.lru[1].pop_first().expect("over capacity");
            let e = self.map.get_mut(&h).expect("listed");
            e.stamp[1] = 0;
            e.at[1] = false;
            if !e.at[0] && !e.at[2] && self.cap[2] > 0 {
                e.at[2] = true;
                self.list(Tier::Nvme, h);
                self.moves.to_nvme += 1;
            }
            self.forget_if_gone(h);
        }
        while self.lru[2].len() as u64 > self.cap[2] {
            let (_, h) = self.lru[2].pop_first().expect("over capacity");
            let e = self.map.get_mut(&h).expect("listed");
            e.stamp[2] = 0;
            e.at[2] = false;
            self.forget_if_gone(h);
        }
    }

    fn forget_if_gone(&mut self, h: u64) {
        if self.map.get(&h).is_some_and(|e| e.at == [false; 3]) {
            self.map.remove(&h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A released chain stays cached in the free blocks; trimming writes it back to host
    /// DRAM tail first (prefix-aware), and a later lookup finds the head in HBM and the
    /// rest in host DRAM.
    #[test]
    fn eviction_writes_back_tail_first_and_lookups_reload() {
        let mut c = PrefixCache::new(100, 0, false, true);
        c.insert(&[1, 2, 3, 4]);
        c.release(&[1, 2, 3, 4]);
        assert_eq!(c.hbm_cached(), 4);
        c.trim(2);
        assert_eq!(c.take_moves().offload, 2);
        let hits = c.lookup(&[1, 2, 3, 4, 5]);
        assert_eq!(
            hits,
            Hits {
                hbm: 2,
                host: 2,
                nvme: 0
            }
        );
    }

    /// Plain LRU evicts the head first, which strands the tail: nothing hits.
    #[test]
    fn plain_lru_strands_the_tail() {
        let mut c = PrefixCache::new(0, 0, false, false);
        c.insert(&[1, 2, 3, 4]);
        c.release(&[1, 2, 3, 4]);
        c.trim(2);
        assert_eq!(c.lookup(&[1, 2, 3, 4]).total(), 0);
        let mut p = PrefixCache::new(0, 0, false, true);
        p.insert(&[1, 2, 3, 4]);
        p.release(&[1, 2, 3, 4]);
        p.trim(2);
        assert_eq!(p.lookup(&[1, 2, 3, 4]).hbm, 2);
    }

    /// Referenced blocks are never evicted; write-through copies each new block to host
    /// DRAM once, so its eviction from HBM costs nothing; host DRAM spills to NVMe.
    #[test]
    fn referenced_blocks_stay_and_write_through_copies_once() {
        let mut c = PrefixCache::new(2, 10, true, true);
        assert_eq!(c.room(), 0);
        c.insert(&[1, 2, 3]);
        assert_eq!(c.take_moves().offload, 3);
        c.trim(0);
        assert_eq!(c.resident(Tier::Hbm), 3, "all referenced");
        assert_eq!(c.resident(Tier::Host), 2);
        assert_eq!(
            c.take_moves(),
            Moves::default(),
            "block 1's host copy is dropped, not spilled: HBM still has it"
        );
        c.release(&[1, 2, 3]);
        c.trim(0);
        // 3 and 2 had copies; 1 is written back, which pushes 2 (oldest) to NVMe.
        assert_eq!(
            c.take_moves(),
            Moves {
                offload: 1,
                to_nvme: 1
            }
        );
        assert_eq!(c.resident(Tier::Hbm), 0);
        assert_eq!((c.resident(Tier::Host), c.resident(Tier::Nvme)), (2, 1));
        assert_eq!(
            c.prefetch(&[1, 2, 3]).total(),
            0,
            "no free HBM to prefetch into"
        );
        c.trim(2);
        let h = c.prefetch(&[1, 2, 3]);
        assert_eq!(h.host + h.nvme, 2, "two free blocks");
        c.trim(3);
        assert_eq!(c.lookup(&[1, 2, 3]).hbm, 2);
    }
}
