//! `sealgate import kyverno|policy-controller FILE...`: wiring only — files → the pure
//! translation of [`sealgate::policy::import`] → ImagePolicy YAML on stdout (or one file per
//! policy in `--out-dir`), the report of every field that did not translate exactly on stderr.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

use sealgate::edge::verify::explain::clean;
use sealgate::policy::Unmatched;
use sealgate::policy::import::{self, Imported, Source, TrustedRootFile};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum From {
    /// Kyverno ClusterPolicy / Policy verifyImages rules.
    Kyverno,
    /// sigstore policy-controller ClusterImagePolicy.
    PolicyController,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UnmatchedArg {
    Allow,
    Deny,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Which tool wrote the policies.
    #[arg(value_enum, value_name = "FROM")]
    from: From,
    /// Policy files (multi-document YAML or JSON).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Write one ImagePolicy file per policy here (never overwriting) instead of stdout.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Write what translated even when something was dropped (still reported; exit 0).
    #[arg(long)]
    allow_partial: bool,
    /// What images no imported rule matches get (default: kyverno allow, policy-controller deny).
    #[arg(long, value_enum, value_name = "allow|deny")]
    unmatched: Option<UnmatchedArg>,
}

/// Largest input file read.
const MAX_FILE_BYTES: u64 = import::MAX_SOURCE_BYTES as u64;

pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let source = match args.from {
        From::Kyverno => Source::Kyverno,
        From::PolicyController => Source::PolicyController,
    };
    let mut texts = Vec::new();
    for file in &args.files {
        let shown = file.display().to_string();
        let bytes = sealgate::base::files::read_regular(file, MAX_FILE_BYTES)
            .map_err(|e| anyhow::anyhow!("{shown}: cannot read: {e}"))?;
        let text =
            String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{shown}: not UTF-8 text"))?;
        texts.push((file.as_path(), shown, text));
    }
    let options = import::Options {
        unmatched: args.unmatched.map(|u| match u {
            UnmatchedArg::Allow => Unmatched::Allow,
            UnmatchedArg::Deny => Unmatched::Deny,
        }),
        trust_roots: if source == Source::PolicyController {
            texts
                .iter()
                .flat_map(|(_, _, t)| import::trust_root_names(t))
                .collect()
        } else {
            Default::default()
        },
    };
    let mut outputs: Vec<(String, Vec<Imported>)> = Vec::new();
    let mut roots: Vec<TrustedRootFile> = Vec::new();
    let mut counts = [0usize; 3];
    let mut stderr = std::io::stderr().lock();
    for (file, shown, text) in &texts {
        let result =
            import::import(source, text, options.clone()).with_context(|| shown.clone())?;
        for f in &result.findings {
            counts[f.level as usize] += 1;
            let path = if f.path.is_empty() {
                String::new()
            } else {
                format!("{}: ", clean(&f.path))
            };
            writeln!(
                stderr,
                "{}: {}: {path}{}: {}",
                clean(shown),
                clean(&f.document),
                f.level.as_str(),
                clean(&f.message)
            )?;
        }
        roots.extend(result.trusted_roots);
        outputs.push((shown.clone(), result.policies));
        let _ = file;
    }
    validate_all(&outputs, &roots)?;
    let [ignored, stricter, dropped] = counts;
    let n: usize = outputs.iter().map(|(_, p)| p.len()).sum();
    writeln!(
        stderr,
        "sealgate import: {n} ImagePolicy document(s); {dropped} dropped, {stricter} stricter, {ignored} ignored"
    )?;
    if dropped > 0 && !args.allow_partial {
        writeln!(
            stderr,
            "sealgate import: nothing written: {dropped} field(s) did not translate (the result \
             would admit what the source blocks); fix them or pass --allow-partial"
        )?;
        return Ok(ExitCode::from(1));
    }
    match &args.out_dir {
        None if !roots.is_empty() => {
            bail!(
                "a TrustRoot becomes a trusted_root.json file next to the policies: pass --out-dir DIR"
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            for (file, policies) in &outputs {
                out.write_all(
                    import::to_yaml(source, file, policies)
                        .map_err(anyhow::Error::msg)?
                        .as_bytes(),
                )?;
            }
        }
        Some(dir) => write_dir(dir, source, &outputs, &roots)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Every translation must load as `check` loads it (keys in Secrets are read only there;
/// trusted roots are read from a scratch directory holding the imported ones).
fn validate_all(
    outputs: &[(String, Vec<Imported>)],
    roots: &[TrustedRootFile],
) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!(
        "sealgate-import-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir(&scratch)?;
    let result = (|| {
        for r in roots {
            std::fs::write(scratch.join(&r.file_name), &r.json)?;
        }
        for (_, policies) in outputs {
            for p in policies {
                validate(p, &scratch)?;
            }
        }
        anyhow::Ok(())
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn validate(p: &Imported, base: &Path) -> anyhow::Result<()> {
    let uses_secret = p
        .spec
        .rules
        .iter()
        .flat_map(|r| r.signatures.iter().flat_map(|s| s.attestors.iter()))
        .any(|a| {
            a.key
                .as_ref()
                .and_then(|k| k.path.as_deref())
                .is_some_and(|x| x.starts_with("k8s://"))
        });
    if uses_secret {
        return Ok(());
    }
    let doc = serde_json::json!({
        "apiVersion": "sealgate.dev/v1alpha1",
        "kind": p.kind,
        "metadata": {"name": p.name},
        "spec": serde_json::to_value(&p.spec)?,
    });
    sealgate::policy::compile(doc, &base.join("imported.yaml"), base)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("internal: the translation of {} does not load: {e}", p.from))
}

fn write_dir(
    dir: &Path,
    source: Source,
    outputs: &[(String, Vec<Imported>)],
    roots: &[TrustedRootFile],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut names = std::collections::BTreeSet::new();
    for (_, policies) in outputs {
        for p in policies {
            if !names.insert(format!("{}.yaml", p.name)) {
                bail!(
                    "two imported policies are named {:?}: write them to stdout instead",
                    p.name
                );
            }
        }
    }
    for r in roots {
        if !names.insert(r.file_name.clone()) {
            bail!("two imported TrustRoots are named {:?}", r.file_name);
        }
    }
    let create = |path: &Path, text: &str| -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| {
                format!(
                    "{}: cannot create (it is never overwritten)",
                    path.display()
                )
            })?;
        f.write_all(text.as_bytes())?;
        println!("{}", path.display());
        Ok(())
    };
    // nothing is written when any target exists
    for n in &names {
        let path = dir.join(n);
        if path.symlink_metadata().is_ok() {
            bail!("{}: exists (it is never overwritten)", path.display());
        }
    }
    for r in roots {
        create(&dir.join(&r.file_name), &r.json)?;
    }
    for (file, policies) in outputs {
        for p in policies {
            let path = dir.join(format!("{}.yaml", p.name));
            let text = import::to_yaml(source, file, std::slice::from_ref(p))
                .map_err(anyhow::Error::msg)?;
            create(&path, &text)?;
        }
    }
    Ok(())
}
