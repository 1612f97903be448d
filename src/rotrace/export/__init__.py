"""From a trace to the writable locations a security context needs, in each consumer's format."""

FORMATS = ("policy", "k8s", "docker", "compose", "bwrap", "apparmor")
