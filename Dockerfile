# pagi in a container: a static binary built in the Go image, run in a
# minimal one (no shell, no libc, a non-root user).
#
#   docker build -t pagi .
#   docker run --rm -p 8080:8080 pagi                                  # the example site
#   docker run --rm -p 8080:8080 -v /srv/pagi:/etc/pagi:ro pagi        # your site: /srv/pagi/site.hcl
#
# Mount the config's directory, not the file, so edits reach the container
# (see docs/reload.md). Reload with `docker kill -s HUP CONTAINER`; stop
# with `docker stop` (SIGTERM, drained within graceful_timeout: give it
# --stop-timeout a little above that). Binary upgrades (SIGUSR2) are not
# for containers: ship a new image instead.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/pagi ./cmd/pagi \
 && /out/pagi version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pagi /usr/local/bin/pagi
# The example site; replace it by mounting a directory over /etc/pagi.
COPY --chown=nonroot:nonroot examples/site.hcl /etc/pagi/site.hcl
COPY --chown=nonroot:nonroot examples/public /etc/pagi/public
# The example reads its address from PAGI_ADDRESS; inside a container it
# must listen on every interface.
ENV PAGI_ADDRESS=:8080
EXPOSE 8080
USER nonroot:nonroot
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/pagi"]
CMD ["run", "/etc/pagi/site.hcl"]
