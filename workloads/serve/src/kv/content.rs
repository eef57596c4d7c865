//! What a request's tokens are, as far as prefix caching can tell: which shared prompt
//! (a system prompt, an earlier turn of the same conversation) each position comes from.
//! A block's identity is a hash chained over its parent's hash and its content, as
//! vLLM V1 hashes blocks (`hash(parent_hash, block_tokens)`), so two requests share a
//! block exactly when they share every token up to its end.
//!
//! Content is positional: the token at position `t` of stream `s` is a function of
//! `(s, t)`, so a block's content is named by the streams covering it and where; the
//! hash folds those instead of the token ids (same equalities, no text to draw).

/// `[prompts]` as resolved: shared system prompts and multi-turn conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prompts {
    /// N distinct system prompts (0: none), each `system_prompt_tokens` long.
    pub system_prompts: u64,
    pub system_prompt_tokens: u32,
    /// Requests per conversation (1: every request is its own).
    pub turns: u64,
    /// Conversations open at once per replica, their turns interleaved round-robin.
    pub conversations: u64,
    pub seed: u64,
}

const SYSTEM: u64 = 1 << 62;
const CONVERSATION: u64 = 2 << 62;

/// SplitMix64's finaliser: a well-mixed 64-bit function of `x`.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Prompts {
    /// The conversation request `id` belongs to, with `replicas` replicas. Requests are
    /// dealt round-robin, and a conversation stays on one replica (session-affine
    /// routing, as production routers keep a conversation where its cache is): a
    /// replica's requests come in groups of `conversations x turns`, in which
    /// `conversations` conversations take turns round-robin.
    pub fn conversation(&self, id: u64, replicas: u64) -> u64 {
        let n = replicas.max(1);
        let c = self.conversations.max(1);
        let local = id / n;
        let group = local / self.turns.max(1).saturating_mul(c);
        ((group * c) + local % c) * n + id % n
    }

    /// The token streams of request `id`: (end position, stream), in position order.
    pub fn segments(&self, id: u64, replicas: u64) -> [(u32, u64); 2] {
        let conv = self.conversation(id, replicas);
        let own = CONVERSATION | conv;
        if self.system_prompts == 0 || self.system_prompt_tokens == 0 {
            return [(0, SYSTEM), (u32::MAX, own)];
        }
        let p = mix(self.seed ^ mix(conv)) % self.system_prompts;
        [(self.system_prompt_tokens, SYSTEM | p), (u32::MAX, own)]
    }

    /// Extends `chain` with the hashes of the full blocks of `unit` tokens of request
    /// `id` up to position `tokens` (blocks already in `chain` are kept).
    pub fn extend_chain(
        &self,
        id: u64,
        replicas: u64,
        unit: u32,
        tokens: u32,
        chain: &mut Vec<u64>,
    ) {
        let segs = self.segments(id, replicas);
        let full = tokens / unit.max(1);
        while (chain.len() as u32) < full {
            let j = chain.len() as u32;
            let parent = chain.last().copied().unwrap_or(0);
            chain.push(block_hash(parent, &segs, j * unit, (j + 1) * unit));
        }
    }
}

/// The hash of the block of positions `[start, end)` after `parent`: the streams that
/// cover it and where each starts and stops.
fn block_hash(parent: u64, segs: &[(u32, u64)], start: u32, end: u32) -> u64 {
    let mut h = mix(parent ^ 0x6b76_626c_6f63_6b00);
    let mut from = 0u32;
    for &(to, stream) in segs {
        let (a, b) = (start.max(from), end.min(to));
        if a < b {
            h = mix(h ^ mix(stream ^ ((a as u64) << 32 | b as u64)));
        }
        from = to;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompts(n: u64, l: u32, turns: u64) -> Prompts {
        Prompts {
            system_prompts: n,
            system_prompt_tokens: l,
            turns,
            conversations: 1,
            seed: 7,
        }
    }

    fn chain(p: &Prompts, id: u64, tokens: u32) -> Vec<u64> {
        let mut c = Vec::new();
        p.extend_chain(id, 1, 16, tokens, &mut c);
        c
    }

    /// Requests with the same system prompt share exactly its full blocks; a block that
    /// straddles the prompt's end differs, and so does every block after it.
    #[test]
    fn shared_system_prompt_shares_its_full_blocks() {
        let p = prompts(1, 40, 1);
        let (a, b) = (chain(&p, 0, 200), chain(&p, 1, 200));
        assert_eq!(a.len(), 12);
        assert_eq!(a[..2], b[..2], "40 tokens = two full blocks of 16");
        assert!(a[2..].iter().zip(&b[2..]).all(|(x, y)| x != y));
    }

    /// Turns of one conversation share their history; other conversations share nothing.
    #[test]
    fn turns_of_a_conversation_share_history() {
        let p = prompts(0, 0, 3);
        assert_eq!(chain(&p, 0, 64), chain(&p, 2, 96)[..4]);
        assert_eq!(p.conversation(2, 1), 0);
        assert_eq!(p.conversation(3, 1), 1);
        assert_ne!(chain(&p, 0, 64)[0], chain(&p, 3, 64)[0]);
        // Two replicas: request ids alternate between them, a conversation stays on one.
        assert_eq!(p.conversation(0, 2), p.conversation(4, 2));
        assert_ne!(p.conversation(0, 2), p.conversation(1, 2));
        // Two conversations at once: turns alternate, 0 2 4 | 1 3 5 | then 6 8 10 | ...
        let q = Prompts {
            conversations: 2,
            ..p
        };
        let convs: Vec<u64> = (0..8).map(|i| q.conversation(i, 1)).collect();
        assert_eq!(convs, vec![0, 1, 0, 1, 0, 1, 2, 3]);
    }

    /// Extending a chain keeps its blocks and adds only whole ones.
    #[test]
    fn chains_extend_by_whole_blocks() {
        let p = prompts(4, 100, 1);
        let mut c = Vec::new();
        p.extend_chain(5, 1, 16, 47, &mut c);
        assert_eq!(c.len(), 2);
        let head = c.clone();
        p.extend_chain(5, 1, 16, 64, &mut c);
        assert_eq!(c.len(), 4);
        assert_eq!(c[..2], head[..]);
        assert_eq!(c, chain(&p, 5, 64));
    }
}
