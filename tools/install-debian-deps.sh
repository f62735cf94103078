#!/bin/sh
# Installs the Debian packages that building and testing nodelink-agent
# need.  Run as root (or through sudo) on Debian 12 or later.
#
#   build:  gcc make autoconf automake pkg-config, gRPC C core, protobuf-c,
#           libevent, libyaml, libbsd's list and tree headers (and
#           protoc-c/protoc for a git checkout)
#   tests:  GLib (unit tests), Python grpcio and protobuf (mock server),
#           Python's Prometheus client and promtool (parse and lint
#           /metrics),
#           openssl (a TLS certificate), util-linux and procps (flock,
#           setsid, pkill in scenarios), clang and its sanitizer and
#           libFuzzer runtime, valgrind (`make hardening'), gRPC's C++
#           library and code generator (the server of `make bench')
set -e
packages="build-essential autoconf automake pkg-config
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  libevent-dev libyaml-dev libbsd-dev libssl-dev
  libglib2.0-dev python3 python3-grpcio python3-protobuf
  python3-prometheus-client prometheus
  openssl util-linux procps clang libclang-rt-14-dev valgrind
  g++ libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev"
if [ "$(id -u)" -ne 0 ]; then
  exec sudo "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $packages >/dev/null
echo "installed: $(echo $packages)"
