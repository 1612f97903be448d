# rotrace in a container, auditing a uv app the way production runs it:
#
#   docker build -t rotrace-demo .
#   docker run --rm --read-only --tmpfs /tmp rotrace-demo rotrace run -- uv run python --version
#
# ptrace: tracing one's own children needs nothing extra under Docker's and podman's default
# seccomp profile on kernels >= 4.8 (no --cap-add SYS_PTRACE, no --privileged).
#
# Offline (air-gapped) builds: put the wheels in ./wheels (scripts/container-test shows how:
# rotrace's wheel, its dependencies and uv) and pass --build-arg OFFLINE=1.
ARG BASE_IMAGE=python:3.13-slim
FROM ${BASE_IMAGE}

ARG UV_VERSION=0.7.19
ARG OFFLINE=0
ARG USERNAME=app
ARG USER_UID=1000

COPY wheels/ /tmp/wheels/
COPY pyproject.toml setup.py README.md /tmp/rotrace-src/
COPY src/ /tmp/rotrace-src/src/
# Offline: rotrace's own wheel comes from the wheelhouse too (with its compiled loop, built for
# the image's Python); online: built from the source, where an image without a C compiler
# (python:*-slim) gets the pure-Python loop.
RUN set -eu; \
    if [ "$OFFLINE" = 1 ]; then index="--no-index"; pkg=rotrace; else index=""; pkg=/tmp/rotrace-src; fi; \
    python3 -m venv /opt/rotrace; \
    /opt/rotrace/bin/pip install --no-cache-dir $index --find-links /tmp/wheels "$pkg" "uv==${UV_VERSION}"; \
    ln -s /opt/rotrace/bin/rotrace /opt/rotrace/bin/uv /opt/rotrace/bin/uvx /usr/local/bin/; \
    rm -rf /tmp/wheels /tmp/rotrace-src

# The application, synced at build time by the user that runs it (the seed's recipe).
RUN useradd --uid "$USER_UID" --create-home "$USERNAME" && install -d -o "$USERNAME" /app
USER $USERNAME
WORKDIR /app
COPY --chown=$USERNAME examples/uv-app/pyproject.toml examples/uv-app/main.py /app/
ENV UV_PYTHON_DOWNLOADS=never
RUN uv sync --offline --no-cache
ENV UV_NO_CACHE=true UV_FROZEN=true

CMD ["rotrace", "run", "--", "uv", "run", "python", "--version"]
