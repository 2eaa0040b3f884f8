//! Running `ferroute replay` and reading its JSON report.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest a single replay may take before the test gives up on it.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Emitted {
    pub port: String,
    pub len: usize,
}

#[derive(Debug, Clone)]
pub struct FrameReport {
    pub index: usize,
    pub input: String,
    pub verdict: String,
    pub reason: Option<String>,
    pub egress: Option<String>,
    /// Transmitted length of a forwarded frame.
    pub len: Option<usize>,
    pub emitted: Vec<Emitted>,
}

#[derive(Debug, Clone)]
pub struct PortReport {
    pub name: String,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    pub output: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub frames_in: u64,
    /// Scalar counters by name.
    pub counters: BTreeMap<String, u64>,
    /// Drops by reason (absent reasons are zero).
    pub drops: BTreeMap<String, u64>,
    pub ports: Vec<PortReport>,
    pub frames: Vec<FrameReport>,
}

impl Report {
    pub fn counter(&self, name: &str) -> Result<u64, String> {
        self.counters
            .get(name)
            .copied()
            .ok_or_else(|| format!("counter {name} missing from the report"))
    }
}

/// Runs `bin replay` in `workdir` and parses its report.
pub fn run(
    bin: &Path,
    workdir: &Path,
    config: &Path,
    input: &Path,
    out_dir: &Path,
) -> Result<Report, String> {
    let stdout_path = workdir.join("replay.stdout");
    let stderr_path = workdir.join("replay.stderr");
    let mut arg_input = std::ffi::OsString::from("p0=");
    arg_input.push(input);
    let mut child = Command::new(bin)
        .current_dir(workdir)
        .arg("replay")
        .arg("--config")
        .arg(config)
        .arg("--input")
        .arg(arg_input)
        .arg("--output-dir")
        .arg(out_dir)
        .arg("--json")
        .arg("--trace")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).map_err(|e| e.to_string())?)
        .stderr(File::create(&stderr_path).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > REPLAY_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("replay did not finish within {REPLAY_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = std::fs::read_to_string(&stdout_path).map_err(|e| e.to_string())?;
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    if !status.success() {
        return Err(format!("replay failed ({status}): {}", stderr.trim()));
    }
    let json: Value = serde_json::from_str(&stdout)
        .map_err(|e| format!("replay output is not one JSON object: {e}; stderr: {stderr}"))?;
    parse(&json, workdir)
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name).ok_or_else(|| format!("report has no `{name}`"))
}

fn as_u64(v: &Value, name: &str) -> Result<u64, String> {
    field(v, name)?
        .as_u64()
        .ok_or_else(|| format!("`{name}` is not an unsigned integer"))
}

fn opt_str(v: &Value, name: &str) -> Result<Option<String>, String> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("`{name}` is {other}, not a string or null")),
    }
}

fn parse(json: &Value, workdir: &Path) -> Result<Report, String> {
    let frames_in = as_u64(json, "frames_in")?;
    let counters_v = field(json, "counters")?
        .as_object()
        .ok_or("`counters` is not an object")?;
    let mut counters = BTreeMap::new();
    let mut drops = BTreeMap::new();
    for (k, v) in counters_v {
        if k == "drops" {
            for (reason, n) in v.as_object().ok_or("`counters.drops` is not an object")? {
                let n = n.as_u64().ok_or("drop count is not an integer")?;
                drops.insert(reason.clone(), n);
            }
        } else if let Some(n) = v.as_u64() {
            counters.insert(k.clone(), n);
        }
    }
    let mut ports = Vec::new();
    for p in field(json, "ports")?
        .as_array()
        .ok_or("`ports` is not an array")?
    {
        let output = opt_str(p, "output")?.ok_or("port without `output`")?;
        ports.push(PortReport {
            name: opt_str(p, "name")?.ok_or("port without `name`")?,
            tx_frames: as_u64(p, "tx_frames")?,
            tx_bytes: as_u64(p, "tx_bytes")?,
            output: workdir.join(output),
        });
    }
    let mut frames = Vec::new();
    for f in field(json, "frames")?
        .as_array()
        .ok_or("`frames` is not an array")?
    {
        let mut emitted = Vec::new();
        if let Some(list) = f.get("emitted") {
            for e in list.as_array().ok_or("`emitted` is not an array")? {
                emitted.push(Emitted {
                    port: opt_str(e, "port")?.ok_or("emitted frame without `port`")?,
                    len: as_u64(e, "len")? as usize,
                });
            }
        }
        frames.push(FrameReport {
            index: as_u64(f, "index")? as usize,
            input: opt_str(f, "input")?.unwrap_or_default(),
            verdict: opt_str(f, "verdict")?.ok_or("frame without `verdict`")?,
            reason: opt_str(f, "reason")?,
            egress: opt_str(f, "egress")?,
            len: match f.get("len") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or("`len` is not an integer")? as usize),
            },
            emitted,
        });
    }
    Ok(Report {
        frames_in,
        counters,
        drops,
        ports,
        frames,
    })
}
