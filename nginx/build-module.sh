#!/usr/bin/env bash
# nginx/build-module.sh — build ngx_http_keygate_module against an nginx
# source tree, the way nginx's own dynamic modules are built.
#
#   build-module.sh configure NGINX_SRC BUILD_DIR MODULE_DIR
#       Copy NGINX_SRC into BUILD_DIR (the source tree stays untouched) and
#       run its configure with --add-dynamic-module=MODULE_DIR. The flags
#       are NGINX_SRC/conf_flags when the tree has one (Debian's nginx-dev),
#       else $KEYGATE_NGINX_CONF_FLAGS (for an upstream tree: the arguments
#       `nginx -V` prints, --with-compat among them).
#   build-module.sh make BUILD_DIR OUT_FILE
#       Build the module (make -f objs/Makefile modules) and copy the .so to
#       OUT_FILE.
#
# KEYGATE_INCS and KEYGATE_LIBS (see nginx/config) must be set for
# configure. Output of configure and make goes to BUILD_DIR/*.log and is
# shown only on failure.
set -euo pipefail

die() {
  echo "build-module.sh: $*" >&2
  exit 1
}

case "${1:-}" in
configure)
  [ $# -eq 4 ] || die "usage: build-module.sh configure NGINX_SRC BUILD_DIR MODULE_DIR"
  src=$2 build=$3 moddir=$4
  [ -x "$src/configure" ] || die "no nginx configure script in $src"
  rm -rf "$build"
  mkdir -p "$build"
  cp -a "$src"/. "$build"/
  flags=()
  if [ -f "$src/conf_flags" ]; then
    # Debian writes the flags of its nginx binary as a bash array.
    # shellcheck disable=SC1091
    . "$src/conf_flags"
    flags=("${NGX_CONF_FLAGS[@]}")
  elif [ -n "${KEYGATE_NGINX_CONF_FLAGS:-}" ]; then
    read -r -a flags <<<"$KEYGATE_NGINX_CONF_FLAGS"
  fi
  cd "$build"
  if ! ./configure "${flags[@]}" \
    --with-cc-opt="-O2 -g -fPIC -fstack-protector-strong -D_FORTIFY_SOURCE=2" \
    --with-ld-opt="-Wl,-z,relro -Wl,-z,now -fPIC" \
    --add-dynamic-module="$moddir" >configure.log 2>&1; then
    tail -n 30 configure.log >&2
    die "nginx configure failed (full log: $build/configure.log)"
  fi
  ;;
make)
  [ $# -eq 3 ] || die "usage: build-module.sh make BUILD_DIR OUT_FILE"
  build=$2 out=$3
  cd "$build"
  # The archives it links are not in nginx's Makefile: always relink, and
  # recompile the module's sources (headers of libkeygate may have changed).
  rm -f objs/ngx_http_keygate_module.so objs/addon/*/ngx_http_keygate_*.o
  if ! make -f objs/Makefile modules >make.log 2>&1; then
    cat make.log >&2
    die "building the module failed (full log: $build/make.log)"
  fi
  mkdir -p "$(dirname "$out")"
  cp objs/ngx_http_keygate_module.so "$out"
  ;;
*)
  die "usage: build-module.sh configure|make ..."
  ;;
esac
