//! The worker's ACL cache: answers kept, forgotten and evicted as its
//! module says.

use super::super::{Acl, AclAction, AclKeyV4, AclRule, AclSpec, FlowFields, PortRange};
use super::*;

/// The stage's question: list `id`'s slot for `key`, through the cache.
fn ask_v4(cache: &mut AclCache, acl: &Acl, id: AclId, key: &AclKeyV4) -> usize {
    let classify = || acl.answer(acl.slot_v4(key));
    cache.answer_v4(FlowKeyV4::of(key, id), classify).0
}

fn ask_v6(cache: &mut AclCache, acl: &Acl, id: AclId, key: &AclKeyV6) -> usize {
    let classify = || acl.answer(acl.slot_v6(key));
    cache.answer_v6(FlowKeyV6::of(key, id), classify).0
}

fn ssh_list() -> Acl {
    Acl::compile(AclSpec {
        name: "ssh".into(),
        default: AclAction::Permit,
        rules: vec![AclRule {
            protocol: Some(6),
            destination_port: Some(PortRange {
                first: 22,
                last: 22,
            }),
            ..AclRule::any(AclAction::Deny)
        }],
    })
}

fn tcp_v4(src: u32, dport: u16) -> AclKeyV4 {
    FlowFields {
        src,
        dst: 0xc633_6401,
        protocol: 6,
        ports: Some((40_000, dport)),
    }
}

#[test]
fn a_flow_is_classified_once_then_answered_from_the_cache() {
    let acl = ssh_list();
    let mut cache = AclCache::with_sets(64, 64);
    let ssh = tcp_v4(0x0a00_0001, 22);
    assert_eq!(ask_v4(&mut cache, &acl, 0, &ssh), 0);
    assert_eq!(ask_v4(&mut cache, &acl, 0, &ssh), 0);
    let web = tcp_v4(0x0a00_0001, 443);
    assert_eq!(ask_v4(&mut cache, &acl, 0, &web), 1, "the default's slot");
    assert_eq!(ask_v4(&mut cache, &acl, 0, &web), 1);
    assert_eq!(cache.counts, AclCacheCounts { hits: 2, misses: 2 });
    // A hit does not consult the list: another list under the same id
    // would get the first one's answer, which is why a new table
    // invalidates (next test) and the id is part of the key.
    let permit_all = Acl::compile(AclSpec {
        name: "all".into(),
        default: AclAction::Permit,
        rules: vec![AclRule::any(AclAction::Permit)],
    });
    assert_eq!(ask_v4(&mut cache, &permit_all, 0, &ssh), 0);
    assert_eq!(
        ask_v4(&mut cache, &permit_all, 1, &web),
        0,
        "id 1: classified"
    );
    assert_eq!(cache.counts.misses, 3);
}

#[test]
fn a_new_table_forgets_every_answer() {
    let acl = ssh_list();
    let table = AclTable::compile([acl.spec().clone()]);
    let mut cache = AclCache::with_sets(64, 64);
    let ssh = tcp_v4(0x0a00_0001, 22);
    let ssh6 = AclKeyV6 {
        src: 1,
        dst: 2,
        protocol: 6,
        ports: Some((40_000, 22)),
    };
    ask_v4(&mut cache, &acl, 0, &ssh);
    ask_v6(&mut cache, &acl, 0, &ssh6);
    cache.invalidate(&table);
    let reversed = Acl::compile(AclSpec {
        name: "ssh".into(),
        default: AclAction::Deny,
        rules: vec![AclRule::any(AclAction::Permit)],
    });
    assert_eq!(ask_v4(&mut cache, &reversed, 0, &ssh), 0);
    assert_eq!(ask_v6(&mut cache, &reversed, 0, &ssh6), 0);
    assert_eq!(cache.counts, AclCacheCounts { hits: 0, misses: 4 });
    // The generation wrapping round clears the sets instead.
    for _ in cache.generation..MAX_GENERATION {
        cache.invalidate(&table);
    }
    ask_v4(&mut cache, &reversed, 0, &ssh);
    assert!(cache
        .v4
        .sets
        .iter()
        .any(|s| s.ways[0].key != FlowKeyV4::default()));
    cache.invalidate(&table);
    assert_eq!(cache.generation, 1);
    let empty = |s: &Set<FlowKeyV4>| s.ways.iter().all(|w| w.key == FlowKeyV4::default());
    assert!(cache.v4.sets.iter().all(empty));
}

#[test]
fn a_set_keeps_its_latest_flows() {
    let acl = ssh_list();
    // One set: every flow collides.
    let mut cache = AclCache::with_sets(1, 1);
    let flows: Vec<AclKeyV4> = (1..=WAYS as u32 + 1).map(|i| tcp_v4(i, 22)).collect();
    for flow in &flows[..WAYS] {
        ask_v4(&mut cache, &acl, 0, flow);
    }
    for flow in flows[..WAYS].iter().rev() {
        ask_v4(&mut cache, &acl, 0, flow);
    }
    let (ways, w) = (WAYS as u64, WAYS);
    assert_eq!(
        cache.counts,
        AclCacheCounts {
            hits: ways,
            misses: ways
        }
    );
    // One more evicts the oldest (flows[0]), not the others.
    ask_v4(&mut cache, &acl, 0, &flows[w]);
    ask_v4(&mut cache, &acl, 0, &flows[1]);
    ask_v4(&mut cache, &acl, 0, &flows[w - 1]);
    assert_eq!(cache.counts.misses, ways + 1);
    ask_v4(&mut cache, &acl, 0, &flows[0]);
    assert_eq!(
        cache.counts,
        AclCacheCounts {
            hits: ways + 2,
            misses: ways + 2
        }
    );
}

#[test]
fn nothing_is_allocated_until_a_list_has_rules() {
    let empty = AclTable::compile([AclSpec {
        name: "none".into(),
        default: AclAction::Deny,
        rules: vec![],
    }]);
    let mut cache = AclCache::for_table(&empty);
    assert_eq!(cache.memory_bytes(), 0);
    // Asked anyway, it classifies.
    let acl = ssh_list();
    assert_eq!(ask_v4(&mut cache, &acl, 0, &tcp_v4(1, 22)), 0);
    cache.invalidate(&AclTable::compile([acl.spec().clone()]));
    assert_eq!(cache.memory_bytes(), 512 * 1024);
    assert_eq!(std::mem::size_of::<Set<FlowKeyV4>>(), 128);
    assert_eq!(std::mem::size_of::<Set<FlowKeyV6>>(), 256);
}
