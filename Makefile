# pybpfprof — build, test, demo.
#   make          build build/pybpfprof
#   make demo     profile the bundled demo workload for 10 s into demo.folded
#   make test     every test (unit, end to end, sanitizer builds)
#   make bench    overhead benchmark (bench/)
#   make fuzz-smoke  every libFuzzer target, briefly, over its corpus (tests/fuzz/)
#   make fuzz     every libFuzzer target for FUZZ_SECONDS each
# Missing Debian packages are installed first (root, apt-get).

VERSION := 0.1.0
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
BUILD ?= build
SAN ?=

DEB_PACKAGES := clang llvm libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev pkg-config \
	gcc make python3 python3.11 python3.11-dev python3.11-dbg python3-numpy tmux valgrind \
	python3-jsonschema libprotobuf-c-dev protobuf-c-compiler golang-go chromium \
	libcurl4-openssl-dev libclang-rt-14-dev

WARN := -Wall -Wextra -Werror -Wno-missing-field-initializers
CFLAGS_BASE := -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE -DPP_VERSION='"$(VERSION)"' -Iinclude -I$(BUILD)
ifeq ($(SAN),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS_SAN := -fsanitize=address,undefined
endif
LIBS := -lbpf -ldw -lelf -lz -lprotobuf-c -lcurl -lpthread
# protoc-c's output builds clean with our flags (sanitizers included); this
# is where to relax warnings, for generated code only, if a protoc-c warns.
CFLAGS_GEN := $(CFLAGS_BASE)

SRCS := $(wildcard src/*.c)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
# Code generated from proto/*.proto at build time, never committed.
PROTOS := $(wildcard proto/*.proto)
GEN_OBJS := $(patsubst proto/%.proto,$(BUILD)/obj/%.pb-c.o,$(PROTOS))
GEN_HDRS := $(patsubst proto/%.proto,$(BUILD)/%.pb-c.h,$(PROTOS))
GEN_SRCS := $(patsubst proto/%.proto,$(BUILD)/%.pb-c.c,$(PROTOS))
OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS)) $(GEN_OBJS)
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(GEN_OBJS)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
DOCDIR = $(PREFIX)/share/doc/pybpfprof
UNITDIR = $(PREFIX)/lib/systemd/system

.PHONY: all deps demo test test-run bench bench-fleet clean format check-format install uninstall \
	fuzz-build fuzz-smoke fuzz fuzz-learn
all: $(BUILD)/pybpfprof

# Installs only what is missing; a no-op on a prepared machine.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BUILD)/sampler.bpf.o: bpf/sampler.bpf.c include/pybpfprof.h vmlinux/vmlinux.h | $(BUILD)
	@echo "  BPF $@"; $(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -Ivmlinux -Iinclude -c $< -o $@
	@llvm-strip -g $@ 2>/dev/null || true

$(BUILD)/sampler.skel.h: $(BUILD)/sampler.bpf.o
	@$(BPFTOOL) gen skeleton $< name sampler_bpf > $@

# A pattern rule with two targets: one protoc-c run makes both.
$(BUILD)/%.pb-c.c $(BUILD)/%.pb-c.h: proto/%.proto | $(BUILD)
	@echo "  PROTOC-C $<"; protoc-c --proto_path=proto --c_out=$(BUILD) $<

# A static pattern rule names the generated files explicitly, so they are
# not intermediate: never deleted, and made again when missing.
$(GEN_OBJS): $(BUILD)/obj/%.pb-c.o: $(BUILD)/%.pb-c.c $(BUILD)/%.pb-c.h
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) $(CFLAGS_GEN) -c $< -o $@

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) include/pybpfprof.h $(BUILD)/sampler.skel.h $(GEN_HDRS) | $(BUILD)
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) $(CFLAGS_BASE) -Isrc -c $< -o $@

$(BUILD)/pybpfprof: $(OBJS)
	@echo "  CC $@"; $(CC) $(LDFLAGS_SAN) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) $(CFLAGS_BASE) -Isrc $(LDFLAGS_SAN) -o $@ $< $(LIB_OBJS) $(LIBS)

$(BUILD):
	@mkdir -p $(BUILD)

unit: $(UNIT_BINS)

demo: deps all
	@bash tests/demo.sh

# Two builds: the release one and one with AddressSanitizer + UBSan; the
# whole suite runs against both.
test: deps
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 all unit
	@python3 tests/run.py --bin build/pybpfprof --bin build/asan/pybpfprof \
		$(foreach u,$(UNIT_BINS),--unit $(u) --unit build/asan/tests/$(notdir $(u)) --valgrind-unit $(u)) \
		--unit tests/unit/check_format.sh --unit tests/fuzz/smoke.sh

# The binary, its docs and the fleet-mode systemd unit (enable it with
# systemctl enable --now pybpfprof-fleet).
install: all
	install -D -m 0755 $(BUILD)/pybpfprof $(DESTDIR)$(BINDIR)/pybpfprof
	install -d $(DESTDIR)$(DOCDIR)/formats $(DESTDIR)$(DOCDIR)/images
	install -m 0644 README.md LICENSE docs/*.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/formats/*.md $(DESTDIR)$(DOCDIR)/formats/
	install -m 0644 docs/images/* $(DESTDIR)$(DOCDIR)/images/
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' packaging/pybpfprof-fleet.service.in \
		> $(DESTDIR)$(UNITDIR)/pybpfprof-fleet.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/pybpfprof-fleet.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pybpfprof $(DESTDIR)$(UNITDIR)/pybpfprof-fleet.service
	rm -rf $(DESTDIR)$(DOCDIR)

bench: deps all
	@python3 bench/bench.py

# Fleet mode: 10 busy processes at 19 Hz, then a 10-minute soak.
bench-fleet: deps all
	@python3 bench/fleet_bench.py

FORMAT_FILES = src/*.c src/*.h include/*.h bpf/*.c tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h

format:
	clang-format -i $(FORMAT_FILES)

check-format:
	clang-format --dry-run -Werror $(FORMAT_FILES)

# libFuzzer targets (tests/fuzz/fuzz_NAME.c), built with clang, ASan and
# UBSan. The project code each one runs is compiled again for it into
# $(BUILD)/fuzz/obj/, apart from the release objects: FUZZ_SRC_NAME lists
# that code (src/*.c, without the BPF skeleton), FUZZ_LIBS_NAME its libraries.
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_NAMES))
FUZZ_SRC_linetable := linetable
FUZZ_SRC_record := record
FUZZ_SRC_debugoffsets := pydebugoffsets pylayout
FUZZ_SRC_elf := elfsym util
FUZZ_LIBS_elf := -lelf -lz
FUZZ_SRC_pycode := pycode linetable procmem util pylayout pydebugoffsets
FUZZ_CFLAGS := -std=gnu11 -O1 -g $(WARN) -D_GNU_SOURCE -Iinclude -Isrc -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
# Long runs (make fuzz): seconds per target; new inputs go to corpus-new,
# never into the committed corpus; crashes to artifacts/.
FUZZ_SECONDS ?= 300

$(BUILD)/fuzz/obj/%.o: src/%.c $(wildcard src/*.h) include/pybpfprof.h
	@mkdir -p $(dir $@)
	@echo "  CLANG $@"; $(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(wildcard src/*.h) include/pybpfprof.h
	@mkdir -p $(dir $@)
	@echo "  CLANG $@"; $(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(filter %.o,$^) $(FUZZ_LIBS_$*)

$(foreach n,$(FUZZ_NAMES),$(eval $(BUILD)/fuzz/fuzz_$(n): $(patsubst %,$(BUILD)/fuzz/obj/%.o,$(FUZZ_SRC_$(n)))))

fuzz-build: $(FUZZ_BINS)

fuzz-smoke:
	@BUILD=$(BUILD) sh tests/fuzz/smoke.sh

fuzz: fuzz-build
	@mkdir -p $(BUILD)/fuzz/artifacts
	@for n in $(FUZZ_NAMES); do \
		mkdir -p $(BUILD)/fuzz/corpus-new/$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
		$(BUILD)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
			-artifact_prefix=$(BUILD)/fuzz/artifacts/$$n- $(BUILD)/fuzz/corpus-new/$$n \
			$$(for d in corpus learned regressions; do test -d tests/fuzz/$$d/$$n && echo tests/fuzz/$$d/$$n; done) \
			|| exit 1; \
	done

# After make fuzz: the inputs of corpus-new that reach code or states the
# committed seeds and learned inputs do not, minimized by libFuzzer's
# merge, are added to tests/fuzz/learned/NAME/ (then review and commit them).
fuzz-learn: fuzz-build
	@for n in $(FUZZ_NAMES); do \
		test -d $(BUILD)/fuzz/corpus-new/$$n || continue; \
		w=$(BUILD)/fuzz/learn/$$n; rm -rf $$w; mkdir -p $$w tests/fuzz/learned/$$n; \
		cp tests/fuzz/corpus/$$n/* $$w/; cp tests/fuzz/learned/$$n/* $$w/ 2>/dev/null; \
		ls $$w > $$w.before; \
		$(BUILD)/fuzz/fuzz_$$n -merge=1 $$w $(BUILD)/fuzz/corpus-new/$$n > $$w.log 2>&1 || { cat $$w.log; exit 1; }; \
		added=0; for f in $$(ls $$w | grep -vxF -f $$w.before); do cp $$w/$$f tests/fuzz/learned/$$n/; added=$$((added + 1)); done; \
		echo "fuzz-learn: $$n: $$added inputs added to tests/fuzz/learned/$$n"; \
	done

clean:
	rm -rf build demo.folded
