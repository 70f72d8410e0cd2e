"""Builds deploy/kubernetes' kustomizations in Python, so that their tests need no kustomize binary.

It knows the few kustomize features the shipped kustomizations use — `resources` (files and
directories), `configMapGenerator` (files, per-generator labels and disableNameSuffixHash),
`namespace`, `images`, `replicas`, and `patches` that are JSON 6902 operations or a strategic-merge
`$patch: delete` — and refuses anything else, so a kustomization that starts using another feature
fails its tests instead of being half-built. test_kubernetes.py checks the result against
`kubectl kustomize` where kubectl is installed.

One difference, on purpose: kustomize appends a hash of the content to a generated ConfigMap's name
(unless disableNameSuffixHash), and to the references to it; this builder keeps the plain name.
`strip_name_hashes` removes kustomize's suffixes for the comparison.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

_KNOWN_KEYS = frozenset({
    "apiVersion", "kind", "resources", "configMapGenerator", "namespace", "images", "replicas", "patches",
})
_JSON_PATCH_OPS = frozenset({"test", "replace", "add", "remove"})


class UnsupportedKustomizationError(Exception):
    """The kustomization uses something this builder does not implement."""


def build(directory: Path) -> list[Manifest]:
    """The objects `kubectl kustomize directory` would print (in no particular order)."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    if unknown := set(spec) - _KNOWN_KEYS:
        raise UnsupportedKustomizationError(f"{directory}: {sorted(unknown)}")
    objects: list[Manifest] = []
    for entry in spec.get("resources", ()):
        path = directory / entry
        if path.is_dir():
            objects += build(path)
        else:
            objects += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    for generator in spec.get("configMapGenerator", ()):
        _generate(directory, generator, objects)
    for patch in spec.get("patches", ()):
        _patch(objects, patch)
    if "namespace" in spec:  # every object shipped is namespaced
        for obj in objects:
            obj["metadata"]["namespace"] = spec["namespace"]
    for replicas in spec.get("replicas", ()):
        for obj in _named(objects, replicas["name"], "StatefulSet"):  # the only workload shipped
            obj["spec"]["replicas"] = replicas["count"]
    for image in spec.get("images", ()):
        _set_image(objects, image)
    return objects


def _generate(directory: Path, generator: Manifest, objects: list[Manifest]) -> None:
    if set(generator) - {"name", "files", "options"}:
        raise UnsupportedKustomizationError(f"configMapGenerator {generator['name']}: {sorted(generator)}")
    data: dict[str, str] = {}
    for entry in generator["files"]:
        key, _, path = entry.partition("=") if "=" in entry else (Path(entry).name, "", entry)
        data[key] = (directory / path).read_text(encoding="utf-8")
    options = generator.get("options", {})
    if set(options) - {"labels", "disableNameSuffixHash"}:
        raise UnsupportedKustomizationError(f"configMapGenerator {generator['name']} options: {sorted(options)}")
    config_map: Manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]},
                            "data": data}
    if "labels" in options:
        config_map["metadata"]["labels"] = dict(options["labels"])
    objects.append(config_map)


def _named(objects: list[Manifest], name: str, kind: str | None = None) -> list[Manifest]:
    return [obj for obj in objects
            if obj["metadata"]["name"] == name and (kind is None or obj["kind"] == kind)]


def _patch(objects: list[Manifest], patch: Manifest) -> None:
    body = yaml.safe_load(patch["patch"])
    if isinstance(body, dict) and body.get("$patch") == "delete" and "target" not in patch:
        doomed = _named(objects, body["metadata"]["name"], body["kind"])
        if not doomed:
            raise UnsupportedKustomizationError(
                f"$patch: delete matches nothing: {body['kind']}/{body['metadata']['name']}")
        objects[:] = [obj for obj in objects if all(obj is not gone for gone in doomed)]
        return
    target = patch.get("target", {})
    if not isinstance(body, list) or set(target) - {"kind", "name"}:
        raise UnsupportedKustomizationError(f"only JSON 6902 patches by kind and name, or $patch: delete: {patch}")
    for obj in _named(objects, target["name"], target.get("kind")):
        for operation in body:
            apply_json_patch_operation(obj, operation)


def apply_json_patch_operation(document: Manifest, operation: Manifest) -> None:
    """One RFC 6902 operation (test, replace, add, remove) on `document`, in place."""
    if operation["op"] not in _JSON_PATCH_OPS:
        raise UnsupportedKustomizationError(f"JSON patch op {operation['op']}")
    *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]]
    node: Any = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = (len(node) if last == "-" else int(last)) if isinstance(node, list) else last
    if operation["op"] == "test":
        if node[key] != operation["value"]:
            raise ValueError(f"JSON patch test failed at {operation['path']}: {node[key]!r} != {operation['value']!r}")
    elif operation["op"] == "remove":
        del node[key]
    elif operation["op"] == "add" and isinstance(node, list):
        node.insert(key, copy.deepcopy(operation["value"]))
    else:
        if operation["op"] == "replace" and (key >= len(node) if isinstance(node, list) else key not in node):
            raise ValueError(f"JSON patch replace: nothing at {operation['path']}")
        node[key] = copy.deepcopy(operation["value"])


def _set_image(objects: list[Manifest], image: Manifest) -> None:
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*pod.get("containers", ()), *pod.get("initContainers", ())]:
            name = container["image"].split("@")[0]
            if ":" in name.rsplit("/", 1)[-1]:  # a tag, not a registry's port
                name = name.rsplit(":", 1)[0]
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image['newTag']}"


def strip_name_hashes(objects: list[Manifest], generated: set[str]) -> list[Manifest]:
    """`objects` with kustomize's `-<hash>` suffix taken off the names in `generated` and the
    ConfigMap volumes that refer to them (the only references the shipped manifests make)."""
    suffixed = re.compile(rf"^({'|'.join(map(re.escape, generated))})-[a-z0-9]{{10}}$")
    objects = copy.deepcopy(objects)
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            obj["metadata"]["name"] = suffixed.sub(r"\1", obj["metadata"]["name"])
        for volume in obj.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", ()):
            if "configMap" in volume:
                volume["configMap"]["name"] = suffixed.sub(r"\1", volume["configMap"]["name"])
    return objects
