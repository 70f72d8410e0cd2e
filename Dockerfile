# syntax=docker/dockerfile:1
#
# azure-backup-exporter image: a builder stage turns the source into a wheel and installs it with
# its dependencies into a virtualenv; the runtime stage copies only that virtualenv.
#
#   docker build -t azure-backup-exporter .
#   docker run -p 9984:9984 azure-backup-exporter --demo --web.listen-address=:9984
#   docker run -p 9984:9984 -v "$PWD/config.yaml:/etc/azure-backup-exporter/config.yaml:ro" \
#       azure-backup-exporter
#
# Both stages must use the same Python image: the virtualenv links to its interpreter.
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Only what the wheel is built from (.dockerignore keeps the rest of the context out too).
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# The wheel, without dependencies, then the wheel with its dependencies from PyPI (the version
# ranges of pyproject.toml) into the virtualenv.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels . \
    && /opt/venv/bin/pip install --no-cache-dir /tmp/wheels/*.whl \
    && /opt/venv/bin/azure-backup-exporter --version

FROM ${PYTHON_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="azure-backup-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Azure Backup jobs (Recovery Services vaults)" \
      org.opencontainers.image.source="https://github.com/azure-backup-exporter/azure-backup-exporter" \
      org.opencontainers.image.documentation="https://github.com/azure-backup-exporter/azure-backup-exporter/blob/main/docs/monitoring.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/venv /opt/venv
# A home for state_file (config: state_file: /var/lib/azure-backup-exporter/state.json), owned
# by the runtime user; mount a volume there to keep counters across container restarts.
RUN mkdir -p /etc/azure-backup-exporter /var/lib/azure-backup-exporter \
    && chown 10001:10001 /var/lib/azure-backup-exporter
WORKDIR /var/lib/azure-backup-exporter
# A numeric user, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
EXPOSE 9984
# /-/healthy answers 200 while the process runs. This probes the default port: with another
# --web.listen-address, override the health check too (docker run --health-cmd ...).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9984/-/healthy', timeout=4)"]
ENTRYPOINT ["azure-backup-exporter"]
CMD ["--config.file=/etc/azure-backup-exporter/config.yaml"]
