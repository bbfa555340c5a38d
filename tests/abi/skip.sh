#!/usr/bin/env bash
# Registered instead of an abi test whose tools were missing at configure
# time: prints why and exits 77, meson's "skipped".
echo "SKIP: $*"
exit 77
