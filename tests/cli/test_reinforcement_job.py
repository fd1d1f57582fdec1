"""A reinforcement project's job carries its grader and reinforcement hyperparameters
exactly as configured: checked on the wire, in the body an OpenAI-shaped endpoint
receives from `ftctl apply` (the real openai SDK, a real HTTP request on loopback)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..support.cli import run_ftctl
from ..support.fake_openai import fake_openai

GRADER = {
    "type": "string_check",
    "name": "exact answer",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference_answer}}",
    "operation": "eq",
}

PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {name: arithmetic, owner: rl@example.com}
spec:
  provider: rft
  baseModel: o4-mini-2025-04-16
  suffix: arith
  data:
    train: {sources: [{path: data/train.jsonl}]}
  policy:
    minExamples: {value: 10, level: warn}
  training:
    method: reinforcement
    grader: %s
    hyperparameters:
      nEpochs: 2
      reasoningEffort: medium
      computeMultiplier: 1.5
      evalInterval: 5
      evalSamples: auto
    seed: 11
"""


def test_apply_sends_the_grader_and_reinforcement_hyperparameters(tmp_path: Path) -> None:
    with fake_openai(models=["o4-mini-2025-04-16"]) as api:
        (tmp_path / "ftctl.yaml").write_text(
            "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: rft}\n"
            f"providers:\n  rft: {{type: openai, baseUrl: '{api.base_url}', "
            "apiKeyEnv: FAKE_OPENAI_KEY}\ndefaults: {provider: rft}\n"
        )
        project = tmp_path / "projects" / "arithmetic"
        (project / "data").mkdir(parents=True)
        (project / "project.yaml").write_text(PROJECT % json.dumps(GRADER))
        rows = [
            {
                "messages": [{"role": "user", "content": f"What is {i} + 2?"}],
                "reference_answer": str(i + 2),
            }
            for i in range(12)
        ]
        (project / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        env = {**os.environ, "FAKE_OPENAI_KEY": "sk-test", "NO_COLOR": "1"}
        run_ftctl("apply", "-auto-approve", "-no-wait", workspace=tmp_path, env=env, check=0)

    [body] = api.bodies("POST", "/v1/fine_tuning/jobs")
    assert body["model"] == "o4-mini-2025-04-16"
    assert body["method"] == {
        "type": "reinforcement",
        "reinforcement": {
            "grader": GRADER,
            # "auto" is left to the provider; the rest exactly as configured.
            "hyperparameters": {
                "n_epochs": 2,
                "reasoning_effort": "medium",
                "compute_multiplier": 1.5,
                "eval_interval": 5,
            },
        },
    }
    assert body["seed"] == 11
