#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build step for keygate: build OpenSSL 3 as a
# static library with the service's compiler and flags (the base image only
# has 1.1.1), then the fuzz targets with fuzz/oss-fuzz-build.sh, which
# writes each binary with its .dict, .options and seed corpus into $OUT.

ossl_prefix="$WORK/openssl"
if [ ! -f "$ossl_prefix/lib/libcrypto.a" ] && [ ! -f "$ossl_prefix/lib64/libcrypto.a" ]; then
  (
    cd "$SRC/openssl"
    # no-asm keeps every instruction visible to the sanitizers (MSan).
    ./Configure linux-x86_64 no-shared no-tests no-module no-asm \
      --prefix="$ossl_prefix" --libdir=lib \
      CC="$CC" CFLAGS="$CFLAGS"
    make -j"$(nproc)" build_libs
    make install_dev
  )
fi

KEYGATE_OPENSSL_DIR="$ossl_prefix" bash "$SRC/keygate/fuzz/oss-fuzz-build.sh"
