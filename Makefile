# Chat server: build, run, test. `make` (or `make help`) lists the targets.
# Variables can be overridden on the command line: make run ADDR=0.0.0.0:9000

.DEFAULT_GOAL := help
SHELL := /bin/bash

ADDR       ?= 127.0.0.1:8889
REDIS_ADDR ?= 127.0.0.1:6379
FUZZTIME   ?= 30s
BENCHFLAGS ?=

REDIS_HOST := $(firstword $(subst :, ,$(REDIS_ADDR)))
REDIS_PORT := $(lastword $(subst :, ,$(REDIS_ADDR)))
DATA       := $(CURDIR)/.data

CLUSTER_PORT ?= 7000
ADDR2        ?= 127.0.0.1:8890
# REDIS_CLUSTER set (make testuser REDIS_CLUSTER=1) addresses the cluster of make run-cluster.
REDIS_CLUSTER ?=

.PHONY: help redis-install build redis run client testuser test test-short fuzz bench charts stop-redis clean \
	redis-cluster run-cluster stop-cluster test-cluster centrifugo bench-peer

help: ## list the targets and the variables they use
	@echo "usage: make TARGET [ADDR=$(ADDR)] [REDIS_ADDR=$(REDIS_ADDR)] [FUZZTIME=$(FUZZTIME)] [BENCHFLAGS='-skip cluster']"
	@echo "  ADDR        where the server listens (make run) and the client connects (make client)"
	@echo "  REDIS_ADDR  the Redis make redis starts and the server uses; pick another port if 6379 is taken"
	@echo "  BENCHFLAGS  flags of bin/chat-load bench, e.g. '-skip cluster,storm -json docs/img/results.json'"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "  %-14s %s\n", $$1, $$2 }'

redis-install: ## install redis-server with apt-get unless it is on PATH already
	@if command -v redis-server >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "redis-server is not installed and apt-get is not available:" >&2; \
		echo "install Redis 7 (redis-server and redis-cli) with your package manager, then rerun make" >&2; \
		exit 1; \
	fi; \
	sudo=; if [ "$$(id -u)" -ne 0 ]; then sudo=sudo; fi; \
	$$sudo apt-get update && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server

build: ## build bin/chat-server, bin/chat-client and bin/chat-load
	go build -o bin/chat-server ./server
	go build -o bin/chat-client ./client
	go build -o bin/chat-load ./bench

redis: redis-install ## start a local redis-server with AOF in .data/ (reused if make redis started it; another Redis at REDIS_ADDR is refused)
	@pidfile=$(DATA)/redis.pid; cli="redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT)"; \
	answering=$$($$cli info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p'); \
	ours=; if [ -f $$pidfile ]; then ours=$$(cat $$pidfile); fi; \
	if [ -n "$$ours" ] && kill -0 "$$ours" 2>/dev/null && [ "$$answering" = "$$ours" ]; then \
		echo "redis started by make redis answers at $(REDIS_ADDR) (pid $$ours, data in .data/)"; exit 0; \
	fi; \
	if [ -n "$$answering" ]; then \
		echo "another Redis answers at $(REDIS_ADDR) (pid $$answering), not the one make redis starts with its data in .data/." >&2; \
		echo "Pick a free address for ours, e.g.: make run REDIS_ADDR=127.0.0.1:6380 (and the same REDIS_ADDR for make testuser)," >&2; \
		echo "or stop that Redis first." >&2; \
		exit 1; \
	fi; \
	if [ -n "$$ours" ] && kill -0 "$$ours" 2>/dev/null && ps -p "$$ours" -o comm= | grep -q redis; then \
		echo "make redis already runs a Redis on .data/ (pid $$ours) at another address; make stop-redis first" >&2; exit 1; \
	fi; \
	rm -f $$pidfile; \
	mkdir -p $(DATA) && \
	redis-server --appendonly yes --dir $(DATA) --port $(REDIS_PORT) --bind 127.0.0.1 \
		--daemonize yes --pidfile $$pidfile --logfile $(DATA)/redis.log && \
	for i in $$(seq 100); do \
		if $$cli ping 2>/dev/null | grep -q PONG; then \
			echo "redis started at $(REDIS_ADDR) (data in .data/, stop it with make stop-redis)"; exit 0; \
		fi; \
		sleep 0.1; \
	done; \
	echo "redis did not answer at $(REDIS_ADDR) within 10 s; end of $(DATA)/redis.log:" >&2; \
	tail -n 20 $(DATA)/redis.log >&2; exit 1

run: build redis ## build, start Redis (make redis), then run the server in the foreground on ADDR against REDIS_ADDR
	bin/chat-server -addr $(ADDR) -redis $(REDIS_ADDR)

client: ## build and run the terminal client against the server at ADDR
	go build -o bin/chat-client ./client
	bin/chat-client -addr $(ADDR)

testuser: ## add the course's test user 100 / 123456 (plaintext; hashed at first login); REDIS_CLUSTER=1: on the cluster of run-cluster
	@if [ -n "$(REDIS_CLUSTER)" ]; then \
		CLUSTER_PORT=$(CLUSTER_PORT) DATA=$(DATA) scripts/redis-cluster start && \
		redis-cli -c -p $(CLUSTER_PORT) set 'user:{100}' '{"userId":100,"userPwd":"123456","userName":"scott"}'; \
	else \
		$(MAKE) --no-print-directory redis && \
		redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT) hset users 100 '{"userId":100,"userPwd":"123456","userName":"scott"}'; \
	fi

test: redis-install ## go vet, then every package's tests with the race detector on real Redis, one package at a time, saying which as it goes
	@echo "== go vet ./..."
	@go vet ./...
	@.ci/test-packages -race -count=1 -timeout 20m

test-short: ## the fast tier: every package's tests in -short mode, on the memory stores, starting no Redis (under a minute)
	@echo "== go test -short ./... (memory stores; tests that need Redis or node processes are skipped)"
	go test -short -count=1 ./...

fuzz: ## run every fuzz target of the repo for FUZZTIME each, one at a time
	@set -euo pipefail; \
	for pkg in $$(go list ./...); do \
		list=$$(go test -list '^Fuzz' $$pkg); \
		for name in $$(grep '^Fuzz' <<<"$$list" || true); do \
			echo "== $$pkg $$name ($(FUZZTIME))"; \
			.ci/fuzz-one "$$pkg" "$$name" $(FUZZTIME); \
		done; \
	done

bench: redis-install build ## run every load scenario (own redis-server and server nodes in a temp dir) and print the table; BENCHFLAGS go to bin/chat-load bench
	bin/chat-load bench $(BENCHFLAGS)

centrifugo: ## build Centrifugo v6.9.1 once into bin/centrifugo-v6.9.1 (go install in a temporary GOPATH, removed afterwards; a few minutes)
	@scripts/centrifugo-install >/dev/null

bench-peer: redis-install build centrifugo ## one message in flight per sender, closed loop: the chat server (1 and 2 nodes) next to Centrifugo (Redis and memory engines), each on a private Redis; BENCHFLAGS go to bin/chat-load peer
	bin/chat-load peer $(BENCHFLAGS)

charts: ## draw docs/img/*.svg from docs/img/results.json (write one with: make bench BENCHFLAGS='-json docs/img/results.json')
	go build -o bin/chat-load ./bench
	bin/chat-load chart -in docs/img/results.json -out docs/img

stop-redis: ## stop the redis-server started by make redis (AOF is flushed)
	@pidfile=$(DATA)/redis.pid; \
	if [ ! -f $$pidfile ]; then echo "no $$pidfile: redis was not started by make redis"; exit 0; fi; \
	pid=$$(cat $$pidfile); \
	kill -TERM $$pid 2>/dev/null || { echo "redis (pid $$pid) was not running"; rm -f $$pidfile; exit 0; }; \
	for i in $$(seq 100); do \
		if ! kill -0 $$pid 2>/dev/null; then echo "redis stopped"; rm -f $$pidfile; exit 0; fi; \
		sleep 0.1; \
	done; \
	echo "redis (pid $$pid) still running after 10 s" >&2; exit 1

redis-cluster: redis-install ## start a local Redis Cluster, 3 primaries and 3 replicas on ports CLUSTER_PORT.. (data in .data/cluster/)
	@CLUSTER_PORT=$(CLUSTER_PORT) DATA=$(DATA) scripts/redis-cluster start

run-cluster: build redis-cluster ## start the cluster (make redis-cluster), a node on ADDR2 in the background and one on ADDR in the foreground
	@seeds=$$(CLUSTER_PORT=$(CLUSTER_PORT) scripts/redis-cluster seeds); \
	bin/chat-server -addr $(ADDR2) -redis-cluster $$seeds -node node2 & second=$$!; \
	trap 'kill $$second 2>/dev/null; wait $$second' EXIT INT TERM; \
	bin/chat-server -addr $(ADDR) -redis-cluster $$seeds -node node1

stop-cluster: ## stop the cluster started by make redis-cluster (AOF is flushed)
	@CLUSTER_PORT=$(CLUSTER_PORT) DATA=$(DATA) scripts/redis-cluster stop

test-cluster: redis-install ## the cluster client's tests, then the store and server tests with their storage on a Redis Cluster, and two node processes through a primary killed and a primary added
	go test -race -count=1 -p 1 -timeout 20m ./internal/redistest ./internal/rediscluster
	CHAT_TEST_CLUSTER=1 go test -race -count=1 -p 1 -timeout 20m ./server/model ./server/chat
	CHAT_TEST_CLUSTER=1 go test -race -count=1 -p 1 -timeout 20m -run 'Cluster|TwoNodes' ./server

clean: ## remove bin/ (keeps the redis data in .data/)
	rm -rf bin
