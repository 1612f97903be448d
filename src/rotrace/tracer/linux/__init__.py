"""The kernel interface beneath the tracer: ptrace and libc bindings, PTRACE_GET_SYSCALL_INFO, a
tracee's memory, /proc, the machine's syscall numbers and flags, and Landlock. It imports nothing of
the tracer's logic (the layer test holds it to that)."""
