#!/usr/bin/env python3
"""Regenerates crates/prescale-manifests/schemas/*.json from the KEDA CRDs.

Usage: scripts/trim-keda-schemas.py [../shared/keda]

Keeps the openAPIV3Schema of each CRD (KEDA v2.20.2, see ../shared/keda/SOURCE.md) without the
`description` texts, and replaces the pod template of ScaledJob.spec.jobTargetRef (the whole
Kubernetes PodTemplateSpec, ~8000 lines) with `type: object`. Output is sorted JSON, so that
regenerating from the same CRDs gives the same bytes.
"""
import json
import pathlib
import sys

import yaml

SRC = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/keda")
OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/prescale-manifests/schemas"
CRDS = {
    "scaledobject": "keda.sh_scaledobjects.yaml",
    "scaledjob": "keda.sh_scaledjobs.yaml",
    "triggerauthentication": "keda.sh_triggerauthentications.yaml",
    "clustertriggerauthentication": "keda.sh_clustertriggerauthentications.yaml",
}


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


for name, file in CRDS.items():
    crd = yaml.safe_load((SRC / file).read_text())
    schema = strip(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    if name == "scaledjob":
        job = schema["properties"]["spec"]["properties"]["jobTargetRef"]
        job["properties"]["template"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    (OUT / f"{name}.json").write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    print(f"{name}.json")
