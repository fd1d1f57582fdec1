"""`ftctl export PROJECT [ALIAS|VERSION] --out DIR [--merged]`: an open-weights fine-tune's files.

Writes `DIR/adapter/` (the LoRA adapter in PEFT's layout, safetensors, with the tokenizer;
a full fine-tune's whole model), `DIR/merged/` with `--merged` (base + adapter folded into
plain transformers weights) and `DIR/README.md`, the model card (`ftctl lineage
--model-card`). Only models trained by ftctl's own local server from an `hf:` base can be
exported: their weights are in the server's data directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.state_cmd import snapshot_or_empty, workspace_config
from ftctl.config.local_server import has_data
from ftctl.errors import FtctlError
from ftctl.lineage.card import model_card
from ftctl.lineage.graph import DEFAULT_ALIAS, lineage_of
from ftctl.providers.registry import local_data_dir
from ftctl.state.store import open_state


@click.command("export")
@click.argument("project")
@click.argument("target", default=DEFAULT_ALIAS, required=False)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write (created).",
)
@click.option("--merged", is_flag=True, help="Also write merged weights (base + adapter).")
@pass_app
def export(app: AppContext, project: str, target: str, out: Path, merged: bool) -> None:
    """Export the model behind PROJECT's TARGET (an alias, default prod, or a version number)."""
    workspace = workspace_config(app)
    store = open_state(workspace)
    audit = store.audit(project) if store.exists() else []
    found = lineage_of(snapshot_or_empty(store), audit, project, target)
    version = found.version
    from ftctl.catalog import hf

    if version.model_id is None:
        raise FtctlError(f"{version.address} has no model yet (status {version.status})")
    root_base = version.base_chain()[-1]
    if not hf.is_hf(root_base):
        raise FtctlError(
            f"{version.address} ({version.model_id}) was trained from {root_base}: only "
            "open-weights (hf:) fine-tunes of the local server can be exported"
        )
    data_dir = local_data_dir(workspace, version.provider)
    if data_dir is None:
        raise FtctlError(
            f"{version.address} was trained by provider {version.provider!r}, whose weights "
            "are not in this workspace (export needs the embedded local server's data)"
        )
    missing = hf.missing_train_packages()
    if missing:
        raise FtctlError(f"export needs the 'train' extra: {hf.INSTALL_COMMAND}")
    from ftctl.server.store import Store
    from ftctl.server.trainers.hf.export import export as write_export

    record = None
    if has_data(data_dir):
        server_store = Store(data_dir)
        try:
            record = server_store.get_model(version.model_id)
        finally:
            server_store.close()
    if record is None or record.weights_path is None:
        raise FtctlError(
            f"the weights of {version.model_id} are not in the local server's data "
            f"directory {data_dir}"
        )
    base_dir = hf.locate(root_base, workspace.root)
    result = write_export(base_dir, Path(record.weights_path), out, merged=merged)
    (out / "README.md").write_text(model_card(found), encoding="utf-8")
    written = {
        "model_id": version.model_id,
        "adapter": str(result.adapter_dir),
        "merged": None if result.merged_dir is None else str(result.merged_dir),
        "model_card": str(out / "README.md"),
        "lora": result.lora,
    }
    if app.json_output:
        click.echo(json.dumps(written, indent=2))
        return
    kind = "adapter" if result.lora else "weights (full fine-tune)"
    click.echo(f"Exported {version.model_id}:")
    click.echo(f"  {kind:<9} {result.adapter_dir}")
    if result.merged_dir is not None:
        click.echo(f"  merged    {result.merged_dir}")
    click.echo(f"  card      {out / 'README.md'}")
