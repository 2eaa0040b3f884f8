//! The output-queueing keys of a port: defaults, values and errors.

use super::*;

/// GOOD with output-queueing keys on port p1 (lines 17..=31).
fn with_qos() -> String {
    edit(
        16,
        "mtu = 1400\nscheduler = \"wfq\"\nrate = \"100mbit\"\noverhead = 38\n\
         codel_target_ms = 2.5\ncodel_interval_ms = 50\nqueue_limit = 2000\n\n\
         [[port.class]]\nname = \"voice\"\ndscp = [46, 44]\nweight = 4\n\n\
         [[port.class]]\nname = \"bulk\"\ndscp = [8]",
    )
}

/// `with_qos()` with line `line` replaced by `with`.
fn edit_qos(line: usize, with: &str) -> String {
    with_qos()
        .lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == line { with } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn queueing_keys_parse_with_defaults_elsewhere() {
    use crate::qos::{SchedulerKind, DEFAULT_QUEUE_LIMIT};
    let c = Config::parse(&with_qos(), "test.toml").unwrap();
    let q = &c.ports[1].qos;
    assert_eq!(q.scheduler, SchedulerKind::Wfq);
    assert_eq!(q.rate, Some(12_500_000));
    assert_eq!(q.overhead, 38);
    assert_eq!(q.codel.target_ns, 2_500_000);
    assert_eq!(q.codel.interval_ns, 50_000_000);
    assert_eq!(q.queue_limit, 2000);
    assert_eq!(q.quantum, 1414, "quantum = MTU + Ethernet header");
    assert_eq!(q.classes.len(), 2);
    assert_eq!(q.classes[0].name, "voice");
    assert_eq!(q.classes[0].dscp, vec![46, 44]);
    assert_eq!(q.classes[0].weight, 4);
    assert_eq!(q.classes[1].weight, 1, "weight defaults to 1");
    let p0 = &c.ports[0].qos;
    assert_eq!(p0.scheduler, SchedulerKind::Drr);
    assert_eq!(p0.rate, None);
    assert_eq!(p0.queue_limit, DEFAULT_QUEUE_LIMIT);
    // Integer rates are bytes/s.
    let c = Config::parse(&edit_qos(18, "rate = 1000000"), "t").unwrap();
    assert_eq!(c.ports[1].qos.rate, Some(1_000_000));
    let c = Config::parse(&edit_qos(18, "rate = \"1.5gbit\""), "t").unwrap();
    assert_eq!(c.ports[1].qos.rate, Some(187_500_000));
}

#[test]
fn flow_queues_and_the_per_flow_limit_are_configurable() {
    use crate::qos::DEFAULT_FLOWS;
    let c = Config::parse(&with_qos(), "t").unwrap();
    assert_eq!(c.ports[1].qos.flows, DEFAULT_FLOWS);
    assert_eq!(c.ports[1].qos.flow_limit, 2000, "a flow may fill the port");
    let text = edit_qos(22, "queue_limit = 2000\nflows = 4096\nflow_limit = 500");
    let q = Config::parse(&text, "t").unwrap().ports[1].qos.clone();
    assert_eq!((q.queue_limit, q.flows, q.flow_limit), (2000, 4096, 500));
    let text = edit_qos(22, "queue_limit = 2000\nflow_limit = 2001");
    fails(&text, 23, "port[1].flow_limit", "out of range (1..=2000)");
    let text = edit_qos(22, "queue_limit = 2000\nflows = 70000");
    fails(&text, 23, "port[1].flows", "out of range (8..=65536)");
}

#[test]
fn queueing_errors_name_line_and_field() {
    let t = edit_qos;
    fails(
        &t(17, "scheduler = \"cbq\""),
        17,
        "port[1].scheduler",
        "not a scheduler",
    );
    fails(&t(18, "rate = \"fast\""), 18, "port[1].rate", "not a rate");
    fails(
        &t(18, "rate = \"100furlongs\""),
        18,
        "port[1].rate",
        "not a rate",
    );
    fails(&t(18, "rate = -5"), 18, "port[1].rate", "not a rate");
    fails(
        &t(18, "rate = \"800bit\""),
        18,
        "port[1].rate",
        "out of range",
    );
    fails(
        &t(19, "overhead = 1000"),
        19,
        "port[1].overhead",
        "out of range",
    );
    fails(
        &t(20, "codel_target_ms = 0"),
        20,
        "port[1].codel_target_ms",
        "out of range",
    );
    fails(
        &t(20, "codel_target_ms = 60"),
        20,
        "port[1].codel_target_ms",
        "below the interval",
    );
    fails(
        &t(22, "queue_limit = 3"),
        22,
        "port[1].queue_limit",
        "out of range",
    );
    fails(
        &t(26, "dscp = [64]"),
        26,
        "port[1].class[0].dscp",
        "out of range",
    );
    fails(
        &t(27, "weight = 0"),
        27,
        "port[1].class[0].weight",
        "out of range",
    );
    fails(
        &t(31, "dscp = [46]"),
        31,
        "port[1].class[1].dscp",
        "already in class[0]",
    );
    fails(
        &t(30, "name = \"voice\""),
        30,
        "port[1].class[1].name",
        "already the name",
    );
    fails(
        &t(17, "scheduler = \"fifo\""),
        25,
        "port[1].class[0]",
        "need scheduler",
    );
}
