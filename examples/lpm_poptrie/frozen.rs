//! `LPM_FROZEN` (see `lpm_poptrie.rs` and `ferroute::lpm::frozen`): the
//! lookup-only IPv4 copies with a smaller direct array, timed and checked
//! beside the table's own single lookups. A measurement tool for issue 17.

use std::sync::LazyLock;

use ferroute::lpm::frozen::{FrozenV4, FrozenVariant};
use ferroute::lpm::NextHopId;

use super::{Checksum, Family, TRACES};

/// `LPM_FROZEN`: `all` times every variant of [`FROZEN_TIMED`] in the
/// same passes as the table's own lookups; a variant's label
/// ([`FROZEN_SOLO`]) makes it the IPv4 single lookup alone (`-single` rows,
/// answers and all; no IPv4 batch or stored passes, so that nothing else
/// runs over other memory between its passes, as in a baseline process).
/// `D16Wrong`'s mismatches are counted in every mode, to show the
/// check catches wrong answers.
pub static FROZEN: LazyLock<Option<Option<usize>>> = LazyLock::new(|| {
    let v = std::env::var("LPM_FROZEN").ok()?;
    Some(FROZEN_SOLO.iter().position(|&(_, name)| name == v))
});
/// Every variant by label; the last, wrong on purpose, only as
/// `LPM_FROZEN=f16wrong` (its answers must then fail the check).
pub const FROZEN_SOLO: [(FrozenVariant, &str); 11] = [
    (FrozenVariant::D16, "f16"),
    (FrozenVariant::D16BranchFree, "f16bf"),
    (FrozenVariant::D8, "f8"),
    (FrozenVariant::D16N8, "f16n8"),
    (FrozenVariant::D16N8BranchFree, "f16n8bf"),
    (FrozenVariant::D16LeafNodes, "f16ln"),
    (FrozenVariant::D16N8LeafNodes, "f16n8ln"),
    (FrozenVariant::D16N8LeafNodesLinear, "f16n8lnx"),
    (FrozenVariant::D16N8LeafNodesByD16, "f16n8lnd"),
    (FrozenVariant::D16N8LeafNodesLinearValues, "f16n8lnxv"),
    (FrozenVariant::D16Wrong, "f16wrong"),
];
/// The variants `LPM_FROZEN=all` times (and checks: 0 mismatches).
pub const FROZEN_TIMED: &[(FrozenVariant, &str)] = FROZEN_SOLO.split_at(FROZEN_SOLO.len() - 1).0;

/// `pass_single` over a frozen copy; `V` indexes [`FROZEN_SOLO`] (a
/// constant, so each variant gets its own loop, named for callgrind).
#[inline(never)]
fn pass_frozen<F: Family, const V: usize>(f: &FrozenV4, q: &[F::Addr]) -> u64 {
    let mut c = Checksum::default();
    for &a in q {
        c.add(F::frozen_lookup(f, FROZEN_SOLO[V].0, a));
    }
    c.value()
}

pub fn pass_frozen_any<F: Family>(v: usize, f: &FrozenV4, q: &[F::Addr]) -> u64 {
    match v {
        0 => pass_frozen::<F, 0>(f, q),
        1 => pass_frozen::<F, 1>(f, q),
        2 => pass_frozen::<F, 2>(f, q),
        3 => pass_frozen::<F, 3>(f, q),
        4 => pass_frozen::<F, 4>(f, q),
        5 => pass_frozen::<F, 5>(f, q),
        6 => pass_frozen::<F, 6>(f, q),
        7 => pass_frozen::<F, 7>(f, q),
        8 => pass_frozen::<F, 8>(f, q),
        9 => pass_frozen::<F, 9>(f, q),
        _ => pass_frozen::<F, 10>(f, q),
    }
}

/// Mismatches of a frozen variant's answers against the table's single ones.
pub fn frozen_mismatches<F: Family>(
    f: &FrozenV4,
    v: FrozenVariant,
    q: &[F::Addr],
    single: &[Option<NextHopId>],
) -> usize {
    q.iter()
        .zip(single)
        .filter(|&(&a, &s)| F::frozen_lookup(f, v, a) != s)
        .count()
}

/// `report`'s table of the frozen variants (`LPM_FROZEN=all` runs).
pub fn report(get: &dyn Fn(&str, &str, &str) -> (f64, f64)) {
    println!("\nFrozen IPv4 copies (`LPM_FROZEN=all`), single lookups, same rounds: Mlps best / median, ÷ Poptrie, ÷ ferroute single\n");
    println!("| trace | variant | Mlps | ÷ Poptrie | ÷ ferroute single |");
    println!("|---|---|---:|---:|---:|");
    for trace in TRACES {
        let p = get("poptrie", "v4", trace);
        let s = get("ferroute-single", "v4", trace);
        for (_, fname) in FROZEN_TIMED {
            let f = get(&format!("ferroute-{fname}-single"), "v4", trace);
            println!(
                "| v4 {trace} | {fname} | {:.1} / {:.1} | {:.2} / {:.2} | {:.2} / {:.2} |",
                f.0,
                f.1,
                f.0 / p.0,
                f.1 / p.1,
                f.0 / s.0,
                f.1 / s.1
            );
        }
    }
}
