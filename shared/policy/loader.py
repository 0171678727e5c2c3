"""Load the policy whole or not at all; every problem names its line in the YAML file."""

from pathlib import Path

import yaml
from pydantic import ValidationError

from shared.directory.towns import TownDirectory
from shared.policy.checks import Loc, cross_check
from shared.policy.model import Policy

DEFAULT_POLICY = Path(__file__).parent / "policy.yaml"


class PolicyInvalid(ValueError):
    """The policy file cannot be used; the router must not start with it."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"invalid routing policy {path}:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


def load_policy(towns: TownDirectory, path: Path = DEFAULT_POLICY) -> Policy:
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise PolicyInvalid(path, [f"line {line}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from exc
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = [(tuple(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
        raise PolicyInvalid(path, _located(root, problems)) from exc
    if problems := cross_check(policy, towns):
        raise PolicyInvalid(path, _located(root, problems))
    return policy


def _located(root: yaml.Node | None, problems: list[tuple[Loc, str]]) -> list[str]:
    return [f"line {line_of(root, loc)}: {'.'.join(map(str, loc)) or '(top)'}: {msg}" for loc, msg in problems]


def line_of(node: yaml.Node | None, loc: Loc) -> int:
    """1-based line of the deepest YAML node the pydantic location reaches (a missing key: its parent)."""
    if node is None:
        return 1
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((value for key, value in node.value if key.value == str(part)), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None
