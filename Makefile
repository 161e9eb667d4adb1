# tlspolicyd - one Makefile for everything.
#
#   make            build tlsmap, tlspolicyd and the unit tests
#   make run        build, compile maps/example.list, serve it in the foreground
#                   (policy service and socketmap, as the shipped main.cf uses both)
#   make check      build and run the test suite under prove
#   make check SANITIZE=1   only the ASan+UBSan run (separate build directory)
#   make check QUICK=1      only the normal run
#   make check-postfix-3.10 the Postfix tests on Postfix 3.10 (bookworm-backports)
#   make install    PREFIX, DESTDIR, SYSCONFDIR
#   make deb        the Debian package, into build/deb/
#
# Builds from a git checkout are strict (-Werror, as make check wants);
# packagers building from a tarball get warnings only.  WERROR=0 or
# WERROR=1 says which, either way.  CFLAGS, CPPFLAGS and LDFLAGS are
# honoured.
#
# Dependencies are found in their own step: build/config.mk is written by
# scripts/deps.sh and pkg-config, and included here, so make re-reads it
# before compiling anything.  Only the README's two commands (make run,
# make check) let deps.sh install what is missing (as root); any other
# goal, a plain make among them, prints the apt-get command and stops.

SHELL      := /bin/bash
DEPS_INSTALL := $(if $(filter run check,$(MAKECMDGOALS)),yes,no)
export DEPS_INSTALL
# compile on every processor (make -j1 overrides)
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS  += -j$(shell nproc)
endif
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DOCDIR     ?= $(PREFIX)/share/doc/tlspolicyd
DESTDIR    ?=
CC         ?= cc
CFLAGS     ?= -O2 -g
PKGS        = glib-2.0 gio-2.0 lmdb openssl libunbound libsystemd

ifeq ($(SANITIZE),1)
B          := build-san
SANFLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
B          := build
SANFLAGS   :=
endif

WERROR   ?= $(if $(wildcard $(CURDIR)/.git),1,0)
WERROR_FLAG = $(if $(filter 1,$(WERROR)),-Werror)
WARN     = -std=c11 -Wall -Wextra $(WERROR_FLAG) -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
# what the build needs, whatever CPPFLAGS a packager passes (even on the command line)
BASE_CPPFLAGS = -D_GNU_SOURCE -DSYSCONFDIR='"$(SYSCONFDIR)"'
# The folders are the layers: lib/ (logging, escaping) under maps/ (the
# list, its store and tlsmap) and net/ (DNS, HTTPS, MTA-STS, TLS-RPT
# records), those under policyd/ and probe/.  Each compiles with the
# include paths of its own layer and those below, so an upward include
# (maps/ including a net/ or policyd/ header) does not build; t/, fuzz/
# and bench/ see everything.
LAYER_lib     = -Ilib
LAYER_maps    = -Ilib -Imaps
LAYER_net     = -Ilib -Inet
LAYER_policyd = -Ilib -Imaps -Inet -Ipolicyd
LAYER_probe   = -Ilib -Imaps -Inet -Iprobe
LAYER_ALL     = -Ilib -Imaps -Inet -Ipolicyd -Iprobe -It/support
layer_includes = $(or $(LAYER_$(firstword $(subst /, ,$(1)))),$(LAYER_ALL))
# "make" alone builds the programs (the rule for config.mk comes first)
.DEFAULT_GOAL := all
# PKG_CFLAGS and PKG_LIBS come from $(B)/config.mk (not for clean/uninstall)
ifneq ($(filter-out clean uninstall deb,$(or $(MAKECMDGOALS),all)),)
include $(B)/config.mk
endif
ALL_CFLAGS  = $(WARN) $(CFLAGS) $(SANFLAGS) $(BASE_CPPFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) -MMD -MP
LDLIBS      = $(PKG_LIBS)

LIB_SRC    = lib/escape lib/logging
NET_SRC    = net/dns net/https net/mtasts net/tlsrptrecord
MAPS_SRC   = maps/entry maps/key maps/list maps/source maps/store maps/storewrite maps/storeread maps/lookup maps/audit maps/tlsrules maps/postfixsite
SHARED_SRC = $(LIB_SRC) $(NET_SRC) $(MAPS_SRC)
MAPS_OBJS  = $(SHARED_SRC:%=$(B)/%.o)
POLICYD_LIB  = request netstring http config configcheck configroute decide decideinbound decidefilter decideroute destination destdane deststs metrics topk ledger maillog delivery outledger tlsrpt tlsrptmail smtpsubmit tlsrptsend logfollow journalfollow outbound notify endpoint verdictlog postfixcheck postfixpromises statefile account listguard connection adminpages server
POLICYD_OBJS = $(POLICYD_LIB:%=$(B)/policyd/%.o)
# t/unit: pure tests (no daemon, no root, no Postfix: the package build
# runs them); t/daemon: tests that start tlspolicyd
UNIT_TESTS = $(patsubst t/unit/%.c,$(B)/t/%.t,$(wildcard t/unit/*.c))
DAEMON_TESTS = $(patsubst t/daemon/%.c,$(B)/t/%.t,$(wildcard t/daemon/*.c))
PROBE_OBJS = $(B)/probe/mx.o $(B)/probe/probe.o $(B)/probe/published.o
PROGRAMS   = $(B)/tlsmap $(B)/tlspolicyd $(B)/tlsprobe

$(B)/config.mk: scripts/deps.sh scripts/config.sh Makefile
	@scripts/deps.sh build
	@scripts/config.sh $@ $(PKGS)

.PHONY: all programs deps test-deps run check check-postfix-3.10 unit-check clean install uninstall fuzz fuzz-check deb
# keep intermediate objects (no "rm ..." after the test summary)
.SECONDARY:
all: deps $(PROGRAMS) $(UNIT_TESTS) $(DAEMON_TESTS)
programs: $(PROGRAMS)

deps:
	@scripts/deps.sh build
test-deps:
	@scripts/deps.sh test

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(call layer_includes,$<) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libtlsmaps.a: $(MAPS_OBJS)
	ar rcs $@ $^

$(B)/libpolicyd.a: $(POLICYD_OBJS)
	ar rcs $@ $^

$(B)/tlsmap: $(B)/maps/tlsmap.o $(B)/libtlsmaps.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tlspolicyd: $(B)/policyd/main.o $(B)/libpolicyd.a $(B)/libtlsmaps.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tlsprobe: $(B)/probe/tlsprobe.o $(PROBE_OBJS) $(B)/libtlsmaps.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/t/%.t: $(B)/t/unit/%.o $(PROBE_OBJS) $(B)/libpolicyd.a $(B)/libtlsmaps.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/t/%.t: $(B)/t/daemon/%.o $(PROBE_OBJS) $(B)/t/support/client.o $(B)/libpolicyd.a $(B)/libtlsmaps.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

EXAMPLE = $(B)/example/example.list
RUN_DIR = $(CURDIR)/$(B)/example
# make run: the daemon in the foreground with the example list, its
# sockets where the shipped main.cf names them relative to a queue
# directory of the run's own; once it listens, --check-postfix gives its
# verdict on the shipped snippets (a main.cf and master.cf made of them).
RUN_Q = $(RUN_DIR)/queue
run: all
	@mkdir -p $(dir $(EXAMPLE)) $(RUN_Q)/private $(RUN_DIR)/postfix
	cp maps/example.list $(EXAMPLE)
	$(B)/tlsmap -v $(EXAMPLE)
	@printf '[tlspolicyd]\nlist = %s\nlisten = unix:%s/private/tlspolicy;inet:127.0.0.1:10040;\nsocketmap_listen = unix:%s/private/tlsmap;\nmetrics_listen = inet:127.0.0.1:10041;\npostfix_config_directory = %s/postfix\nuser = %s\n' \
	    $(CURDIR)/$(EXAMPLE) $(RUN_Q) $(RUN_Q) $(RUN_DIR) "$$(id -un)" > $(RUN_DIR)/tlspolicyd.conf
	@{ echo "queue_directory = $(RUN_Q)"; echo "compatibility_level = 3.6"; cat postfix/main.cf; } > $(RUN_DIR)/postfix/main.cf
	@{ echo "smtp inet n - y - - smtpd"; cat postfix/master.cf; } > $(RUN_DIR)/postfix/master.cf
	@cp postfix/tlspolicyd_bounce $(RUN_DIR)/postfix/
	@echo
	@echo "Serving $(EXAMPLE) (config $(RUN_DIR)/tlspolicyd.conf; Ctrl-C stops):"
	@echo "  policy service (inbound)  unix:$(RUN_Q)/private/tlspolicy and inet:127.0.0.1:10040"
	@echo "  socketmap (outbound)      unix:$(RUN_Q)/private/tlsmap"
	@echo "  metrics (Prometheus)      http://127.0.0.1:10041/metrics"
	@echo "Postfix main.cf lines for this run (the real ones: postfix/main.cf):"
	@echo "  smtpd_recipient_restrictions = check_policy_service { unix:$(RUN_Q)/private/tlspolicy, default_action=DEFER_IF_PERMIT, timeout=10s }, ..."
	@echo "  transport_maps = socketmap:unix:$(RUN_Q)/private/tlsmap:transport"
	@echo "Try it from another shell:"
	@echo "  bash -c 'exec 3<>/dev/tcp/127.0.0.1/10040; printf \"request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@health.example\n\n\" >&3; read -r r <&3; echo \$$r'"
	@echo "  postmap -q bob@bank.example socketmap:unix:$(RUN_Q)/private/tlsmap:transport"
	@echo "  $(B)/tlspolicyd --config $(RUN_DIR)/tlspolicyd.conf --explain bob@bank.example   # list, DANE, MTA-STS"
	@echo
	@$(B)/tlspolicyd -v --config $(RUN_DIR)/tlspolicyd.conf & pid=$$!; \
	    trap 'kill $$pid 2>/dev/null' INT TERM; \
	    for i in $$(seq 100); do [ -S $(RUN_Q)/private/tlsmap ] && break; kill -0 $$pid 2>/dev/null || break; sleep 0.05; done; \
	    if command -v postconf >/dev/null; then \
	        echo "=== tlspolicyd --check-postfix on the shipped snippets ($(RUN_DIR)/postfix):"; \
	        $(B)/tlspolicyd --check-postfix --postfix-config $(RUN_DIR)/postfix --config $(RUN_DIR)/tlspolicyd.conf; \
	        echo "==="; \
	    else echo "(postconf not installed: no --check-postfix verdict; scripts/deps.sh test installs Postfix)"; \
	    fi; \
	    wait $$pid

# make check: the suite on the normal build, then the tests that run
# Postfix again on Postfix 3.10 (make check-postfix-3.10), then the whole
# suite under ASan+UBSan (SANITIZE=1 runs only the latter; QUICK=1 only
# the first).  Tests run in parallel (each has its own paths and ports;
# most of their time is waiting for Postfix, timeouts and peers), the
# longest first.  The fuzzers' timed runs are in the first pass only: they
# are ASan+UBSan builds already.
PROVE_JOBS ?= 6
SLOW_FIRST  = t/postfix.t $(B)/t/robust.t t/fuzz.t
TEST_ENV    = SRCDIR=$(CURDIR) FUZZDIR=$(CURDIR)/$(F) FUZZ_CHECK_SECONDS=$(FUZZ_CHECK_SECONDS) TLSMAP=$(CURDIR)/$(B)/tlsmap \
              TLSPOLICYD=$(CURDIR)/$(B)/tlspolicyd TLSPROBE=$(CURDIR)/$(B)/tlsprobe BUILD=$(CURDIR)/$(B) SANITIZE=$(SANITIZE)
check: test-deps all fuzz-check
	$(TEST_ENV) prove -j$(PROVE_JOBS) --exec '' $(SLOW_FIRST) $(filter-out $(SLOW_FIRST),$(UNIT_TESTS) $(DAEMON_TESTS) $(wildcard t/*.t))
ifeq ($(SANITIZE)$(QUICK),)
	@$(MAKE) --no-print-directory check-postfix-3.10
	@echo "=== the same suite under ASan+UBSan (make check SANITIZE=1) ==="
	$(MAKE) --no-print-directory check SANITIZE=1 FUZZ_CHECK_SECONDS=0
endif

# The second supported Postfix: every test that runs postconf or a private
# Postfix, against Debian's Postfix 3.10 from bookworm-backports, fetched
# and unpacked beside the system's (scripts/postfix-backports.sh; the
# machine's Postfix and apt sources are left as they are).  They share
# ports with each other's first-pass runs, hence after that pass.
PF310        = $(CURDIR)/build/postfix-3.10
POSTFIX_TESTS = t/postfix.t t/dane.t t/checkpostfix.t t/outbound.t t/tlsrpt.t
check-postfix-3.10: test-deps all
	@echo "=== the Postfix tests on Postfix 3.10 (make check-postfix-3.10) ==="
	@scripts/postfix-backports.sh $(PF310) >/dev/null
	$(TEST_ENV) POSTFIX_ROOT=$(PF310)/root prove -j3 --exec '' $(POSTFIX_TESTS)

# The unit tests: they need no daemon, no root and no Postfix (the
# package build runs them all).
unit-check: $(UNIT_TESTS)
	SRCDIR=$(CURDIR) prove --exec '' $^

# The Debian package (debian/), built from this tree into build/deb/.
deb:
	+scripts/deb.sh

SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'

# Fuzzing: one libFuzzer harness per parser (fuzz/), built with clang and
# ASan+UBSan in build-fuzz/.  "make fuzz" runs each for FUZZ_SECONDS;
# "make check" runs each for FUZZ_CHECK_SECONDS.  Corpora grow in
# build-fuzz/corpus (seeded from fuzz/corpus); crashes land in build-fuzz/.
F                  = build-fuzz
FUZZ_CC            = clang
FUZZ_SECONDS      ?= 600
FUZZ_CHECK_SECONDS ?= 4
FUZZERS            = request list decide netstring http mtasts dns maillog tlsrptrecord
FUZZ_LIB_OBJS      = $(SHARED_SRC:%=$(F)/%.o) $(POLICYD_LIB:%=$(F)/policyd/%.o)
FUZZ_CFLAGS        = -std=c11 -g -O1 -Wall -Wextra $(WERROR_FLAG) -Wno-missing-field-initializers \
                     -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all $(BASE_CPPFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) -MMD -MP

$(F)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(call layer_includes,$<) $(FUZZ_CFLAGS) -c -o $@ $<

$(F)/fuzz_%: $(F)/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $(LDFLAGS) -o $@ $^ $(LDLIBS)

define run_fuzzer
	@mkdir -p $(F)/corpus/$(1) && cp -n fuzz/corpus/$(1)/* $(F)/corpus/$(1)/
	cd $(F) && ./fuzz_$(1) -max_total_time=$(2) -dict=../fuzz/$(1).dict -print_final_stats=1 \
	    corpus/$(1) 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Done' ; test $${PIPESTATUS[0]} -eq 0
endef

fuzz: $(FUZZERS:%=$(F)/fuzz_%)
	$(foreach f,$(FUZZERS),$(call run_fuzzer,$(f),$(FUZZ_SECONDS))
	)

fuzz-check: $(FUZZERS:%=$(F)/fuzz_%)

install: programs
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/tlspolicyd $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(DOCDIR)/examples/postfix \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(B)/tlsmap $(B)/tlspolicyd $(B)/tlsprobe $(DESTDIR)$(SBINDIR)/
	$(SUBST) systemd/tlspolicyd.service.in > $(DESTDIR)$(UNITDIR)/tlspolicyd.service
	install -m 644 systemd/tlspolicyd.socket systemd/tlspolicyd-socketmap.socket $(DESTDIR)$(UNITDIR)/
	install -m 644 systemd/tlspolicyd.sysusers $(DESTDIR)$(SYSUSERSDIR)/tlspolicyd.conf
	$(SUBST) systemd/tlspolicyd.tmpfiles.in > $(DESTDIR)$(TMPFILESDIR)/tlspolicyd.conf
	$(SUBST) policyd/tlspolicyd.conf.in > $(B)/tlspolicyd.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/tlspolicyd/tlspolicyd.conf \
	    || install -m 644 $(B)/tlspolicyd.conf $(DESTDIR)$(SYSCONFDIR)/tlspolicyd/tlspolicyd.conf
	install -m 644 maps/example.list policyd/tlspolicyd.conf.example $(DESTDIR)$(DOCDIR)/examples/
	install -m 644 postfix/main.cf postfix/master.cf postfix/tlspolicyd_bounce $(DESTDIR)$(DOCDIR)/examples/postfix/
	install -m 644 man/tlsmap.1 man/tlsprobe.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/tlspolicyd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 man/tlspolicyd.8 $(DESTDIR)$(MANDIR)/man8/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/tlsmap $(DESTDIR)$(SBINDIR)/tlspolicyd $(DESTDIR)$(SBINDIR)/tlsprobe \
	    $(DESTDIR)$(UNITDIR)/tlspolicyd.service $(DESTDIR)$(UNITDIR)/tlspolicyd.socket \
	    $(DESTDIR)$(UNITDIR)/tlspolicyd-socketmap.socket \
	    $(DESTDIR)$(SYSUSERSDIR)/tlspolicyd.conf $(DESTDIR)$(TMPFILESDIR)/tlspolicyd.conf \
	    $(DESTDIR)$(DOCDIR)/examples/example.list $(DESTDIR)$(DOCDIR)/examples/tlspolicyd.conf.example \
	    $(DESTDIR)$(DOCDIR)/examples/postfix/main.cf $(DESTDIR)$(DOCDIR)/examples/postfix/master.cf \
	    $(DESTDIR)$(DOCDIR)/examples/postfix/tlspolicyd_bounce \
	    $(DESTDIR)$(MANDIR)/man1/tlsmap.1 $(DESTDIR)$(MANDIR)/man1/tlsprobe.1 $(DESTDIR)$(MANDIR)/man5/tlspolicyd.conf.5 $(DESTDIR)$(MANDIR)/man8/tlspolicyd.8
	# the installed config only if nobody changed it
	if $(SUBST) policyd/tlspolicyd.conf.in | cmp -s - $(DESTDIR)$(SYSCONFDIR)/tlspolicyd/tlspolicyd.conf; then \
	    rm -f $(DESTDIR)$(SYSCONFDIR)/tlspolicyd/tlspolicyd.conf; fi
	-rmdir $(DESTDIR)$(SYSCONFDIR)/tlspolicyd $(DESTDIR)$(DOCDIR)/examples/postfix $(DESTDIR)$(DOCDIR)/examples \
	    $(DESTDIR)$(DOCDIR) 2>/dev/null

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(B) $(F) -path $(B)/deb -prune -o -name '*.d' -type f -print 2>/dev/null)
