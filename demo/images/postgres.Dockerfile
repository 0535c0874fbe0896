# titan-demo/postgres: Debian's PostgreSQL 15 with an entrypoint that behaves like the official
# image (POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD_FILE; refuses POSTGRES_PASSWORD + _FILE).
# Built by scripts/build-demo-images.sh with context demo/. FROM a locally imported tag: never pulled.
FROM titan-demo/base:bookworm
COPY images/postgres-entrypoint.py /usr/local/bin/docker-entrypoint.py
RUN chmod 0755 /usr/local/bin/docker-entrypoint.py
ENV PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
EXPOSE 5432
# fast shutdown, as the official image
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.py"]
CMD ["postgres"]
