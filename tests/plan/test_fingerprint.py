from __future__ import annotations

import plan_factories as f

from ftctl.plan.fingerprint import changed_fields, config_fingerprint, fingerprint


def test_fingerprint_is_stable_and_ignores_key_order() -> None:
    a = {"b": 1, "a": {"y": 2, "x": 3}}
    b = {"a": {"x": 3, "y": 2}, "b": 1}
    assert fingerprint(a) == fingerprint(b)
    assert len(fingerprint(a)) == 64


def test_owner_and_gates_do_not_change_the_fingerprint() -> None:
    base = f.project()
    other = f.project(
        owner="someone-else@example.com", gates={"metrics": []}, promote={"when": "manual"}
    )
    assert fingerprint(base.fingerprint_inputs()) == fingerprint(other.fingerprint_inputs())


def test_hyperparameters_data_and_base_model_change_the_fingerprint() -> None:
    base = fingerprint(f.project().fingerprint_inputs())
    assert fingerprint(f.project(n_epochs=2).fingerprint_inputs()) != base
    assert fingerprint(f.project(train="train-v2").fingerprint_inputs()) != base
    assert fingerprint(f.project(base_model="gpt-4o-mini").fingerprint_inputs()) != base


def test_auto_stays_auto_and_undated_names_resolve() -> None:
    inputs = f.project(n_epochs="auto", base_model="gpt-4o-mini").fingerprint_inputs()
    assert inputs["hyperparameters"]["n_epochs"] == "auto"
    assert inputs["base_model"] == "gpt-4o-mini-2024-07-18"


def test_changed_fields_names_each_leaf() -> None:
    old = f.project().fingerprint_inputs()
    new = f.project(n_epochs=2, train="train-v2").fingerprint_inputs()
    changes = {c.path: (c.before, c.after) for c in changed_fields(old, new)}
    assert changes == {
        "data.train": (f.sha("train-v1"), f.sha("train-v2")),
        "hyperparameters.n_epochs": (3, 2),
    }


def test_replace_nonce_changes_fingerprint_but_not_config_fingerprint() -> None:
    p = f.project()
    plain, replaced = p.fingerprint_inputs(), p.fingerprint_inputs("nonce-1")
    assert fingerprint(plain) != fingerprint(replaced)
    assert config_fingerprint(plain) == config_fingerprint(replaced)


def test_the_reinforcement_grader_is_part_of_the_fingerprint() -> None:
    from ftctl.plan.fingerprint import fingerprint_inputs

    common = {
        "provider": "openai",
        "base_model": "o4-mini-2025-04-16",
        "method": "reinforcement",
        "hyperparameters": {},
        "seed": 1,
        "train_sha256": "t",
        "validation_sha256": None,
    }
    strict = {"type": "string_check", "operation": "eq", "reference": "{{item.answer}}"}
    lenient = {**strict, "operation": "ilike"}
    a = fingerprint(fingerprint_inputs(**common, grader=strict))
    b = fingerprint(fingerprint_inputs(**common, grader=lenient))
    assert a != b
    supervised = fingerprint_inputs(**{**common, "method": "supervised"})
    assert "grader" not in supervised  # existing fingerprints are unchanged
