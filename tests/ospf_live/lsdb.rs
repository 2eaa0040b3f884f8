//! The LSDB as ferroute, BIRD and FRR list it, for comparing the three.

use ferroute::control::ControlHandle;
use ferroute::testkit::daemons::Bird;

/// An LSA as the three list it: type, id, advertising router, sequence,
/// checksum.
pub type Lsa = (u8, String, String, u32, u16);

fn hex32(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

fn hex16(s: &str) -> Option<u16> {
    u16::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

pub fn ferroute_lsas(h: &ControlHandle) -> Vec<Lsa> {
    let v = h
        .show("ospf database")
        .unwrap_or_else(|e| panic!("show ospf database: {e}"));
    let mut out: Vec<Lsa> = v["database"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let t = match l["ls_type"].as_str()? {
                "router" => 1,
                "network" => 2,
                "as-external" => 5,
                _ => return None,
            };
            let text = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            Some((
                t,
                text("ls_id"),
                text("adv_router"),
                hex32(&text("sequence"))?,
                hex16(&text("checksum"))?,
            ))
        })
        .collect();
    out.sort();
    out
}

/// `birdc show ospf lsadb`: " 0001  10.0.0.1  10.0.0.1  80000002  6  e7d6".
pub fn bird_lsas(text: &str) -> Vec<Lsa> {
    bird_rows(text, |t| [1, 2, 5].contains(&t))
        .into_iter()
        .map(|(t, id, adv, seq, sum)| (t as u8, id, adv, seq, sum))
        .collect()
}

/// The rows of `birdc show ospf lsadb` whose LS type (16 bits: OSPFv3's
/// are 0x2001 and the like) `keep` takes, sorted, each once (BIRD lists
/// an LSA under every scope it holds it in).
pub fn bird_rows(text: &str, keep: impl Fn(u16) -> bool) -> Vec<(u16, String, String, u32, u16)> {
    let mut out: Vec<(u16, String, String, u32, u16)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [t, id, adv, seq, _age, sum] = f[..] else {
                return None;
            };
            let t = u16::from_str_radix(t, 16).ok().filter(|&t| keep(t))?;
            Some((t, id.to_string(), adv.to_string(), hex32(seq)?, hex16(sum)?))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `vtysh show ip ospf database`: sections of "ID ADV AGE SEQ SUM [LINKS]".
pub fn frr_lsas(text: &str) -> Vec<Lsa> {
    let mut t = 0;
    let mut out: Vec<Lsa> = Vec::new();
    for l in text.lines() {
        if l.contains("Router Link States") {
            t = 1;
        } else if l.contains("Net Link States") {
            t = 2;
        } else if l.contains("External Link States") {
            t = 5;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 5 && f[0].parse::<std::net::Ipv4Addr>().is_ok() && f[3].starts_with("0x") {
            if let (Some(seq), Some(sum)) = (hex32(f[3]), hex16(f[4])) {
                out.push((t, f[0].to_string(), f[1].to_string(), seq, sum));
            }
        }
    }
    out.sort();
    out
}

/// The sequence number of BIRD's copy of an LSA (type, id, advertising
/// router), if it holds one younger than MaxAge.
pub fn bird_sequence(bird: &Bird, t: u8, id: &str, adv: &str) -> Option<u32> {
    let text = bird.birdc("show ospf lsadb");
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [ty, lid, ladv, seq, age, _] = f[..] else {
            return None;
        };
        let live = age.parse::<u32>().is_ok_and(|a| a < 3600);
        (u8::from_str_radix(ty, 16).ok() == Some(t) && lid == id && ladv == adv && live)
            .then(|| hex32(seq))
            .flatten()
    })
}
