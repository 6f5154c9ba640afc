#!/usr/bin/env bash
# Build, offline from AWS, a stand-in for the Lambda Python base image that `sam local invoke` runs
# functions in (public.ecr.aws/lambda/python:3.11, which cannot be pulled here): a minimal Debian
# bookworm root (its python3 is 3.11, as Lambda's) with awslambdaric and boto3 from PyPI and the
# /var/runtime/bootstrap that SAM's Runtime Interface Emulator starts.
#
# Idempotent: exits at once when both tags exist. Needs root, a running dockerd, debootstrap, and
# the Debian and PyPI registries. Usage: tests/sam/lambda-image.sh
set -euo pipefail

IMAGE=public.ecr.aws/lambda/python:3.11
TAGS=("$IMAGE" "$IMAGE-x86_64")
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PYTHON=${PYTHON:-python3}

have_all=1
for tag in "${TAGS[@]}"; do
  docker image inspect "$tag" >/dev/null 2>&1 || have_all=0
done
if [ "$have_all" = 1 ]; then
  echo "lambda-image: ${TAGS[*]} already built"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "lambda-image: needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
started=$(date +%s)
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$root" "$MIRROR" >"$work/debootstrap.log" \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

# Wheels for the image's Python (3.11, x86_64), whatever Python runs this script.
"$PYTHON" -m pip install --quiet --no-compile --target "$root/usr/local/lib/python3.11/dist-packages" \
  --python-version 3.11 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 --implementation cp --only-binary=:all: awslambdaric boto3

mkdir -p "$root/var/runtime" "$root/var/task" "$root/opt"
cat >"$root/var/runtime/bootstrap" <<'BOOT'
#!/bin/sh
# What the Runtime Interface Emulator starts: the runtime client, which imports $_HANDLER from /var/task.
export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}${PYTHONPATH:+:$PYTHONPATH}"
cd "${LAMBDA_TASK_ROOT:-/var/task}"
exec python3 -m awslambdaric "$_HANDLER"
BOOT
chmod 755 "$root/var/runtime/bootstrap"
rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*

tar -C "$root" -c . | docker import \
  --change 'ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'WORKDIR /var/task' --change 'ENTRYPOINT ["/var/runtime/bootstrap"]' - "${TAGS[0]}" >/dev/null
for tag in "${TAGS[@]:1}"; do
  docker tag "${TAGS[0]}" "$tag"
done
echo "lambda-image: built ${TAGS[*]} in $(( $(date +%s) - started )) s"
