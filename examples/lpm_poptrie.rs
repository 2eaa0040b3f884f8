//! ferroute's side of the same-run comparison with the Poptrie C reference
//! (`scripts/bench-lpm-poptrie POPTRIE_DIR` drives it; see README, LPM).
//!
//! * `prepare DIR`: writes the benchmark tables as `prefix/len next-hop`
//!   lines (`v4.routes`, `v6.routes`) and the address traces of
//!   `benches/lpm.rs` (2^20 addresses each) as raw little-endian files
//!   (`{v4,v6}-{uniform,inside,sequential}.q`), which both drivers read.
//! * `run DIR PASSES [LABEL]`: builds both tables from those routes, writes every
//!   answer to `ans-ferroute-*.bin`, checks that batched answers equal single
//!   ones, and times PASSES passes of single lookups and of 64-address
//!   batches over each trace (interleaved pass by pass), keeping the fastest
//!   pass of each (as the Poptrie driver does); and a third kind, single
//!   lookups stored into a batch's 64-entry output array and read back
//!   (label `-stored`), the comparison the data plane faces. LABEL (default
//!   `ferroute`) names the build in the output, so that a previous build can
//!   be measured in the same run (`LPM_BASELINE`, label `base`).
//!   With `LPM_FROZEN` (issue 17's measurement tool, `lpm_poptrie/frozen.rs`)
//!   it also builds lookup-only IPv4 copies with a smaller direct array
//!   (`ferroute::lpm::frozen`) and checks every answer of every variant
//!   against the table's (any mismatch fails the run): `all` times them
//!   beside the table's single lookups (`-f16-single`... rows), a variant's
//!   name makes it the IPv4 single lookup alone (no IPv4 batch rows then).
//! * `check DIR LABEL...`: compares every answer of each LABEL with
//!   Poptrie's; fails on any mismatch.
//! * `report FILE`: the markdown table from the collected lines (best and
//!   median over rounds, ratios to Poptrie and to a `base` build if one
//!   ran, memory, build time).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use ferroute::lpm::frozen::{FrozenV4, FrozenVariant};
use ferroute::lpm::{Ipv4Table, Ipv6Table, MaybeNextHop, NextHopId};
use ferroute::tables::{load_routes, LoadOptions};

#[path = "../benches/common/mod.rs"]
mod common;
/// `LPM_FROZEN`: the frozen copies' variants (a measurement tool).
#[path = "lpm_poptrie/frozen.rs"]
mod frozen;

use common::lpm::{load_tables, v4_traces, v6_traces};
use frozen::{frozen_mismatches, pass_frozen_any, FROZEN, FROZEN_SOLO, FROZEN_TIMED};

/// Addresses per trace.
const QUERIES: usize = 1 << 20;
/// Addresses per `lookup_batch` call (the data plane's vector).
const BATCH: usize = 64;
const TRACES: [&str; 3] = ["uniform", "inside", "sequential"];
/// Answer-file value of "no route" (Poptrie's driver writes the same).
const NO_ROUTE: u32 = u32::MAX;

type Error = Box<dyn std::error::Error>;

/// What the timing loops need of a family's table.
trait Family {
    const NAME: &'static str;
    type Addr: Copy;
    type Table;
    fn build(dir: &Path) -> Result<Self::Table, Error>;
    /// What the control plane publishes to the data plane: the table's
    /// lookup-only copy (for IPv4, packed when the table allows), and a
    /// word on its kind.
    fn publish(t: &Self::Table) -> (Self::Table, &'static str);
    /// Query file bytes → addresses.
    fn decode(bytes: &[u8]) -> Vec<Self::Addr>;
    fn lookup(t: &Self::Table, a: Self::Addr) -> Option<NextHopId>;
    fn lookup_batch(t: &Self::Table, a: &[Self::Addr], out: &mut [MaybeNextHop]);
    fn lookup_bytes(t: &Self::Table) -> usize;
    /// `LPM_FROZEN`: the table's lookup-only copy with a smaller direct
    /// array (IPv4 only; see `ferroute::lpm::frozen`).
    fn frozen(_t: &Self::Table) -> Option<Result<FrozenV4, String>> {
        None
    }
    fn frozen_lookup(_f: &FrozenV4, _v: FrozenVariant, _a: Self::Addr) -> Option<NextHopId> {
        None
    }
}

struct V4;
struct V6;

fn routes_of(dir: &Path, family: &str) -> Result<ferroute::tables::Routes, Error> {
    Ok(load_routes(
        dir.join(format!("{family}.routes")),
        &LoadOptions::default(),
    )?)
}

impl Family for V4 {
    const NAME: &'static str = "v4";
    type Addr = Ipv4Addr;
    type Table = Ipv4Table;
    fn build(dir: &Path) -> Result<Ipv4Table, Error> {
        Ok(Ipv4Table::try_from_routes(routes_of(dir, "v4")?.v4)?)
    }
    fn publish(t: &Ipv4Table) -> (Ipv4Table, &'static str) {
        let copy = t.lookup_copy();
        let kind = if copy.is_packed() { "packed" } else { "trie" };
        (copy, kind)
    }
    fn decode(bytes: &[u8]) -> Vec<Ipv4Addr> {
        bytes
            .chunks_exact(4)
            .map(|c| Ipv4Addr::from(u32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect()
    }
    #[inline(always)]
    fn lookup(t: &Ipv4Table, a: Ipv4Addr) -> Option<NextHopId> {
        t.lookup(a)
    }
    fn lookup_batch(t: &Ipv4Table, a: &[Ipv4Addr], out: &mut [MaybeNextHop]) {
        t.lookup_batch(a, out)
    }
    fn lookup_bytes(t: &Ipv4Table) -> usize {
        t.lookup_memory_bytes()
    }
    fn frozen(t: &Ipv4Table) -> Option<Result<FrozenV4, String>> {
        Some(t.frozen_copy())
    }
    #[inline(always)]
    fn frozen_lookup(f: &FrozenV4, v: FrozenVariant, a: Ipv4Addr) -> Option<NextHopId> {
        f.lookup(v, u32::from(a))
    }
}

impl Family for V6 {
    const NAME: &'static str = "v6";
    type Addr = Ipv6Addr;
    type Table = Ipv6Table;
    fn build(dir: &Path) -> Result<Ipv6Table, Error> {
        Ok(Ipv6Table::try_from_routes(routes_of(dir, "v6")?.v6)?)
    }
    fn publish(t: &Ipv6Table) -> (Ipv6Table, &'static str) {
        (t.lookup_copy(), "trie")
    }
    fn decode(bytes: &[u8]) -> Vec<Ipv6Addr> {
        bytes
            .chunks_exact(16)
            .map(|c| Ipv6Addr::from(u128::from_le_bytes(c.try_into().expect("16 bytes"))))
            .collect()
    }
    #[inline(always)]
    fn lookup(t: &Ipv6Table, a: Ipv6Addr) -> Option<NextHopId> {
        t.lookup(a)
    }
    fn lookup_batch(t: &Ipv6Table, a: &[Ipv6Addr], out: &mut [MaybeNextHop]) {
        t.lookup_batch(a, out)
    }
    fn lookup_bytes(t: &Ipv6Table) -> usize {
        t.lookup_memory_bytes()
    }
}

/// The checksum both drivers compute: the sum of (next hop + 1), a miss
/// counting 0. Poptrie's driver adds the pointer its lookup returns (one
/// add); here a miss is `None`, whose id underneath is `NONE_ID`
/// (`u32::MAX`), so (id + 1) in 32 bits is 0 for a miss and id + 1 for a
/// route: LLVM folds the `map_or` into that increment, and the sum costs
/// two operations per lookup, no branch (with `unwrap_or` and a select it
/// cost five: the harness, not the lookup).
#[derive(Default)]
struct Checksum(u64);

impl Checksum {
    #[inline(always)]
    fn add(&mut self, nh: Option<NextHopId>) {
        self.0 += u64::from(nh.map_or(0, |id| id.wrapping_add(1)));
    }
    fn value(&self) -> u64 {
        self.0
    }
}

/// [`Checksum`]'s sum over a batch's answers, as one sum over the whole
/// output, which LLVM vectorises without a branch per answer (a loop of
/// `add` got one, on the `Option`'s tag, when batches wrote `Option`s);
/// each answer adds what [`Checksum::add`] adds for it. Summed in 32-bit
/// lanes and widened once a batch: widening every answer to 64 bits took
/// 2.5 instructions an answer (two 8-byte loads, `pmovzxdq`, `paddq` for
/// four), against the single lookups' `add` that widens for free, and
/// made batches 8-9 % slower on the uniform trace (README, "Twenty-sixth
/// session"). 64 answers of these tables (64 next hops) sum far below
/// 2^32; were a sum to wrap, it would differ from the single lookups'
/// and fail the run.
#[inline(always)]
fn answers_sum(out: &[MaybeNextHop]) -> u64 {
    u64::from(
        out.iter()
            .map(|o| o.get().map_or(0, |id| id.wrapping_add(1)))
            .fold(0, u32::wrapping_add),
    )
}

#[inline(never)]
fn pass_single<F: Family>(t: &F::Table, q: &[F::Addr]) -> u64 {
    let mut c = Checksum::default();
    for &a in q {
        c.add(F::lookup(t, a));
    }
    c.value()
}

/// Single lookups with a batch's output convention: each answer written to
/// a 64-entry `[MaybeNextHop]` and read back by the same sum as
/// [`pass_batch`] (`black_box` keeps LLVM from summing in registers).
/// What the data plane, which takes its answers from such an array, would
/// get from single lookups: [`pass_single`] sums each answer where it is
/// computed, which costs a batch's stores and loads less (README: with
/// `Option` answers 9-11 instructions per lookup). Reported beside the issue's
/// comparison (batch ÷ single), not instead of it.
#[inline(never)]
fn pass_stored<F: Family>(t: &F::Table, q: &[F::Addr]) -> u64 {
    let mut out = [MaybeNextHop::NONE; BATCH];
    let mut c = Checksum::default();
    for chunk in q.chunks(BATCH) {
        for (o, &a) in out.iter_mut().zip(chunk) {
            *o = F::lookup(t, a).into();
        }
        black_box(&mut out);
        c.0 += answers_sum(&out[..chunk.len()]);
    }
    c.value()
}

#[inline(never)]
fn pass_batch<F: Family>(t: &F::Table, q: &[F::Addr]) -> u64 {
    let mut out = [MaybeNextHop::NONE; BATCH];
    let mut c = Checksum::default();
    for chunk in q.chunks(BATCH) {
        F::lookup_batch(t, chunk, &mut out);
        c.0 += answers_sum(&out[..chunk.len()]);
    }
    c.value()
}

fn run_family<F: Family>(dir: &Path, passes: u32, label: &str) -> Result<(), Error> {
    // Timed as the data plane gets it: the whole table built, then the
    // lookup-only copy the control plane publishes, which lookups read.
    let t0 = Instant::now();
    let whole = F::build(dir)?;
    let t1 = Instant::now();
    let (table, kind) = F::publish(&whole);
    let published = t1.elapsed().as_secs_f64();
    println!(
        "BUILD {label} {} {:.4}",
        F::NAME,
        t0.elapsed().as_secs_f64()
    );
    println!("MEM {label} {} {}", F::NAME, F::lookup_bytes(&table));
    // The lookup-only copy alone: what every publication of a changed
    // table costs the control plane.
    println!("PUBLISHED {label} {} {kind} {published:.4}", F::NAME);
    let solo = FROZEN.flatten();
    let frozen = match F::frozen(&whole).filter(|_| FROZEN.is_some()) {
        Some(Ok(f)) => {
            println!("FROZEN {label} {} {:?}", F::NAME, f.stats());
            Some(f)
        }
        Some(Err(e)) => return Err(format!("frozen copy: {e}").into()),
        None => None,
    };
    for trace in TRACES {
        let q = F::decode(&std::fs::read(dir.join(format!("{}-{trace}.q", F::NAME)))?);
        let single: Vec<Option<NextHopId>> = q.iter().map(|&a| F::lookup(&table, a)).collect();
        let mut batched = vec![MaybeNextHop::NONE; q.len()];
        for (a, o) in q.chunks(BATCH).zip(batched.chunks_mut(BATCH)) {
            F::lookup_batch(&table, a, o);
        }
        if let Some(i) = (0..q.len()).find(|&i| single[i] != batched[i].get()) {
            return Err(format!(
                "{} {trace}: batched answer {i} is {:?}, single {:?}",
                F::NAME,
                batched[i],
                single[i]
            )
            .into());
        }
        let solo_f = frozen.as_ref().zip(solo);
        let answers: Vec<u8> = match solo_f {
            // The frozen variant's own answers, for the check against Poptrie's.
            Some((f, v)) => q
                .iter()
                .map(|&a| F::frozen_lookup(f, FROZEN_SOLO[v].0, a))
                .collect(),
            None => single.clone(),
        }
        .iter()
        .flat_map(|a| a.unwrap_or(NO_ROUTE).to_le_bytes())
        .collect();
        std::fs::write(
            dir.join(format!("ans-{label}-{}-{trace}.bin", F::NAME)),
            answers,
        )?;
        if let Some(f) = &frozen {
            let wrong = frozen_mismatches::<F>(f, FrozenVariant::D16Wrong, &q, &single);
            println!(
                "FROZEN-CHECK {label} {} {trace} wrong-on-purpose {wrong}",
                F::NAME
            );
            for &(v, name) in FROZEN_TIMED {
                let bad = frozen_mismatches::<F>(f, v, &q, &single);
                println!("FROZEN-CHECK {label} {} {trace} {name} {bad}", F::NAME);
                if bad != 0 {
                    return Err(
                        format!("{} {trace}: frozen {name}: {bad} mismatches", F::NAME).into(),
                    );
                }
            }
        }
        // The fastest pass of each kind: a shared machine only ever adds time.
        let (mut ts, mut tb, mut tw, mut sum) = (f64::MAX, f64::MAX, f64::MAX, 0);
        let mut tf = vec![f64::MAX; FROZEN_TIMED.len()];
        let mlps = |secs: f64| q.len() as f64 / secs / 1e6;
        let name = F::NAME;
        if let Some((f, v)) = solo_f {
            for _ in 0..passes {
                let t = Instant::now();
                sum = black_box(pass_frozen_any::<F>(v, f, black_box(&q)));
                ts = ts.min(t.elapsed().as_secs_f64());
            }
            println!("RESULT {label}-single {name} {trace} {:.2} {sum}", mlps(ts));
            continue;
        }
        for _ in 0..passes {
            if let Some(f) = &frozen {
                for (v, t_v) in tf.iter_mut().enumerate() {
                    let t = Instant::now();
                    let x = black_box(pass_frozen_any::<F>(v, f, black_box(&q)));
                    *t_v = t_v.min(t.elapsed().as_secs_f64());
                    if x != sum && sum != 0 {
                        return Err(format!(
                            "{} {trace}: frozen checksum {x}, single {sum}",
                            F::NAME
                        )
                        .into());
                    }
                }
            }
            let t = Instant::now();
            sum = black_box(pass_single::<F>(&table, black_box(&q)));
            ts = ts.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let b = black_box(pass_batch::<F>(&table, black_box(&q)));
            tb = tb.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let w = black_box(pass_stored::<F>(&table, black_box(&q)));
            tw = tw.min(t.elapsed().as_secs_f64());
            if b != sum || w != sum {
                return Err(format!(
                    "{} {trace}: checksums single {sum}, batch {b}, stored {w}",
                    F::NAME
                )
                .into());
            }
        }
        println!("RESULT {label}-single {name} {trace} {:.2} {sum}", mlps(ts));
        println!("RESULT {label}-batch {name} {trace} {:.2} {sum}", mlps(tb));
        println!("RESULT {label}-stored {name} {trace} {:.2} {sum}", mlps(tw));
        if frozen.is_some() {
            for ((_, fname), t) in FROZEN_TIMED.iter().zip(&tf) {
                println!(
                    "RESULT {label}-{fname}-single {name} {trace} {:.2} {sum}",
                    mlps(*t)
                );
            }
        }
    }
    Ok(())
}

fn prepare(dir: &Path) -> Result<(), Error> {
    let (v4, v6) = load_tables().ok_or("benchmark tables missing")?;
    std::fs::create_dir_all(dir)?;
    let lines = |it: &mut dyn Iterator<Item = String>| it.collect::<Vec<_>>().join("\n") + "\n";
    std::fs::write(
        dir.join("v4.routes"),
        lines(&mut v4.iter().map(|(p, nh)| format!("{p} {nh}"))),
    )?;
    std::fs::write(
        dir.join("v6.routes"),
        lines(&mut v6.iter().map(|(p, nh)| format!("{p} {nh}"))),
    )?;
    let t4 = v4_traces(&v4, QUERIES);
    for (name, addrs) in t4.named() {
        let bytes: Vec<u8> = addrs
            .iter()
            .flat_map(|&a| u32::from(a).to_le_bytes())
            .collect();
        std::fs::write(dir.join(format!("v4-{name}.q")), bytes)?;
    }
    let t6 = v6_traces(&v6, QUERIES);
    for (name, addrs) in t6.named() {
        let bytes: Vec<u8> = addrs
            .iter()
            .flat_map(|&a| u128::from(a).to_le_bytes())
            .collect();
        std::fs::write(dir.join(format!("v6-{name}.q")), bytes)?;
    }
    println!(
        "prepared {}: {} IPv4 routes, {} IPv6 routes, 6 traces of {QUERIES} addresses",
        dir.display(),
        v4.len(),
        v6.len()
    );
    Ok(())
}

/// Every answer of build `label` against Poptrie's: the number of mismatches.
fn check(dir: &Path, label: &str) -> Result<usize, Error> {
    let mut total = 0;
    for fam in ["v4", "v6"] {
        for trace in TRACES {
            let read = |who: &str| std::fs::read(dir.join(format!("ans-{who}-{fam}-{trace}.bin")));
            let (ours, theirs) = (read(label)?, read("poptrie")?);
            if ours.len() != theirs.len() || ours.is_empty() {
                return Err(format!("{fam} {trace}: answer files differ in length").into());
            }
            let word =
                |b: &[u8], i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
            let bad: Vec<usize> = (0..ours.len() / 4)
                .filter(|&i| word(&ours, i) != word(&theirs, i))
                .collect();
            println!(
                "check {label} {fam} {trace}: {} answers, {} mismatches",
                ours.len() / 4,
                bad.len()
            );
            for &i in bad.iter().take(5) {
                println!(
                    "  query {i}: {label} {:#x}, poptrie {:#x}",
                    word(&ours, i),
                    word(&theirs, i)
                );
            }
            total += bad.len();
        }
    }
    Ok(total)
}

fn best_median(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let best = s.last().copied().unwrap_or(0.0);
    let n = s.len();
    let median = if n == 0 {
        0.0
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (best, median)
}

fn report(file: &Path) -> Result<(), Error> {
    let text = std::fs::read_to_string(file)?;
    // (who, family, trace) → Mlps per round; (kind, who, family) → values.
    let mut rates: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    let mut other: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["RESULT", who, fam, trace, mlps, _sum] => rates
                .entry((who.to_string(), fam.to_string(), trace.to_string()))
                .or_default()
                .push(mlps.parse()?),
            [kind @ ("MEM" | "BUILD"), who, fam, v, ..] => other
                .entry((kind.to_string(), who.to_string(), fam.to_string()))
                .or_default()
                .push(v.parse()?),
            _ => {}
        }
    }
    let get = |who: &str, fam: &str, trace: &str| {
        best_median(
            rates
                .get(&(who.into(), fam.into(), trace.into()))
                .map_or(&[][..], |v| v),
        )
    };
    let rounds = rates.values().map(Vec::len).min().unwrap_or(0);
    println!(
        "Mlps of each round's fastest pass of 2^20 lookups, best / median over {rounds} rounds; \
         ratio = ferroute ÷ Poptrie (best / median)\n"
    );
    println!("| trace | ferroute single | ferroute batch 64 | Poptrie C `-O3 -march=native -flto` | single ÷ Poptrie | batch ÷ Poptrie | batch ÷ single |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (fam, label) in [("v4", "IPv4 CAIDA 998k"), ("v6", "IPv6 RIS 229k")] {
        for trace in TRACES {
            let s = get("ferroute-single", fam, trace);
            let b = get("ferroute-batch", fam, trace);
            let p = get("poptrie", fam, trace);
            let pair = |x: (f64, f64)| format!("{:.1} / {:.1}", x.0, x.1);
            let ratio =
                |x: (f64, f64), y: (f64, f64)| format!("{:.2} / {:.2}", x.0 / y.0, x.1 / y.1);
            println!(
                "| {label}, {trace} | {} | {} | {} | {} | {} | {} |",
                pair(s),
                pair(b),
                pair(p),
                ratio(s, p),
                ratio(b, p),
                ratio(b, s)
            );
        }
    }
    if rates.keys().any(|(who, _, _)| who == "ferroute-stored") {
        println!(
            "\nThe same rounds with a third row: single lookups stored into a 64-entry \
             `[MaybeNextHop]` and read back as the batch's answers are (the data plane's \
             convention); the issue's comparison is batch ÷ single above\n"
        );
        println!("| trace | single | single, stored | batch 64 | batch ÷ single | batch ÷ single stored | single stored ÷ single |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for fam in ["v4", "v6"] {
            for trace in TRACES {
                let s = get("ferroute-single", fam, trace);
                let w = get("ferroute-stored", fam, trace);
                let b = get("ferroute-batch", fam, trace);
                let ratio =
                    |x: (f64, f64), y: (f64, f64)| format!("{:.2} / {:.2}", x.0 / y.0, x.1 / y.1);
                println!(
                    "| {fam} {trace} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {} | {} | {} |",
                    s.0,
                    s.1,
                    w.0,
                    w.1,
                    b.0,
                    b.1,
                    ratio(b, s),
                    ratio(b, w),
                    ratio(w, s)
                );
            }
        }
    }
    if rates
        .keys()
        .any(|(who, _, _)| who.starts_with("ferroute-f"))
    {
        frozen::report(&get);
    }
    if rates.keys().any(|(who, _, _)| who.starts_with("base-")) {
        println!("\nThis build against the previous one (`base`), same run: new ÷ base (best / median)\n");
        println!("| trace | base single | base batch 64 | single new ÷ base | batch new ÷ base |");
        println!("|---|---:|---:|---:|---:|");
        for fam in ["v4", "v6"] {
            for trace in TRACES {
                let (s, b) = (
                    get("ferroute-single", fam, trace),
                    get("ferroute-batch", fam, trace),
                );
                let (bs, bb) = (
                    get("base-single", fam, trace),
                    get("base-batch", fam, trace),
                );
                println!(
                    "| {fam} {trace} | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} / {:.2} | {:.2} / {:.2} |",
                    bs.0, bs.1, bb.0, bb.1, s.0 / bs.0, s.1 / bs.1, b.0 / bb.0, b.1 / bb.1
                );
            }
        }
    }
    let first = |kind: &str, who: &str, fam: &str| {
        other
            .get(&(kind.into(), who.into(), fam.into()))
            .map_or(0.0, |v| v.iter().copied().fold(f64::MAX, f64::min))
    };
    println!("\n| family | ferroute lookup memory | Poptrie memory | ratio | ferroute build | Poptrie build |");
    println!("|---|---:|---:|---:|---:|---:|");
    for fam in ["v4", "v6"] {
        let (m, pm) = (first("MEM", "ferroute", fam), first("MEM", "poptrie", fam));
        println!(
            "| {fam} | {:.2} MiB | {:.2} MiB | {:.2} | {:.3} s | {:.3} s |",
            m / 1048576.0,
            pm / 1048576.0,
            m / pm,
            first("BUILD", "ferroute", fam),
            first("BUILD", "poptrie", fam)
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: lpm_poptrie prepare DIR | run DIR PASSES [LABEL] | check DIR LABEL... | report FILE";
    let result: Result<bool, Error> = match args.iter().map(String::as_str).collect::<Vec<_>>()[..]
    {
        ["prepare", dir] => prepare(Path::new(dir)).map(|_| true),
        ["run", dir, passes, ref label @ ..] if label.len() <= 1 => {
            let label = label.first().copied().unwrap_or("ferroute");
            passes
                .parse::<u32>()
                .map_err(Error::from)
                .and_then(|p| {
                    run_family::<V4>(Path::new(dir), p.max(1), label)?;
                    run_family::<V6>(Path::new(dir), p.max(1), label)
                })
                .map(|_| true)
        }
        ["check", dir, ref labels @ ..] if !labels.is_empty() => labels
            .iter()
            .try_fold(0, |n, l| Ok::<_, Error>(n + check(Path::new(dir), l)?))
            .map(|bad| bad == 0),
        ["report", file] => report(Path::new(file)).map(|_| true),
        _ => Err(usage.into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("lpm_poptrie: answers differ from Poptrie's");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("lpm_poptrie: {e}");
            ExitCode::FAILURE
        }
    }
}
