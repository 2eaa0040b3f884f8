//! Publication: bursts coalesced, forks apart, copies of the changed
//! family only, whole tables and mass withdrawals as rebuilds, and what a
//! publication leaves behind freed.

use super::*;

#[test]
fn publisher_coalesces_a_burst_into_one_publication() {
    let (mut rib, _) = two_ports();
    let handle = FibHandle::new(Fib::default());
    let mut publisher = FibPublisher::new(handle.clone(), Duration::from_millis(50));
    let t0 = Instant::now();
    assert_eq!(
        publisher.poll(&mut rib, t0),
        None,
        "connected routes open a window"
    );
    for i in 0..20u64 {
        let p = format!("192.0.{i}.0/24");
        rib.update(
            RouteSource::STATIC,
            net(&p),
            Some(&route(&p, RouteSource::STATIC, 0, vec![gw(0, "10.0.1.9")])),
        );
        let at = t0 + Duration::from_millis(2 * i);
        assert_eq!(publisher.poll(&mut rib, at), None, "within the window");
    }
    assert_eq!(publisher.deadline(), Some(t0 + Duration::from_millis(50)));
    let v = publisher
        .poll(&mut rib, t0 + Duration::from_millis(50))
        .unwrap();
    assert_eq!(handle.load().version, v);
    assert_eq!(publisher.stats().publications, 1);
    assert_eq!(
        handle.load().v4.len(),
        20 + 2 * 3,
        "20 statics, 2 ports x (subnet, own, broadcast)"
    );
    assert_eq!(
        publisher.poll(&mut rib, t0 + Duration::from_secs(1)),
        None,
        "nothing left"
    );
    assert_eq!(publisher.deadline(), None);
}

/// A fork starts from the published FIB (whose tries are lookup-only) and
/// publishes through its own handle; the original's readers see none of
/// its changes. The fib bench replays traces through forks.
#[test]
fn a_forked_publisher_publishes_apart_from_the_original() {
    let (mut rib, _) = two_ports();
    let handle = FibHandle::new(Fib::default());
    let mut publisher = FibPublisher::new(handle.clone(), Duration::from_millis(50));
    publisher.publish_now(&mut rib);
    assert!(handle.load().v4.is_lookup_only());
    let published = handle.load().v4.len();
    let mut fork = publisher.fork();
    assert_eq!(fork.handle().load().v4.len(), published);
    let p = "192.0.2.0/24";
    rib.update(
        RouteSource::STATIC,
        net(p),
        Some(&route(p, RouteSource::STATIC, 0, vec![gw(0, "10.0.1.9")])),
    );
    fork.publish_now(&mut rib);
    assert_eq!(fork.handle().load().v4.len(), published + 1);
    assert_eq!(
        handle.load().v4.len(),
        published,
        "the original is untouched"
    );
    assert_eq!(fork.stats().refused, 0);
}

/// Each publication copies the trie of a family it changes (lookup-only,
/// without the record) and shares the other family's; a table a reader
/// holds never changes, and the kept tries hold every route.
#[test]
fn publications_copy_only_the_changed_familys_trie() {
    let (mut rib, _) = two_ports();
    let handle = FibHandle::new(Fib::default());
    let mut publisher = FibPublisher::new(handle.clone(), Duration::from_millis(50));
    let add = |rib: &mut Rib, p: &str| {
        rib.update(
            RouteSource::STATIC,
            net(p),
            Some(&route(p, RouteSource::STATIC, 0, vec![gw(0, "10.0.1.9")])),
        );
    };
    add(&mut rib, "192.0.1.0/24");
    publisher.publish_now(&mut rib);
    let held = handle.load();
    add(&mut rib, "192.0.2.0/24");
    publisher.publish_now(&mut rib);
    let second = handle.load();
    assert!(!CowArc::ptr_eq(&held.v4, &second.v4), "a new IPv4 copy");
    assert!(CowArc::ptr_eq(&held.v6, &second.v6), "IPv6 shared");
    add(&mut rib, "2001:db8:1::/48");
    publisher.publish_now(&mut rib);
    let third = handle.load();
    assert!(CowArc::ptr_eq(&second.v4, &third.v4), "IPv4 shared");
    assert!(!CowArc::ptr_eq(&second.v6, &third.v6), "a new IPv6 copy");
    assert!(third.v4.is_lookup_only() && third.v6.is_lookup_only());
    assert!(
        held.lookup_v4("192.0.2.1".parse().unwrap()).is_none(),
        "the held table never changes"
    );
    for a in ["192.0.1.1", "192.0.2.1"] {
        assert!(third.lookup_v4(a.parse().unwrap()).is_some(), "{a}");
    }
    assert!(third.lookup_v6("2001:db8:1::1".parse().unwrap()).is_some());
    let (v4, v6) = publisher.tables();
    assert_eq!((v4.len(), v6.len()), (third.v4.len(), third.v6.len()));
    assert!(v4.get("192.0.2.0/24".parse().unwrap()).is_some());
}

/// A table in bulk form: a repeated prefix keeps its lowest metric; a
/// table that covers most of the RIB is handed over as the whole table
/// (`full`), which replaces whatever a FIB held; a later small change is
/// incremental again.
#[test]
fn bulk_table_keeps_the_best_repeat_and_publishes_as_a_whole() {
    use super::route::{RouteTable, TableRoute};
    let (mut rib, _) = two_ports();
    let mut table = RouteTable::new(RouteSource::EBGP);
    table.path_lists = vec![vec![rec("10.0.1.5")], vec![rec("10.0.2.5")], vec![]];
    let n = 70_000u32;
    table.routes = (0..n)
        .map(|i| TableRoute {
            prefix: IpNet::V4(
                ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(0x2000_0000 + (i << 8)), 24).unwrap(),
            ),
            metric: 0,
            paths: i % 2,
        })
        .collect();
    // A repeat with a higher metric loses, one with a lower metric wins;
    // empty and missing path lists are no routes.
    let dup = net("32.0.0.0/24");
    for (metric, paths) in [(5, 1), (0, 2), (0, 9)] {
        table.routes.push(TableRoute {
            prefix: dup,
            metric,
            paths,
        });
    }
    table.routes.push(TableRoute {
        prefix: net("32.0.1.0/24"),
        metric: 0,
        paths: 0,
    });
    let mut fib = Fib::default();
    fib.v4.insert("198.51.100.0/24".parse().unwrap(), 0);
    rib.replace_table(table);
    assert_eq!(rib.installed(dup), rib.installed(net("32.0.2.0/24")));
    assert_ne!(rib.installed(dup), rib.installed(net("32.0.1.0/24")));
    let changes = rib.take_changes();
    assert!(changes.full);
    changes.apply(&mut fib);
    assert_eq!(fib.v4.len(), rib.snapshot().prefixes.len());
    assert_eq!(fib.v4.lookup("198.51.100.1".parse().unwrap()), None);
    assert!(!rib.has_changes());

    rib.update(
        RouteSource::EBGP,
        net("203.0.113.0/24"),
        Some(&route(
            "203.0.113.0/24",
            RouteSource::EBGP,
            0,
            vec![rec("10.0.1.5")],
        )),
    );
    let changes = rib.take_changes();
    assert!(!changes.full);
    assert_eq!(changes.prefixes.len(), 1);
}

/// The same for the RIB: a prefix's whole state (routes and what was
/// chosen) is 12 bytes, also as the map's `Option`; several routes live in
/// the store, whose slot a prefix back to one route frees.
#[test]
fn a_prefixs_state_takes_12_bytes_in_the_map() {
    use super::candidates::{Candidate, PrefixState, SeveralStore};
    assert_eq!(std::mem::size_of::<PrefixState>(), 12);
    assert_eq!(std::mem::size_of::<Option<PrefixState>>(), 12);
    let mut store = SeveralStore::default();
    let mut state = PrefixState::default();
    let route = |source, paths| Candidate {
        source,
        metric: 1,
        paths,
    };
    let (stat, ebgp) = (RouteSource::STATIC, RouteSource::EBGP);
    state.set(stat, Some(route(stat, 1)), &mut store);
    assert_eq!(store.len(), 0, "one route is held inline");
    state.set_chosen(Some(1), Some(1), &mut store);
    state.set(ebgp, Some(route(ebgp, 2)), &mut store);
    assert_eq!(store.len(), 1);
    assert_eq!(state.installed(&store), None, "the caller chooses again");
    assert_eq!(state.candidates(&store).len(), 2);
    state.set_chosen(Some(2), Some(1), &mut store);
    assert_eq!(
        (state.installed(&store), state.resolving(&store)),
        (Some(2), Some(1))
    );
    state.set(stat, None, &mut store);
    assert_eq!(store.len(), 0, "back to one route: the slot is freed");
    assert_eq!(state.get(ebgp, &store), Some(route(ebgp, 2)));
    assert_eq!(state.get(stat, &store), None);
    state.set(ebgp, None, &mut store);
    assert!(state.is_empty());
}

/// A mass withdrawal (a full-table peer lost) is handed to the publisher as
/// a rebuild of what is left, not a removal per prefix; a FIB that applies
/// it holds exactly the RIB's routes. A few withdrawals stay incremental.
#[test]
fn a_mass_withdrawal_is_published_as_a_rebuild() {
    let (mut rib, _) = two_ports();
    let prefix = |i: u32| {
        IpNet::V4(
            ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(0x2000_0000 + (i << 8)), 24).unwrap(),
        )
    };
    let bgp = |i: u32| {
        route(
            &prefix(i).to_string(),
            RouteSource::EBGP,
            0,
            vec![rec("10.0.1.5")],
        )
    };
    let n = 20_000u32;
    for i in 0..n {
        rib.update(RouteSource::EBGP, prefix(i), Some(&bgp(i)));
    }
    let mut fib = Fib::default();
    rib.take_changes().apply(&mut fib);
    let before = fib.v4.len();
    assert_eq!(before, rib.snapshot().prefixes.len());

    for i in 0..10 {
        rib.update(RouteSource::EBGP, prefix(i), None);
    }
    let few = rib.take_changes();
    assert!(!few.full);
    few.apply(&mut fib);
    assert_eq!(fib.v4.len(), before - 10);

    for i in 10..n - 100 {
        rib.update(RouteSource::EBGP, prefix(i), None);
    }
    let mass = rib.take_changes();
    assert!(mass.full);
    mass.apply(&mut fib);
    assert_eq!(fib.v4.len(), rib.snapshot().prefixes.len());
    assert_eq!(fib.v4.len(), before - (n as usize - 100));
    assert!(fib
        .v4
        .lookup(prefix(n - 1).addr().to_string().parse().unwrap())
        .is_some());
    assert_eq!(
        fib.v4
            .lookup(prefix(500).addr().to_string().parse().unwrap()),
        None
    );
}

/// A mass change's room in the set of changed prefixes is freed once the
/// changes are taken; ordinary churn keeps its room.
#[test]
fn a_mass_changes_dirty_set_is_freed_after_it_is_taken() {
    let (mut rib, _) = two_ports();
    let ports = rib.len();
    let prefix = |i: u32| {
        IpNet::V4(
            ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(0x2000_0000 + (i << 8)), 24).unwrap(),
        )
    };
    let n = 2 * super::changes::DIRTY_CAPACITY_KEPT as u32;
    for i in 0..n {
        let r = route(
            &prefix(i).to_string(),
            RouteSource::EBGP,
            0,
            vec![rec("10.0.1.5")],
        );
        rib.update(RouteSource::EBGP, prefix(i), Some(&r));
    }
    assert!(rib.dirty_prefixes.capacity() > super::changes::DIRTY_CAPACITY_KEPT);
    assert!(rib.take_changes().full);
    assert!(rib.dirty_prefixes.capacity() <= super::changes::DIRTY_CAPACITY_KEPT);
    for i in 0..100 {
        rib.update(RouteSource::EBGP, prefix(i), None);
    }
    let kept = rib.dirty_prefixes.capacity();
    assert!(!rib.take_changes().full);
    assert_eq!(rib.dirty_prefixes.capacity(), kept, "churn keeps its room");
    assert!(kept > 0);
    // Until the change has settled and the RIB is compacted.
    rib.compact();
    assert_eq!(rib.dirty_prefixes.capacity(), 0);
    assert_eq!(rib.len(), ports + n as usize - 100);
}

/// A FIB a worker still read when the last publication replaced it stays
/// retired until something collects it: compaction (once changes settle)
/// does, so a quiet router keeps one published copy, not two.
#[test]
fn compaction_frees_the_fib_the_last_publication_replaced() {
    let (mut rib, _) = two_ports();
    let handle = FibHandle::new(Fib::default());
    let mut publisher = FibPublisher::new(handle.clone(), Duration::from_millis(50));
    publisher.publish_now(&mut rib);
    let mid_batch = handle.load();
    let p = "192.0.2.0/24";
    rib.update(
        RouteSource::STATIC,
        net(p),
        Some(&route(p, RouteSource::STATIC, 0, vec![gw(0, "10.0.1.9")])),
    );
    publisher.publish_now(&mut rib);
    drop(mid_batch);
    assert_eq!(handle.collect(), 0, "nothing else holds it: freed");

    let mid_batch = handle.load();
    rib.update(RouteSource::STATIC, net(p), None);
    publisher.publish_now(&mut rib);
    assert_eq!(
        handle.retired_len(),
        1,
        "the worker's table is kept while read"
    );
    drop(mid_batch);
    assert_eq!(handle.retired_len(), 1, "and after, until collected");
    publisher.compact();
    assert_eq!(handle.retired_len(), 0);
    assert_eq!(handle.load().v4.len(), publisher.tables().0.len());
}

/// More next-hop groups than a packed copy's bytes hold: the workers read
/// the trie, and the stats say so, why, and how often; back under the
/// limit, the next publication is packed again.
#[test]
fn a_table_past_the_packed_ids_is_published_unpacked_and_counted() {
    let (mut rib, _) = two_ports();
    // 300 gateways, one group each (with the connected routes' own
    // groups: ids past lpm::PACKED_MAX_ID = 254).
    let gateways: Vec<(u16, String)> = (0..300u32)
        .map(|i| (i as u16 % 2, format!("10.0.{}.{}", 1 + i % 2, 2 + i / 2)))
        .collect();
    let routes = |n: usize| -> Vec<RibRoute> {
        gateways[..n]
            .iter()
            .enumerate()
            .map(|(i, (port, g))| {
                let p = format!("198.{}.{}.0/24", 18 + i / 256, i % 256);
                route(&p, RouteSource::STATIC, 0, vec![gw(*port, g)])
            })
            .collect()
    };
    rib.replace_source(RouteSource::STATIC, routes(300));
    let handle = FibHandle::new(Fib::default());
    let mut publisher = FibPublisher::new(handle.clone(), Duration::from_millis(50));
    publisher.publish_full(&mut rib);
    let s = publisher.stats();
    assert!(s.groups > 300, "{} groups", s.groups);
    assert!(!handle.load().v4.is_packed());
    assert_eq!(s.ipv4_lookup, "trie");
    let why = s.ipv4_unpacked_because.clone().expect("a reason");
    assert!(why.ends_with("past 254"), "{why}");
    assert_eq!(s.ipv4_unpacked_publications, 1);
    // Down to 100 routes: the RIB reuses the freed ids, the copy packs.
    rib.replace_source(RouteSource::STATIC, routes(100));
    let t0 = Instant::now();
    assert_eq!(publisher.poll(&mut rib, t0), None);
    publisher
        .poll(&mut rib, t0 + Duration::from_millis(50))
        .unwrap();
    let s = publisher.stats();
    assert!(handle.load().v4.is_packed(), "{} groups", s.groups);
    assert_eq!(s.ipv4_lookup, "packed");
    assert_eq!(s.ipv4_unpacked_because, None);
    assert_eq!(s.ipv4_unpacked_publications, 1);
}
