# Makefile: the one entry point.  Thin: each folder builds itself and the
# scripts/ do the running.
#
#   make deps          install the Debian packages (scripts/deps.sh)
#   make / make all    build every part (each folder that has a Makefile)
#   make install       install the extension into the system PostgreSQL 15,
#                      and cpub with its bash completion (cli/Makefile)
#   make images        build the runtimes' base images that are missing or
#                      stale (scripts/images.sh; docs/podman.md)
#   make run           deps + all + install + images, then start the platform
#                      in var/
#   make stop          stop the platform
#   make test          deps + all + install + images, then every test suite
#                      (tests/run.sh)
#   make format        clang-format every C file in place
#   make format-check  fail when a C file differs from .clang-format
#   make bench         deps (with the benchmarks' own: scripts/deps.sh bench)
#                      + install, then run the benchmarks (bench/run.sh)
#   make clean         remove build products (never var/, the platform's data)

# Steps of run and test must happen in order, even under make -j; the
# sub-makes still build in parallel.
.NOTPARALLEL:

PARTS = pg_extension $(patsubst %/Makefile,%,$(wildcard httpd/Makefile worker/Makefile cli/Makefile))
C_DIRS = pg_extension httpd worker cli tests bench
C_FILES = $(shell find $(C_DIRS) -name '*.[ch]' -type f 2>/dev/null | sort)
CLANG_FORMAT ?= clang-format

.PHONY: all deps install images run stop status test format format-check bench clean $(PARTS)

all: $(PARTS)

$(PARTS):
	$(MAKE) -C $@

deps:
	scripts/deps.sh

install: all
	$(MAKE) -C pg_extension install
	$(MAKE) -C cli install

images:
	scripts/images.sh

run: deps
	$(MAKE) install
	scripts/images.sh
	scripts/platform.sh start

stop:
	scripts/platform.sh stop

status:
	scripts/platform.sh status

test: deps
	$(MAKE) install
	scripts/images.sh
	tests/run.sh

format:
	$(CLANG_FORMAT) -i $(C_FILES)

format-check:
	$(CLANG_FORMAT) --dry-run --Werror $(C_FILES)

bench:
	scripts/deps.sh bench
	$(MAKE) install
	@if [ -x bench/run.sh ]; then bench/run.sh; else echo "bench: no bench/run.sh yet"; fi

clean:
	for d in $(PARTS) tests/unit; do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d clean || exit 1; fi; \
	done
