"""Every action the code writes to the activity log can be picked in the Activity log's
filter and reads as words in both languages (not as its code)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "omnistream"
ACTIVITY_JS = ROOT / "web" / "js" / "settings" / "activity.js"
STRINGS_JS = ROOT / "web" / "js" / "strings.js"
# Actions whose code is built from a variable (campaigns/service.py: f"{verb}_campaign").
BUILT = {"pause_campaign", "resume_campaign", "cancel_campaign"}


def recorded() -> set[tuple[str, str]]:
    """(action, target type) of every record() call whose action is a literal (the target
    a literal or a module constant such as TARGET = "sla_policy")."""
    found = set()
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text())
        constants = {
            t.id: n.value.value
            for n in tree.body
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
            for t in n.targets
            if isinstance(t, ast.Name) and isinstance(n.value.value, str)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "record"):
                continue
            values = [
                a.value if isinstance(a, ast.Constant) else constants.get(getattr(a, "id", ""))
                for a in node.args[2:4]
            ]
            if len(values) == 2 and all(isinstance(v, str) for v in values):
                found.add((str(values[0]), str(values[1])))
    return found


def listed(name: str) -> set[str]:
    text = ACTIVITY_JS.read_text()
    body = re.search(rf"const {name} = \[(.*?)\];", text, re.S)
    assert body is not None, name
    return set(re.findall(r'"([a-z_]+)"', body.group(1)))


def test_every_recorded_action_is_listed_and_named_in_both_languages() -> None:
    found = recorded()
    actions = {a for a, _ in found} | BUILT
    targets = {t for _, t in found}
    assert len(actions) > 50 and {"update_csat_settings", "delete_sla_policy"} <= actions
    assert actions - listed("ACTIONS") == set()
    assert targets - listed("TARGETS") == set()
    strings = STRINGS_JS.read_text()
    for action in actions:
        assert strings.count(f'"activity.act.{action}":') == 2, action  # English, Indonesian
    for target in targets:
        assert strings.count(f'"activity.type.{target}":') == 2, target
