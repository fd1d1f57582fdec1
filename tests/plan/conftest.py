"""Makes tests/plan/factories.py importable as `plan_factories` (tests are not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).with_name("factories.py")
if "plan_factories" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("plan_factories", _PATH)
    assert _spec and _spec.loader
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["plan_factories"] = _module
    _spec.loader.exec_module(_module)
