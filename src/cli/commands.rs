//! The one-shot commands: `check`, `plan`, `audit` (each exits 0, 1 when the webhook would deny
//! something, 2 when an input or the cluster cannot be used) and `dev-certs`.

use std::process::ExitCode;

use super::cluster::ConnectedCluster;
use super::{
    AuditCommandArgs, CheckArgs, DevCertsArgs, InputArgs, KubeArgs, OutputFormat, PlanArgs,
    PlanFormat, fail, load_settings,
};

/// `check`: exit 0 when nothing would be denied, 1 when something would (or, strict, a reference
/// is unresolved), 2 when an input cannot be used (one line naming the file and document).
pub(super) fn check(args: CheckArgs) -> ExitCode {
    let CheckArgs {
        input,
        output,
        strict,
        cluster,
        cloud,
        inputs,
    } = args;
    let (settings, cluster) = match settings_and_cluster(&input, cluster) {
        Ok(both) => both,
        Err(e) => return fail(&e),
    };
    let (cloud, _cloud_runtime) = match check_cloud(cloud) {
        Ok(both) => both,
        Err(e) => return fail(&e),
    };
    let options = crate::check::Options {
        inputs,
        namespace: namespace_for(input.namespace, cluster.as_ref()),
        cluster_state: input.cluster_state,
        strict: strict || settings.fail_on_unresolved,
        settings,
        mutate: !input.no_mutate,
        cloud,
    };
    let format = match output {
        OutputFormat::Text => crate::check::Format::Text,
        OutputFormat::Json => crate::check::Format::Json,
        OutputFormat::Github => crate::check::Format::Github,
    };
    let live = cluster
        .as_ref()
        .map(|c| c as &dyn crate::manifest::LiveCluster);
    match crate::check::run(&options, live, &mut std::io::stdin().lock()) {
        Ok(report) => {
            let text = crate::check::output::render(format, &report);
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
            ExitCode::from(report.exit_status())
        }
        Err(e) => fail(&anyhow::anyhow!(e)),
    }
}

/// `check --cloud`: the client and a runtime of its own for its I/O (kept alive by the caller);
/// nothing without `--cloud`.
fn check_cloud(
    args: super::cloud::CloudArgs,
) -> anyhow::Result<(
    Option<crate::check::CheckCloud>,
    Option<tokio::runtime::Runtime>,
)> {
    let Some(client) = args.client()? else {
        return Ok((None, None));
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let cloud = crate::check::CheckCloud {
        client,
        runtime: runtime.handle().clone(),
    };
    Ok((Some(cloud), Some(runtime)))
}

/// The namespace for objects that have none, as kubectl chooses it: `-n`, else the kubeconfig
/// context's (only when a cluster is named), else `default`.
fn namespace_for(flag: Option<String>, cluster: Option<&ConnectedCluster>) -> String {
    flag.or_else(|| cluster.map(|c| c.default_namespace().to_owned()))
        .unwrap_or_else(|| "default".to_owned())
}

/// The settings of `--config`, and the cluster when one is named.
fn settings_and_cluster(
    input: &InputArgs,
    cluster: KubeArgs,
) -> anyhow::Result<(crate::rules::Settings, Option<ConnectedCluster>)> {
    let settings = load_settings(input.config.as_deref())?;
    let cluster = if cluster.given() {
        Some(ConnectedCluster::connect(cluster, false)?)
    } else {
        None
    };
    Ok((settings, cluster))
}

/// `plan`: exit 0, 1 when the webhook would deny an Ingress, 2 when an input cannot be used.
pub(super) fn plan(args: PlanArgs) -> ExitCode {
    let PlanArgs {
        input,
        output,
        diff,
        cluster,
        mut inputs,
    } = args;
    let (settings, cluster) = match settings_and_cluster(&input, cluster) {
        Ok(both) => both,
        Err(e) => return fail(&e),
    };
    let old = match (diff, inputs.len(), &cluster) {
        (false, _, _) => None,
        (true, 2, _) => Some(crate::plan::OldSide::Paths(vec![inputs.remove(0)])),
        (true, 1, Some(_)) => Some(crate::plan::OldSide::Live),
        (true, _, _) => {
            return fail(&anyhow::anyhow!(
                "--diff takes OLD NEW, or NEW with --kubeconfig or --context (the live objects \
                 are OLD)"
            ));
        }
    };
    let options = crate::plan::Options {
        inputs,
        old,
        namespace: namespace_for(input.namespace, cluster.as_ref()),
        cluster_state: input.cluster_state,
        settings,
        mutate: !input.no_mutate,
    };
    let format = match output {
        PlanFormat::Text => crate::plan::output::Format::Text,
        PlanFormat::Json => crate::plan::output::Format::Json,
    };
    let live = cluster
        .as_ref()
        .map(|c| c as &dyn crate::manifest::LiveCluster);
    match crate::plan::run(&options, live, &mut std::io::stdin().lock()) {
        Ok(report) => {
            let text = crate::plan::output::render(format, &report);
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
            ExitCode::from(report.exit_status())
        }
        Err(e) => fail(&anyhow::anyhow!(e)),
    }
}

/// `audit`: one pass over the cluster's qcloud Ingresses; exit 0 when none would be denied as it
/// stands, 1 when one would, 2 when the cluster cannot be read.
pub(super) fn audit(args: AuditCommandArgs) -> ExitCode {
    let AuditCommandArgs {
        namespace,
        all_namespaces,
        config,
        output,
        cluster,
        cloud,
    } = args;
    let scope = if all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(namespace)
    };
    let report = load_settings(config.as_deref())
        .and_then(|settings| audit_once(settings, cluster, scope, cloud));
    let report = match report {
        Ok(report) => report,
        Err(e) => return fail(&e),
    };
    let format = match output {
        OutputFormat::Text => crate::audit::output::Format::Text,
        OutputFormat::Json => crate::audit::output::Format::Json,
        OutputFormat::Github => crate::audit::output::Format::Github,
    };
    let text = crate::audit::output::render(format, &report);
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    ExitCode::from(u8::from(report.denied() > 0))
}

/// Which Ingresses `audit` judges, as kubectl's `-n` and `-A` choose.
enum Scope {
    All,
    /// This namespace, or the kubeconfig context's when `None`.
    Namespace(Option<String>),
}

/// The engine, a synced live view keeping every Ingress, and one audit pass over it.
fn audit_once(
    settings: crate::rules::Settings,
    cluster: KubeArgs,
    scope: Scope,
    cloud: super::cloud::CloudArgs,
) -> anyhow::Result<crate::audit::Report> {
    let engine = crate::rules::Engine::new(settings)?;
    let cloud = cloud.client()?;
    let cluster = ConnectedCluster::connect(cluster, true)?;
    let namespace = match scope {
        Scope::All => None,
        Scope::Namespace(namespace) => {
            Some(namespace.unwrap_or_else(|| cluster.default_namespace().to_owned()))
        }
    };
    let pass = crate::audit::live::once(
        &engine,
        &cluster.view,
        namespace.as_deref(),
        cloud.as_deref(),
    );
    Ok(cluster.runtime.block_on(pass))
}

/// `dev-certs`: write a development CA and serving certificate.
pub(super) fn dev_certs(args: DevCertsArgs) -> anyhow::Result<()> {
    let DevCertsArgs {
        out,
        service,
        namespace,
        keep_existing,
    } = args;
    match crate::certs::write(&out, &service, &namespace, keep_existing)? {
        crate::certs::Written::Created => eprintln!(
            "wrote ca.crt, ca.key, tls.crt, tls.key to {} (for {service}.{namespace}.svc, localhost, 127.0.0.1)",
            out.display()
        ),
        crate::certs::Written::KeptExisting => {
            eprintln!("kept the existing certificates in {}", out.display());
        }
    }
    Ok(())
}
