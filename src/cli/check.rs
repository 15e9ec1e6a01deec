//! `sealgate check`: the one-shot CI gate.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;

use sealgate::base::verdict::Decision;
use sealgate::decision::report::{self, Format};
use sealgate::decision::{self, Report};
use sealgate::edge::registry::layout::OciLayout;
use sealgate::edge::verify;
use sealgate::manifests::{self, LoadOptions};
use sealgate::policy::Policy;

/// Largest manifest stream read from stdin.
const MAX_STDIN_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or directories of manifests (.yaml, .yml, .json); `-` reads one stream from stdin.
    #[arg(value_name = "PATH|-", default_value = ".")]
    paths: Vec<PathBuf>,
    /// One ImagePolicy file, or a directory of them (all apply).
    #[arg(long, value_name = "FILE|DIR")]
    policy: PathBuf,
    /// Report format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    output_file: Option<PathBuf>,
    #[command(flatten)]
    registry: super::RegistryArgs,
    /// No network: images and signatures come from --oci-layout.
    #[arg(long)]
    offline: bool,
    /// OCI image layout directory holding the images and their signatures.
    #[arg(long, value_name = "DIR")]
    oci_layout: Option<PathBuf>,
    /// Sigstore trusted_root.json for keyless verification.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// Evaluate time-dependent checks at this instant (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Largest attestation statement (SBOM, scan report) read: bytes, or with KiB/MiB/GiB
    /// (KB/MB/GB) suffix. A larger one makes the image unverifiable (ResponseTooLarge).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    max_sbom_size: u64,
    /// On pass, rewrite the manifests so every checked image is pinned to its digest.
    #[arg(long)]
    pin: bool,
    /// Extra image location for a kind: KIND=/json/pointer (`*` matches every array index); repeatable.
    #[arg(long, value_name = "KIND=POINTER")]
    image_path: Vec<String>,
    /// More logging on stderr (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// No logging or progress on stderr.
    #[arg(short, long, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // --- validate everything before any network access
    if args.offline && args.oci_layout.is_none() {
        bail!("--offline needs --oci-layout DIR (the images and signatures to check against)");
    }
    if args.oci_layout.is_some() && !args.offline {
        bail!("--oci-layout reads images from a directory: add --offline");
    }
    let now = match &args.now {
        Some(now) => sealgate::base::time::parse_rfc3339(now)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("--now {now:?} is not an RFC 3339 timestamp"))?,
        None => sealgate::base::time::now(),
    };
    args.registry.validate()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let policies = rt.block_on(super::load_policies(
        &args.policy,
        args.trusted_root.as_deref(),
    ))?;
    let mut extra = Vec::new();
    for p in &policies {
        extra.extend(p.extra_image_paths.iter().cloned());
    }
    for s in &args.image_path {
        extra.push(manifests::parse_image_path(s).with_context(|| format!("--image-path {s:?}"))?);
    }
    let opts = LoadOptions {
        extra_image_paths: extra,
        ..LoadOptions::default()
    };
    let stdin = args.paths.iter().any(|p| p.as_os_str() == "-");
    if stdin && args.paths.len() > 1 {
        bail!("`-` (stdin) cannot be combined with other paths");
    }
    if stdin && args.pin {
        bail!("--pin rewrites files; it cannot be used with stdin");
    }
    let snapshot = if stdin {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(MAX_STDIN_BYTES + 1)
            .read_to_end(&mut buf)
            .context("reading manifests from stdin")?;
        if buf.len() as u64 > MAX_STDIN_BYTES {
            bail!("stdin is larger than {MAX_STDIN_BYTES} bytes");
        }
        manifests::load_stream("-", &buf, &opts)
    } else {
        manifests::load_paths(&args.paths, &opts)
    };
    if !snapshot.missing.is_empty() {
        bail!("no such file or directory: {}", snapshot.missing.join(", "));
    }
    if snapshot.files == 0 && snapshot.problems.is_empty() {
        bail!("no manifests found in {}", display_paths(&args.paths));
    }
    for s in &snapshot.skipped {
        tracing::info!("skipped {s}");
    }
    tracing::info!(
        files = snapshot.files,
        manifests = snapshot.manifests,
        images = snapshot.images.len(),
        problems = snapshot.problems.len(),
        "manifests loaded"
    );

    // --- the check pipeline: plan → gather at the edge → decide (pure)
    let opts = verify::CheckOptions {
        gather: verify::GatherOptions {
            concurrency: args.registry.concurrency,
            max_attestation_bytes: args.max_sbom_size,
            tag_ttl: None,
        },
        resolve_all: args.pin,
    };
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let report = if let Some(dir) = &args.oci_layout {
        let layout = OciLayout::open(dir).map_err(anyhow::Error::new)?;
        rt.block_on(verify::check(
            &layout, &snapshot, &policies, &opts, None, now, None,
        ))
    } else {
        let http = args.registry.http()?;
        let announce = |n: usize| {
            if progress && n > 0 {
                eprintln!("sealgate: checking {n} images…");
            }
        };
        let report = rt.block_on(verify::check(
            &http,
            &snapshot,
            &policies,
            &opts,
            None,
            now,
            Some(&announce),
        ));
        tracing::info!(requests = http.requests(), "registry requests");
        report
    };

    // --- render
    let rendered = report::render(&report, args.output);
    match &args.output_file {
        Some(f) => {
            std::fs::write(f, rendered).with_context(|| format!("writing {}", f.display()))?
        }
        None => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            // A closed pipe (| head) is not an error of the check.
            let _ = out.write_all(rendered.as_bytes());
            let _ = out.flush();
        }
    }
    if args.pin {
        if report.decision == Decision::Pass {
            let n = pin(&report, &policies).context("pinning manifests")?;
            tracing::info!(references = n, "pinned");
            if !args.quiet {
                eprintln!("sealgate: pinned {n} image reference(s) to digests");
            }
        } else if !args.quiet {
            eprintln!(
                "sealgate: not pinning: decision is {}",
                report.decision.as_str()
            );
        }
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "done");
    Ok(match report.decision {
        Decision::Pass | Decision::Warn => ExitCode::SUCCESS,
        Decision::Blocked => ExitCode::from(1),
    })
}

fn display_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rewrites every passing image's locations to `name[:tag]@digest`. Returns how many
/// references were rewritten. Each file is written once, atomically (temp + rename).
fn pin(report: &Report, _policies: &[Policy]) -> anyhow::Result<usize> {
    let pinned = manifests::pin::apply(&decision::pin_plan(report)).map_err(anyhow::Error::new)?;
    let mut count = 0;
    for f in pinned {
        write_atomic(&f.path, &f.text)?;
        count += f.references;
    }
    Ok(count)
}

fn write_atomic(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.sealgate-pin"));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// `65536`, `64KiB`, `64MiB`, `1GiB` (powers of 1024), `100KB`, `100MB`, `1GB` (powers of 1000).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = t.split_at(digits);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a number of bytes, e.g. 64MiB"))?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?} (KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    let v = n
        .checked_mul(mul)
        .ok_or_else(|| format!("{s:?}: too large"))?;
    if v == 0 {
        return Err(format!("{s:?}: must be more than 0"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(super::parse_size("100MB"), Ok(100_000_000));
        assert_eq!(super::parse_size("4096"), Ok(4096));
        assert_eq!(super::parse_size("1 GiB"), Ok(1 << 30));
        for bad in ["", "MiB", "0", "12 parsecs", "-1", "99999999999999GiB"] {
            assert!(super::parse_size(bad).is_err(), "{bad}");
        }
    }
}
