//! Writes fuzz seeds from a real MRT dump: runs of consecutive records, cut
//! at record boundaries, one file each (`NNNN.mrt`), so the `mrt` fuzz target
//! starts from real TABLE_DUMP / TABLE_DUMP_V2 records rather than noise.
//!
//! ```text
//! cargo run --example mrt_records -- [--records N] DUMP[.gz] OUT_DIR
//! ```
//!
//! A TABLE_DUMP_V2 dump's peer table (its first record) is put in front of
//! every seed, so the RIB records in it name known peers.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ferroute::tables::read_maybe_gzip;

const HEADER_LEN: usize = 12;
/// Records per seed file.
const RUN: usize = 3;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut records = 48usize;
    let mut paths = Vec::new();
    while let Some(a) = args.next() {
        if a == "--records" {
            records = args
                .next()
                .context("--records needs a number")?
                .parse()
                .context("--records")?;
        } else {
            paths.push(PathBuf::from(a));
        }
    }
    let [dump, out] = paths.as_slice() else {
        bail!("usage: mrt_records [--records N] DUMP OUT_DIR");
    };
    let data = read_maybe_gzip(dump)?;
    let mut bounds = vec![0usize];
    while bounds.len() <= records {
        let at = *bounds.last().unwrap_or(&0);
        let Some(header) = data.get(at..at + HEADER_LEN) else {
            break;
        };
        let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let end = at + HEADER_LEN + len;
        if end > data.len() {
            break;
        }
        bounds.push(end);
    }
    if bounds.len() < 2 {
        bail!("{}: no whole MRT record", dump.display());
    }
    // TABLE_DUMP_V2 (type 13) subtype 1: the peer index table.
    let peer_table = (data[4..6] == [0, 13] && data[6..8] == [0, 1]).then(|| &data[..bounds[1]]);
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    let mut written = 0;
    for (n, run) in bounds.windows(RUN + 1).step_by(RUN).enumerate() {
        let mut seed = peer_table.map(<[u8]>::to_vec).unwrap_or_default();
        seed.extend_from_slice(&data[run[0]..run[RUN]]);
        let path = out.join(format!("{n:04}.mrt"));
        std::fs::write(&path, &seed).with_context(|| path.display().to_string())?;
        written += 1;
    }
    println!(
        "mrt_records: {written} seeds of {RUN} records from {} in {}",
        dump.display(),
        out.display()
    );
    Ok(())
}
