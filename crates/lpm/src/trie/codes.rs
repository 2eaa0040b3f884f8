//! Leaf codes: the 16-bit numbers leaves carry, and the table that maps
//! them to next-hop ids (`Trie::codes`), with their users counted so that
//! a code is recycled when its last route goes.

use super::{Key, LpmError, Trie, MAX_NEXT_HOPS, NONE_ID};
use crate::NextHopId;

impl<K: Key> Trie<K> {
    /// The code of `nh`, allocating one if it is new (counts one more user).
    pub(super) fn acquire_code(&mut self, nh: NextHopId) -> Result<u16, LpmError> {
        if nh == NONE_ID {
            return Err(LpmError::ReservedNextHop(nh));
        }
        let code = match self.code_of.get(&nh) {
            Some(&c) => c,
            None => {
                let c = self.new_code(nh)?;
                self.code_of.insert(nh, c);
                c
            }
        };
        self.users[code as usize] += 1;
        Ok(code)
    }

    /// An unused code, now naming `nh` (with no users yet).
    pub(super) fn new_code(&mut self, nh: NextHopId) -> Result<u16, LpmError> {
        if let Some(c) = self.free_codes.pop() {
            self.codes[c as usize] = nh;
            Ok(c)
        } else if self.codes.len() <= MAX_NEXT_HOPS {
            self.codes.push(nh);
            self.users.push(0);
            Ok((self.codes.len() - 1) as u16)
        } else {
            Err(LpmError::TooManyNextHops)
        }
    }

    /// A code of its own for the default route, shared with no other
    /// route even of the same next hop: a lookup then tells from the leaf
    /// alone whether it matched only the default (uRPF's loose mode asks),
    /// without the record, which lookup-only copies lack.
    pub(super) fn default_code_for(&mut self, nh: NextHopId) -> Result<u16, LpmError> {
        if nh == NONE_ID {
            return Err(LpmError::ReservedNextHop(nh));
        }
        let c = self.new_code(nh)?;
        self.users[c as usize] = 1;
        Ok(c)
    }

    /// The code for a route of length `len` to `nh`.
    pub(super) fn code_for(&mut self, len: u8, nh: NextHopId) -> Result<u16, LpmError> {
        if len == 0 {
            self.default_code_for(nh)
        } else {
            self.acquire_code(nh)
        }
    }

    pub(super) fn release_code(&mut self, code: u16) {
        let u = &mut self.users[code as usize];
        *u -= 1;
        if *u == 0 {
            let nh = std::mem::replace(&mut self.codes[code as usize], NONE_ID);
            // The default's own code is not the one `code_of` names.
            if self.code_of.get(&nh) == Some(&code) {
                self.code_of.remove(&nh);
            }
            self.free_codes.push(code);
        }
    }
}
