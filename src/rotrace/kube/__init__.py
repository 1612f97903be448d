"""`rotrace kube`: the user's own Kubernetes manifests, changed only where recording or hardening
needs it (ruamel.yaml's round trip keeps comments, key order, quoting and every other document).

record.py wraps the chosen containers' entrypoints in `rotrace run`; harden.py writes the mount plan
of a (merged) trace into the manifest; manifest.py finds the pod specs of each workload kind."""
