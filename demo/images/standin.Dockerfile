# titan-demo/standin: every Titan service, nats, grafana and demo-exchange (demo/standin).
# Built by scripts/build-demo-images.sh with context demo/. FROM a locally imported tag: never pulled.
FROM titan-demo/base:bookworm
COPY standin/ /opt/titan-demo/standin/
# Grafana's data dir belongs to uid 472 (as in the official image), so the named volume does too.
RUN install -d -o 472 -g 472 -m 0755 /var/lib/grafana
ENV PYTHONPATH=/opt/titan-demo PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# Titan services run as 1000:1000 (numeric, so `verify` can tell who reads /run/secrets without
# resolving names); they read their secrets through the secrets group that compose adds with
# group_add. grafana overrides this with the prod file's `user: "472"`.
USER 1000:1000
ENTRYPOINT ["python3", "-m", "standin"]
