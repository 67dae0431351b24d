# feedgen's image: the worker by default (`docker run IMAGE`), any command with arguments
# (`docker run IMAGE db upgrade`). Build from the repository root: docker build -t feedgen .
#
# The builder stage makes the sdist and the wheel as `make dist` does (python -m build), with a C
# compiler for feedgen's C serialiser; the final stage installs that wheel, with the postgres
# extra, into the virtualenv /opt/feedgen (the path deploy/systemd uses) and has no compiler.

FROM python:3.11-slim AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir build
WORKDIR /src
COPY . .
RUN python -m build --outdir /dist .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/feedgen/bin:$PATH \
    FEEDGEN_CONFIG=/etc/feedgen/config.toml \
    FEEDGEN_METRICS_PORT=9464 \
    FEEDGEN_METRICS_ADDRESS=0.0.0.0 \
    FEEDGEN_LOGGING_FORMAT=json
COPY --from=builder /dist /dist
RUN python -m venv /opt/feedgen \
    && /opt/feedgen/bin/pip install --no-cache-dir "$(ls /dist/feedgen-*.whl)[postgres]" \
    && rm -rf /dist \
    && /opt/feedgen/bin/python -c "import feedgen._speedups" \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/feedgen --create-home \
        --shell /usr/sbin/nologin feedgen \
    && mkdir -p /etc/feedgen
COPY config.example.toml /etc/feedgen/config.toml
WORKDIR /var/lib/feedgen
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
EXPOSE 9464
# /healthz answers 503 when no cycle succeeded for metrics.unhealthy_after_cycles intervals.
# The slim image has no curl: Python's urllib, which exits 1 on an error status or no answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${FEEDGEN_METRICS_PORT}/healthz', timeout=4)"
ENTRYPOINT ["feedgen"]
CMD ["worker"]
