"""Print the topics and Kafka users of rendered manifests: partitions, replicas, min ISR, who reads and writes.

`python -m devtools.deploy.report rendered.yaml` (scripts/check_deploy prints it for the production values).
"""

import sys
from pathlib import Path
from typing import Any

import yaml


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def table(path: Path) -> str:
    docs = _docs(path)
    users = {d["metadata"]["name"]: d["spec"]["authorization"]["acls"] for d in docs if d["kind"] == "KafkaUser"}
    access: dict[str, dict[str, list[str]]] = {}
    groups: dict[str, list[str]] = {}
    for user, acls in sorted(users.items()):
        for acl in acls:
            resource, ops = acl["resource"], set(acl["operations"])
            if resource["type"] == "topic":
                slot = access.setdefault(resource["name"], {"read": [], "write": [], "describe": []})
                for op, key in (("Read", "read"), ("Write", "write")):
                    if op in ops:
                        slot[key].append(user)
                if ops == {"Describe"}:
                    slot["describe"].append(user)
            elif resource["type"] == "group":
                pattern = "*" if resource["patternType"] == "prefix" else ""
                groups.setdefault(user, []).append(f"{resource['name']}{pattern} ({'+'.join(sorted(ops))})")
    lines = ["topic | partitions | replicas | min.insync | read | write | describe only"]
    for d in docs:
        if d["kind"] != "KafkaTopic":
            continue
        spec = d["spec"]
        slot = access.get(spec["topicName"], {"read": [], "write": [], "describe": []})
        who = " | ".join(", ".join(slot[key]) or "-" for key in ("read", "write", "describe"))
        config = spec["config"]
        lines.append(
            f"{spec['topicName']} | {spec['partitions']} | {spec['replicas']} | {config['min.insync.replicas']} | {who}"
        )
    lines.append("user | consumer groups")
    lines += [f"{user} | {', '.join(groups.get(user, [])) or '-'}" for user in sorted(users)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1])))
