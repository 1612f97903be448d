"""What a container runtime gives a command run as root by default: Docker's capabilities
(moby, oci/caps/defaults.go), by number. The read-only sandbox keeps these alone, and so does
the bwrap export: without them bubblewrap, run as root, keeps every capability, and a command
could remount the read-only root writable."""

DOCKER_CAPABILITIES = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5,
    "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13,
    "CAP_SYS_CHROOT": 18, "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29, "CAP_SETFCAP": 31,
}  # fmt: skip


def capability_flags() -> list[str]:
    """bubblewrap's arguments that keep Docker's capabilities alone (for a command run as root;
    for another user they change nothing)."""
    flags = ["--cap-drop", "ALL"]
    for name in DOCKER_CAPABILITIES:
        flags += ["--cap-add", name]
    return flags
