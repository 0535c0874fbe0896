"""`titan-deploy render-agent [--check]` (README "Secrets managers"): write the OpenBao Agent's
configuration (`bao-agent.hcl`; aws-secretsmanager: the renderer's `aws-agent.json`,
core/agent_aws.py) and the compose file of the agent path
(`docker-compose.agent.yml`) into the project dir, from the manifest's `backend:`
(core/agent.py), for the overlay plan as the rotation journal sets it and the KV versions
pinned in io/backendpins.py. Like `render`: atomic writes, a file replaced only if titan-deploy
rendered it, `--check` exits 1 when a file on disk is stale. Neither file holds a value: paths,
names, version numbers and a rotation's key id.
"""

from __future__ import annotations

import os

from titan_deploy.core.agent import DEFAULT_IMAGE, Sidecar, agent_compose, agent_hcl, rendered_files
from titan_deploy.core.backend import BackendConfig
from titan_deploy.core.findings import Report
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.errors import ConfigError
from titan_deploy.io import fs
from titan_deploy.ops.push import backend_config
from titan_deploy.ops.render import OWN_MARK, _on_disk
from titan_deploy.project import Project

CONFIG_FILE = "bao-agent.hcl"
AWS_CONFIG_FILE = "aws-agent.json"  # aws-secretsmanager: the renderer's (core/agent_aws.py)
COMPOSE_FILE = "docker-compose.agent.yml"


def agent_files(project: Project) -> dict[str, str]:
    """file name (in the project dir) -> its rendered text. ConfigError (exit 2) when the
    backend is neither openbao with AppRole nor aws-secretsmanager, or a consumer reads outside
    /run/secrets."""
    config = backend_config(project)
    if config.type == "aws-secretsmanager":
        return _aws_files(project, config)
    if config.type != "openbao" or config.auth is None or config.auth.method != "approle":
        raise ConfigError(
            "render-agent: the agent path needs `backend: {type: openbao, auth: {role_id_file, "
            "secret_id_file}}` (the agent logs in with AppRole) or `type: aws-secretsmanager`"
        )
    from titan_deploy.io import backendpins

    assert config.address and config.auth.role_id_file and config.auth.secret_id_file
    plan = agent_plan(project)
    files = rendered_files(project.manifest, plan)
    pins = backendpins.load(project)
    hcl = agent_hcl(config, files, config.agent_address or config.address, pins)
    sidecar = Sidecar(
        f"./{CONFIG_FILE}",
        _compose_path(config.auth.role_id_file),
        _compose_path(config.auth.secret_id_file),
        config.agent_image or DEFAULT_IMAGE,
        config.agent_network_mode,
    )
    return {CONFIG_FILE: hcl, COMPOSE_FILE: agent_compose(plan, files, sidecar)}


def _aws_files(project: Project, config: BackendConfig) -> dict[str, str]:
    """aws-secretsmanager: the renderer's JSON config and the compose file (core/agent_aws.py)."""
    from titan_deploy.core.agent_aws import AWS_DEFAULT_IMAGE, AwsSidecar, aws_agent_json
    from titan_deploy.io import backendpins

    plan = agent_plan(project)
    files = rendered_files(project.manifest, plan)
    text = aws_agent_json(config, files, backendpins.load(project))
    creds, aws_config = config.agent_credentials_file, config.agent_config_file
    sidecar = AwsSidecar(
        f"./{AWS_CONFIG_FILE}",
        _compose_path(creds) if creds else None,
        _compose_path(aws_config) if aws_config else None,
        config.agent_image or AWS_DEFAULT_IMAGE,
        config.agent_network_mode,
    )
    return {AWS_CONFIG_FILE: text, COMPOSE_FILE: agent_compose(plan, files, sidecar)}


def agent_plan(project: Project) -> OverlayPlan:
    """The overlay plan the agent renders: the manifest's consumers as the rotation journal sets
    them (versions, an HMAC listener's secondary key, the key id), and what it takes out of the
    base compose files as the overlay does (a plain value the `*_FILE` variable replaces, a
    managed secret entry: issue 10 item 2)."""
    from titan_deploy.core.overlay import base_compose, plan_overlay
    from titan_deploy.core.rotation import effective_manifest
    from titan_deploy.io import journal as journal_io
    from titan_deploy.ops.render import base_documents

    journal = journal_io.load(project)
    manifest = effective_manifest(project.manifest, journal)
    base = base_compose(base_documents(project))
    return plan_overlay(manifest, journal.assignments, project.secrets_dir_rel, base)


def _compose_path(path: str) -> str:
    """A path as compose reads a bind mount's source: absolute, or `./` + relative."""
    return path if os.path.isabs(path) else f"./{path}"


def run_render_agent(project: Project, *, check: bool = False) -> Report:
    """Write (or with `check`, compare) the agent's files. Exit 1 with `check` when one is
    stale; 2 no suitable backend, or a file there that titan-deploy did not render."""
    report = Report("render-agent", columns=["file", "state"])
    stale = []
    for name, text in agent_files(project).items():
        target = project.path(name)
        on_disk = _on_disk(target, name)
        changed = on_disk != text
        if changed and not check:
            if on_disk is not None and not on_disk.startswith(OWN_MARK):
                raise fs.UnsafePath(
                    f"{name} exists and was not rendered by titan-deploy: refusing to overwrite "
                    "it; move it away, then run render-agent again"
                )
            fs.atomic_write(target, text.encode(), mode=0o644, root=project.project_dir)
        if changed:
            stale.append(name)
        state = ("stale" if check else "written") if changed else "unchanged"
        report.rows.append({"file": name, "state": state})
    report.data = {"changed": bool(stale), "files": [row["file"] for row in report.rows]}
    if check:
        report.failed = bool(stale)
        report.summary = (
            f"{', '.join(stale)} differ from the manifest: run `titan-deploy render-agent`"
            if stale
            else "agent files are up to date"
        )
    else:
        report.summary = f"wrote {', '.join(stale)}" if stale else "agent files unchanged"
    return report
