"""JSON Schemas for kubeconform, made here from sources the registries serve (no schema download site).

Kubernetes kinds: from the OpenAPI document in the `k8s.io/kubernetes` Go module
(api/openapi-spec/swagger.json), every `$ref` inlined and objects closed (`additionalProperties: false`), as
kubeconform's own "standalone-strict" schemas are. Custom resources: from CRD manifests (KEDA's, in the
`github.com/kedacore/keda/v2` Go module), each served version's openAPIV3Schema. Only the kinds that occur in
the manifests given are written, as <out>/<group>/<kind>_<version>.json (kubeconform's
`{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`; the core group is `v1`).
"""

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

Json = dict[str, Any]
_INT_OR_STRING = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
_QUANTITY = {"anyOf": [{"type": "string"}, {"type": "number"}]}


def schema_path(out: Path, api_version: str, kind: str) -> Path:
    group, _, version = api_version.rpartition("/")
    return out / (group or "v1") / f"{kind.lower()}_{version}.json"


def kinds_in(manifests: Iterable[Path]) -> set[tuple[str, str]]:
    found = set()
    for path in manifests:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
                found.add((str(doc["apiVersion"]), str(doc["kind"])))
    return found


def _close(schema: Json) -> Json:
    """Strict: an object that lists its properties accepts no others (catches misspelt keys)."""
    if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema:
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    return schema


def _inline(node: Any, definitions: Json, stack: tuple[str, ...] = ()) -> Any:
    if isinstance(node, list):
        return [_inline(item, definitions, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.removeprefix("#/definitions/")
        if name.endswith("intstr.IntOrString"):
            return dict(_INT_OR_STRING)
        if name.endswith("resource.Quantity"):
            return dict(_QUANTITY)
        if name in stack:  # recursive type (only JSONSchemaProps): accept anything below
            return {}
        return _inline(definitions[name], definitions, (*stack, name))
    if node.get("x-kubernetes-int-or-string"):
        return dict(_INT_OR_STRING)
    return _close({key: _inline(value, definitions, stack) for key, value in node.items()})


def kubernetes_schemas(swagger: Path) -> dict[tuple[str, str], Json]:
    definitions: Json = json.loads(swagger.read_text())["definitions"]
    by_kind: dict[tuple[str, str], Json] = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            by_kind[(api_version, gvk["kind"])] = _inline(definitions[name], definitions, (name,))
    return by_kind


def crd_schemas(crd_files: Iterable[Path]) -> dict[tuple[str, str], Json]:
    by_kind: dict[tuple[str, str], Json] = {}
    for path in crd_files:
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                schema = _inline(version["schema"]["openAPIV3Schema"], {})
                props = schema.setdefault("properties", {})
                props.setdefault("apiVersion", {"type": "string"})
                props.setdefault("kind", {"type": "string"})
                props.setdefault("metadata", {"type": "object"})
                by_kind[(f"{group}/{version['name']}", kind)] = schema
    return by_kind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.deploy.schemas", description=__doc__)
    parser.add_argument("--swagger", type=Path, required=True)
    parser.add_argument("--crd", type=Path, action="append", default=[])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("manifests", type=Path, nargs="+")
    args = parser.parse_args(argv)
    wanted = kinds_in(args.manifests)
    available = {**kubernetes_schemas(args.swagger), **crd_schemas(args.crd)}
    written, missing = [], []
    for api_version, kind in sorted(wanted):
        schema = available.get((api_version, kind))
        if schema is None:
            missing.append(f"{kind} {api_version}")
            continue
        path = schema_path(args.out, api_version, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", **schema}))
        written.append(f"{kind} {api_version}")
    print(f"schemas written for {len(written)} kinds: {', '.join(written)}")
    if missing:
        print(f"no schema here for: {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
