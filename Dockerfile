# Multi-stage build of the chat server: the Go toolchain stays in the builder stage,
# the final image holds one static binary.
FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static binary: the runtime image has no libc.
RUN CGO_ENABLED=0 go build -trimpath -o /chat-server ./server

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /chat-server /chat-server
EXPOSE 8889
ENTRYPOINT ["/chat-server"]
CMD ["-addr", "0.0.0.0:8889", "-redis", "redis:6379"]
