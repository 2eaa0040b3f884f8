//! A binary (one bit per level) trie over left-aligned 128-bit keys.
//!
//! **Not for the fast path.** Deliberately plain: one node per bit, no
//! compression, 12 bytes per bit of every prefix. It exists only as the
//! obviously-correct baseline the compressed trie is checked against in the
//! differential tests (`tests/lpm_*.rs`).

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    child: [u32; 2],
    next_hop: u32,
}

impl Node {
    const EMPTY: Node = Node {
        child: [NONE, NONE],
        next_hop: NONE,
    };
}

/// Prefixes are keys whose top `len` bits count; next hops are `u32` below `u32::MAX`.
#[derive(Debug, Clone)]
pub struct BitTrie {
    nodes: Vec<Node>,
    free: Vec<u32>,
    prefixes: usize,
}

impl Default for BitTrie {
    fn default() -> Self {
        BitTrie {
            nodes: vec![Node::EMPTY],
            free: Vec::new(),
            prefixes: 0,
        }
    }
}

#[inline]
fn bit(key: u128, depth: u8) -> usize {
    ((key >> (127 - depth as u32)) & 1) as usize
}

impl BitTrie {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `key/len` (bits past `len` are ignored).
    ///
    /// # Panics
    /// If `len > 128` or `next_hop == u32::MAX` (callers validate both).
    pub fn insert(&mut self, key: u128, len: u8, next_hop: u32) -> Option<u32> {
        assert!(len <= 128 && next_hop != NONE);
        let mut n = 0usize;
        for d in 0..len {
            let b = bit(key, d);
            let c = self.nodes[n].child[b];
            n = if c == NONE {
                let new = self.alloc();
                self.nodes[n].child[b] = new;
                new as usize
            } else {
                c as usize
            };
        }
        let old = std::mem::replace(&mut self.nodes[n].next_hop, next_hop);
        if old == NONE {
            self.prefixes += 1;
            None
        } else {
            Some(old)
        }
    }

    /// Removes `key/len` and prunes nodes left empty.
    pub fn remove(&mut self, key: u128, len: u8) -> Option<u32> {
        if len > 128 {
            return None;
        }
        let mut path = [0u32; 129];
        let mut n = 0usize;
        for d in 0..len {
            path[d as usize] = n as u32;
            let c = self.nodes[n].child[bit(key, d)];
            if c == NONE {
                return None;
            }
            n = c as usize;
        }
        let old = std::mem::replace(&mut self.nodes[n].next_hop, NONE);
        if old == NONE {
            return None;
        }
        self.prefixes -= 1;
        // Prune upwards while the node holds nothing.
        let mut d = len;
        while d > 0 {
            let node = self.nodes[n];
            if node.next_hop != NONE || node.child != [NONE, NONE] {
                break;
            }
            d -= 1;
            let parent = path[d as usize] as usize;
            self.nodes[parent].child[bit(key, d)] = NONE;
            self.free.push(n as u32);
            n = parent;
        }
        Some(old)
    }

    /// The next hop and length of the longest prefix covering `key`.
    #[inline]
    pub fn lookup(&self, key: u128) -> Option<(u32, u8)> {
        let mut best = None;
        let mut n = 0usize;
        let mut d = 0u8;
        loop {
            let node = &self.nodes[n];
            if node.next_hop != NONE {
                best = Some((node.next_hop, d));
            }
            if d == 128 {
                return best;
            }
            let c = node.child[bit(key, d)];
            if c == NONE {
                return best;
            }
            n = c as usize;
            d += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.prefixes
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes == 0
    }

    pub fn memory_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.free.capacity() * 4
    }

    fn alloc(&mut self) -> u32 {
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = Node::EMPTY;
            i
        } else {
            self.nodes.push(Node::EMPTY);
            (self.nodes.len() - 1) as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_length_keys_and_pruning() {
        let mut t = BitTrie::new();
        t.insert(u128::MAX, 128, 7);
        t.insert(0, 0, 1);
        assert_eq!(t.lookup(u128::MAX), Some((7, 128)));
        assert_eq!(t.lookup(u128::MAX - 1), Some((1, 0)));
        let nodes_before = t.nodes.len();
        assert_eq!(t.remove(u128::MAX, 128), Some(7));
        assert_eq!(t.free.len(), 128);
        t.insert(u128::MAX, 128, 8);
        assert_eq!(t.nodes.len(), nodes_before, "freed nodes are reused");
        assert_eq!(t.remove(5, 128), None);
        assert_eq!(t.len(), 2);
    }
}
